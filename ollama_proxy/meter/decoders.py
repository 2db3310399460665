"""Pure incremental decoders for a copy of a response body: NDJSON lines, SSE events, JSON bodies.

Each works like httpx's `LineDecoder`: `feed(bytes)` returns what became complete, `flush()`
returns what the end of the body completed. They split bytes, never text: `\\n` (0x0A) never
occurs inside a multi-byte UTF-8 sequence, so a character split across network chunks is
reassembled for free and decoding is left to the JSON parser.

Memory is bounded: a line that grows past `max_line` bytes (the upstream may send a 100 MB line)
is not kept; the decoder keeps only its first and last `keep` bytes and returns an `Oversized`
in its place, from which usage can still be salvaged (Ollama writes its counters last).

>>> d = NDJSONDecoder()
>>> d.feed(b'{"a":1}\\n{"b"'), d.feed(b':2}'), d.flush()
([b'{"a":1}'], [], [b'{"b":2}'])
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LINE = 16 * 1024 * 1024  # a line past this is dropped (kept as head + tail only)
KEEP = 64 * 1024  # head and tail kept from an oversized line


@dataclass(slots=True)
class Oversized:
    """A line (or body) too long to keep: its first and last bytes and its full size."""

    head: bytes
    tail: bytes
    size: int


Line = bytes | Oversized


class _Splitter:
    """Splits a byte stream on b"\\n" with bounded memory; yields every line, empty ones too.

    A partial line is kept as a list of pieces (joined once, when its newline arrives) so a
    long line arriving in many small chunks costs linear, not quadratic, copying.
    """

    __slots__ = (
        "_head",
        "_keep",
        "_max",
        "_pending",
        "_pending_size",
        "_size",
        "_skipping",
        "_tail",
        "oversized",
    )

    def __init__(self, max_line: int = MAX_LINE, keep: int = KEEP) -> None:
        self._max = max_line
        self._keep = min(keep, max_line)
        self._pending: list[bytes] = []  # pieces of the line not yet ended
        self._pending_size = 0
        self._skipping = False  # inside an oversized line: only head/tail/size are kept
        self._head = b""
        self._tail = b""
        self._size = 0
        self.oversized = 0  # lines dropped for size so far

    def feed(self, data: bytes) -> list[Line]:
        if not data:
            return []
        if data[-1] == 10 and not self._pending and not self._skipping and len(data) <= self._max:
            # The common case: Ollama flushes whole lines, one write per chunk.
            whole: list[Line] = data.split(b"\n")  # type: ignore[assignment]
            whole.pop()
            return whole
        out: list[Line] = []
        if self._skipping:
            data = self._skip(data, out)
        if not data:
            return out
        end = data.find(b"\n")
        if end < 0:
            self._hold(data)
            return out
        if self._pending:
            self._pending.append(data[:end])
            out.append(self._take_pending())
            data = data[end + 1 :]
        lines = data.split(b"\n")
        rest = lines.pop()
        if len(data) > self._max:  # only then can one of these lines be too long
            out.extend(line if len(line) <= self._max else self._cut(line) for line in lines)
        else:
            out.extend(lines)
        if rest:
            self._hold(rest)
        return out

    def flush(self) -> list[Line]:
        if self._skipping:
            self._skipping = False
            return [self._finish_oversized()]
        if self._pending:
            return [self._take_pending()]
        return []

    def _hold(self, piece: bytes) -> None:
        self._pending.append(piece)
        self._pending_size += len(piece)
        if self._pending_size > self._max:
            partial = b"".join(self._pending)
            self._pending, self._pending_size = [], 0
            self._skipping = True
            self._head = partial[: self._keep]
            self._tail = partial[-self._keep :]
            self._size = len(partial)

    def _take_pending(self) -> Line:
        line = b"".join(self._pending)
        self._pending, self._pending_size = [], 0
        return line if len(line) <= self._max else self._cut(line)

    def _cut(self, line: bytes) -> Oversized:
        self.oversized += 1
        return Oversized(line[: self._keep], line[-self._keep :], len(line))

    def _skip(self, data: bytes, out: list[Line]) -> bytes:
        """Consume bytes of an oversized line; return what follows its end (if it ended)."""
        end = data.find(b"\n")
        piece = data if end < 0 else data[:end]
        self._size += len(piece)
        self._tail = (self._tail + piece[-self._keep :])[-self._keep :]
        if end < 0:
            return b""
        self._skipping = False
        out.append(self._finish_oversized())
        return data[end + 1 :]

    def _finish_oversized(self) -> Oversized:
        self.oversized += 1
        line = Oversized(self._head, self._tail, self._size)
        self._head = self._tail = b""
        self._size = 0
        return line


class NDJSONDecoder:
    """Newline-delimited JSON: returns each non-empty line as bytes (no newline), unparsed."""

    __slots__ = ("_split",)

    def __init__(self, max_line: int = MAX_LINE, keep: int = KEEP) -> None:
        self._split = _Splitter(max_line, keep)

    @property
    def oversized(self) -> int:
        return self._split.oversized

    def feed(self, data: bytes) -> list[Line]:
        lines = self._split.feed(data)
        if b"" in lines:  # blank lines carry nothing (Ollama sends none)
            return [line for line in lines if line]
        return lines

    def flush(self) -> list[Line]:
        return [line for line in self._split.flush() if line]


@dataclass(slots=True)
class SSEEvent:
    """One server-sent event: its `event:` name ("" when absent) and its joined `data:` lines."""

    event: str
    data: bytes | Oversized


class SSEDecoder:
    """Server-sent events (`event:`/`data:` lines, a blank line ends an event); CRLF tolerated.

    Comments (`:`), `id:` and `retry:` lines are ignored, and a lone CR does not end a line:
    nothing Ollama (or the SDK servers it mimics) sends uses them.

    >>> SSEDecoder().feed(b"event: ping\\r\\ndata: {}\\r\\n\\r\\ndata: [DONE]\\n\\n")
    [SSEEvent(event='ping', data=b'{}'), SSEEvent(event='', data=b'[DONE]')]
    """

    __slots__ = ("_data", "_event", "_max", "_split")

    def __init__(self, max_line: int = MAX_LINE, keep: int = KEEP) -> None:
        self._split = _Splitter(max_line, keep)
        self._max = max_line
        self._event = ""
        self._data: list[Line] = []

    @property
    def oversized(self) -> int:
        return self._split.oversized

    def feed(self, data: bytes) -> list[SSEEvent]:
        return self._assemble(self._split.feed(data))

    def flush(self) -> list[SSEEvent]:
        events = self._assemble(self._split.flush())
        # A last event without its blank line still counts: the stream simply ended.
        if self._data or self._event:
            events.append(self._dispatch())
        return events

    def _assemble(self, lines: list[Line]) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        for line in lines:
            if isinstance(line, Oversized):
                self._data.append(line)
                continue
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if self._data or self._event:
                    events.append(self._dispatch())
            elif line.startswith(b"data:"):
                self._data.append(_field_value(line, 5))
            elif line.startswith(b"event:"):
                self._event = _field_value(line, 6).decode("utf-8", "replace")
        return events

    def _dispatch(self) -> SSEEvent:
        parts, self._data = self._data, []
        event, self._event = self._event, ""
        if len(parts) == 1:
            return SSEEvent(event, parts[0])
        if any(isinstance(p, Oversized) for p in parts):
            return SSEEvent(event, _join_oversized(parts))
        data = b"\n".join(parts)  # type: ignore[arg-type]
        if len(data) > self._max:
            self._split.oversized += 1
            return SSEEvent(event, Oversized(data[:KEEP], data[-KEEP:], len(data)))
        return SSEEvent(event, data)


def _field_value(line: bytes, start: int) -> bytes:
    # "data: x" and "data:x" are the same field; only one leading space is dropped (SSE spec).
    return line[start + 1 :] if line[start : start + 1] == b" " else line[start:]


def _join_oversized(parts: list[Line]) -> Oversized:
    first, last = parts[0], parts[-1]
    head = first.head if isinstance(first, Oversized) else first[:KEEP]
    tail = last.tail if isinstance(last, Oversized) else last[-KEEP:]
    size = sum(p.size if isinstance(p, Oversized) else len(p) for p in parts)
    return Oversized(head, tail, size)


class JSONBodyDecoder:
    """A single JSON body (not split on newlines): kept whole up to `max_body`, else head + tail.

    Large bodies (embeddings vectors, `context` arrays) are not parsed whole: Ollama, OpenAI and
    Anthropic shapes all put their usage at the end, so the tail is enough to salvage it.
    """

    __slots__ = ("_keep", "_max", "_parts", "_size", "_tail", "_head")

    def __init__(self, max_body: int = 1024 * 1024, keep: int = KEEP) -> None:
        self._max = max_body
        self._keep = min(keep, max_body)
        self._parts: list[bytes] = []
        self._size = 0
        self._head = b""
        self._tail = b""

    def feed(self, data: bytes) -> list[Line]:
        if not data:
            return []
        self._size += len(data)
        if self._size <= self._max:
            self._parts.append(data)
            return []
        if not self._head:
            whole = b"".join(self._parts) + data
            self._head = whole[: self._keep]
            self._parts = []
            self._tail = whole[-self._keep :]
        else:
            self._tail = (self._tail + data[-self._keep :])[-self._keep :]
        return []

    def flush(self) -> list[Line]:
        if self._head:
            return [Oversized(self._head, self._tail, self._size)]
        body = b"".join(self._parts)
        self._parts = []
        return [body] if body.strip() else []
