"""The client's address, trusting X-Forwarded-For only from configured proxies."""

from __future__ import annotations

from ipaddress import ip_address, ip_network
from typing import Any

from litestar.connection import ASGIConnection


def client_address(connection: ASGIConnection[Any, Any, Any, Any], trusted_proxies: list[str]) -> str:
    peer = connection.client.host if connection.client else "unknown"
    forwarded = connection.headers.get("x-forwarded-for")
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
    return any(ip in ip_network(net, strict=False) for net in trusted_proxies)
