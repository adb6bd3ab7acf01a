"""Routing: what a ticket needs and which agent should get it."""
