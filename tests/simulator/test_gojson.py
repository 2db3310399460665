"""Go-compatible JSON, durations, addresses and the deterministic text model."""

from __future__ import annotations

import struct
import time

import pytest

from ollama_proxy.simulator import gojson, text
from ollama_proxy.simulator.config import (
    FOREVER,
    KeepAliveError,
    normalize_name,
    parse_go_duration,
    parse_keep_alive,
    parse_listen,
)


def test_dumps_is_compact_html_escaped_and_keeps_utf8() -> None:
    out = gojson.dumps({"b": "<a href='x'>&</a>", "a": "café 🙂\u2028", "n": None})
    assert out == (
        b'{"b":"\\u003ca href=\'x\'\\u003e\\u0026\\u003c/a\\u003e",'
        b'"a":"caf\xc3\xa9 \xf0\x9f\x99\x82\\u2028","n":null}'
    )


def test_dumps_keeps_struct_order_unless_sorting_like_a_go_map() -> None:
    assert gojson.dumps({"z": 1, "a": {"y": 2, "b": 3}}) == b'{"z":1,"a":{"y":2,"b":3}}'
    assert gojson.dumps({"z": 1, "a": {"y": 2, "b": 3}}, sort_keys=True) == (
        b'{"a":{"b":3,"y":2},"z":1}'
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, b"1"),
        (0.7, b"0.7"),
        (1e-7, b"1e-7"),
        (1e16, b"10000000000000000"),
        (1.5e21, b"1.5e+21"),
        (-2.5, b"-2.5"),
        (0.000001, b"0.000001"),
    ],
)
def test_floats_are_written_as_go_writes_float64(value: float, expected: bytes) -> None:
    assert gojson.go_float64(value) == expected


def test_float32_uses_the_shortest_round_trip_digits() -> None:
    # F11's embedding values, as Go writes []float32.
    for literal in ("0.010071029", "-0.0017594862", "0.05007221"):
        value = struct.unpack("<f", struct.pack("<f", float(literal)))[0]
        assert gojson.go_float32(value) == literal.encode()


def test_rfc3339nano_trims_trailing_zeros() -> None:
    assert gojson.rfc3339nano(1_760_000_000_000_000_000) == "2025-10-09T08:53:20Z"
    assert gojson.rfc3339nano(1_760_000_000_196_249_000) == "2025-10-09T08:53:20.196249Z"
    assert gojson.rfc3339nano(1_760_000_000_100_000_001) == "2025-10-09T08:53:20.100000001Z"


def test_rfc3339nano_local_time_has_an_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    gojson._second_cache.clear()
    try:
        assert gojson.rfc3339nano(1_760_000_000_500_000_000, utc=False) == (
            "2025-10-09T01:53:20.5-07:00"
        )
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
        gojson._second_cache.clear()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("300ms", 0.3),
        ("0", 0.0),
        (10, 10.0),
        (0, 0.0),
        (-1, FOREVER),
        ("-1m", FOREVER),
        (2.5, 2.5),
    ],
)
def test_keep_alive_accepts_what_ollama_accepts(value: object, seconds: float) -> None:
    assert parse_keep_alive(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["300", "5 minutes", "", True, [1]])
def test_keep_alive_rejects_what_ollama_rejects(value: object) -> None:
    with pytest.raises(KeepAliveError):
        parse_keep_alive(value)


def test_go_duration_error_names_the_missing_unit() -> None:
    with pytest.raises(KeepAliveError, match='missing unit in duration "300"'):
        parse_go_duration("300")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:11434", ("127.0.0.1", 11434)),
        ("0.0.0.0", ("0.0.0.0", 11434)),
        (":8080", ("127.0.0.1", 8080)),
        ("http://example:9", ("example", 9)),
        ("http://example", ("example", 80)),
        ("https://example", ("example", 443)),
        ("[::1]:7", ("::1", 7)),
    ],
)
def test_listen_addresses_parse_like_ollama_host(value: str, expected: tuple[str, int]) -> None:
    assert parse_listen(value) == expected


def test_model_names_normalize_to_latest_and_lower_case() -> None:
    assert normalize_name("Llama3.2") == "llama3.2:latest"
    assert normalize_name("library/qwen3:0.6b") == "qwen3:0.6b"
    assert normalize_name("me/model:tag") == "me/model:tag"


def test_text_model_is_deterministic() -> None:
    assert text.reply_tokens("hi", 5) == text.reply_tokens("hi", 5)
    assert len(text.reply_tokens("hi", 123)) == 123
    assert text.generate_prompt_ids("Why is the sky blue?") == text.generate_prompt_ids(
        "Why is the sky blue?"
    )
    assert len(text.generate_prompt_ids("a b c")) == text.GENERATE_OVERHEAD + 3
    assert text.embedding_json("x", 4) == text.embedding_json("x", 4)
    assert text.embedding_json("x", 4) != text.embedding_json("y", 4)


def test_anthropic_estimate_is_bytes_over_four() -> None:
    assert text.estimate_anthropic_tokens("", [("user", "hi")]) == 1
    assert text.estimate_anthropic_tokens("sys!", [("user", "x" * 40)]) == (4 + 4 + 40) // 4
