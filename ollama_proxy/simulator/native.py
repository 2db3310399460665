"""Bytes of the native API (`/api/*`), in Go struct key order (see ollama-api.md §2, §4, §7).

Streaming chunks are built by concatenating precomputed pieces, not by encoding a dict per
token, so zero-delay mode can push many thousands of chunks per second.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ollama_proxy.simulator import gojson
from ollama_proxy.simulator.config import ModelSpec
from ollama_proxy.simulator.registry import layers
from ollama_proxy.simulator.scheduler import Residency
from ollama_proxy.simulator.text import token_id, words

JSON = "application/json; charset=utf-8"  # gin's c.JSON
NDJSON = "application/x-ndjson"


@dataclass
class Metrics:
    """What Ollama reports on a done chunk; zero fields are omitted (`omitempty`)."""

    created_ns: int
    total_ns: int
    load_ns: int
    prompt_eval_count: int
    prompt_eval_cached_count: int
    prompt_eval_ns: int
    eval_count: int
    eval_ns: int
    done_reason: str


@lru_cache(maxsize=8192)
def token_json(token: str) -> bytes:
    return gojson.string(token)


def now_rfc3339() -> str:
    return gojson.rfc3339nano(time.time_ns())


def metric_fields(m: Metrics, *, cached: bool) -> dict[str, int]:
    out = {
        "total_duration": m.total_ns,
        "load_duration": m.load_ns,
        "prompt_eval_count": m.prompt_eval_count,
        "prompt_eval_cached_count": m.prompt_eval_cached_count if cached else 0,
        "prompt_eval_duration": m.prompt_eval_ns,
        "eval_count": m.eval_count,
        "eval_duration": m.eval_ns,
    }
    return {k: v for k, v in out.items() if v}


def error_body(message: str) -> bytes:
    return gojson.dumps({"error": message})


class NativeGenerate:
    """`/api/generate`: GenerateResponse chunks."""

    stream_content_type = NDJSON
    body_content_type = JSON
    stream_headers: dict[str, str] = {}

    def __init__(self, model: str, prompt_ids: list[int] | None, cached: bool) -> None:
        self._head = b'{"model":' + gojson.string(model) + b',"created_at":"'
        self._model = model
        self._prompt_ids = prompt_ids  # None: raw mode, no `context`
        self._cached = cached

    def frames(self, index: int, token: str) -> list[bytes]:
        created = now_rfc3339().encode()
        return [self._head + created + b'","response":' + token_json(token) + b',"done":false}\n']

    def thinking_frames(self, index: int, token: str) -> list[bytes]:
        created = now_rfc3339().encode()
        return [
            self._head
            + created
            + b'","response":"","thinking":'
            + token_json(token)
            + b',"done":false}\n'
        ]

    def _done(self, response: str, text: str, m: Metrics, thinking: str = "") -> bytes:
        obj: dict[str, Any] = {
            "model": self._model,
            "created_at": gojson.rfc3339nano(m.created_ns),
            "response": response,
        }
        if thinking:
            obj["thinking"] = thinking
        obj["done"] = True
        if m.done_reason:
            obj["done_reason"] = m.done_reason
        if self._prompt_ids is not None:
            context = self._prompt_ids + [token_id(w) for w in words(text)]
            obj["context"] = gojson.raw(b"[" + b",".join(b"%d" % i for i in context) + b"]")
        obj.update(metric_fields(m, cached=self._cached))
        return gojson.dumps(obj)

    def final(self, text: str, m: Metrics) -> list[bytes]:
        return [self._done("", text, m) + b"\n"]

    def body(self, text: str, m: Metrics) -> bytes:
        return self._done(text, text, m)

    def thinking_body(self, text: str, thinking: str, m: Metrics) -> bytes:
        return self._done(text, text, m, thinking)

    def error_frames(self, message: str) -> list[bytes]:
        return [error_body(message) + b"\n"]


class NativeChat:
    """`/api/chat`: ChatResponse chunks."""

    stream_content_type = NDJSON
    body_content_type = JSON
    stream_headers: dict[str, str] = {}

    def __init__(self, model: str, cached: bool) -> None:
        self._head = b'{"model":' + gojson.string(model) + b',"created_at":"'
        self._model = model
        self._cached = cached

    def frames(self, index: int, token: str) -> list[bytes]:
        created = now_rfc3339().encode()
        return [
            self._head
            + created
            + b'","message":{"role":"assistant","content":'
            + token_json(token)
            + b'},"done":false}\n'
        ]

    def thinking_frames(self, index: int, token: str) -> list[bytes]:
        created = now_rfc3339().encode()
        return [
            self._head
            + created
            + b'","message":{"role":"assistant","content":"","thinking":'
            + token_json(token)
            + b'},"done":false}\n'
        ]

    def _done(self, text: str, m: Metrics, thinking: str = "") -> bytes:
        message = {"role": "assistant", "content": text}
        if thinking:
            message["thinking"] = thinking
        obj: dict[str, Any] = {
            "model": self._model,
            "created_at": gojson.rfc3339nano(m.created_ns),
            "message": message,
            "done": True,
        }
        if m.done_reason:
            obj["done_reason"] = m.done_reason
        obj.update(metric_fields(m, cached=self._cached))
        return gojson.dumps(obj)

    def final(self, text: str, m: Metrics) -> list[bytes]:
        return [self._done("", m) + b"\n"]

    def body(self, text: str, m: Metrics) -> bytes:
        return self._done(text, m)

    def thinking_body(self, text: str, thinking: str, m: Metrics) -> bytes:
        return self._done(text, m, thinking)

    def error_frames(self, message: str) -> list[bytes]:
        return [error_body(message) + b"\n"]


def load_reply(model: str, reason: str, *, chat: bool) -> bytes:
    """The single-object reply to an empty prompt (`done_reason` load or unload)."""
    obj: dict[str, Any] = {"model": model, "created_at": now_rfc3339()}
    if chat:
        obj["message"] = {"role": "assistant", "content": ""}
    else:
        obj["response"] = ""
    obj["done"] = True
    obj["done_reason"] = reason
    return gojson.dumps(obj)


def details(spec: ModelSpec) -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": spec.family,
        "families": [spec.family],
        "parameter_size": spec.parameter_size,
        "quantization_level": spec.quantization,
    }


def tags_body(models: list[ModelSpec]) -> bytes:
    return gojson.dumps(
        {
            "models": [
                {
                    "name": spec.name,
                    "model": spec.name,
                    "modified_at": gojson.rfc3339nano(spec.modified_at_ns, utc=False),
                    "size": spec.size,
                    "digest": spec.digest,
                    "details": details(spec),
                }
                for spec in models
            ]
        }
    )


def ps_body(resident: list[Residency]) -> bytes:
    return gojson.dumps(
        {
            "models": [
                {
                    "name": r.spec.name,
                    "model": r.spec.name,
                    "size": r.spec.size,
                    "digest": r.spec.digest,
                    "details": details(r.spec),
                    "expires_at": gojson.rfc3339nano(r.expires_at_ns, utc=False),
                    "size_vram": r.spec.vram,
                    "context_length": r.spec.context_length,
                }
                for r in resident
            ]
        }
    )


_TEMPLATE = (
    "<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>"
)


def show_body(spec: ModelSpec) -> bytes:
    arch = spec.family
    model_info = {
        "general.architecture": arch,
        "general.parameter_count": _parameter_count(spec.parameter_size),
        "general.quantization_version": 2,
        f"{arch}.context_length": spec.context_length,
        f"{arch}.embedding_length": spec.embedding_length,
    }
    obj: dict[str, Any] = {
        "license": "Simulated model license.",
        "modelfile": f"# Modelfile generated by the Ollama simulator\nFROM {spec.name}\n",
        "parameters": 'stop                           "<|eot_id|>"',
        "template": _TEMPLATE,
        "details": details(spec),
        "model_info": dict(sorted(model_info.items())),  # a Go map: sorted keys
        "capabilities": spec.capabilities,
        "modified_at": gojson.rfc3339nano(spec.modified_at_ns, utc=False),
    }
    return gojson.dumps(obj)


def _parameter_count(size: str) -> int:
    scale = {"K": 1e3, "M": 1e6, "B": 1e9}.get(size[-1:], 1)
    try:
        return int(float(size.rstrip("KMB")) * scale)
    except ValueError:
        return 0


def progress_line(status: str, digest: str = "", total: int = 0, completed: int = 0) -> bytes:
    """ProgressResponse: status, digest?, total?, completed? (omitempty)."""
    obj: dict[str, Any] = {"status": status}
    if digest:
        obj["digest"] = digest
    if total:
        obj["total"] = total
    if completed:
        obj["completed"] = completed
    return gojson.dumps(obj) + b"\n"


def pull_lines(spec: ModelSpec, steps: int = 4) -> list[bytes]:
    lines = [progress_line("pulling manifest")]
    for digest, size in layers(spec):
        status = f"pulling {digest[7:19]}"
        lines.append(progress_line(status, digest, size))
        for step in range(1, steps + 1):
            lines.append(progress_line(status, digest, size, size * step // steps))
    lines += [
        progress_line("verifying sha256 digest"),
        progress_line("writing manifest"),
        progress_line("success"),
    ]
    return lines


def push_lines(spec: ModelSpec, steps: int = 4) -> list[bytes]:
    lines = [progress_line("retrieving manifest")]
    for digest, size in layers(spec):
        status = f"pushing {digest[7:19]}"
        lines.append(progress_line(status, digest, size))
        for step in range(1, steps + 1):
            lines.append(progress_line(status, digest, size, size * step // steps))
    lines += [progress_line("pushing manifest"), progress_line("success")]
    return lines


def create_lines(spec: ModelSpec) -> list[bytes]:
    lines = [progress_line("gathering model components")]
    for digest, _size in layers(spec):
        lines.append(progress_line(f"using existing layer {digest}"))
    lines += [progress_line("writing manifest"), progress_line("success")]
    return lines


def embed_body(model: str, vectors: list[bytes], m: Metrics | None) -> bytes:
    """EmbedResponse: model, embeddings, total_duration?, load_duration?, prompt_eval_count?."""
    obj: dict[str, Any] = {
        "model": model,
        "embeddings": gojson.raw(b"[" + b",".join(vectors) + b"]"),
    }
    if m is not None:
        for key, value in (
            ("total_duration", m.total_ns),
            ("load_duration", m.load_ns),
            ("prompt_eval_count", m.prompt_eval_count),
        ):
            if value:
                obj[key] = value
    return gojson.dumps(obj)
