"""Ports for servers that the tests and benchmarks start in other processes."""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 10_000
_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_start() -> int:
    """The first port the kernel hands to outgoing connections (Linux; 32768 if it cannot be read)."""
    try:
        return int(_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port nothing is bound to on 127.0.0.1, below the kernel's ephemeral range.

    A port chosen by binding to port 0 comes from the ephemeral range, so between its release and the
    server's bind any outgoing connection could take it (a CI run failed so once). Outgoing connections
    never use ports below that range, so a free one there stays free until the server binds it."""
    start = _ephemeral_start()
    rng = random.SystemRandom()
    if start > LOWEST + 1000:
        for _ in range(200):
            port = rng.randrange(LOWEST, start)
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket() as sock:  # no room below the ephemeral range: the kernel's choice
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
