"""Small aiohttp helpers shared by the simulator's handlers."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from ollama_proxy.simulator import native
from ollama_proxy.simulator.config import ModelSpec


class BadRequest(Exception):
    """A request Ollama would answer with a 400 and this message."""


def respond(status: int, body: bytes, content_type: str | None) -> web.Response:
    headers = {"Content-Type": content_type} if content_type else {}
    return web.Response(status=status, body=body, headers=headers)


def native_json(body: bytes, status: int = 200) -> web.Response:
    return respond(status, body, native.JSON)


def native_error(status: int, message: str) -> web.Response:
    return native_json(native.error_body(message), status)


def empty(status: int = 200) -> web.Response:
    """gin's `c.Status(code)`: no body, no Content-Type."""
    # An explicit length keeps `Content-Length: 0` on HEAD too, as Go sends it.
    return web.Response(status=status, headers={"Content-Length": "0"})


def go_decode_error(raw: bytes) -> str:
    """Roughly what Go's decoder says about bytes that are not JSON."""
    stripped = raw.lstrip()
    if not stripped:
        return "unexpected EOF"
    first = chr(stripped[0])
    return f"invalid character '{first}' looking for beginning of value"


async def read_json(request: web.Request, type_name: str = "api.GenerateRequest") -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        raise BadRequest("missing request body")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest(go_decode_error(raw)) from None
    if not isinstance(data, dict):
        kind = {list: "array", str: "string", bool: "bool"}.get(type(data), "number")
        raise BadRequest(f"json: cannot unmarshal {kind} into Go value of type {type_name}")
    return data


def wants_stream(body: dict[str, Any], default: bool) -> bool:
    value = body.get("stream")
    if value is None:
        return default
    return bool(value)


async def stream_lines(
    request: web.Request, lines: list[bytes], total_s: float, content_type: str = native.NDJSON
) -> web.StreamResponse:
    """Write NDJSON lines spread evenly over `total_s` (pull, push and create progress)."""
    response = web.StreamResponse(headers={"Content-Type": content_type})
    await response.prepare(request)
    pause = total_s / max(1, len(lines) - 1) if total_s > 0 else 0.0
    for i, line in enumerate(lines):
        if i and pause:
            await asyncio.sleep(pause)
        await response.write(line)
    await response.write_eof()
    return response


def options(body: dict[str, Any]) -> dict[str, Any]:
    value = body.get("options")
    return value if isinstance(value, dict) else {}


def num_predict(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def check_think(model: str, spec: ModelSpec, think: Any) -> bool:
    """`think`: true or a level ("low"... "max") asks to think; false or absent does not."""
    if think in (None, False):
        return False
    if not spec.thinking:
        raise BadRequest(f'"{model}" does not support thinking')
    return True
