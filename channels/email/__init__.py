"""The e-mail channel: an SMTP listener, a pure MIME parser, signed threading references, outbound SMTP."""

CHANNEL = "email"
