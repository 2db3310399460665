"""Pure: the recent requests per model, in time buckets, for the alert rules to read.

Each bucket holds counts and two sparse log-scale histograms (time to first token, decode
speed); a window query merges the buckets it covers. Quantiles come from the histograms, so a
window of an hour costs the same to read whatever the traffic was (bins are 5% wide, so a
quantile is within 2.5% of the exact one).

>>> w = RecordWindow(bucket_s=10, keep_s=600)
>>> w.add("m", now=100.0, error=True)
>>> w.add("m", now=105.0, ttft_ms=250.0)
>>> c = w.per_model(since=0.0)["m"]
>>> (c.requests, c.errors, round(c.ttft.quantile(0.95), -1))
(2, 1, 250.0)
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

BIN_RATIO = 1.05
_LOG_RATIO = math.log(BIN_RATIO)
MAX_MODELS_PER_BUCKET = 256  # model names are client-controlled: cap the keys


@dataclass(slots=True)
class LogHistogram:
    """Counts per log-scale bin; `quantile` returns the bin's representative value."""

    bins: dict[int, int] = field(default_factory=dict)
    count: int = 0

    def add(self, value: float) -> None:
        if not value > 0 or math.isinf(value):
            return
        key = round(math.log(value) / _LOG_RATIO)
        self.bins[key] = self.bins.get(key, 0) + 1
        self.count += 1

    def merge(self, other: LogHistogram) -> None:
        for key, n in other.bins.items():
            self.bins[key] = self.bins.get(key, 0) + n
        self.count += other.count

    def quantile(self, q: float) -> float | None:
        """The smallest bin value with at least q of the samples at or below it."""
        if self.count == 0:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for key in sorted(self.bins):
            seen += self.bins[key]
            if seen >= rank:
                return BIN_RATIO**key
        return BIN_RATIO ** max(self.bins)  # unreachable: counts always add up


@dataclass(slots=True)
class ModelCounts:
    requests: int = 0
    errors: int = 0
    queue_full: int = 0
    loads: int = 0
    ttft: LogHistogram = field(default_factory=LogHistogram)
    decode_tps: LogHistogram = field(default_factory=LogHistogram)

    def merge(self, other: ModelCounts) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.queue_full += other.queue_full
        self.loads += other.loads
        self.ttft.merge(other.ttft)
        self.decode_tps.merge(other.decode_tps)


@dataclass(slots=True)
class _Bucket:
    start: float
    models: dict[str, ModelCounts] = field(default_factory=dict)


class RecordWindow:
    """Buckets of `bucket_s` seconds, kept for `keep_s` seconds (the longest rule window)."""

    def __init__(self, bucket_s: float, keep_s: float) -> None:
        self.bucket_s = bucket_s
        self.keep_s = keep_s
        self._buckets: deque[_Bucket] = deque()

    def add(
        self,
        model: str,
        now: float,
        *,
        error: bool = False,
        queue_full: bool = False,
        load: bool = False,
        ttft_ms: float | None = None,
        decode_tps: float | None = None,
    ) -> None:
        counts = self._counts(model, now)
        counts.requests += 1
        counts.errors += error
        counts.queue_full += queue_full
        counts.loads += load
        if ttft_ms is not None:
            counts.ttft.add(ttft_ms)
        if decode_tps is not None:
            counts.decode_tps.add(decode_tps)

    def _counts(self, model: str, now: float) -> ModelCounts:
        start = math.floor(now / self.bucket_s) * self.bucket_s
        if not self._buckets or self._buckets[-1].start < start:
            self._buckets.append(_Bucket(start))
            self.expire(now)
        models = self._buckets[-1].models
        counts = models.get(model)
        if counts is None:
            if len(models) >= MAX_MODELS_PER_BUCKET:
                model = "_other"
            counts = models.setdefault(model, ModelCounts())
        return counts

    def expire(self, now: float) -> None:
        while self._buckets and self._buckets[0].start + self.bucket_s <= now - self.keep_s:
            self._buckets.popleft()

    def per_model(self, since: float) -> dict[str, ModelCounts]:
        """Counts per model over the buckets that end after `since`."""
        out: dict[str, ModelCounts] = {}
        for bucket in reversed(self._buckets):
            if bucket.start + self.bucket_s <= since:
                break
            for model, counts in bucket.models.items():
                out.setdefault(model, ModelCounts()).merge(counts)
        return out
