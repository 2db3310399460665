"""The Meter on recorded streams: golden fixtures, any chunking, errors, cancels, hostile input."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ollama_proxy.meter.meter import HOLD_BYTES, Meter
from ollama_proxy.operations import classify
from ollama_proxy.records import RequestRecord
from tests.meter import fixtures as fx
from tests.meter.helpers import T0, T_CHUNK, T_END, T_START, comparable, run, run_fixture, split_at

# --- golden fixtures -------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", fx.ALL, ids=lambda f: f.name)
def test_golden_fixture(fixture: fx.Fixture) -> None:
    record = run_fixture(fixture)
    got = {key: getattr(record, key) for key in fixture.expect}
    for key, value in fixture.expect.items():
        if isinstance(value, float):
            got[key] = pytest.approx(value) if got[key] == pytest.approx(value) else got[key]
    assert got == fixture.expect
    assert record.http_status == fixture.status
    assert record.bytes_out == len(fixture.body)
    assert record.latency_ms == pytest.approx((T_END - T0) * 1000)
    assert record.ttfb_ms == pytest.approx((T_START - T0) * 1000)


# --- any split gives the same record ---------------------------------------------------------


@st.composite
def splits(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=min(40, len(data) + 2)))
    return split_at(data, cuts)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@pytest.mark.parametrize("fixture", fx.ALL, ids=lambda f: f.name)
@given(data=st.data())
def test_any_split_of_a_fixture_gives_the_same_record(
    fixture: fx.Fixture, data: st.DataObject
) -> None:
    whole = comparable(run_fixture(fixture))
    chunks = data.draw(splits(fixture.body))
    assert comparable(run_fixture(fixture, chunks)) == whole


@pytest.mark.parametrize("fixture", fx.ALL, ids=lambda f: f.name)
def test_one_byte_at_a_time_gives_the_same_record(fixture: fx.Fixture) -> None:
    # Splits inside every multi-byte UTF-8 character and every CRLF/LF pair, with empty chunks.
    body = fixture.body
    chunks = [piece for i in range(len(body)) for piece in (body[i : i + 1], b"")]
    assert comparable(run_fixture(fixture, chunks)) == comparable(run_fixture(fixture))


_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"]), min_size=0, max_size=6
)  # any Unicode, newlines and quotes included: JSON escapes what must be escaped


@st.composite
def native_streams(draw: st.DrawFn) -> tuple[bytes, int, int]:
    tokens = draw(st.lists(_TEXT, max_size=30))
    prompt, evals = draw(st.integers(0, 10**6)), draw(st.integers(0, 10**6))
    ascii_only = draw(st.booleans())
    out = []
    for token in tokens:
        chunk = {"model": "m:7b", "created_at": "t", "response": token, "done": False}
        out.append(json.dumps(chunk, ensure_ascii=ascii_only, separators=(",", ":")))
    final = {"model": "m:7b", "response": "", "done": True, "done_reason": "stop"}
    final |= {"prompt_eval_count": prompt, "eval_count": evals, "eval_duration": 10**9}
    out.append(json.dumps(final, separators=(",", ":")))
    return fx.lines(*out), prompt, evals


@settings(max_examples=150, deadline=None)
@given(stream=native_streams(), data=st.data())
def test_any_split_of_a_generated_native_stream(
    stream: tuple[bytes, int, int], data: st.DataObject
) -> None:
    body, prompt, evals = stream
    chunks = data.draw(splits(body))
    record = run("/api/generate", fx.NDJSON, chunks)
    assert comparable(record) == comparable(run("/api/generate", fx.NDJSON, [body]))
    assert (record.prompt_tokens, record.completion_tokens) == (prompt, evals)
    assert record.status == "success" and record.model == "m:7b"
    assert record.chunks == body.count(b"\n") - 1


@st.composite
def openai_streams(draw: st.DrawFn) -> tuple[bytes, int]:
    tokens = draw(st.lists(_TEXT.filter(bool), max_size=20))
    crlf = draw(st.booleans())
    frames = []
    for token in tokens:
        delta = {"index": 0, "delta": {"content": token}, "finish_reason": None}
        frames.append(json.dumps({"model": "m", "choices": [delta]}, separators=(",", ":")))
    frames.append('{"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}')
    usage = {"prompt_tokens": 3, "completion_tokens": len(tokens), "total_tokens": 0}
    frames.append(json.dumps({"model": "m", "choices": [], "usage": usage}))
    frames.append("[DONE]")
    body = fx.sse(*frames)
    return (body.replace(b"\n", b"\r\n") if crlf else body), len(tokens)


@settings(max_examples=100, deadline=None)
@given(stream=openai_streams(), data=st.data())
def test_any_split_of_a_generated_sse_stream(
    stream: tuple[bytes, int], data: st.DataObject
) -> None:
    body, count = stream
    record = run("/v1/chat/completions", fx.SSE, data.draw(splits(body)))
    assert comparable(record) == comparable(run("/v1/chat/completions", fx.SSE, [body]))
    assert record.status == "success" and not record.estimated
    assert record.completion_tokens == count == record.chunks
    assert record.done_reason == "stop"


# --- timings ----------------------------------------------------------------------------------


def test_ttft_is_the_first_chunk_carrying_output_not_the_first_byte() -> None:
    route = classify("/v1/chat/completions")
    meter = Meter(RequestRecord(), route, 0.0)
    meter.observe_response_start(200, "text/event-stream", 0.5)
    first, rest = fx.OPENAI_CHAT_STREAM.body.split(b"\n\n", 1)
    meter.observe_chunk(first[:20], 0.6)  # part of a frame: no output yet
    meter.observe_chunk(first[20:] + b"\n\n", 0.7)
    meter.observe_chunk(rest, 0.9)
    record = meter.finish(1.0)
    assert record.ttfb_ms == pytest.approx(500)
    assert record.ttft_ms == pytest.approx(700)
    assert record.latency_ms == pytest.approx(1000)


def test_non_streamed_body_has_no_ttft() -> None:
    record = run_fixture(fx.F2)
    assert record.ttft_ms is None and record.ttfb_ms is not None


# --- outcomes ---------------------------------------------------------------------------------


def test_cancelled_mid_stream_is_estimated_from_chunks_seen() -> None:
    body = fx.TRUNCATED.body
    record = run("/api/chat", fx.NDJSON, [body[:150]], cancelled=True)
    assert record.status == "cancelled"
    assert record.estimated and record.completion_tokens == 1 and record.prompt_tokens == 0
    assert record.total_duration_ms is None and record.decode_tps is None


def test_cancelled_after_the_final_chunk_keeps_the_real_usage() -> None:
    record = run("/api/chat", fx.NDJSON, [fx.F4.body], cancelled=True)
    assert record.status == "cancelled" and not record.estimated
    assert record.completion_tokens == 282


def test_upstream_unreachable_502_written_by_the_handler() -> None:
    body = b'{"error":"upstream Ollama at http://127.0.0.1:1 unreachable: refused"}'
    record = run("/api/chat", "application/json", [body], status=502, upstream_error="refused!")
    assert record.status == "error" and record.error_type == "upstream_unreachable"
    assert record.error_message == "refused!" and record.http_status == 502
    assert not record.estimated


def test_upstream_reset_mid_stream_with_the_handlers_error_line() -> None:
    chunks = [fx.TRUNCATED.body, b'{"error":"upstream Ollama failed mid-stream"}\n']
    record = run("/api/chat", fx.NDJSON, chunks, upstream_error="reset by peer")
    assert record.status == "error" and record.error_type == "upstream_reset"
    assert record.estimated and record.completion_tokens == 3


def test_mid_stream_error_on_an_sse_stream_event() -> None:
    body = fx.sse(
        ("message_start", fx._ANTH_START),
        ("error", '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'),
    )
    record = run("/v1/messages", fx.SSE, [body])
    assert record.status == "error" and record.error_type == "stream_error"
    assert record.error_message == "Overloaded" and record.estimated


def test_anthropic_delta_without_input_tokens_falls_back_to_the_estimate() -> None:
    body = fx.ANTHROPIC_STREAM.body.replace(b'"usage":{"input_tokens":26,', b'"usage":{')
    record = run("/v1/messages", fx.SSE, [body])
    assert record.prompt_tokens == 7 and record.completion_tokens == 2 and record.estimated


def test_responses_stream_cut_before_completed_is_truncated() -> None:
    body = fx.RESPONSES_STREAM.body.split(b"event: response.completed")[0]
    record = run("/v1/responses", fx.SSE, [body])
    assert record.status == "error" and record.error_type == "truncated"
    assert record.estimated and record.completion_tokens == 2


def test_completions_quirk_zero_usage_chunks_never_win() -> None:
    # Bug it prevents: taking any chunk with `usage` on /v1/completions records 0 tokens.
    body = fx.OPENAI_COMPLETIONS_QUIRK.body.split(b"data: [DONE]")[0]
    without_final = body.rsplit(b"data: ", 1)[0]
    record = run("/v1/completions", fx.SSE, [without_final + b"data: [DONE]\n\n"])
    assert record.estimated and record.completion_tokens == 2 and record.prompt_tokens == 0


def test_last_usage_chunk_wins() -> None:
    usage = '{"model":"m","choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d}}'
    body = fx.sse(usage % (1, 1), usage % (5, 9), "[DONE]")
    record = run("/v1/chat/completions", fx.SSE, [body])
    assert (record.prompt_tokens, record.completion_tokens) == (5, 9)


def test_text_plain_404_from_gin() -> None:
    record = run("/api/nothing", "text/plain", [b"404 page not found"], status=404, method="GET")
    assert record.status == "error" and record.error_message == "404 page not found"
    assert record.operation == "other" and not record.estimated


def test_403_with_an_empty_body() -> None:
    # Ollama's Host guard answers 403 with no body at all.
    record = run("/api/chat", "", [], status=403)
    assert record.status == "error" and record.error_type == "http_403"
    assert record.error_message == ""


def test_status_200_json_body_with_an_error() -> None:
    record = run("/api/generate", "application/json", [b'{"error":"boom"}'])
    assert record.status == "error" and record.error_message == "boom"


def test_non_json_lines_are_counted_unparsable_without_raising() -> None:
    body = (
        b"not json at all\n"
        b'{"model":"m","response":"a","done":false}\n'
        b'{"error": broken\n'
        b'{"model":"m","response":"","done":true, "eval_count": oops}\n'
        b'{"model":"m","response":"","done":true,"eval_count":2}\n'
    )
    record = run("/api/generate", fx.NDJSON, [body])
    assert record.status == "success" and record.completion_tokens == 2
    assert record.error_type == "unparsable" and record.error_message.startswith("3 ")


def test_unparsable_sse_data() -> None:
    body = fx.sse("hello", "{not json [] }", fx.OPENAI_CHAT_STREAM.body.decode())
    record = run("/v1/chat/completions", fx.SSE, [body])
    assert record.error_type == "unparsable" and record.status == "success"


def test_decoder_follows_content_type_not_the_request_stream_flag() -> None:
    # A streaming request answered with one JSON object (load reply, errors before output).
    request = [b'{"model":"llama3.2","messages":[],"stream":true}']
    record = run("/api/chat", fx.JSON, [fx.F7_LOAD.body], request=request)
    assert record.status == "success" and not record.stream and record.done_reason == "load"
    # ...and a request without a stream flag answered with NDJSON is metered as a stream.
    record = run("/api/chat", fx.NDJSON, [fx.F4.body], request=[b'{"model":"x"}'])
    assert record.stream and record.completion_tokens == 282


def test_no_response_at_all_uses_the_request_stream_flag() -> None:
    route = classify("/v1/chat/completions")
    meter = Meter(RequestRecord(), route, 0.0)
    meter.observe_request_chunk(b'{"model":"m","stream":true}')
    record = meter.finish(1.0, cancelled=True)
    assert record.stream and record.model == "m:latest" and record.http_status == 0


# --- request side -----------------------------------------------------------------------------


def test_request_model_after_megabytes_of_base64() -> None:
    # Bug it prevents: SDKs that put `model` after the messages lose it in a 64 KB prefix.
    image = b"A" * 3_000_000
    body = (
        b'{"messages":[{"role":"user","images":["'
        + image
        + b'"]}],"model":"llava:7b","stream":false}'
    )
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    record = run("/api/chat", fx.JSON, [b'{"error":"x"}'], status=500, request=chunks)
    assert record.model == "llava:7b" and record.bytes_in == len(body)


def test_request_model_in_a_large_prefix() -> None:
    body = b'{"model":"qwen3:8b","stream":true,"prompt":"' + b"x" * 200_000 + b'"}'
    route = classify("/api/generate")
    meter = Meter(RequestRecord(), route, 0.0)
    meter.observe_request_chunk(body)
    record = meter.finish(1.0, cancelled=True)
    assert record.model == "qwen3:8b" and record.stream


def test_response_model_wins_over_the_request_model() -> None:
    record = run("/api/chat", fx.NDJSON, [fx.F4.body], request=[b'{"model":"llama3.2:latest"}'])
    assert record.model == "llama3.2:latest"


def test_blob_uploads_are_counted_not_kept() -> None:
    route = classify("/api/blobs/sha256:abc")
    meter = Meter(RequestRecord(), route, 0.0)
    for _ in range(100):
        meter.observe_request_chunk(b"\0" * 65536)
    meter.observe_response_start(201, "", 0.1)
    record = meter.finish(0.2)
    assert record.bytes_in == 6_553_600 and record.status == "success" and record.model == ""
    assert meter._req_head == []  # nothing of the blob was retained


# --- size and robustness ---------------------------------------------------------------------


def _lazy_huge_line(total: int, piece: int = 1 << 20) -> list[bytes]:
    return [b'{"model":"m","response":"'] + [b"x" * piece] * (total // piece)


def test_a_100_mb_line_keeps_memory_bounded_and_salvages_the_tail() -> None:
    import tracemalloc

    route = classify("/api/generate")
    meter = Meter(RequestRecord(), route, 0.0)
    meter.observe_response_start(200, fx.NDJSON, 0.1)
    tracemalloc.start()
    try:
        chunk = b"x" * (1 << 20)
        meter.observe_chunk(b'{"model":"m","response":"', 0.2)
        for _ in range(100):
            meter.observe_chunk(chunk, 0.2)
        meter.observe_chunk(b'","done":true,"prompt_eval_count":5,"eval_count":7}\n', 0.3)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    record = meter.finish(0.4)
    assert peak < 40 * 1024 * 1024, peak  # 16 MB limit + one chunk, never the 100 MB line
    assert record.bytes_out > 100 * (1 << 20)
    assert (record.prompt_tokens, record.completion_tokens) == (5, 7)
    assert record.status == "success"


def test_an_oversized_embed_body_still_gives_its_usage() -> None:
    vectors = b",".join([b"[" + b",".join([b"0.0123456789"] * 1024) + b"]"] * 200)
    body = (
        b'{"model":"all-minilm","embeddings":['
        + vectors
        + b'],"total_duration":9000000,"load_duration":1000000,"prompt_eval_count":200}'
    )
    assert len(body) > 2_000_000
    record = run("/api/embed", fx.JSON, [body[i : i + 65536] for i in range(0, len(body), 65536)])
    assert record.prompt_tokens == 200 and record.total_duration_ms == pytest.approx(9.0)
    assert record.model == "all-minilm:latest" and not record.estimated


@settings(max_examples=200, deadline=None)
@given(
    path=st.sampled_from(["/api/chat", "/v1/chat/completions", "/v1/messages", "/api/tags", "/x"]),
    ctype=st.sampled_from([fx.NDJSON, fx.SSE, fx.JSON, "text/plain", "", "application/json"]),
    status=st.sampled_from([200, 201, 400, 404, 500, 502]),
    chunks=st.lists(st.binary(max_size=64), max_size=10),
    request=st.lists(st.binary(max_size=64), max_size=3),
    cancelled=st.booleans(),
)
def test_the_meter_never_raises_on_arbitrary_bytes(
    path: str,
    ctype: str,
    status: int,
    chunks: list[bytes],
    request: list[bytes],
    cancelled: bool,
) -> None:
    record = run(path, ctype, chunks, status=status, request=request, cancelled=cancelled)
    assert record.bytes_out == sum(map(len, chunks))
    assert record.status in ("success", "error", "cancelled")


def test_an_internal_failure_becomes_a_meter_error_not_an_exception() -> None:
    meter = Meter(RequestRecord(), classify("/api/chat"), 0.0)
    meter.observe_response_start(200, fx.NDJSON, 0.1)
    meter._decoder = None  # a bug: the decoder is gone
    meter.observe_chunk(b'{"done":false}\n', 0.2)
    meter.observe_chunk(b"more", 0.3)
    record = meter.finish(0.4)
    assert record.error_type == "meter_error" and "AttributeError" in record.error_message
    assert record.bytes_out == 19


def test_finish_twice_returns_the_same_record() -> None:
    meter = Meter(RequestRecord(), classify("/api/tags"), 0.0)
    meter.observe_response_start(200, fx.JSON, 0.1)
    first = meter.finish(0.2)
    assert meter.finish(0.9) is first and first.latency_ms == pytest.approx(200)


def test_chunks_at_a_fixed_clock_time() -> None:
    # The helpers' clock: every chunk at T_CHUNK, so a streamed ttft is exactly that.
    record = run_fixture(fx.F1)
    assert record.ttft_ms == pytest.approx((T_CHUNK - T0) * 1000)


# --- the plain-chunk fast path ---------------------------------------------------------------


@st.composite
def aligned_splits(draw: st.DrawFn, data: bytes, separator: bytes) -> list[bytes]:
    """`data` cut only where `separator` ends: whole lines (or events) grouped into chunks."""
    pieces = [piece + separator for piece in data.split(separator)[:-1]]
    chunks, i = [], 0
    while i < len(pieces):
        size = draw(st.integers(1, 6))
        chunks.append(b"".join(pieces[i : i + size]))
        i += size
    return chunks


@settings(max_examples=100, deadline=None)
@given(stream=native_streams(), data=st.data())
def test_whole_line_chunks_give_the_same_record_as_one_body(
    stream: tuple[bytes, int, int], data: st.DataObject
) -> None:
    body, _, _ = stream
    chunks = data.draw(aligned_splits(body, b"\n"))
    record = comparable(run("/api/generate", fx.NDJSON, chunks))
    assert record == comparable(run("/api/generate", fx.NDJSON, [body]))
    # One byte at a time never forms a plain run: the general path is the reference.
    assert record == comparable(run("/api/generate", fx.NDJSON, _bytewise(body)))


@settings(max_examples=100, deadline=None)
@given(stream=openai_streams(), data=st.data())
def test_whole_event_chunks_give_the_same_record_as_one_body(
    stream: tuple[bytes, int], data: st.DataObject
) -> None:
    body, _ = stream
    separator = b"\r\n\r\n" if b"\r\n" in body else b"\n\n"
    chunks = data.draw(aligned_splits(body, separator))
    record = comparable(run("/v1/chat/completions", fx.SSE, chunks))
    assert record == comparable(run("/v1/chat/completions", fx.SSE, [body]))
    assert record == comparable(run("/v1/chat/completions", fx.SSE, _bytewise(body)))


def _bytewise(body: bytes) -> list[bytes]:
    return [body[i : i + 1] for i in range(len(body))]


def test_a_final_line_with_a_nested_done_false_still_gives_its_usage() -> None:
    # Tool arguments are objects: `"done":false` may occur inside the final line itself.
    first = b'{"model":"m","message":{"role":"assistant","content":"a"},"done":false}\n'
    final = (
        b'{"model":"m","message":{"role":"assistant","content":"","tool_calls":[{"function":'
        b'{"name":"todo","arguments":{"done":false}}}]},"done":true,"done_reason":"stop",'
        b'"prompt_eval_count":7,"eval_count":2}\n'
    )
    for chunks in ([first, final], [first + final], [first, first + final]):
        record = run("/api/chat", fx.NDJSON, chunks)
        assert (record.status, record.prompt_tokens, record.completion_tokens) == (
            "success",
            7,
            2,
        ), chunks


def test_plain_chunks_after_a_partial_line_are_not_counted_twice() -> None:
    line = b'{"model":"m","response":"x","done":false}\n'
    final = b'{"model":"m","response":"","done":true,"eval_count":4}\n'
    # The second chunk looks plain on its own but completes the line the first one began.
    chunks = [line + line[:20], line[20:] + line, line + final]
    record = run("/api/generate", fx.NDJSON, chunks)
    assert record.chunks == 4 and record.completion_tokens == 4 and record.status == "success"


def test_lines_not_shaped_like_objects_are_never_taken_as_plain() -> None:
    line = b'{"model":"m","response":"x","done":false}\n'
    odd = b'oops"done":false}\n'
    final = b'{"model":"m","response":"","done":true,"eval_count":2}\n'
    record = run("/api/generate", fx.NDJSON, [line, line + odd, final])
    assert record.chunks == 2
    assert record.error_type == "unparsable"


def test_an_empty_openai_delta_is_not_counted_as_output() -> None:
    head = b'data: {"model":"m","choices":[{"index":0,"delta":{"content":'
    text = head + b'"a"},"finish_reason":null}]}\n\n'
    empty = head + b'""},"finish_reason":null}]}\n\n'
    tail = b'data: {"model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}'
    body = [text, text + empty, empty, text + empty + text, tail + b"\n\ndata: [DONE]\n\n"]
    record = run("/v1/chat/completions", fx.SSE, body)
    assert record.chunks == 4


# --- held chunks (Meter.observe_chunk holds whole units after the first output) -------------


def _long_native(lines: int, middle: bytes) -> list[bytes]:
    line = b'{"model":"m","response":"token","done":false}\n'
    final = b'{"model":"m","response":"","done":true,"prompt_eval_count":5,"eval_count":9}\n'
    half = [line] * (lines // 2)
    return [*half, middle, *half, final]


@pytest.mark.parametrize(
    "middle",
    [
        b'{"model":"m","response":"token","done":false}\n',
        b'{"error":"model ran out of memory"}\n',
        b"not json at all\n",
    ],
    ids=["plain", "error", "unparsable"],
)
def test_held_runs_longer_than_the_hold_read_like_one_body(middle: bytes) -> None:
    chunks = _long_native(800, middle)
    assert sum(map(len, chunks)) > 2 * HOLD_BYTES  # released mid-stream, not only at finish
    record = comparable(run("/api/generate", fx.NDJSON, chunks))
    assert record == comparable(run("/api/generate", fx.NDJSON, [b"".join(chunks)]))
    assert record == comparable(run("/api/generate", fx.NDJSON, _bytewise(b"".join(chunks))))


def test_an_empty_delta_deep_in_a_held_sse_run_is_not_output() -> None:
    head = b'data: {"model":"m","choices":[{"index":0,"delta":{"content":'
    text = head + b'"token"},"finish_reason":null}]}\n\n'
    empty = head + b'""},"finish_reason":null}]}\n\n'
    tail = b'data: {"model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}'
    chunks = [text] * 300 + [text + empty + text] + [text] * 300 + [tail + b"\n\ndata: [DONE]\n\n"]
    assert sum(map(len, chunks)) > 2 * HOLD_BYTES
    record = run("/v1/chat/completions", fx.SSE, chunks)
    assert record.chunks == 602 and record.status == "success"
    assert comparable(record) == comparable(run("/v1/chat/completions", fx.SSE, [b"".join(chunks)]))


def test_held_chunks_count_when_the_client_hangs_up() -> None:
    line = b'{"model":"m","response":"token","done":false}\n'
    meter = Meter(RequestRecord(endpoint="/api/generate"), classify("/api/generate"), T0)
    meter.observe_response_start(200, fx.NDJSON, T_START)
    for _ in range(50):
        meter.observe_chunk(line, T_CHUNK)
    record = meter.finish(T_END, cancelled=True)
    assert record.chunks == 50 and record.completion_tokens == 50
    assert record.status == "cancelled"


# --- thinking ---------------------------------------------------------------------------------


def test_thinking_time_runs_from_the_first_thought_to_the_first_answer() -> None:
    think = b'{"model":"q","created_at":"t","response":"","thinking":"h","done":false}\n'
    say = b'{"model":"q","created_at":"t","response":"Hi","done":false}\n'
    done = b'{"model":"q","created_at":"t","response":"","done":true,"eval_count":4}\n'
    route = classify("/api/generate")
    meter = Meter(RequestRecord(endpoint="/api/generate", inference=True), route, 0.0)
    meter.observe_response_start(200, "application/x-ndjson", 0.1)
    meter.observe_chunk(think, 0.2)
    meter.observe_chunk(think + think, 0.5)  # several thoughts in one network chunk
    meter.observe_chunk(say, 0.9)
    meter.observe_chunk(think + done, 1.0)  # a thought after the answer still counts
    record = meter.finish(1.1)
    assert record.ttft_ms == pytest.approx(200.0)
    assert record.ttft_answer_ms == pytest.approx(900.0)
    assert record.thinking_ms == pytest.approx(700.0)
    assert (record.thinking_tokens, record.thinking_estimated) == (4, True)
    assert record.chunks == 5 and record.usage_source == "reported"


def test_a_model_that_does_not_think_has_no_thinking_fields() -> None:
    record = run_fixture(fx.F1)
    assert record.thinking_tokens is None and record.thinking_ms is None
    assert record.ttft_answer_ms == record.ttft_ms


def test_the_live_view_counts_held_lines_without_metering_them() -> None:
    meter = Meter(RequestRecord(inference=True), classify("/api/generate"), 0.0)
    meter.observe_response_start(200, "application/x-ndjson", 0.0)
    line = b'{"model":"m","response":"a","done":false}\n'
    for step in range(5):
        meter.observe_chunk(line, 0.1 * step)
    held = list(meter._held)
    assert meter.live_view().chunks == 5
    assert meter._held == held and held  # looking metered nothing: the batch stays whole
    meter.observe_chunk(line * 3, 0.6)  # three lines in one chunk
    assert meter.live_view().chunks == meter.live_view().chunks == 8  # none counted twice
    meter.observe_chunk(line[:10], 0.7)  # a partial line: the batch is metered now
    assert not meter._held and meter._chunks == 8
    assert meter.live_view().chunks == 8  # the metered count, nothing held left to add
