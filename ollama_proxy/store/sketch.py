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
    for key, count in _PAIR_STRUCT.iter_unpack(_whole_pairs(blob)):
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


# --- many sketches at once (numpy over every pair; no Python object per pair) ---------------

_MAX_CELLS = 1 << 22  # groups x distinct keys per dense block (32 MiB of float64)
_DENSE_CELLS = 1 << 16  # groups x key span counted densely by `grouped_counts` (512 KiB)


def split_pairs(blobs: Sequence[bytes | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stored sketches -> (index of its sketch, key, count) of every pair, in blob order.

    One join and one `frombuffer` for all of them; a trailing partial pair is ignored.
    """
    parts = [_whole_pairs(bytes(b)) if b else b"" for b in blobs]
    sizes = np.fromiter((len(p) // 6 for p in parts), dtype=np.int64, count=len(parts))
    pairs = np.frombuffer(b"".join(parts), dtype=PAIR)
    owner = np.repeat(np.arange(len(parts), dtype=np.int64), sizes)
    return owner, pairs["key"].astype(np.int64), pairs["count"].astype(np.int64)


def grouped_counts(
    owner: np.ndarray, keys: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(group, key, count) pairs -> one pair per distinct (group, key), counts summed,
    sorted by group then key."""
    if keys.size == 0:
        empty = np.array([], dtype=np.int64)
        return empty, empty, empty
    low = int(keys.min())
    span = int(keys.max()) - low + 1
    codes = owner * span + (keys - low)
    cells = (int(owner.max()) + 1) * span
    if cells <= _DENSE_CELLS:  # a few cells of a few hundred bins: a count per code, no sort
        dense = np.bincount(codes, weights=counts, minlength=cells)
        codes = np.flatnonzero(dense)
        summed = dense[codes].astype(np.int64)
    else:
        codes, inverse = np.unique(codes, return_inverse=True)
        summed = np.bincount(inverse.ravel(), weights=counts).astype(np.int64)
    return codes // span, codes % span + low, summed


def encode_groups(
    groups: np.ndarray, keys: np.ndarray, counts: np.ndarray, n_groups: int
) -> list[bytes | None]:
    """`grouped_counts` output -> the stored bytes of each group 0..n_groups-1 (None: empty)."""
    pairs = np.empty(keys.size, dtype=PAIR)
    pairs["key"] = keys
    pairs["count"] = counts
    data = pairs.tobytes()
    bounds = (np.searchsorted(groups, np.arange(n_groups + 1)) * PAIR.itemsize).tolist()
    return [data[a:b] or None for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def quantiles_many(
    blobs: Sequence[bytes | Sequence[bytes] | None], levels: Sequence[float]
) -> list[list[float | None]]:
    """`quantiles` of many sketches at once, equal to calling it on each.

    A sketch may also come as a list of stored sketches (its parts, merged here: their bytes
    are joined once, with everyone else's).

    The pairs of all sketches go into one dense (sketch x distinct key) count matrix, whose
    cumulative sums along the keys give every rank's bin by comparison; no Python per pair.
    Few, int32, in-place temporaries: fresh large arrays cost page faults, which dominate.
    """
    out: list[list[float | None]] = [[None] * len(levels) for _ in blobs]
    parts = [_whole_pairs(b) for blob in blobs for b in _parts(blob)]
    sizes = np.fromiter(
        (sum(len(b) // 6 for b in _parts(blob)) for blob in blobs), np.int64, count=len(blobs)
    )
    pairs = np.frombuffer(b"".join(parts), dtype=PAIR)
    if pairs.size == 0:
        return out
    code = pairs["key"].astype(np.int32)
    low = int(code.min())
    code -= low
    present = np.bincount(code) > 0
    distinct = np.flatnonzero(present) + low
    np.take((np.cumsum(present) - 1).astype(np.int32), code, out=code)  # key -> its column
    values = np.array([value_of(int(k)) for k in distinct.tolist()])
    width = distinct.size
    step = max(1, _MAX_CELLS // width)  # sketches per dense block: memory bounded
    ends = np.cumsum(sizes)
    for first in range(0, len(blobs), step):
        last = min(first + step, len(blobs))
        lo, hi = int(ends[first - 1]) if first else 0, int(ends[last - 1])
        rows = np.arange(last - first, dtype=np.int32) * np.int32(width)
        block = code[lo:hi]
        block += np.repeat(rows, sizes[first:last])  # column -> cell of the dense block
        dense = np.bincount(block, weights=pairs["count"][lo:hi], minlength=len(rows) * width)
        answers = _block_quantiles(
            np.cumsum(dense.reshape(len(rows), width), axis=1), values, levels
        )
        out[first:last] = answers
    return out


def byte_size(blobs: Sequence[bytes | Sequence[bytes] | None]) -> int:
    """Bytes of stored sketches (each a blob or a list of parts), as `quantiles_many` takes."""
    return sum(len(b) for blob in blobs for b in _parts(blob))


def _parts(blob: bytes | Sequence[bytes] | None) -> Sequence[bytes]:
    if not blob:
        return ()
    return (blob,) if isinstance(blob, bytes) else blob


def _whole_pairs(blob: bytes) -> bytes:
    """The blob without a trailing partial pair (never written; a torn value reads short)."""
    extra = len(blob) % 6
    return blob[: len(blob) - extra] if extra else blob


def _block_quantiles(
    cumulative: np.ndarray, values: np.ndarray, levels: Sequence[float]
) -> list[list[float | None]]:
    """Rows of cumulative bin counts -> their percentiles (None for an empty row)."""
    total = cumulative[:, -1]
    last = values.size - 1
    columns = []
    for level in levels:
        position = level * (total - 1)
        low = np.floor(position)
        high = np.minimum(low + 1, total - 1)
        # bisect_right: the first bin whose cumulative count exceeds the rank
        low_at = np.minimum((cumulative <= low[:, None]).sum(axis=1), last)
        high_at = np.minimum((cumulative <= high[:, None]).sum(axis=1), last)
        low_value, high_value = values[low_at], values[high_at]
        columns.append(low_value + (high_value - low_value) * (position - low))
    answers = np.stack(columns, axis=1).tolist() if columns else [[] for _ in total]
    return [
        answer if count > 0 else [None] * len(levels)
        for answer, count in zip(answers, total.tolist(), strict=True)
    ]
