"""The client's IP: the socket peer, or X-Forwarded-For when the peer is a trusted proxy."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from starlette.requests import HTTPConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# More trusted proxies than this in a row is not a real chain; the client is beyond them.
MAX_FORWARDED_HOPS = 16


@lru_cache(maxsize=16)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in trusted)


def _is_trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def last_values(connection: HTTPConnection, name: str, most: int) -> list[str]:
    """The right-most `most` comma-separated values of a list-valued header, right to left.

    Every header line counts, in order, as if joined by commas: a proxy may add its own line
    after the client's rather than extend it. Work stops after `most` values, so it stays
    linear and bounded however many lines or entries a client sends.
    """
    values: list[str] = []
    for line in reversed(connection.headers.getlist(name)):
        room = most - len(values)
        pieces = line.rsplit(",", room)
        beyond = len(pieces) > room  # the first piece is the unsplit rest of the line
        for piece in reversed(pieces[1:] if beyond else pieces):
            value = piece.strip()
            if value:
                values.append(value)
        if beyond or len(values) >= most:
            return values[:most]
    return values


def client_ip(connection: HTTPConnection, trusted_proxies: list[str]) -> str:
    """Walk X-Forwarded-For from the right while the hop is a trusted proxy: the first
    untrusted address is the client (entries left of it could be forged by the client)."""
    peer = connection.client.host if connection.client else "unknown"
    networks = _networks(tuple(trusted_proxies))
    if not networks or not _is_trusted(peer, networks):
        return peer
    hops = last_values(connection, "x-forwarded-for", MAX_FORWARDED_HOPS)
    for hop in hops:
        if not _is_trusted(hop, networks):
            return hop
    return hops[-1] if hops else peer


def peer_is_trusted(connection: HTTPConnection, trusted_proxies: list[str]) -> bool:
    """Whether the socket peer is one of the trusted proxies."""
    networks = _networks(tuple(trusted_proxies))
    peer = connection.client.host if connection.client else ""
    return bool(networks) and _is_trusted(peer, networks)
