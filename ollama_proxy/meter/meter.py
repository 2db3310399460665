"""One request's meter: timings, byte and chunk counts, usage and errors -> RequestRecord.

The proxy handler feeds it copies of the bytes it relays. Per chunk it only splits lines and
runs a few substring checks; JSON is parsed only for the lines that can carry usage or errors
(the native `done:true` line, the OpenAI `choices:[]` chunk, named usage events, error lines),
so metering a 200-chunk stream costs a few microseconds per chunk.

No method raises: a bug here must never reach a client. A failure is recorded on the record
as `error_type="meter_error"` and decoding stops; byte counts and timings go on.

>>> from ollama_proxy.operations import classify
>>> m = Meter(RequestRecord(endpoint="/api/generate"), classify("/api/generate"), 0.0)
>>> m.observe_request_chunk(b'{"model":"llama3.2","prompt":"hi"}')
>>> m.observe_response_start(200, "application/x-ndjson", 0.1)
>>> m.observe_chunk(b'{"model":"llama3.2","response":"Hi","done":false}\\n', 0.2)
>>> r = m.finish(0.3)
>>> r.status, r.error_type, r.estimated, r.completion_tokens, r.model
('error', 'truncated', True, 1, 'llama3.2:latest')
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from ollama_proxy.meter import usage as u
from ollama_proxy.meter.decoders import (
    JSONBodyDecoder,
    Line,
    NDJSONDecoder,
    Oversized,
    SSEDecoder,
    SSEEvent,
)
from ollama_proxy.meter.names import canonical_model, clip
from ollama_proxy.operations import Route
from ollama_proxy.records import RequestRecord

REQUEST_HEAD = 64 * 1024  # request bytes kept to read `model` and `stream`
REQUEST_TAIL = 4 * 1024  # ...and the last ones: SDKs may put `model` after MBs of base64 images
ERROR_BODY = 64 * 1024  # body kept from an error response to read its message
MESSAGE_MAX = 500  # characters of an error message kept on the record
# Whole-unit chunks after the first output are held and metered together up to this many
# bytes: one proof over many chunks instead of a call per chunk (see Meter.observe_chunk).
HOLD_BYTES = 16 * 1024

# Operations whose request bodies are raw data, not JSON worth reading.
_OPAQUE_REQUESTS = frozenset({"blob", "other", "heartbeat"})
_MODEL = re.compile(rb'"model"\s*:\s*"((?:[^"\\]|\\.){1,300})"')
_NAME = re.compile(rb'"name"\s*:\s*"((?:[^"\\]|\\.){1,300})"')
_STREAM = re.compile(rb'"stream"\s*:\s*(true|false)')

NDJSON, SSE, JSON, OPAQUE = "ndjson", "sse", "json", "opaque"
# Ollama writes keys in Go struct order: `done` closes an intermediate native line and
# `finish_reason:null` closes an OpenAI content chunk (usage and metrics come only after them,
# on other chunks). A line ending so is settled by its ending alone.
_NDJSON_PLAIN_END = b'"done":false}\n'
_INTERMEDIATE_END = _NDJSON_PLAIN_END[:-1]
_SSE_PLAIN_END = b'"finish_reason":null}]}\n\n'
_NDJSON_BOUNDARY = _NDJSON_PLAIN_END + b"{"
_SSE_BOUNDARY = _SSE_PLAIN_END + b"data: {"
_SSE_EMPTY_END = b'"content":""},"finish_reason":null}]}\n\n'  # an empty delta: no output


def plain_ndjson_lines(chunk: bytes) -> int:
    """How many lines `chunk` holds when they are all whole intermediate native lines, else 0.

    Such lines only add to the chunk count, so counting them settles a network chunk without
    splitting it: the hot path of every native stream. The closing `"done":false}` can only be
    the last key of the outer object; raw newlines never occur inside JSON, so counting the
    newlines and the `"done":false}\\n{` boundaries proves every line is one. Anything else
    returns 0 and goes the general way.

    >>> plain_ndjson_lines(b'{"response":"a","done":false}\\n{"response":"b","done":false}\\n')
    2
    >>> plain_ndjson_lines(b'{"response":"","done":true,"eval_count":2}\\n')
    0
    >>> plain_ndjson_lines(b'{"response":"a","done":false}\\n{"error":"boom"}\\n')
    0
    """
    if chunk[:1] != b"{" or not chunk.endswith(_NDJSON_PLAIN_END):
        return 0
    if chunk.find(b"\n") == len(chunk) - 1:  # one line (memchr: cheaper than a count)
        return 1
    # Each boundary holds one newline, so lines - 1 of them leave no other line shape.
    lines = chunk.count(b"\n")
    return lines if chunk.count(_NDJSON_BOUNDARY) == lines - 1 else 0


def plain_sse_events(chunk: bytes) -> int:
    """How many events `chunk` holds when they are all OpenAI content chunks, else 0.

    A content chunk is one `data: {...}` line closed by `"finish_reason":null}]}` and its blank
    line: output, and no usage, finish reason, error or event name. It only adds to the count.

    >>> plain_sse_events(b'data: {"choices":[{"delta":{},"finish_reason":null}]}\\n\\n')
    1
    >>> plain_sse_events(b'data: {"choices":[],"usage":{"prompt_tokens":3}}\\n\\n')
    0
    """
    if (
        not chunk.startswith(b"data: {")
        or not chunk.endswith(_SSE_PLAIN_END)
        or chunk.endswith(_SSE_EMPTY_END)
    ):
        return 0
    if chunk.find(b"\n") == len(chunk) - 2:  # one event
        return 1
    newlines = chunk.count(b"\n")
    events = newlines // 2  # each boundary holds two newlines, the end two more
    if newlines % 2 or chunk.count(_SSE_BOUNDARY) != events - 1 or _SSE_EMPTY_END in chunk:
        return 0
    return events


@dataclass(frozen=True, slots=True)
class _Framing:
    """How a stream's units (NDJSON lines, SSE events) end, and how a plain run is proved."""

    separator: bytes  # ends a unit; bytes ending in it leave the decoder nothing partial
    plain_end: bytes  # ends a plain unit
    count_plain: Callable[[bytes], int]
    thinking: bytes  # marks a unit carrying thinking


# Go omits an empty `thinking`; OpenAI-style deltas call it `reasoning` or `reasoning_content`.
_NATIVE_THINKING = b'"thinking":"'
_SSE_THINKING = b'"reasoning'
_NDJSON_FRAMING = _Framing(b"\n", _NDJSON_PLAIN_END, plain_ndjson_lines, _NATIVE_THINKING)
_SSE_FRAMING = _Framing(b"\n\n", _SSE_PLAIN_END, plain_sse_events, _SSE_THINKING)


def native_line_kind(line: bytes) -> tuple[bool, bool]:
    """(thinking, answer) of a native intermediate line, by substring (no parsing).

    >>> native_line_kind(b'{"response":"","thinking":"so","done":false}')
    (True, False)
    >>> native_line_kind(b'{"response":"Hi","done":false}')
    (False, True)
    """
    if _NATIVE_THINKING not in line:
        return False, True
    empty = b'"response":"",' in line or b'"content":"",' in line
    return True, not empty or b'"tool_calls"' in line


def sse_data_kind(data: bytes) -> tuple[bool, bool]:
    """(thinking, answer) of an OpenAI chunk's data, by substring (no parsing).

    >>> sse_data_kind(b'{"choices":[{"delta":{"content":"","reasoning":"so"}}]}')
    (True, False)
    """
    if _SSE_THINKING not in data:
        return False, True
    answer = b'"content":"' in data and b'"content":""' not in data
    return True, answer or b'"tool_calls"' in data


# A native `"thinking":"..."` field with text, or an OpenAI reasoning delta.
_THINKING = re.compile(rb'"thinking":"[^"]|"reasoning(?:_content)?":"[^"]')


class _HeldCount:
    """The live view's count of the units in one batch of held chunks."""

    __slots__ = ("counted", "held", "units")

    def __init__(self, held: list[bytes]) -> None:
        self.held = held  # the batch counted (a release starts a new list)
        self.counted = 0  # chunks of it counted
        self.units = 0  # lines or events in them


class LiveView(NamedTuple):
    """A meter's state mid-request (see Meter.live_view); a tuple: built for every request of
    every live snapshot."""

    chunks: int
    ttfb: float | None
    ttft: float | None
    model: str
    thinking: bool
    bytes_in: int


def _loads(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return _UNPARSABLE


_UNPARSABLE = object()


def _first(pattern: re.Pattern[bytes], *parts: bytes) -> bytes | None:
    for part in parts:
        match = pattern.search(part)
        if match:
            return match.group(1)
    return None


def _text(raw: bytes) -> str:
    text: str = raw.decode("utf-8", "replace")
    if "\\" in text:  # a JSON string: undo its escapes
        try:
            text = orjson.loads(b'"' + raw + b'"')
        except orjson.JSONDecodeError:
            pass
    return text


class Meter:
    """Meters one proxied request; `finish()` returns its filled RequestRecord.

    >>> from ollama_proxy.operations import classify
    >>> m = Meter(RequestRecord(), classify("/api/tags"), started_at=10.0)
    >>> m.observe_response_start(200, "application/json; charset=utf-8", now=10.002)
    >>> m.observe_chunk(b'{"models":[]}', now=10.003)
    >>> r = m.finish(now=10.004)
    >>> r.status, r.http_status, r.bytes_out, round(r.latency_ms, 3)
    ('success', 200, 13, 4.0)
    """

    __slots__ = (
        "_aligned",
        "_answer",
        "_bytes_in",
        "_bytes_out",
        "_chunks",
        "_decoder",
        "_done_reason",
        "_error",
        "_error_type",
        "_failure",
        "_input_estimate",
        "_keep_request",
        "_mode",
        "_model",
        "_record",
        "_req_head",
        "_req_tail",
        "_route",
        "_started",
        "_status",
        "_terminal",
        "_think_at",
        "_thinking",
        "_thinking_text",
        "_ttfb",
        "_ttft",
        "_unparsable",
        "_usage",
        "_usage_estimated",
        "_finished",
        "_framing",
        "_held",
        "_held_bytes",
        "_live",
    )

    def __init__(self, record: RequestRecord, route: Route, started_at: float) -> None:
        self._record = record
        self._route = route
        self._started = started_at
        self._keep_request = route.operation not in _OPAQUE_REQUESTS
        self._req_head: list[bytes] = []
        self._req_tail = b""
        self._bytes_in = 0
        self._bytes_out = 0
        self._mode = ""  # set by observe_response_start
        self._decoder: NDJSONDecoder | SSEDecoder | JSONBodyDecoder | None = None
        self._framing = _NDJSON_FRAMING  # NDJSON or SSE streams: set by observe_response_start
        self._aligned = True  # the stream decoder holds no partial line or event
        self._status = 0
        self._ttfb: float | None = None
        self._ttft: float | None = None
        self._answer: float | None = None  # first chunk carrying the answer (not thinking)
        self._think_at: float | None = None  # first chunk carrying thinking
        self._thinking = 0  # chunks that carried thinking
        self._thinking_text = 0  # characters of thinking in a non-streamed body
        self._chunks = 0  # lines/events that carried output
        self._usage: u.Usage | None = None
        self._usage_estimated = False  # usage exists but part of it is Ollama's estimate
        self._input_estimate = 0  # Anthropic message_start's input token estimate
        self._done_reason = ""
        self._terminal = False  # saw done / [DONE] / message_stop / response.completed
        self._error: str | None = None  # an error the response body reported
        self._error_type = ""
        self._unparsable = 0
        self._model = ""  # the model the response names
        self._failure: str | None = None
        self._finished = False
        self._held: list[bytes] = []  # whole-unit chunks not metered yet
        self._held_bytes = 0
        self._live: _HeldCount | None = None  # set by the live view only

    # --- request -----------------------------------------------------------------------------

    def observe_request_chunk(self, chunk: bytes) -> None:
        try:
            size = len(chunk)
            if not size:
                return
            kept = self._bytes_in
            self._bytes_in += size
            if not self._keep_request:
                return
            if kept < REQUEST_HEAD:
                self._req_head.append(chunk[: REQUEST_HEAD - kept])
            if self._bytes_in > REQUEST_HEAD:
                self._req_tail = (self._req_tail + chunk[-REQUEST_TAIL:])[-REQUEST_TAIL:]
        except Exception as exc:
            self._fail(exc)

    def _request_fields(self) -> tuple[str, bool | None]:
        """The request's `model` and `stream`, from the whole body or its kept ends."""
        head = b"".join(self._req_head)
        if self._bytes_in <= REQUEST_HEAD:
            obj = _loads(head)
            if isinstance(obj, dict):
                model = obj.get("model") or obj.get("name") or ""
                stream = obj.get("stream")
                return (
                    model if isinstance(model, str) else "",
                    stream if isinstance(stream, bool) else None,
                )
        raw_model = _first(_MODEL, head, self._req_tail) or _first(_NAME, head, self._req_tail)
        raw_stream = _first(_STREAM, head, self._req_tail)
        stream = None if raw_stream is None else raw_stream == b"true"
        return (_text(raw_model) if raw_model else ""), stream

    # --- response ----------------------------------------------------------------------------

    def observe_response_start(self, status: int, content_type: str, now: float) -> None:
        try:
            self._status = status
            self._ttfb = now
            ctype = content_type.lower()
            if status >= 400:
                # Whatever its type (gin's 404 is text/plain), an error body is short: keep it.
                self._mode, self._decoder = JSON, JSONBodyDecoder(ERROR_BODY)
            elif "ndjson" in ctype:
                self._mode, self._decoder = NDJSON, NDJSONDecoder()
            elif "event-stream" in ctype:
                self._mode, self._decoder = SSE, SSEDecoder()
                self._framing = _SSE_FRAMING
            elif "json" in ctype and self._route.inference:
                self._mode, self._decoder = JSON, JSONBodyDecoder()
            else:  # tags, ps, show, version...: bytes and timings are enough
                self._mode = OPAQUE
        except Exception as exc:
            self._fail(exc)

    def observe_chunk(self, chunk: bytes, now: float) -> None:
        try:
            if not chunk:
                return
            self._bytes_out += len(chunk)
            mode = self._mode
            if mode is NDJSON or mode is SSE:
                if self._aligned and self._answer is not None:  # the hot path
                    if chunk.endswith(self._framing.separator):
                        # Whole lines or events after the first output: their times no longer
                        # matter, only what they hold, so they are held and metered together
                        # (a call per chunk cost more than the proof itself).
                        self._held.append(chunk)
                        self._held_bytes += len(chunk)
                        if self._held_bytes >= HOLD_BYTES:
                            self._release(now)
                        return
                    self._release(now)
                    chunk = self._count_plain(chunk)
                    if not chunk:
                        return
                self._stream_chunk(chunk, now)
            elif mode is JSON:
                self._decoder.feed(chunk)  # type: ignore[union-attr]
        except Exception as exc:
            self._fail(exc)

    def _release(self, now: float) -> None:
        """Meter the held chunks as one: they are whole units, so joined they read the same."""
        held = self._held
        if not held:
            return
        chunk = held[0] if len(held) == 1 else b"".join(held)
        self._held = []
        self._held_bytes = 0
        chunk = self._count_plain(chunk)
        if chunk:
            self._stream_chunk(chunk, now)

    def _stream_chunk(self, chunk: bytes, now: float) -> None:
        decoder: NDJSONDecoder | SSEDecoder = self._decoder  # type: ignore[assignment]
        separator = self._framing.separator
        if self._aligned and self._answer is None:
            # The first unit goes the general way (it sets the TTFT and the model); the plain
            # ones that usually follow it in the same chunk need not, once the answer began
            # (until then each unit may be thinking, and the first answer's time matters).
            end = chunk.find(separator) + len(separator)
            if len(separator) <= end < len(chunk):
                self._handle(decoder.feed(chunk[:end]), now)
                chunk = chunk[end:]
                if self._answer is not None:
                    chunk = self._count_plain(chunk)
                if not chunk:
                    return
        self._aligned = chunk.endswith(separator)
        units = decoder.feed(chunk)
        if units:
            self._handle(units, now)

    def _handle(self, units: list[Line] | list[SSEEvent], now: float) -> None:
        if self._mode is NDJSON:
            self._lines(units, now)  # type: ignore[arg-type]
        else:
            self._events(units, now)  # type: ignore[arg-type]

    def _count_plain(self, chunk: bytes) -> bytes:
        """Count the plain lines or events `chunk` starts with; return what is left after them.

        A stream's chunks are runs of plain ones, with the first and the last few (usage, done,
        errors) around them: those go the general way, the run is only counted.
        """
        framing = self._framing
        end = chunk.rfind(framing.plain_end)
        if end < 0:
            return chunk
        end += len(framing.plain_end)
        run = chunk if end == len(chunk) else chunk[:end]
        plain = framing.count_plain(run)
        if not plain:
            return chunk
        self._chunks += plain
        if self._thinking:  # a model that thought may think again after answering
            self._thinking += run.count(framing.thinking)
        return chunk[end:]

    # --- NDJSON (native) ---------------------------------------------------------------------

    def _lines(self, lines: list[Line], now: float) -> None:
        for line in lines:
            # An intermediate line: `"done":false}` closing a `{` line is the outer object's
            # last key (see _NDJSON_PLAIN_END), so its ending settles it.
            if line.__class__ is bytes and line.endswith(_INTERMEDIATE_END) and line[0] == 123:
                if self._answer is None or self._thinking:
                    self._output(now, line, *native_line_kind(line))
                else:
                    self._chunks += 1
                continue
            if line.__class__ is not bytes:
                self._oversized_line(line, now)  # type: ignore[arg-type]
            elif b'"done":true' in line or b'"done": true' in line:
                self._native_object(_loads(line), line, now)
            elif b'"error"' in line[:24]:
                self._native_object(_loads(line), line, now)
            elif line[0] != 123 or (line[-1] != 125 and line.rstrip()[-1:] != b"}"):  # { }
                self._unparsable += 1
            else:
                self._output(now, line, *native_line_kind(line))

    def _native_object(self, obj: Any, line: bytes, now: float) -> None:
        if obj is _UNPARSABLE or not isinstance(obj, dict):
            self._unparsable += 1
            return
        message = u.error_message(obj)
        if message is not None:
            self._stream_error(message)
        elif obj.get("done") is True:
            self._native_final(obj, now, line)
        else:
            self._output(now, line, *u.native_output_kind(obj))

    def _native_final(self, obj: dict[str, Any], now: float, line: bytes | None) -> None:
        thinking, answer = u.native_output_kind(obj)
        if thinking or answer:
            self._output(now, line, thinking, answer)
        self._usage = u.native(obj)
        self._terminal = True

    def _oversized_line(self, line: Oversized, now: float) -> None:
        obj = u.salvage(line.head, line.tail)
        if line.head.startswith(b'{"error"') and "error" in obj:
            self._stream_error(str(obj["error"]))
        elif obj.get("done") is True:
            self._output(now, None)  # a line this long carried something
            self._usage = u.native(obj)
            self._terminal = True
        else:
            self._output(now, None)

    # --- SSE (/v1: OpenAI, Responses, Anthropic) ---------------------------------------------

    def _events(self, events: list[SSEEvent], now: float) -> None:
        for event in events:
            data = event.data
            if data.__class__ is not bytes:
                self._oversized_event(event, now)
            elif event.event:
                self._named_event(event.event, data, now)
            elif data == b"[DONE]":
                self._terminal = True
            elif b"[]" in data or b'"finish_reason":"' in data or b'"error"' in data:
                self._openai_object(_loads(data), data, now)
            elif data[:1] != b"{":
                self._unparsable += 1
            elif b'"content":""}' not in data:  # an empty delta is no output
                self._output(now, data, *sse_data_kind(data))

    def _openai_object(self, obj: Any, data: bytes, now: float) -> None:
        if obj is _UNPARSABLE or not isinstance(obj, dict):
            self._unparsable += 1
            return
        choices = obj.get("choices")
        if choices is None:
            message = u.error_message(obj)
            if message is not None:
                self._stream_error(message)
            return
        if choices == []:
            # The usage chunk. On /v1/completions every chunk carries a zero `usage`; only the
            # choices:[] one is real, and if several come the last one wins.
            if isinstance(obj.get("usage"), dict):
                self._usage = u.openai(obj)
                self._model = self._model or self._usage.model
            return
        reason = u.finish_reason(obj)
        if reason:
            self._done_reason = reason
        thinking, answer = u.openai_output_kind(obj)
        if thinking or answer:
            self._output(now, data, thinking, answer)

    def _named_event(self, name: str, data: bytes, now: float) -> None:
        if name == "content_block_delta" or name.endswith(".delta"):
            # Anthropic thinking blocks stream thinking_delta (and a signature_delta); the
            # Responses API streams response.reasoning_*.delta events.
            thinking = b'"thinking_delta"' in data or b'"signature_delta"' in data
            thinking = thinking or "reasoning" in name
            self._output(now, data, thinking, not thinking)
        elif name == "message_delta":
            self._anthropic_delta(_loads(data))
        elif name == "message_stop" or name == "response.completed":
            self._terminal = True
            if name == "response.completed":
                self._responses_final(_loads(data))
        elif name == "response.incomplete":
            self._terminal = True
            self._responses_final(_loads(data))
        elif name in ("error", "response.failed"):
            obj = _loads(data)
            self._stream_error(u.error_message(obj) or f"{name} event")
            self._terminal = name == "response.failed" or self._terminal
        elif name == "message_start":
            self._anthropic_start(_loads(data))

    def _anthropic_start(self, obj: Any) -> None:
        message = obj.get("message") if isinstance(obj, dict) else None
        if isinstance(message, dict):
            self._model = self._model or u.anthropic(message).model
            usage = message.get("usage")
            if isinstance(usage, dict):
                self._input_estimate = u.anthropic(message).prompt_tokens

    def _anthropic_delta(self, obj: Any) -> None:
        if not isinstance(obj, dict):
            self._unparsable += 1
            return
        usage = u.anthropic(obj)
        reported = obj.get("usage")
        if not isinstance(reported, dict) or "input_tokens" not in reported:
            # Only message_start's estimate is known for the input (EstimateInputTokens).
            usage.prompt_tokens = max(usage.prompt_tokens, self._input_estimate)
            self._usage_estimated = True
        self._usage = usage

    def _responses_final(self, obj: Any) -> None:
        if not isinstance(obj, dict):
            self._unparsable += 1
            return
        self._usage = u.responses(obj)

    def _oversized_event(self, event: SSEEvent, now: float) -> None:
        data: Oversized = event.data  # type: ignore[assignment]
        obj = u.salvage(data.head, data.tail)
        if event.event in ("response.completed", "response.incomplete"):
            self._usage = u.responses(obj)
            self._terminal = True
        elif event.event == "message_delta":
            self._usage = u.anthropic(obj)
        elif not event.event and b'"choices":[]' in data.head:
            self._usage = u.openai(obj)
        else:
            self._output(now, None)

    # --- shared ------------------------------------------------------------------------------

    def _output(
        self, now: float, data: bytes | None, thinking: bool = False, answer: bool = True
    ) -> None:
        self._chunks += 1
        if thinking:
            self._thinking += 1
            if self._think_at is None:
                self._think_at = now
        if answer and self._answer is None:
            self._answer = now
        if self._ttft is None:
            self._ttft = now
            if data is not None and not self._model:
                raw = _first(_MODEL, data)
                self._model = _text(raw) if raw else ""

    def _stream_error(self, message: str) -> None:
        if self._error is None:
            self._error = message
            self._error_type = "stream_error"

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = f"{type(exc).__name__}: {exc}"[:MESSAGE_MAX]
        self._mode = OPAQUE  # stop decoding; keep counting bytes and time

    # --- live view (read only while someone watches /api/stats/live) ------------------------

    def live_view(self) -> LiveView:
        """What the meter knows so far, for the live view: read only, nothing per chunk.

        Chunks held to be metered in a batch (see observe_chunk) stay held: metering them
        here would make the request path's batches smaller while someone watches. Their lines
        or events are counted instead, each held chunk once (a look costs the bytes held since
        the last look), as output units. `thinking` says whether the latest output unit carried
        reasoning text.
        """
        held = self._held
        live = self._live
        if live is None or live.held is not held:  # a release started a new batch
            live = self._live = _HeldCount(held)
        if live.counted < len(held):
            live.units += b"".join(held[live.counted :]).count(self._framing.separator)
            live.counted = len(held)
        # Until the first answer chunk every unit is metered as it comes (none are held).
        thinking = (self._thinking > 0 and self._answer is None) or (
            bool(held) and _THINKING.search(held[-1][-600:]) is not None
        )
        chunks = self._chunks + live.units
        return LiveView(chunks, self._ttfb, self._ttft, self._model, thinking, self._bytes_in)

    def first_byte_seen(self) -> bool:
        return self._ttfb is not None

    def request_head(self) -> bytes:
        """The first request bytes kept (model, options): read by the live view only."""
        return b"".join(self._req_head)

    # --- finish ------------------------------------------------------------------------------

    def finish(
        self, now: float, *, cancelled: bool = False, upstream_error: str | None = None
    ) -> RequestRecord:
        record = self._record
        if self._finished:
            return record
        self._finished = True
        try:
            self._flush_decoder()
        except Exception as exc:
            self._fail(exc)
        try:
            self._fill(record, now, cancelled, upstream_error)
        except Exception as exc:
            self._fail(exc)
        if self._failure is not None and not record.error_type:
            record.error_type = "meter_error"
            record.error_message = self._failure
        return record

    def _flush_decoder(self) -> None:
        decoder, mode = self._decoder, self._mode
        if decoder is None or mode is OPAQUE:
            return
        if mode is NDJSON or mode is SSE:
            self._release(self._last_time())
            units = decoder.flush()
            if units:
                self._handle(units, self._last_time())
        else:
            self._json_body(decoder.flush())  # type: ignore[arg-type]

    def _last_time(self) -> float:
        # A line completed only by the end of the body arrived with the last chunk; its time
        # is not known here, so the first-byte time stands in (never later than the truth).
        return self._ttfb if self._ttfb is not None else self._started

    def _json_body(self, parts: list[Line]) -> None:
        if not parts:
            if self._status >= 400:
                self._error = ""
            return
        body = parts[0]
        if isinstance(body, Oversized):
            obj: Any = u.salvage(body.head, body.tail)
        else:
            obj = _loads(body)
        if self._status >= 400:
            self._error = (u.error_message(obj) if isinstance(obj, dict) else None) or _plain(body)
            return
        if not isinstance(obj, dict):
            self._unparsable += 1
            return
        message = u.error_message(obj)
        if message is not None and "usage" not in obj:
            self._error, self._error_type = message, "response_error"
            return
        self._usage = self._body_usage(obj)
        if self._usage is not None:
            self._model = self._usage.model
        self._thinking_text = len(u.thinking_text(obj))

    def _body_usage(self, obj: dict[str, Any]) -> u.Usage | None:
        """Usage of a non-streamed body, by its shape first and the route's flavour second."""
        flavor = self._route.flavor
        if "done" in obj:
            return u.native(obj) if obj.get("done") is True else None
        if flavor == "native" and self._route.operation == "embeddings":
            # /api/embeddings (legacy) reports nothing at all: no usage, not zero usage.
            return u.native_embed(obj) if "prompt_eval_count" in obj else None
        if not isinstance(obj.get("usage"), dict):
            return None
        if flavor == "anthropic":
            return u.anthropic(obj)
        if flavor == "openai_responses" or obj.get("object") == "response":
            return u.responses(obj)
        return u.openai(obj)

    def _fill(
        self, record: RequestRecord, now: float, cancelled: bool, upstream_error: str | None
    ) -> None:
        started = self._started
        record.latency_ms = (now - started) * 1000
        record.ttfb_ms = None if self._ttfb is None else (self._ttfb - started) * 1000
        streamed = self._mode in (NDJSON, SSE)
        if streamed and self._route.inference:
            record.ttft_ms = _since(self._ttft, started)
            record.ttft_answer_ms = _since(self._answer, started)
        record.http_status = self._status
        record.bytes_in = self._bytes_in
        record.bytes_out = self._bytes_out
        record.chunks = self._chunks
        answered = self._model or (self._usage.model if self._usage else "")
        # The request body (a whole chat history, often tens of KB) is parsed only when the
        # response left something unsaid: its model, or whether it streamed.
        wanted = self._keep_request and (not answered or not self._mode)
        model, requested_stream = self._request_fields() if wanted else ("", None)
        # Ollama echoes the model as the client named it; the record's `model` is its
        # canonical name (one per model), `model_requested` the text sent, both bounded.
        requested = clip(answered or model or record.model)
        record.model_requested = requested
        record.model = canonical_model(requested)
        if self._mode:
            record.stream = streamed
        else:  # no response at all: what the client asked for (native streams by default)
            default = self._route.flavor == "native"
            record.stream = default if requested_stream is None else requested_stream
        self._fill_usage(record)
        self._fill_status(record, cancelled, upstream_error)

    def _fill_usage(self, record: RequestRecord) -> None:
        usage = self._usage
        self._fill_thinking(record, usage)
        record.done_reason = self._done_reason
        if not self._route.inference:
            # Pull/push/create progress lines, tags, show...: no model ran, no tokens exist.
            record.usage_source, record.estimated = "none", False
            return
        if usage is None:
            # No usage from Ollama: a stream's output chunks are the estimate (one token
            # each in Ollama's streams); anything else says nothing about tokens.
            counted = self._status < 400 and self._mode in (NDJSON, SSE)
            record.usage_source = "estimated" if counted else "none"
            record.estimated = counted
            record.completion_tokens = self._chunks if counted else 0
            return
        record.usage_source = "estimated" if self._usage_estimated else "reported"
        record.estimated = self._usage_estimated
        record.prompt_tokens = usage.prompt_tokens
        record.cached_tokens = usage.cached_tokens
        record.completion_tokens = usage.completion_tokens
        record.done_reason = usage.done_reason or self._done_reason
        record.total_duration_ms = usage.total_ms
        record.load_duration_ms = usage.load_ms
        record.prompt_eval_duration_ms = usage.prompt_eval_ms
        record.eval_duration_ms = usage.eval_ms
        record.decode_tps = u.decode_tps(usage)
        record.prefill_tps = u.prefill_tps(usage)
        record.queue_wait_ms = u.queue_wait_ms(usage)

    def _fill_thinking(self, record: RequestRecord, usage: u.Usage | None) -> None:
        """Thinking tokens: the upstream's count where given, else the meter's (estimated)."""
        reported = usage.reasoning_tokens if usage is not None else 0
        if reported:
            record.thinking_tokens, record.thinking_estimated = reported, False
        elif self._thinking or self._thinking_text:
            # Ollama streams one token per chunk; a whole body gets the ~4 characters/token
            # rule of thumb (Ollama's own estimate for Anthropic input tokens).
            counted = self._thinking or max(1, round(self._thinking_text / 4))
            record.thinking_tokens, record.thinking_estimated = counted, True
        if self._think_at is not None and self._answer is not None:
            record.thinking_ms = max(0.0, (self._answer - self._think_at) * 1000)

    def _fill_status(
        self, record: RequestRecord, cancelled: bool, upstream_error: str | None
    ) -> None:
        status = self._status
        if cancelled:
            record.status, record.error_type = "cancelled", "client_disconnected"
            record.error_message = "client disconnected before the response ended"
        elif upstream_error:
            # The handler names the upstream failure; an error line it relayed is its echo.
            record.status = "error"
            unreachable = status == 502 and self._chunks == 0
            record.error_type = "upstream_unreachable" if unreachable else "upstream_reset"
            record.error_message = upstream_error[:MESSAGE_MAX]
        elif status >= 400:
            record.status, record.error_type = "error", f"http_{status}"
            record.error_message = (self._error or "")[:MESSAGE_MAX]
        elif self._error is not None:
            record.status, record.error_type = "error", self._error_type or "stream_error"
            record.error_message = self._error[:MESSAGE_MAX]
        elif self._route.inference and self._mode in (NDJSON, SSE) and not self._terminal:
            record.status, record.error_type = "error", "truncated"
            record.error_message = "stream ended without its final chunk (done/[DONE]/stop)"
        else:
            record.status = "success"
            if self._unparsable:
                # A warning on a successful record: what the meter could not read.
                record.error_type = "unparsable"
                record.error_message = f"{self._unparsable} unparsable line(s) in the response"


def _since(moment: float | None, started: float) -> float | None:
    return None if moment is None else (moment - started) * 1000


def _plain(body: Line) -> str:
    raw = body.head if isinstance(body, Oversized) else body
    return raw.decode("utf-8", "replace").strip()[:MESSAGE_MAX]
