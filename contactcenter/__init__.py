"""Omnichannel contact-center server."""
