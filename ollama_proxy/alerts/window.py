"""Pure: the recent requests per model, in time buckets, for the alert rules to read.

Each bucket holds counts and two sparse log-scale histograms (time to first token, decode
speed); a window query merges the buckets it covers. Quantiles come from the histograms, so a
window of an hour costs the same to read whatever the traffic was (bins are 5% wide, so a
quantile is within 2.5% of the exact one).

A rule asks for its window at every evaluation; with `window_s` the window keeps running
totals per rule window (buckets added once as they close and subtracted once as they leave),
so an evaluation costs O(models) instead of O(buckets x models) on the event loop (merging
the 361 ten-second buckets of the hour-long rules at every evaluation grew with the number of
model names, which clients choose).

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
# Model names are client-controlled: at most this many distinct ones in the whole window, the
# rest count under OTHER (a cap per bucket still let an hour hold 361 x 256 of them).
MAX_MODELS = 256
OTHER = "_other"


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
        bins = self.bins
        for key, n in other.bins.items():
            bins[key] = bins.get(key, 0) + n
        self.count += other.count

    def subtract(self, other: LogHistogram) -> None:
        """Undo `merge(other)`: `other` must have been merged into this one."""
        bins = self.bins
        for key, n in other.bins.items():
            left = bins[key] - n
            if left:
                bins[key] = left
            else:
                del bins[key]
        self.count -= other.count

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

    def subtract(self, other: ModelCounts) -> None:
        self.requests -= other.requests
        self.errors -= other.errors
        self.queue_full -= other.queue_full
        self.loads -= other.loads
        self.ttft.subtract(other.ttft)
        self.decode_tps.subtract(other.decode_tps)


@dataclass(slots=True)
class _Bucket:
    seq: int  # buckets are numbered in order: the running totals say which they hold
    start: float
    models: dict[str, ModelCounts] = field(default_factory=dict)


@dataclass(slots=True)
class _Running:
    """The closed buckets numbered lo..hi-1, summed per model."""

    lo: int
    hi: int
    models: dict[str, ModelCounts] = field(default_factory=dict)

    def add(self, bucket: _Bucket) -> None:
        for model, counts in bucket.models.items():
            total = self.models.get(model)
            if total is None:
                total = self.models[model] = ModelCounts()
            total.merge(counts)

    def remove(self, bucket: _Bucket) -> None:
        for model, counts in bucket.models.items():
            total = self.models[model]
            total.subtract(counts)
            if not total.requests:  # every add counts a request: nothing is left
                del self.models[model]


class RecordWindow:
    """Buckets of `bucket_s` seconds, kept for `keep_s` seconds (the longest rule window)."""

    def __init__(self, bucket_s: float, keep_s: float) -> None:
        self.bucket_s = bucket_s
        self.keep_s = keep_s
        self._buckets: deque[_Bucket] = deque()
        self._next_seq = 0
        self._seen: dict[str, int] = {}  # model -> buckets holding it (the window-wide cap)
        self._running: dict[float, _Running] = {}  # per rule window

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
            self._buckets.append(_Bucket(self._next_seq, start))
            self._next_seq += 1
            self.expire(now)
        models = self._buckets[-1].models
        counts = models.get(model)
        if counts is None:
            if model not in self._seen and len(self._seen) >= MAX_MODELS:
                model = OTHER
                counts = models.get(model)
            if counts is None:
                counts = models[model] = ModelCounts()
                self._seen[model] = self._seen.get(model, 0) + 1
        return counts

    def expire(self, now: float) -> None:
        buckets = self._buckets
        while buckets and buckets[0].start + self.bucket_s <= now - self.keep_s:
            bucket = buckets.popleft()
            for model in bucket.models:
                left = self._seen[model] - 1
                if left:
                    self._seen[model] = left
                else:
                    del self._seen[model]
            for run in self._running.values():
                if run.lo <= bucket.seq < run.hi:
                    run.remove(bucket)
                run.lo = max(run.lo, bucket.seq + 1)
                run.hi = max(run.hi, run.lo)

    def per_model(self, since: float, window_s: float | None = None) -> dict[str, ModelCounts]:
        """Counts per model over the buckets that end after `since` (read-only).

        `window_s`: the caller's window length (since = now - window_s), kept as running
        totals between calls; `since` is expected to move forward (if not, they are rebuilt).
        """
        if window_s is not None:
            return self._running_totals(window_s, since)
        total = _Running(0, 0)
        for bucket in reversed(self._buckets):
            if bucket.start + self.bucket_s <= since:
                break
            total.add(bucket)
        return total.models

    def _running_totals(self, window_s: float, since: float) -> dict[str, ModelCounts]:
        buckets = self._buckets
        if not buckets:
            return {}
        base, newest = buckets[0].seq, buckets[-1]
        first = base  # the first bucket that ends after `since`
        while first <= newest.seq and buckets[first - base].start + self.bucket_s <= since:
            first += 1
        run = self._running.get(window_s)
        if run is None or first < run.lo or run.hi < base:
            run = self._running[window_s] = _Running(first, first)
        for seq in range(run.lo, min(first, run.hi)):  # closed buckets that left the window
            run.remove(buckets[seq - base])
        run.lo = first
        run.hi = max(run.hi, first)
        for seq in range(run.hi, newest.seq):  # buckets closed since the last call
            run.add(buckets[seq - base])
        run.hi = max(run.hi, newest.seq)
        if newest.seq < first:
            return dict(run.models)
        out = dict(run.models)  # the open (newest) bucket still grows: merged fresh
        for model, counts in newest.models.items():
            merged = ModelCounts()
            prior = out.get(model)
            if prior is not None:
                merged.merge(prior)
            merged.merge(counts)
            out[model] = merged
        return out
