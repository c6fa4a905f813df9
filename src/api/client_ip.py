"""The client's IP: the socket peer, or X-Forwarded-For when the peer is a trusted proxy."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from starlette.requests import HTTPConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=16)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in trusted)


def _is_trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip(connection: HTTPConnection, trusted_proxies: list[str]) -> str:
    """Walk X-Forwarded-For from the right while the hop is a trusted proxy: the first
    untrusted address is the client (entries left of it could be forged by the client)."""
    peer = connection.client.host if connection.client else "unknown"
    networks = _networks(tuple(trusted_proxies))
    if not networks or not _is_trusted(peer, networks):
        return peer
    forwarded = connection.headers.get("x-forwarded-for", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, networks):
            return hop
    return hops[0] if hops else peer


def peer_is_trusted(connection: HTTPConnection, trusted_proxies: list[str]) -> bool:
    """Whether the socket peer is one of the trusted proxies."""
    networks = _networks(tuple(trusted_proxies))
    peer = connection.client.host if connection.client else ""
    return bool(networks) and _is_trusted(peer, networks)
