"""Pure usage extraction: token counts, Ollama's timings and errors from parsed response objects.

One function per API flavour and shape (ollama-api.md §2, §3, "Usage mapping"). They take an
already parsed JSON object (or anything else: a non-dict gives an empty Usage) and never raise.

>>> u = native({"done": True, "prompt_eval_count": 11, "eval_count": 18, "eval_duration": 52479709})
>>> u.prompt_tokens, u.completion_tokens, u.eval_ms, u.total_ms
(11, 18, 52.479709, 0.0)
>>> round(decode_tps(u), 1)
343.0
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

NS_PER_MS = 1_000_000


@dataclass(slots=True)
class Usage:
    """What a response said about its own cost. Durations are ms; None = the API gives none."""

    prompt_tokens: int = 0  # input tokens, cache hits included (Ollama's prompt_eval_count)
    completion_tokens: int = 0
    cached_tokens: int = 0
    total_ms: float | None = None
    load_ms: float | None = None
    prompt_eval_ms: float | None = None
    eval_ms: float | None = None
    done_reason: str = ""
    model: str = ""
    reasoning_tokens: int = 0  # the upstream's own count of thinking tokens (0: none given)


def _int(value: Any) -> int:
    # bool is an int in Python; a JSON `true` is not a count.
    kind = value.__class__
    if kind is int:
        return value if value > 0 else 0
    if isinstance(value, int) and kind is not bool:
        return max(int(value), 0)
    if isinstance(value, float) and value >= 0:
        return int(value)
    return 0


def _ms(value: Any) -> float:
    return _int(value) / NS_PER_MS


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def native(obj: Any) -> Usage:
    """A native `done:true` object (streamed final chunk or non-streamed body).

    Go's `omitempty` drops zero metrics, so a missing field means 0, not unknown.
    """
    o = _dict(obj)
    get = o.get
    return Usage(
        prompt_tokens=_int(get("prompt_eval_count")),
        completion_tokens=_int(get("eval_count")),
        cached_tokens=_int(get("prompt_eval_cached_count")),
        total_ms=_int(get("total_duration")) / NS_PER_MS,
        load_ms=_int(get("load_duration")) / NS_PER_MS,
        prompt_eval_ms=_int(get("prompt_eval_duration")) / NS_PER_MS,
        eval_ms=_int(get("eval_duration")) / NS_PER_MS,
        done_reason=_str(get("done_reason")),
        model=_str(get("model")),
    )


def native_embed(obj: Any) -> Usage:
    """`/api/embed`: prompt_eval_count, total and load durations; no eval phases exist."""
    o = _dict(obj)
    return Usage(
        prompt_tokens=_int(o.get("prompt_eval_count")),
        total_ms=_ms(o.get("total_duration")),
        load_ms=_ms(o.get("load_duration")),
        model=_str(o.get("model")),
    )


def openai(obj: Any) -> Usage:
    """chat.completion(.chunk), text_completion and embeddings objects carrying `usage`."""
    o = _dict(obj)
    usage = _dict(o.get("usage"))
    details = _dict(usage.get("prompt_tokens_details"))
    return Usage(
        prompt_tokens=_int(usage.get("prompt_tokens")),
        completion_tokens=_int(usage.get("completion_tokens")),
        cached_tokens=_int(details.get("cached_tokens")),
        done_reason=finish_reason(o),
        model=_str(o.get("model")),
        reasoning_tokens=_int(
            _dict(usage.get("completion_tokens_details")).get("reasoning_tokens")
        ),
    )


def finish_reason(obj: Any) -> str:
    """The first choice's finish_reason ("" while a stream is still producing)."""
    choices = _dict(obj).get("choices")
    if isinstance(choices, list) and choices:
        return _str(_dict(choices[0]).get("finish_reason"))
    return ""


def openai_output_kind(obj: Any) -> tuple[bool, bool]:
    """(thinking, answer) of an OpenAI chunk: `reasoning`/`reasoning_content` deltas are thinking;
    text, content and tool calls are the answer.

    >>> openai_output_kind({"choices": [{"delta": {"content": "", "reasoning": "hm"}}]})
    (True, False)
    """
    choices = _dict(obj).get("choices")
    if not isinstance(choices, list) or not choices:
        return False, False
    choice = _dict(choices[0])
    delta = _dict(choice.get("delta"))
    thinking = bool(delta.get("reasoning") or delta.get("reasoning_content"))
    answer = bool(choice.get("text") or delta.get("content") or delta.get("tool_calls"))
    return thinking, answer


def native_output_kind(obj: Any) -> tuple[bool, bool]:
    """(thinking, answer) of a native chunk: `thinking` vs response, content or tool calls.

    >>> native_output_kind({"message": {"content": "", "thinking": "so"}, "done": False})
    (True, False)
    """
    o = _dict(obj)
    message = _dict(o.get("message"))
    thinking = bool(o.get("thinking") or message.get("thinking"))
    answer = bool(
        o.get("response") or o.get("tool_calls") or message.get("content")
        or message.get("tool_calls")
    )  # fmt: skip
    return thinking, answer


def thinking_text(obj: Any) -> str:
    """The thinking text of a non-streamed native body (Ollama concatenates it)."""
    o = _dict(obj)
    return _str(o.get("thinking")) or _str(_dict(o.get("message")).get("thinking"))


# /v1/responses reports a status; the record speaks Ollama/OpenAI's finish vocabulary.
_RESPONSES_REASONS = {"max_output_tokens": "length", "content_filter": "content_filter"}


def responses(obj: Any) -> Usage:
    """`/v1/responses`: a response object, or a `response.completed`-like event wrapping one."""
    o = _dict(obj)
    if isinstance(o.get("response"), dict):
        o = o["response"]
    usage = _dict(o.get("usage"))
    details = _dict(usage.get("input_tokens_details"))
    status = _str(o.get("status"))
    reason = _str(_dict(o.get("incomplete_details")).get("reason"))
    done = _RESPONSES_REASONS.get(reason, reason) or ("stop" if status == "completed" else status)
    return Usage(
        prompt_tokens=_int(usage.get("input_tokens")),
        completion_tokens=_int(usage.get("output_tokens")),
        cached_tokens=_int(details.get("cached_tokens")),
        done_reason=done,
        model=_str(o.get("model")),
        reasoning_tokens=_int(_dict(usage.get("output_tokens_details")).get("reasoning_tokens")),
    )


# Anthropic stop reasons in the OpenAI/Ollama words used by every other record.
_ANTHROPIC_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}


def anthropic(obj: Any) -> Usage:
    """A non-streamed `message`, or a `message_delta` event (whose usage is the real one).

    Anthropic's `input_tokens` excludes cache reads and writes; the record's prompt_tokens is
    the whole input, as Ollama's prompt_eval_count is.
    """
    o = _dict(obj)
    usage = _dict(o.get("usage"))
    reason = _str(o.get("stop_reason")) or _str(_dict(o.get("delta")).get("stop_reason"))
    cached = _int(usage.get("cache_read_input_tokens"))
    written = _int(usage.get("cache_creation_input_tokens"))
    return Usage(
        prompt_tokens=_int(usage.get("input_tokens")) + cached + written,
        completion_tokens=_int(usage.get("output_tokens")),
        cached_tokens=cached,
        done_reason=_ANTHROPIC_REASONS.get(reason, reason),
        model=_str(o.get("model")) or _str(_dict(o.get("message")).get("model")),
    )


def error_message(obj: Any) -> str | None:
    """The error an object reports, in any of the three shapes; None when it is not an error.

    Native `{"error": "msg"}`, OpenAI `{"error": {"message": ...}}`, Anthropic
    `{"type": "error", "error": {"type": ..., "message": ...}}`, Responses `response.failed`.
    """
    o = _dict(obj)
    error = o.get("error")
    if isinstance(error, str):
        return error or "error"
    if isinstance(error, dict):
        return _str(error.get("message")) or _str(error.get("type")) or "error"
    if o.get("type") == "error":
        return _str(o.get("message")) or _str(o.get("code")) or "error"
    if o.get("type") == "response.failed":
        return error_message(_dict(o.get("response"))) or "response failed"
    return None


def decode_tps(usage: Usage) -> float | None:
    """Output tokens per second of generation (eval_count / eval_duration)."""
    return _rate(usage.completion_tokens, usage.eval_ms)


def prefill_tps(usage: Usage) -> float | None:
    """Prompt tokens per second of prompt processing (prompt_eval_count / prompt_eval_duration)."""
    return _rate(usage.prompt_tokens, usage.prompt_eval_ms)


def _rate(tokens: int, ms: float | None) -> float | None:
    if not ms or ms <= 0 or tokens <= 0:
        return None
    return tokens / (ms / 1000)


def queue_wait_ms(usage: Usage) -> float | None:
    """Time Ollama spent on neither loading nor evaluating: mostly waiting for a runner slot.

    An estimate (ollama-api.md §2): load_duration already includes scheduler queueing; the
    remainder covers the per-runner semaphore wait of an already loaded model.
    """
    if not usage.total_ms or usage.prompt_eval_ms is None or usage.eval_ms is None:
        return None
    rest = usage.total_ms - (usage.load_ms or 0.0) - usage.prompt_eval_ms - usage.eval_ms
    return max(0.0, rest)


# Salvage from an oversized body: only its head and tail were kept (decoders.Oversized).
_NUMBER = re.compile(rb'"([a-z_]+)"\s*:\s*(-?\d+)')
_STRING = re.compile(
    rb'"(model|done_reason|finish_reason|stop_reason|status|error)"\s*:\s*"([^"\\]{0,200})"'
)
_DONE = re.compile(rb'"done"\s*:\s*true')


def salvage(head: bytes, tail: bytes) -> dict[str, Any]:
    """A flat best-effort object from the ends of a body too large to keep or parse.

    Every `"key": number` and a few `"key": "string"` pairs found are collected; the numbers are
    also exposed under `usage` so the OpenAI/Anthropic extractors find them. Later keys win,
    so the tail (where every flavour writes its usage) overrides the head.
    """
    found: dict[str, Any] = {}
    for part in (head, tail):
        for key, value in _NUMBER.findall(part):
            found[key.decode()] = int(value)
        for key, value in _STRING.findall(part):
            found.setdefault(key.decode(), value.decode("utf-8", "replace"))
    found["usage"] = {k: v for k, v in found.items() if isinstance(v, int)}
    if _DONE.search(head) or _DONE.search(tail):
        found["done"] = True
    return found
