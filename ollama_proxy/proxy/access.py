"""Who may use the proxied Ollama routes, how fast, and how clients are named in records.

Pure logic (no I/O): the handler asks `Access.check(headers, remote, now, route)` and gets
either the admitted client (the label to record and the address to show in spans) or a refusal
(401, 403 or 429 with Retry-After). When no keys, no rate limit, no trusted proxies and no
hashing are configured `Access.open` is True and the handler skips it entirely.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from ollama_proxy.operations import Route
from ollama_proxy.privacy import hash_ip
from ollama_proxy.proxy.forwarded import X_FORWARDED_FOR, Networks, client_address

INFERENCE = "inference"
MANAGE = "manage"
SCOPES = (INFERENCE, MANAGE)
# Operations that change what Ollama holds (or that we cannot vouch for): `manage` only.
MANAGE_OPERATIONS = frozenset({"pull", "push", "create", "copy", "delete", "blob", "other"})


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int  # 401, 403 or 429
    reason: str  # unauthorized, forbidden, rate_limited: the label refusals are counted under
    message: str
    retry_after_s: int | None = None
    client: str = ""  # as it will be recorded (hashed address when HASH_CLIENT_IPS)


@dataclass(frozen=True, slots=True)
class Admitted:
    client: str  # recorded: the key's label, else the address (hashed when HASH_CLIENT_IPS)
    address: str  # the client's address as spans show it (hashed when HASH_CLIENT_IPS)


@dataclass(frozen=True, slots=True)
class Key:
    label: str
    scope: str | None  # None: every route, as before scopes existed


def parse_keys(entries: list[str]) -> dict[str, Key]:
    """`label:key[:scope]` entries -> {key: Key}; a bare key is labelled by its hash prefix.

    >>> parse_keys(["ci:k-1:inference", "ops:k:2"])
    {'k-1': Key(label='ci', scope='inference'), 'k:2': Key(label='ops', scope=None)}
    """
    keys: dict[str, Key] = {}
    for entry in entries:
        label, sep, key = entry.partition(":")
        if not sep:
            label, key = "key-" + hashlib.sha256(entry.encode()).hexdigest()[:8], entry
        scope = None
        head, colon, tail = key.rpartition(":")
        if colon and tail in SCOPES:
            key, scope = head, tail
        if not key:
            raise ValueError(f"PROXY_API_KEYS entry {entry!r} has an empty key (use label:key)")
        keys[key] = Key(label, scope)
    return keys


def scope_needed(route: Route) -> str:
    return MANAGE if route.operation in MANAGE_OPERATIONS else INFERENCE


def in_scope(scope: str | None, route: Route) -> bool:
    return scope is None or scope == MANAGE or scope_needed(route) == INFERENCE


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token bucket per client: `rate` requests per second, bursts up to `burst`.

    Buckets live in an LRU of at most `max_clients`. A bucket idle long enough to have refilled
    is the same as a new one, so it expires; when the LRU is full the least recently seen
    client's bucket goes, which resets that client's limit only.
    """

    def __init__(self, rate: float, burst: int, max_clients: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self._refill_s = burst / rate
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, client: str, now: float) -> float | None:
        """None when allowed, else the seconds until a request would be."""
        self._expire(now)
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= self.max_clients:
                self._buckets.popitem(last=False)  # the least recently seen client only
            bucket = self._buckets[client] = _Bucket(float(self.burst), now)
        else:
            self._buckets.move_to_end(client)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return (1 - bucket.tokens) / self.rate

    def _expire(self, now: float) -> None:
        buckets = self._buckets
        while buckets and now - next(iter(buckets.values())).updated >= self._refill_s:
            buckets.popitem(last=False)  # full again: the same as no bucket


class Access:
    def __init__(
        self,
        keys: Mapping[str, Key | str],
        limiter: RateLimiter | None = None,
        hash_ips: bool = False,
        salt: str = "",
        trusted_proxies: Networks = (),
        forwarded_header: str = X_FORWARDED_FOR,
    ) -> None:
        self._keys = [
            (key.encode(), given if isinstance(given, Key) else Key(given, None))
            for key, given in keys.items()
        ]
        self._limiter = limiter
        self._hash_ips = hash_ips
        self._salt = salt
        self._trusted = trusted_proxies
        self._header = forwarded_header
        self.requires_key = bool(keys)
        self.open = not keys and limiter is None and not hash_ips and not trusted_proxies

    def key_for(self, authorization: str) -> Key | None:
        """The valid bearer key; every key is compared in constant time."""
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not given:
            return None
        candidate = given.strip().encode()
        found = None
        for key, entry in self._keys:  # no early exit: timing does not tell which key matched
            if hmac.compare_digest(candidate, key):
                found = entry
        return found

    def label_for(self, authorization: str) -> str | None:
        key = self.key_for(authorization)
        return None if key is None else key.label

    def address(self, headers: Mapping[str, str], remote: str) -> str:
        """The client's address as recorded: behind a trusted proxy, the one it names."""
        address = (
            client_address(remote, headers, self._trusted, self._header)
            if self._trusted
            else remote
        )
        return hash_ip(address, self._salt) if self._hash_ips else address

    def check(
        self,
        headers: Mapping[str, str],
        remote: str,
        now: float,
        route: Route | None = None,
    ) -> Admitted | Refusal:
        """The client to record, or why the request is refused."""
        address = client = self.address(headers, remote)
        if self.requires_key:
            key = self.key_for(headers.get("Authorization", ""))
            if key is None:
                message = "a valid API key is required (Authorization: Bearer KEY)"
                return Refusal(401, "unauthorized", message, None, client)
            client = key.label
            if route is not None and not in_scope(key.scope, route):
                return Refusal(403, "forbidden", scope_message(key, route), None, client)
        if self._limiter is not None:
            wait = self._limiter.take(client, now)
            if wait is not None:
                retry = max(1, int(wait + 0.999))
                message = f"rate limit exceeded for {client}"
                return Refusal(429, "rate_limited", message, retry, client)
        return Admitted(client, address)


def scope_message(key: Key, route: Route) -> str:
    return (
        f"API key {key.label!r} has scope {key.scope!r}; {route.operation} needs scope "
        f"{scope_needed(route)!r}"
    )


__all__ = [
    "Access",
    "Admitted",
    "Key",
    "RateLimiter",
    "Refusal",
    "hash_ip",
    "in_scope",
    "parse_keys",
    "scope_needed",
]
