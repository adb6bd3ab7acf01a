"""The web form: an HTML form and a JSON endpoint; replies reach the customer through the portal link."""
