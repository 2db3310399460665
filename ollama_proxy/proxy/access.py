"""Who may use the proxied Ollama routes, how fast, and how clients are named in records.

Pure logic (no I/O): the handler asks `Access.check(headers, remote, now)` and gets either the
client label to record or a refusal (401 or 429 with Retry-After). When no keys and no rate
limit are configured `Access.open` is True and the handler skips it entirely.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int  # 401 or 429
    message: str
    retry_after_s: int | None = None
    client: str = ""  # as it will be recorded (hashed address when HASH_CLIENT_IPS)


def parse_keys(entries: list[str]) -> dict[str, str]:
    """`label:key` entries -> {key: label}; a bare key is its own label's hash prefix."""
    keys: dict[str, str] = {}
    for entry in entries:
        label, sep, key = entry.partition(":")
        if not sep:
            label, key = "key-" + hashlib.sha256(entry.encode()).hexdigest()[:8], entry
        if not key:
            raise ValueError(f"PROXY_API_KEYS entry {entry!r} has an empty key (use label:key)")
        keys[key] = label
    return keys


def hash_ip(ip: str, salt: str) -> str:
    """A stable pseudonym for a client address (HASH_CLIENT_IPS)."""
    return "ip-" + hashlib.sha256(f"{salt}:{ip}".encode()).hexdigest()[:16]


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    """Token bucket per client: `rate` requests per second, bursts up to `burst`."""

    rate: float
    burst: int
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def take(self, client: str, now: float) -> float | None:
        """None when allowed, else the seconds until a request would be."""
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        if len(self._buckets) > 100_000:  # bounded memory under a spray of addresses
            self._buckets.clear()
        return (1 - bucket.tokens) / self.rate


class Access:
    def __init__(
        self,
        keys: dict[str, str],
        limiter: RateLimiter | None = None,
        hash_ips: bool = False,
        salt: str = "",
    ) -> None:
        self._keys = [(key.encode(), label) for key, label in keys.items()]
        self._limiter = limiter
        self._hash_ips = hash_ips
        self._salt = salt
        self.requires_key = bool(keys)
        self.open = not keys and limiter is None and not hash_ips

    def label_for(self, authorization: str) -> str | None:
        """The label of a valid bearer key; every key is compared in constant time."""
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not given:
            return None
        candidate = given.strip().encode()
        found = None
        for key, label in self._keys:  # no early exit: timing does not tell which key matched
            if hmac.compare_digest(candidate, key):
                found = label
        return found

    def check(self, headers: Mapping[str, str], remote: str, now: float) -> str | Refusal:
        """The client name to record, or why the request is refused."""
        client = hash_ip(remote, self._salt) if self._hash_ips else remote
        if self.requires_key:
            label = self.label_for(headers.get("Authorization", ""))
            if label is None:
                message = "a valid API key is required (Authorization: Bearer KEY)"
                return Refusal(401, message, None, client)
            client = label
        if self._limiter is not None:
            wait = self._limiter.take(client, now)
            if wait is not None:
                retry = max(1, int(wait + 0.999))
                return Refusal(429, f"rate limit exceeded for {client}", retry, client)
        return client
