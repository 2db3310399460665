"""Pure: mergeable latency sketches (DDSketch bins) stored as bytes in rollup rows.

A sketch is DDSketch's logarithmic binning (the `ddsketch` library's `LogarithmicMapping`):
a value v lands in bin `key(v)`, and every value of a bin is within RELATIVE_ACCURACY of the
bin's representative `value(key)`. Two sketches merge by adding counts per key, so a rollup
row per minute can be merged into hours, days or any group without losing the guarantee.

Stored form: little-endian (int16 key, uint32 count) pairs. Pairs may repeat a key (the read
side concatenates the sketches of a whole group in SQL, `string_agg` / `group_concat`, and
adds the counts here with numpy), so merging on read costs one pass over the bytes.

>>> blob = encode_counts(count_keys([1.0, 2.0, 3.0, 4.0, 100.0]))
>>> [round(v, 2) for v in quantiles(blob, (0.0, 0.5, 1.0))]
[0.99, 2.97, 100.49]
"""

from __future__ import annotations

import bisect
import itertools
import math
import struct
from collections.abc import Iterable, Sequence

import numpy as np
from ddsketch.mapping import LogarithmicMapping

RELATIVE_ACCURACY = 0.01  # DDSketch's default: a p95 of 1,000 ms is read as 990..1,010 ms
MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
# Values below this (ms) count as zero, as DDSketch's zero bucket: absolute error < 1 µs.
MIN_VALUE = 1e-3
ZERO_KEY = -32768  # int16 minimum: never a real key (key(MIN_VALUE) is about -345)
MAX_KEY = 32767  # key(1e280): no latency reaches it
PAIR = np.dtype([("key", "<i2"), ("count", "<u4")])  # packed, 6 bytes a pair
_PAIR_STRUCT = struct.Struct("<hI")
_SMALL_BYTES = 6 * 4096


def key_of(value: float) -> int:
    """The bin of a value (ms): ZERO_KEY for values under MIN_VALUE."""
    if not value >= MIN_VALUE:  # also NaN
        return ZERO_KEY
    return min(MAPPING.key(value), MAX_KEY)


def keys_of(values: np.ndarray) -> np.ndarray:
    """`key_of` over an array (one numpy pass for a whole batch).

    ceil(log_gamma(v)) as the library computes it; at an exact bin boundary the last bit of
    the logarithm may pick the neighbouring bin, whose representative is within the same
    relative accuracy of v (tests/stats/test_sketch.py).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        keys = np.ceil(np.log(values) / math.log(MAPPING.gamma))
    keys = np.where(values >= MIN_VALUE, np.minimum(keys, MAX_KEY), ZERO_KEY)
    return keys.astype(np.int64)


def value_of(key: int) -> float:
    return 0.0 if key == ZERO_KEY else float(MAPPING.value(key))


def count_keys(values: Iterable[float | None]) -> dict[int, int]:
    """Bin counts of the finite, non-negative values (None, NaN, infinities are skipped)."""
    counts: dict[int, int] = {}
    for value in values:
        if value is None or not math.isfinite(value) or value < 0:
            continue
        key = key_of(value)
        counts[key] = counts.get(key, 0) + 1
    return counts


def add_counts(into: dict[int, int], other: dict[int, int]) -> dict[int, int]:
    for key, count in other.items():
        into[key] = into.get(key, 0) + count
    return into


def encode_counts(counts: dict[int, int]) -> bytes | None:
    """Bin counts -> stored bytes (None for an empty sketch: the column stays NULL)."""
    if not counts:
        return None
    pairs = np.empty(len(counts), dtype=PAIR)
    pairs["key"] = list(counts)
    pairs["count"] = list(counts.values())
    return pairs.tobytes()


def decode_counts(blob: bytes | None) -> dict[int, int]:
    """Stored bytes (possibly several sketches concatenated) -> merged bin counts."""
    if not blob:
        return {}
    keys, counts = _merged(bytes(blob))
    return dict(zip(keys.tolist(), counts.tolist(), strict=True))


def _merged(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct keys and their summed counts.

    One bincount over the span of the keys present (a few hundred bins for real latencies),
    the zero bin apart so it does not stretch the span to 32k entries.
    """
    pairs = np.frombuffer(blob, dtype=PAIR, count=len(blob) // PAIR.itemsize)
    keys = pairs["key"].astype(np.int64)
    counts = pairs["count"].astype(np.int64)
    zero = keys == ZERO_KEY
    zeros = int(counts[zero].sum())
    keys, counts = keys[~zero], counts[~zero]
    out_keys, out_counts = [np.array([ZERO_KEY])] if zeros else [], [np.array([zeros])]
    if keys.size:
        low = int(keys.min())
        dense = np.bincount(keys - low, weights=counts)
        present = np.flatnonzero(dense)
        out_keys.append(present + low)
        out_counts.append(dense[present].astype(np.int64))
    if not zeros:
        out_counts = out_counts[1:]
    if not out_keys:
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    return np.concatenate(out_keys), np.concatenate(out_counts)


def _sorted_counts(blob: bytes) -> tuple[list[int], list[int]]:
    """Distinct keys ascending and their counts: plain Python for a few hundred pairs (the
    usual group: numpy's per-call overhead is larger), numpy for big concatenations."""
    if len(blob) > _SMALL_BYTES:
        keys, counts = _merged(blob)
        return keys.tolist(), counts.tolist()
    merged: dict[int, int] = {}
    for key, count in _PAIR_STRUCT.iter_unpack(blob[: len(blob) - len(blob) % 6]):
        merged[key] = merged.get(key, 0) + count
    ordered = sorted(merged)
    return ordered, [merged[k] for k in ordered]


def quantiles(blob: bytes | None, levels: Sequence[float]) -> list[float | None]:
    """Percentiles of a sketch, one per level, by the stores' one definition (linear
    interpolation between the closest ranks, `percentile_cont`, `series.percentile_inc`)
    over the bins' representative values. Each rank's bin holds the exact order statistic
    within RELATIVE_ACCURACY, so the answer is within it of the exact percentile
    (tests/stats/test_sketch.py).
    """
    if not blob:
        return [None for _ in levels]
    keys, counts = _sorted_counts(bytes(blob))
    cumulative = list(itertools.accumulate(counts))
    total = cumulative[-1]
    out: list[float | None] = []
    for level in levels:
        position = level * (total - 1)
        low = math.floor(position)
        low_value = value_of(keys[bisect.bisect_right(cumulative, low)])
        high_value = value_of(keys[bisect.bisect_right(cumulative, min(low + 1, total - 1))])
        out.append(low_value + (high_value - low_value) * (position - low))
    return out


def merge(blobs: Iterable[bytes | None]) -> bytes | None:
    """Several stored sketches -> one, with one pair per key."""
    joined = b"".join(bytes(b) for b in blobs if b)
    return encode_counts(decode_counts(joined)) if joined else None
