"""JSON bytes exactly as Go's `encoding/json` writes them.

Ollama marshals with Go: compact, keys in struct order (maps: sorted), `<`, `>`, `&`, U+2028 and
U+2029 escaped as `\\u003c`..., non-ASCII kept as UTF-8, floats in shortest form without a `.0`
on integral values. Callers keep key order by building dicts in the Go struct's field order.
"""

from __future__ import annotations

import struct
import time
from decimal import Decimal
from functools import lru_cache
from typing import Any

import orjson

_HTML_ESCAPES = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)
_NEEDS_ESCAPE = frozenset(b"<>&\xe2")


def _escape_html(raw: bytes) -> bytes:
    # Replacing inside the encoded document is safe: these bytes only occur within strings.
    if not _NEEDS_ESCAPE.intersection(raw):
        return raw
    for needle, replacement in _HTML_ESCAPES:
        raw = raw.replace(needle, replacement)
    return raw


def go_float64(value: float) -> bytes:
    """Go's float64 encoding: fixed notation in [1e-6, 1e21), else `1e-7` style exponents."""
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"json: unsupported value: {value}")
    if value == int(value) and abs(value) < 1e21:
        return str(int(value)).encode()
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        mantissa, _, exponent = repr(value).partition("e")
        sign = "-" if exponent.startswith("-") else "+"
        return f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}".encode()
    return format(Decimal(repr(value)), "f").encode()


@lru_cache(maxsize=4096)
def go_float32(value: float) -> bytes:
    """Go's float32 encoding (embeddings are []float32): the shortest digits that round-trip."""
    packed = struct.pack("<f", value)
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if struct.pack("<f", float(text)) == packed:
            return go_float64(float(text))
    return go_float64(value)


def _normalize(value: Any) -> Any:
    if isinstance(value, float):
        return orjson.Fragment(go_float64(value))
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalize(v) for v in value]
    return value


def dumps(value: Any, *, sort_keys: bool = False) -> bytes:
    """`json.Marshal(value)`: compact, HTML-escaped; dicts keep their order unless `sort_keys`
    (Go sorts the keys of `map[string]any`)."""
    option = orjson.OPT_SORT_KEYS if sort_keys else 0
    return _escape_html(orjson.dumps(_normalize(value), option=option))


def string(value: str) -> bytes:
    """One JSON string literal, Go style."""
    return _escape_html(orjson.dumps(value))


def raw(fragment: bytes) -> orjson.Fragment:
    """Bytes already encoded (a precomputed list of floats, say) to embed in `dumps`."""
    return orjson.Fragment(fragment)


_second_cache: dict[tuple[int, bool], str] = {}


def _seconds_part(seconds: int, utc: bool) -> str:
    key = (seconds, utc)
    cached = _second_cache.get(key)
    if cached is None:
        parts = time.gmtime(seconds) if utc else time.localtime(seconds)
        cached = time.strftime("%Y-%m-%dT%H:%M:%S", parts)
        if len(_second_cache) > 64:
            _second_cache.clear()
        _second_cache[key] = cached
    return cached


def _zone_suffix(seconds: int, utc: bool) -> str:
    if utc:
        return "Z"
    offset = time.localtime(seconds).tm_gmtoff
    if offset == 0:
        return "Z"
    sign = "+" if offset > 0 else "-"
    hours, rest = divmod(abs(offset), 3600)
    return f"{sign}{hours:02d}:{rest // 60:02d}"


def rfc3339nano(ns: int, *, utc: bool = True) -> str:
    """Go's `time.RFC3339Nano`: nanoseconds with trailing zeros trimmed, `Z` for UTC."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = _seconds_part(seconds, utc)
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + _zone_suffix(seconds, utc)
