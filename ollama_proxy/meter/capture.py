"""Opt-in content capture (CAPTURE_CONTENT): the prompt and the answer's text, redacted.

Off by default, and then never instantiated: the request path does not even look at text.
When on, a bounded copy of the request body and of the response is kept and turned into text
once the request has finished.

>>> capture = ContentCapture(1024, [re.compile(r"sk-\\w+")])
>>> capture.feed_request(b'{"model":"m","prompt":"key sk-abc123"}')
>>> capture.feed_response(b'{"response":"ok","done":true}')
>>> capture.texts("application/json")
('key [REDACTED]', 'ok')
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from ollama_proxy.meter.meter import Meter
from ollama_proxy.operations import Route
from ollama_proxy.records import ContentRecord, RequestRecord

REDACTED = "[REDACTED]"


def compile_patterns(patterns: list[str]) -> list[re.Pattern[str]]:
    return [re.compile(p) for p in patterns]


def _text_parts(value: Any) -> list[str]:
    """Text from a string, a list of strings, or a list of content parts ({type, text})."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        out: list[str] = []
        for item in value:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, dict) and isinstance(item.get("text"), str):
                out.append(item["text"])
            elif isinstance(item, dict) and "content" in item:
                out += _text_parts(item["content"])
        return out
    return []


def prompt_text(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    parts: list[str] = []
    for key in ("system", "prompt", "input", "instructions"):
        parts += _text_parts(body.get(key))
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            parts += _text_parts(message.get("content"))
    return "\n".join(p for p in parts if p)


def _answer_piece(obj: Any) -> str:
    """The text one response object (a whole body, a line or an event) carries."""
    if not isinstance(obj, dict):
        return ""
    if isinstance(obj.get("response"), str):
        return str(obj["response"])
    message = obj.get("message")
    if isinstance(message, dict) and isinstance(message.get("content"), str):
        return str(message["content"])
    for choice in obj.get("choices") or []:
        if isinstance(choice, dict):
            delta = choice.get("delta") or choice.get("message") or {}
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                return str(delta["content"])
            if isinstance(choice.get("text"), str):
                return str(choice["text"])
    delta = obj.get("delta")
    if isinstance(delta, dict) and isinstance(delta.get("text"), str):  # Anthropic
        return str(delta["text"])
    if isinstance(delta, str) and str(obj.get("type", "")).endswith("output_text.delta"):
        return delta  # /v1/responses
    if obj.get("type") == "message":  # Anthropic, not streamed
        return "".join(_text_parts(obj.get("content")))
    return ""


def answer_text(raw: bytes, content_type: str) -> str:
    if content_type.startswith("text/event-stream"):
        pieces = [
            _loads(line[5:].strip())
            for line in raw.splitlines()
            if line.startswith(b"data:") and line[5:].strip() != b"[DONE]"
        ]
    elif content_type.startswith("application/x-ndjson"):
        pieces = [_loads(line) for line in raw.splitlines() if line.strip()]
    else:
        pieces = [_loads(raw)]
    return "".join(_answer_piece(p) for p in pieces)


def _loads(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def redact(text: str, patterns: list[re.Pattern[str]]) -> str:
    for pattern in patterns:
        text = pattern.sub(REDACTED, text)
    return text


class ContentCapture:
    """Bounded copies of one request's body and response; text extracted at the end."""

    def __init__(self, max_bytes: int, patterns: list[re.Pattern[str]]) -> None:
        self._max = max_bytes
        self._raw_max = max_bytes * 8  # JSON framing costs several bytes per token of text
        self._patterns = patterns
        self._request = bytearray()
        self._response = bytearray()

    def feed_request(self, chunk: bytes) -> None:
        if len(self._request) < self._raw_max:
            self._request += chunk[: self._raw_max - len(self._request)]

    def feed_response(self, chunk: bytes) -> None:
        if len(self._response) < self._raw_max:
            self._response += chunk[: self._raw_max - len(self._response)]

    def texts(self, content_type: str) -> tuple[str, str]:
        body = _loads(bytes(self._request))
        prompt = prompt_text(body) if body is not None else ""
        answer = answer_text(bytes(self._response), content_type)
        return (
            redact(prompt, self._patterns)[: self._max],
            redact(answer, self._patterns)[: self._max],
        )


class CapturingMeter(Meter):
    """A Meter that also keeps the bounded copies for ContentCapture (CAPTURE_CONTENT only)."""

    def __init__(
        self, record: RequestRecord, route: Route, started_at: float, capture: ContentCapture
    ) -> None:
        super().__init__(record, route, started_at)
        self.capture = capture
        self.content_type = ""

    def observe_request_chunk(self, chunk: bytes) -> None:
        super().observe_request_chunk(chunk)
        self.capture.feed_request(chunk)

    def observe_response_start(self, status: int, content_type: str, now: float) -> None:
        super().observe_response_start(status, content_type, now)
        self.content_type = content_type

    def observe_chunk(self, chunk: bytes, now: float) -> None:
        super().observe_chunk(chunk, now)
        self.capture.feed_response(chunk)

    def content(self, record: RequestRecord) -> ContentRecord:
        prompt, answer = self.capture.texts(self.content_type)
        return ContentRecord(record.request_id, record.timestamp, record.instance, prompt, answer)
