"""What supervisors watch: the live wallboard and its push (issue 8)."""
