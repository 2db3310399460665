"""Bytes of `/v1/responses`, after Ollama's `openai/responses.go`.

Streaming events are Go maps, so their keys come out sorted; the non-streaming body is the
`ResponsesResponse` struct, in field order, ending with a newline.
"""

from __future__ import annotations

import random
import time
from typing import Any

from ollama_proxy.simulator import gojson
from ollama_proxy.simulator.native import Metrics

SSE_HEADERS = {"Cache-Control": "no-cache", "Connection": "keep-alive"}


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + gojson.dumps(data, sort_keys=True) + b"\n\n"


class Responses:
    stream_content_type = "text/event-stream"
    body_content_type = "application/json"
    stream_headers = SSE_HEADERS

    def __init__(self, model: str, request: dict[str, Any]) -> None:
        self.response_id = f"resp_{random.randrange(999999)}"
        self.item_id = f"msg_{random.randrange(999999)}"
        self._model = model
        self._request = request
        self._sequence = 0

    def _new(self, name: str, data: dict[str, Any]) -> bytes:
        data["type"] = name
        data["sequence_number"] = self._sequence
        self._sequence += 1
        return _event(name, data)

    def _params(self) -> dict[str, Any]:
        req = self._request
        reasoning_in = req.get("reasoning") or {}
        reasoning = None
        if reasoning_in.get("effort") or reasoning_in.get("summary"):
            reasoning = {
                "effort": reasoning_in.get("effort") or None,
                "summary": reasoning_in.get("summary") or None,
            }
        text_format: dict[str, Any] = {"type": "text"}
        fmt = (req.get("text") or {}).get("format")
        if isinstance(fmt, dict) and fmt.get("type"):
            keep = ("type", "name", "schema", "strict")
            text_format = {k: v for k, v in fmt.items() if k in keep}
        return {
            "instructions": req.get("instructions") or None,
            "truncation": req.get("truncation") or "disabled",
            "tools": req.get("tools") or [],
            "text": {"format": text_format},
            "top_p": req.get("top_p") if req.get("top_p") is not None else 1.0,
            "temperature": req.get("temperature") if req.get("temperature") is not None else 1.0,
            "reasoning": reasoning,
            "max_output_tokens": req.get("max_output_tokens"),
            "background": bool(req.get("background", False)),
        }

    def _response(self, status: str, output: list[Any], usage: Any) -> dict[str, Any]:
        p = self._params()
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": int(time.time()),
            "completed_at": None,
            "status": status,
            "incomplete_details": None,
            "model": self._model,
            "previous_response_id": None,
            "instructions": p["instructions"],
            "output": output,
            "error": None,
            "tools": p["tools"],
            "tool_choice": "auto",
            "truncation": p["truncation"],
            "parallel_tool_calls": True,
            "text": p["text"],
            "top_p": p["top_p"],
            "presence_penalty": 0,
            "frequency_penalty": 0,
            "top_logprobs": 0,
            "temperature": p["temperature"],
            "reasoning": p["reasoning"],
            "usage": usage,
            "max_output_tokens": p["max_output_tokens"],
            "max_tool_calls": None,
            "store": False,
            "background": p["background"],
            "service_tier": "default",
            "metadata": {},
            "safety_identifier": None,
            "prompt_cache_key": None,
        }

    def _part(self, text: str) -> dict[str, Any]:
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}

    def _item(self, text: str) -> dict[str, Any]:
        return {
            "id": self.item_id,
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [self._part(text)],
        }

    def _delta(self, token: str) -> bytes:
        return self._new(
            "response.output_text.delta",
            {
                "item_id": self.item_id,
                "output_index": 0,
                "content_index": 0,
                "delta": token,
                "logprobs": [],
            },
        )

    def frames(self, index: int, token: str) -> list[bytes]:
        if index > 0:
            return [self._delta(token)]
        added_item = {
            "id": self.item_id,
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        return [
            self._new("response.created", {"response": self._response("in_progress", [], None)}),
            self._new(
                "response.in_progress", {"response": self._response("in_progress", [], None)}
            ),
            self._new("response.output_item.added", {"output_index": 0, "item": added_item}),
            self._new(
                "response.content_part.added",
                {
                    "item_id": self.item_id,
                    "output_index": 0,
                    "content_index": 0,
                    "part": self._part(""),
                },
            ),
            self._delta(token),
        ]

    def final(self, text: str, m: Metrics) -> list[bytes]:
        usage = {
            "input_tokens": m.prompt_eval_count,
            "output_tokens": m.eval_count,
            "total_tokens": m.prompt_eval_count + m.eval_count,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        }
        completed = self._response("completed", [self._item(text)], usage)
        completed["completed_at"] = int(time.time())
        common = {"item_id": self.item_id, "output_index": 0, "content_index": 0}
        return [
            self._new("response.output_text.done", {**common, "text": text, "logprobs": []}),
            self._new("response.content_part.done", {**common, "part": self._part(text)}),
            self._new("response.output_item.done", {"output_index": 0, "item": self._item(text)}),
            self._new("response.completed", {"response": completed}),
        ]

    def body(self, text: str, m: Metrics) -> bytes:
        obj = self._response("completed", [self._item(text)], None)
        obj["created_at"] = m.created_ns // 1_000_000_000
        obj["completed_at"] = int(time.time())
        obj["usage"] = {
            "input_tokens": m.prompt_eval_count,
            "output_tokens": m.eval_count,
            "total_tokens": m.prompt_eval_count + m.eval_count,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        }
        return gojson.dumps(obj) + b"\n"

    def error_frames(self, message: str) -> list[bytes]:
        # The error line decodes as an empty ChatResponse: no event at all, the stream just ends.
        return []
