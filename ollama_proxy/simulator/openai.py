"""Bytes of the OpenAI-compatible routes (`/v1/*`), after Ollama's `openai/` and
`middleware/openai.go` (ollama-api.md §3, §7b). Non-streaming bodies come from
`json.NewEncoder`, so they end with a newline."""

from __future__ import annotations

import random
import time
from typing import Any

from ollama_proxy.simulator import gojson
from ollama_proxy.simulator.config import ModelSpec
from ollama_proxy.simulator.native import Metrics, token_json

JSON = "application/json"
SSE = "text/event-stream"
DONE = b"data: [DONE]\n\n"


def error_type(status: int) -> str:
    return {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")


def error_body(status: int, message: str) -> bytes:
    err = {"message": message, "type": error_type(status), "param": None, "code": None}
    return gojson.dumps({"error": err}) + b"\n"


def _usage(m: Metrics) -> dict[str, int]:
    return {
        "prompt_tokens": m.prompt_eval_count,
        "completion_tokens": m.eval_count,
        "total_tokens": m.prompt_eval_count + m.eval_count,
    }


def owned_by(name: str) -> str:
    """`model.ParseName(name).Namespace`: "library" unless the name has a namespace."""
    parts = name.split(":", 1)[0].split("/")
    return parts[-2] if len(parts) >= 2 else "library"


class ChatCompletions:
    """`/v1/chat/completions` (format of v0.32.6 and later)."""

    stream_content_type = SSE
    body_content_type = JSON
    stream_headers: dict[str, str] = {}

    def __init__(self, model: str, include_usage: bool) -> None:
        self.id = f"chatcmpl-{random.randrange(999)}"
        self.created = int(time.time())
        self._model = model
        self._include_usage = include_usage
        self._head = (
            b'data: {"id":"'
            + self.id.encode()
            + b'","object":"chat.completion.chunk","created":'
            + str(self.created).encode()
            + b',"model":'
            + gojson.string(model)
            + b',"system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{'
        )

    def frames(self, index: int, token: str) -> list[bytes]:
        role = b'"role":"assistant",' if index == 0 else b""
        return [
            self._head + role + b'"content":' + token_json(token) + b'},"finish_reason":null}]}\n\n'
        ]

    def thinking_frames(self, index: int, token: str) -> list[bytes]:
        # Ollama's `reasoning` delta (omitempty) beside an always-present empty `content`.
        role = b'"role":"assistant",' if index == 0 else b""
        reasoning = b'"content":"","reasoning":' + token_json(token)
        return [self._head + role + reasoning + b'},"finish_reason":null}]}\n\n']

    def _chunk(self, choices: list[dict[str, Any]], usage: dict[str, int] | None) -> bytes:
        obj: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self._model,
            "system_fingerprint": "fp_ollama",
            "choices": choices,
        }
        if usage is not None:
            obj["usage"] = usage
        return b"data: " + gojson.dumps(obj) + b"\n\n"

    def final(self, text: str, m: Metrics) -> list[bytes]:
        finish = {"index": 0, "delta": {}, "finish_reason": m.done_reason or "stop"}
        out = [self._chunk([finish], None)]
        if self._include_usage:
            out.append(self._chunk([], _usage(m)))
        return [*out, DONE]

    def thinking_body(self, text: str, thinking: str, m: Metrics) -> bytes:
        return self.body(text, m, thinking)

    def body(self, text: str, m: Metrics, thinking: str = "") -> bytes:
        message = {"role": "assistant", "content": text}
        if thinking:
            message["reasoning"] = thinking
        obj = {
            "id": self.id,
            "object": "chat.completion",
            "created": m.created_ns // 1_000_000_000,
            "model": self._model,
            "system_fingerprint": "fp_ollama",
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": m.done_reason or None,
                }
            ],
            "usage": _usage(m),
        }
        return gojson.dumps(obj) + b"\n"

    def error_frames(self, message: str) -> list[bytes]:
        # The native error line is decoded as an empty ChatResponse: one empty delta, no
        # finish chunk, no [DONE]; the message is lost (ollama-api.md §3, errors on /v1).
        return [self._head + b'"content":""},"finish_reason":null}]}\n\n']


class Completions:
    """`/v1/completions`, with the zero-usage quirk on every chunk under include_usage."""

    stream_content_type = SSE
    body_content_type = JSON
    stream_headers: dict[str, str] = {}

    def __init__(self, model: str, include_usage: bool) -> None:
        self.id = f"cmpl-{random.randrange(999)}"
        self._model = model
        self._include_usage = include_usage
        self._tail = (
            b'"model":'
            + gojson.string(model)
            + b',"system_fingerprint":"fp_ollama"'
            + (
                b',"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}'
                if include_usage
                else b""
            )
            + b"}\n\n"
        )

    def _chunk(self, choices: bytes) -> bytes:
        return (
            b'data: {"id":"'
            + self.id.encode()
            + b'","object":"text_completion","created":'
            + str(int(time.time())).encode()
            + b',"choices":'
            + choices
            + b","
            + self._tail
        )

    def frames(self, index: int, token: str) -> list[bytes]:
        return [
            self._chunk(b'[{"text":' + token_json(token) + b',"index":0,"finish_reason":null}]')
        ]

    def final(self, text: str, m: Metrics) -> list[bytes]:
        reason = gojson.string(m.done_reason) if m.done_reason else b"null"
        done = self._chunk(b'[{"text":"","index":0,"finish_reason":' + reason + b"}]")
        out = [done]
        if self._include_usage:
            obj = {
                "id": self.id,
                "object": "text_completion",
                "created": int(time.time()),
                "choices": [],
                "model": self._model,
                "system_fingerprint": "fp_ollama",
                "usage": _usage(m),
            }
            out.append(b"data: " + gojson.dumps(obj) + b"\n\n")
        return [*out, DONE]

    def body(self, text: str, m: Metrics) -> bytes:
        obj = {
            "id": self.id,
            "object": "text_completion",
            "created": m.created_ns // 1_000_000_000,
            "model": self._model,
            "system_fingerprint": "fp_ollama",
            "choices": [{"text": text, "index": 0, "finish_reason": m.done_reason or None}],
            "usage": _usage(m),
        }
        return gojson.dumps(obj) + b"\n"

    def error_frames(self, message: str) -> list[bytes]:
        return [self._chunk(b'[{"text":"","index":0,"finish_reason":null}]')]


def embeddings_body(model: str, vectors: list[bytes], prompt_tokens: int) -> bytes:
    data = [
        {"object": "embedding", "embedding": gojson.raw(vector), "index": i}
        for i, vector in enumerate(vectors)
    ]
    obj = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }
    return gojson.dumps(obj) + b"\n"


def models_body(models: list[ModelSpec]) -> bytes:
    data = [
        {
            "id": spec.name,
            "object": "model",
            "created": spec.modified_at_ns // 1_000_000_000,
            "owned_by": owned_by(spec.name),
        }
        for spec in models
    ]
    # Go's nil slice: no local models gives "data":null.
    return gojson.dumps({"object": "list", "data": data or None}) + b"\n"


def model_body(requested: str, spec: ModelSpec) -> bytes:
    obj = {
        "id": requested,
        "object": "model",
        "created": spec.modified_at_ns // 1_000_000_000,
        "owned_by": owned_by(requested),
    }
    return gojson.dumps(obj) + b"\n"
