"""Rate-limit helpers shared by the contact form, the portal and the JSON API.

Rate limits (ctx.limits.webform_ip keyed by the client IP, ctx.limits.webform_address keyed by each
e-mail/phone given, or by the ticket contact's address for portal replies): a request is refused with
429 + Retry-After when a key is already at its limit, and a hit is counted only for a submission that
was stored as a new message (a repeat of one already stored counts nothing). Invalid submissions are
not counted, so a customer correcting a typo is never locked out; they store nothing and their size is
bounded. The one exception is a filled honeypot: it is a bot, and it is counted against its IP. The
check and the count are not atomic, so concurrent requests can pass a limit by a few; the limit is a
brake on abuse, not an exact quota. Client IPs are used only as in-memory keys and never stored.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from channels.base import InboundMessage
from contactcenter.context import Context
from contactcenter.ratelimit import RateLimiter


def client_ip(request: web.Request) -> str:
    return request.remote or "unknown"


def address_keys(message: InboundMessage) -> list[str]:
    addresses = (message.sender, *message.other_addresses) if message.sender else message.other_addresses
    return [f"{a.kind}:{a.value}" for a in addresses]


def blocked(limiter: RateLimiter, keys: Sequence[str]) -> int:
    """Seconds to wait when any key is at its limit, else 0."""
    return max((limiter.retry_after(k) for k in keys if limiter.blocked(k)), default=0)


def count(ctx: Context, ip: str, keys: Sequence[str]) -> None:
    ctx.limits.webform_ip.hit(ip)
    for key in keys:
        ctx.limits.webform_address.hit(key)
