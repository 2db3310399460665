"""Pure: the client's address behind trusted proxies (TRUSTED_PROXIES, FORWARDED_HEADER).

Each proxy appends the address it received the request from, so the header is read from the
right: trusted hops are skipped and the first untrusted one is the client. Anything left of it
was written by the client itself and could say anything. Behind a load balancer without this,
every user shared the balancer's address, and so one rate-limit bucket.

>>> nets = parse_networks(["10.0.0.0/8"])
>>> client_address("10.0.0.2", {"X-Forwarded-For": "6.6.6.6, 192.0.2.7, 10.0.0.9"}, nets)
'192.0.2.7'
>>> client_address("192.0.2.1", {"X-Forwarded-For": "6.6.6.6"}, nets)  # not from a proxy
'192.0.2.1'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

X_FORWARDED_FOR = "x-forwarded-for"
FORWARDED = "forwarded"
MAX_HOPS = 32  # the header is the client's to fill: look at the last hops only

Address = IPv4Address | IPv6Address
Networks = tuple[IPv4Network | IPv6Network, ...]


def parse_networks(cidrs: Iterable[str]) -> Networks:
    """CIDRs (or single addresses) -> networks; a bad one raises ValueError naming it."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an address or CIDR: {cidr!r}") from None
    return tuple(networks)


def client_address(
    remote: str, headers: Mapping[str, str], trusted: Networks, header: str = X_FORWARDED_FOR
) -> str:
    """The address the nearest untrusted hop connected from; `remote` unless it is trusted."""
    peer = parse_address(remote)
    if peer is None or not _trusted(peer, trusted):
        return remote
    hops = forwarded_for(headers.get("Forwarded", "")) if header == FORWARDED else None
    if hops is None:
        hops = x_forwarded_for(headers.get("X-Forwarded-For", ""))
    client = remote
    for hop in reversed(hops[-MAX_HOPS:]):
        address = parse_address(hop)
        if address is None:
            break  # garbage left of a trusted hop: the trusted hop is all we know
        client = str(address)
        if not _trusted(address, trusted):
            break
    return client


def x_forwarded_for(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def forwarded_for(value: str) -> list[str]:
    """The `for=` of each element of an RFC 7239 Forwarded header."""
    hops = []
    for element in value.split(","):
        for pair in element.split(";"):
            name, _, given = pair.strip().partition("=")
            if name.lower() == "for":
                hops.append(given.strip().strip('"'))
    return hops


def parse_address(text: str) -> Address | None:
    """An address as proxies write it: bare, `v4:port`, `[v6]` or `[v6]:port`."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ip_address(text)
    except ValueError:
        return None


def _trusted(address: Address, trusted: Networks) -> bool:
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in trusted)
