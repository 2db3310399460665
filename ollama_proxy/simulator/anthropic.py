"""Bytes of `/v1/messages`, after Ollama's `anthropic/anthropic.go` and its middleware.

`message_start.usage.input_tokens` is Ollama's estimate (bytes / 4); the real counts come in
`message_delta.usage`.
"""

from __future__ import annotations

import secrets
from typing import Any

from ollama_proxy.simulator import gojson
from ollama_proxy.simulator.native import Metrics, token_json

SSE_HEADERS = {"Cache-Control": "no-cache", "Connection": "keep-alive"}

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str) -> bytes:
    obj = {
        "type": "error",
        "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message},
        "request_id": f"req_{secrets.token_hex(12)}",
    }
    return gojson.dumps(obj) + b"\n"


def stop_reason(done_reason: str) -> str:
    if done_reason == "stop":
        return "end_turn"
    if done_reason == "length":
        return "max_tokens"
    return "stop_sequence" if done_reason else ""


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + gojson.dumps(data) + b"\n\n"


class Messages:
    stream_content_type = "text/event-stream"
    body_content_type = "application/json"
    stream_headers = SSE_HEADERS

    def __init__(self, model: str, estimated_input_tokens: int) -> None:
        self.id = f"msg_{secrets.token_hex(12)}"
        self._model = model
        self._estimate = estimated_input_tokens
        self._block = 0  # index of the text block: 1 after a thinking block
        self._text_started = False

    def frames(self, index: int, token: str) -> list[bytes]:
        delta = (
            b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
            + str(self._block).encode()
            + b',"delta":{"type":"text_delta","text":'
            + token_json(token)
            + b"}}\n\n"
        )
        if self._text_started:
            return [delta]
        self._text_started = True
        start = {
            "type": "content_block_start",
            "index": self._block,
            "content_block": {"type": "text", "text": ""},
        }
        if self._block:  # after thinking: close the thinking block, open the text one
            stop = _event("content_block_stop", {"type": "content_block_stop", "index": 0})
            return [stop, _event("content_block_start", start), delta]
        return [self._message_start(), _event("content_block_start", start), delta]

    def thinking_frames(self, index: int, token: str) -> list[bytes]:
        delta = (
            b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
            b'"delta":{"type":"thinking_delta","thinking":' + token_json(token) + b"}}\n\n"
        )
        if self._block:
            return [delta]
        self._block = 1
        start = {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        }
        return [self._message_start(), _event("content_block_start", start), delta]

    def _message_start(self) -> bytes:
        message = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "usage": {"input_tokens": self._estimate, "output_tokens": 0},
        }
        return _event("message_start", {"type": "message_start", "message": message})

    def final(self, text: str, m: Metrics) -> list[bytes]:
        delta: dict[str, Any] = {}
        reason = stop_reason(m.done_reason)
        if reason:
            delta["stop_reason"] = reason
        usage = {"input_tokens": m.prompt_eval_count, "output_tokens": m.eval_count}
        return [
            _event("content_block_stop", {"type": "content_block_stop", "index": self._block}),
            _event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}),
            _event("message_stop", {"type": "message_stop"}),
        ]

    def thinking_body(self, text: str, thinking: str, m: Metrics) -> bytes:
        return self.body(text, m, thinking)

    def body(self, text: str, m: Metrics, thinking: str = "") -> bytes:
        content: list[dict[str, Any]] = [{"type": "text", "text": text}]
        if thinking:
            content.insert(0, {"type": "thinking", "thinking": thinking, "signature": ""})
        obj: dict[str, Any] = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": content,
        }
        reason = stop_reason(m.done_reason)
        if reason:
            obj["stop_reason"] = reason
        obj["usage"] = {"input_tokens": m.prompt_eval_count, "output_tokens": m.eval_count}
        return gojson.dumps(obj) + b"\n"

    def error_frames(self, message: str) -> list[bytes]:
        return []
