"""The customer's own side of the portal: sign-in by e-mailed link, "my tickets"."""
