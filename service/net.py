"""The client's address, trusting X-Forwarded-For only from configured proxies."""

from __future__ import annotations

import functools
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Any

from litestar.connection import ASGIConnection


def client_address(connection: ASGIConnection[Any, Any, Any, Any], trusted_proxies: list[str]) -> str:
    return forwarded_client(connection.client.host if connection.client else "unknown",
                            connection.headers.get("x-forwarded-for"), trusted_proxies)


def forwarded_client(peer: str, forwarded: str | None, trusted_proxies: list[str]) -> str:
    """The client of a request from ``peer`` carrying the X-Forwarded-For header ``forwarded``."""
    if not forwarded or not _is_trusted(peer, trusted_proxies):
        return peer
    # The right-most address not belonging to a trusted proxy is the client.
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        if not _is_trusted(hop, trusted_proxies):
            return hop
    return peer


def _is_trusted(address: str, trusted_proxies: list[str]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(tuple(trusted_proxies)))


@functools.lru_cache(maxsize=8)
def _networks(trusted_proxies: tuple[str, ...]) -> list[IPv4Network | IPv6Network]:
    """Parsed once, not on every request: the settings never change while the service runs."""
    return [ip_network(net, strict=False) for net in trusted_proxies]
