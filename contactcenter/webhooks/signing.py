"""The signature of a webhook body: ``X-CC-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``.

The MAC covers ``"<t>." + body`` with the endpoint's secret, so a captured delivery cannot be replayed
later with a fresh timestamp, and receivers refuse timestamps outside their tolerance.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-CC-Signature"
DEFAULT_TOLERANCE = 300  # seconds


class SignatureError(ValueError):
    """A signature header that is missing, malformed, wrong or too old."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, *, now: float, tolerance: int = DEFAULT_TOLERANCE) -> None:
    """What a receiver does: raise SignatureError unless ``header`` signs ``body`` within ``tolerance``."""
    parts = dict(item.partition("=")[::2] for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        raise SignatureError("malformed signature header") from None
    if abs(now - timestamp) > tolerance:
        raise SignatureError("signature timestamp outside the tolerance (replayed or clock skew)")
    if not hmac.compare_digest(given, sign(secret, timestamp, body)):
        raise SignatureError("signature does not match")
