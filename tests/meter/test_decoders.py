"""The incremental decoders under hostile chunk boundaries, any split, and huge lines."""

from __future__ import annotations

import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from ollama_proxy.meter.decoders import (
    JSONBodyDecoder,
    NDJSONDecoder,
    Oversized,
    SSEDecoder,
    SSEEvent,
)
from tests.meter.helpers import split_at


def decode_all(decoder: NDJSONDecoder | SSEDecoder, chunks: list[bytes]) -> list:  # type: ignore[type-arg]
    out: list = []  # type: ignore[type-arg]
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    out.extend(decoder.flush())
    return out


# --- NDJSON -----------------------------------------------------------------------------------


def test_ndjson_line_split_inside_a_multibyte_character() -> None:
    # Bug it prevents: decoding each chunk as UTF-8 breaks "é" (C3 A9) split between chunks.
    line = '{"response":"café 😀"}'.encode()
    cut = line.index(b"\xc3") + 1
    decoder = NDJSONDecoder()
    assert decoder.feed(line[:cut]) == []
    assert decoder.feed(line[cut:-2]) == []
    assert decoder.feed(line[-2:] + b"\n") == [line]
    assert decoder.flush() == []


def test_ndjson_last_line_without_newline_comes_out_at_flush() -> None:
    # Bug it prevents: a non-streamed native body has no trailing newline; it must not be lost.
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"a":1}\n{"done":true}') == [b'{"a":1}']
    assert decoder.flush() == [b'{"done":true}']
    assert decoder.flush() == []


def test_ndjson_empty_chunks_and_blank_lines() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\n\n{}\n\n") == [b"{}"]
    assert decoder.feed(b"") == []
    assert decoder.flush() == []


def test_ndjson_many_lines_in_one_chunk() -> None:
    assert NDJSONDecoder().feed(b"1\n2\n3\n") == [b"1", b"2", b"3"]


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.text(max_size=20).map(lambda t: t.replace("\n", " ").encode()), max_size=12),
    end_newline=st.booleans(),
    data=st.data(),
)
def test_ndjson_any_split_gives_the_lines(
    lines: list[bytes], end_newline: bool, data: st.DataObject
) -> None:
    body = b"\n".join(lines) + (b"\n" if end_newline else b"")
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=20))
    got = decode_all(NDJSONDecoder(), split_at(body, cuts))
    assert got == [line for line in lines if line]


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=200), data=st.data())
def test_ndjson_oversized_lines_are_split_invariant(body: bytes, data: st.DataObject) -> None:
    whole = NDJSONDecoder(max_line=8, keep=3)
    expected = decode_all(whole, [body])
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=30))
    split = NDJSONDecoder(max_line=8, keep=3)
    assert decode_all(split, split_at(body, cuts)) == expected
    assert split.oversized == whole.oversized
    for item in expected:  # nothing kept beyond the limits
        assert len(item.head) <= 3 if isinstance(item, Oversized) else len(item) <= 8


def test_ndjson_oversized_line_keeps_head_tail_and_size() -> None:
    decoder = NDJSONDecoder(max_line=10, keep=4)
    out = decoder.feed(b"abcdefghijklmnop\nok\n")
    assert out == [Oversized(b"abcd", b"mnop", 16), b"ok"]
    assert decoder.oversized == 1


def test_ndjson_100_mb_line_fed_in_chunks_stays_bounded() -> None:
    # The upstream may send one 100 MB line; the decoder must not hold it.
    decoder = NDJSONDecoder()  # 16 MB default limit
    piece = b"y" * (1 << 20)
    tracemalloc.start()
    try:
        assert decoder.feed(b'{"start":') == []
        for _ in range(100):
            assert decoder.feed(piece) == []
        out = decoder.feed(b'"end"}\n{"next":1}\n')
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * (1 << 20), peak
    [big, nxt] = out
    assert isinstance(big, Oversized) and big.size == 9 + 100 * (1 << 20) + 6
    assert big.head.startswith(b'{"start":') and big.tail.endswith(b'"end"}')
    assert nxt == b'{"next":1}'


def test_ndjson_long_line_in_many_small_chunks_is_linear() -> None:
    # Bug it prevents: re-concatenating the pending buffer per chunk is quadratic (minutes for
    # a 16 MB line arriving in 4 KB chunks).
    decoder = NDJSONDecoder()
    piece = b"z" * 4096
    for _ in range(3000):  # 12 MB, under the limit
        decoder.feed(piece)
    [line] = decoder.feed(b"\n")
    assert len(line) == 3000 * 4096


# --- SSE --------------------------------------------------------------------------------------


def test_sse_crlf_and_lf_and_spacing() -> None:
    body = b"event: a\r\ndata: {}\r\n\r\ndata:x\n\ndata:  two spaces\n\n"
    assert SSEDecoder().feed(body) == [
        SSEEvent("a", b"{}"),
        SSEEvent("", b"x"),
        SSEEvent("", b" two spaces"),
    ]


def test_sse_multiple_data_lines_join_with_newline_and_comments_are_ignored() -> None:
    body = b": keep-alive\nid: 7\nretry: 10\ndata: a\ndata: b\n\n"
    assert SSEDecoder().feed(body) == [SSEEvent("", b"a\nb")]


def test_sse_last_event_without_blank_line_comes_out_at_flush() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: [DONE]") == []
    assert decoder.flush() == [SSEEvent("", b"[DONE]")]


def test_sse_crlf_split_between_chunks() -> None:
    # Bug it prevents: a chunk ending in "\r" then "\n\r\n" must not create a phantom event.
    decoder = SSEDecoder()
    assert decoder.feed(b"data: 1\r") == []
    assert decoder.feed(b"\n\r") == []
    assert decoder.feed(b"\n") == [SSEEvent("", b"1")]


_FRAMES = st.lists(
    st.tuples(
        st.sampled_from(["", "message_delta", "response.completed"]),
        st.lists(
            st.text(max_size=12).map(lambda t: t.replace("\n", "").replace("\r", "")),
            min_size=1,
            max_size=3,
        ),
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(frames=_FRAMES, crlf=st.booleans(), data=st.data())
def test_sse_any_split_gives_the_events(
    frames: list[tuple[str, list[str]]], crlf: bool, data: st.DataObject
) -> None:
    text = ""
    for name, datas in frames:
        text += f"event: {name}\n" if name else ""
        text += "".join(f"data: {d}\n" for d in datas) + "\n"
    body = text.encode()
    if crlf:
        body = body.replace(b"\n", b"\r\n")
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=25))
    got = decode_all(SSEDecoder(), split_at(body, cuts))
    assert got == [SSEEvent(name, "\n".join(datas).encode()) for name, datas in frames]


def test_sse_oversized_data_line() -> None:
    decoder = SSEDecoder(max_line=16, keep=4)
    events = decoder.feed(b"event: big\ndata: " + b"q" * 40 + b"END\n\ndata: ok\n\n")
    assert events[0].event == "big" and isinstance(events[0].data, Oversized)
    assert events[0].data.head == b"data" and events[0].data.tail == b"qEND"
    assert events[1] == SSEEvent("", b"ok")


def test_sse_many_data_lines_adding_up_past_the_limit() -> None:
    decoder = SSEDecoder(max_line=12)
    [event] = decoder.feed(b"data: 123456\ndata: 123456\n\n")
    assert isinstance(event.data, Oversized) and event.data.size == 13


# --- JSON bodies ------------------------------------------------------------------------------


def test_json_body_whole_and_blank() -> None:
    decoder = JSONBodyDecoder()
    decoder.feed(b'{"a":')
    decoder.feed(b"")
    decoder.feed(b"1}\n")
    assert decoder.flush() == [b'{"a":1}\n']
    assert JSONBodyDecoder().flush() == []


def test_json_body_too_large_keeps_its_ends() -> None:
    decoder = JSONBodyDecoder(max_body=10, keep=3)
    for piece in (b'{"abc', b"defghijkl", b"mnop", b"qr}"):
        decoder.feed(piece)
    assert decoder.flush() == [Oversized(b'{"a', b"qr}", 21)]
