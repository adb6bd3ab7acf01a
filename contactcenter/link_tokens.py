"""Tokens of links we send to customers (survey, sign-in): never stored, only their hash.

A token is an HMAC of a random nonce under the server key, so the row holds the nonce and the token's hash, and
only the server (which knows the key) can rebuild the token to put it in a message after commit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from contactcenter.auth import hash_secret


def new_nonce() -> str:
    return secrets.token_hex(16)


def link_token(secret: bytes, purpose: str, nonce: str) -> str:
    """43 URL-safe characters (256 bits); ``purpose`` keeps a survey token from working as a sign-in token."""
    mac = hmac.new(secret, f"{purpose}:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def token_hash(secret: bytes, purpose: str, nonce: str) -> str:
    return hash_secret(link_token(secret, purpose, nonce))


def looks_like_token(value: str) -> bool:
    """Cheap shape check before any database lookup."""
    return len(value) == 43 and all(c.isalnum() or c in "-_" for c in value)
