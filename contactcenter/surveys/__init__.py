"""Satisfaction surveys after a ticket is solved: scheduling, sending, answers by link, button and SMS digit."""
