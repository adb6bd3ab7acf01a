"""SSRF guard: webhook targets must be public addresses unless configuration allows a network.

Every address a host name resolves to is checked, and the connection is made to exactly those checked
addresses (the guarded resolver hands aiohttp the addresses it checked), so a DNS answer cannot change
between the check and the connect.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeTarget(ValueError):
    """A webhook URL we refuse to call (wrong scheme, credentials in it, private or reserved address)."""


def networks(allowed: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(net, strict=False) for net in allowed)


def address_allowed(address: Address, allowed: Sequence[Network]) -> bool:
    """Public unicast addresses, or any address inside an explicitly allowed network."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address.version == net.version and address in net for net in allowed):
        return True
    return address.is_global and not address.is_multicast


def literal_address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


def check_url(raw: str, allowed: Sequence[Network]) -> URL:
    """The parsed URL, or UnsafeTarget. Host names are checked again at each delivery (DNS may change)."""
    try:
        url = URL(raw)
    except (ValueError, TypeError):
        raise UnsafeTarget("not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise UnsafeTarget("the URL must be http:// or https:// with a host")
    if url.user or url.password:
        raise UnsafeTarget("the URL must not hold credentials (the body is signed instead)")
    if url.fragment:
        raise UnsafeTarget("the URL must not have a fragment")
    address = literal_address(url.host)
    if address is not None and not address_allowed(address, allowed):
        raise UnsafeTarget(f"{address} is a private, loopback, link-local or reserved address")
    local_name = url.host.lower() == "localhost" or url.host.lower().endswith(".localhost")
    if address is None and local_name and not address_allowed(ipaddress.ip_address("127.0.0.1"), allowed):
        raise UnsafeTarget("localhost is not an allowed target")
    return url


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, then refuses the host if any address is not allowed."""

    def __init__(self, allowed: Sequence[Network]) -> None:
        self.allowed = tuple(allowed)
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            address = literal_address(result["host"])
            if address is None or not address_allowed(address, self.allowed):
                raise UnsafeTarget(f"{host} resolves to {result['host']}, which is not an allowed target")
        return results

    async def close(self) -> None:
        await self._inner.close()
