"""Pure: what kind of network address a peer or listen address is."""

from __future__ import annotations

import ipaddress


def is_loopback(address: str | None) -> bool:
    """127.0.0.0/8, ::1 or ::ffff:127.x; a unix socket peer (no address) is local too."""
    if address == "":
        return True
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))
