"""What routing needs from a request body: the model and a conversation key. Pure.

The key hashes what every turn of one conversation starts with (system prompt and messages up
to the first user message; for a raw prompt its first bytes), so the turns land on the node
whose KV cache already holds that prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from ollama_proxy.fleet.names import normalize_model

PARSE_MAX = 1024 * 1024  # larger bodies (images) are searched, not parsed: no affinity
PROMPT_PREFIX = 2048  # characters of a raw prompt that identify its conversation
_MODEL = re.compile(rb'"(?:model|name)"\s*:\s*"((?:[^"\\]|\\.){1,300})"')
_SEARCH = 64 * 1024  # head and tail searched in a large body


@dataclass(frozen=True, slots=True)
class Facts:
    """What routing needs of a request body.

    >>> facts(b'{"model":"llama3.2","messages":[{"role":"user","content":"hi"}]}').model
    'llama3.2:latest'
    """

    model: str = ""  # normalized; "" when the request names none
    affinity: int | None = None


NO_FACTS = Facts()


def facts(body: bytes) -> Facts:
    if not body:
        return NO_FACTS
    if len(body) > PARSE_MAX:
        return Facts(_searched_model(body))
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return Facts(_searched_model(body))
    if not isinstance(obj, dict):
        return NO_FACTS
    model = obj.get("model") or obj.get("name")
    name = normalize_model(model) if isinstance(model, str) else ""
    return Facts(name, conversation_key(name, obj) if name else None)


def _searched_model(body: bytes) -> str:
    match = _MODEL.search(body, 0, _SEARCH) or _MODEL.search(body, max(0, len(body) - _SEARCH))
    if match is None:
        return ""
    try:
        text = orjson.loads(b'"' + match.group(1) + b'"')
    except orjson.JSONDecodeError:
        return ""
    return normalize_model(text) if isinstance(text, str) else ""


def conversation_key(model: str, obj: dict[str, Any]) -> int | None:
    """A hash of the conversation's opening, or None when the body has none."""
    opening: list[Any] = [model, obj.get("system"), obj.get("instructions")]
    turns = obj.get("messages")
    if turns is None:
        turns = obj.get("input")
    if isinstance(turns, list) and turns:
        opening.append(_through_first_user(turns))
    elif isinstance(turns, str) and turns:
        opening.append(turns[:PROMPT_PREFIX])
    elif isinstance(obj.get("prompt"), str) and obj["prompt"]:
        opening.append(obj["prompt"][:PROMPT_PREFIX])
    else:
        return None
    try:
        return hash(orjson.dumps(opening))
    except TypeError:
        return None


def _through_first_user(turns: list[Any]) -> list[Any]:
    for i, turn in enumerate(turns):
        if isinstance(turn, dict) and turn.get("role") == "user":
            return turns[: i + 1]
    return turns[:1]
