"""X-Twilio-Signature checks with the twilio package's own RequestValidator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twilio.request_validator import RequestValidator


def signature_valid(auth_token: str, url: str, params: Mapping[str, Any] | str, signature: str) -> bool:
    """Whether ``signature`` signs this URL and form (or JSON body) with ``auth_token``.

    ``url`` is the full public URL Twilio requested (our configured public URL + path and query), so the
    check works behind a proxy. Multi-valued form fields (a MultiDict) are signed value by value.
    An empty token or signature never validates.
    """
    if not auth_token or not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))
