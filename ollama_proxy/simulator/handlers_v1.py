"""Handlers of the OpenAI- and Anthropic-compatible routes (`/v1/*`, ollama-api.md §3).

Ollama translates these into native requests; the simulator goes straight to the engine with
the same semantics (`max_tokens` -> num_predict, streaming off by default).
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ollama_proxy.simulator import anthropic, engine, openai, responses, text
from ollama_proxy.simulator.config import ModelSpec
from ollama_proxy.simulator.http import (
    BadRequest,
    check_think,
    num_predict,
    read_json,
    respond,
    wants_stream,
)
from ollama_proxy.simulator.state import SIMULATOR, Simulator

Responder = Callable[[int, str], web.Response]


def openai_error(status: int, message: str) -> web.Response:
    return respond(status, openai.error_body(status, message), openai.JSON)


def anthropic_error_for(stream: bool) -> Responder:
    # The middleware sets the SSE headers before the handler runs; an error keeps them.
    extra = anthropic.SSE_HEADERS if stream else {}

    def error(status: int, message: str) -> web.Response:
        response = respond(status, anthropic.error_body(status, message), "application/json")
        response.headers.update(extra)
        return response

    return error


def _content_text(content: Any) -> str:
    """A message's text: a string, or the `text` of its content parts/blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text") or "")
            for part in content
            if isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text")
        )
    return ""


def _spec(sim: Simulator, body: dict[str, Any], what: str) -> tuple[str, ModelSpec]:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model is required")
    spec = sim.registry.get(model)
    if spec is None:
        raise LookupError(model)
    if spec.embedding_only and what:
        raise BadRequest(f'"{model}" does not support {what}')
    return model, spec


def _reasoning_effort(body: dict[str, Any]) -> Any:
    """Ollama maps `reasoning_effort` (or `reasoning.effort`) to `think`; "none" is off."""
    reasoning = body.get("reasoning")
    effort = body.get("reasoning_effort")
    if effort is None and isinstance(reasoning, dict):
        effort = reasoning.get("effort")
    return None if effort in (None, "none") else effort


def _include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


async def chat_completions(request: web.Request) -> web.StreamResponse:
    sim = request.app[SIMULATOR]
    try:
        body = await read_json(request, "openai.ChatCompletionRequest")
        raw_messages = body.get("messages") or []
        if not raw_messages:
            raise BadRequest("[] is too short - 'messages'")
        model, spec = _spec(sim, body, "chat")
        think = check_think(model, spec, _reasoning_effort(body))
    except BadRequest as exc:
        return openai_error(400, str(exc))
    except LookupError as exc:
        return openai_error(404, f"model '{exc}' not found")
    messages = [
        (str(m.get("role") or ""), _content_text(m.get("content")))
        for m in raw_messages
        if isinstance(m, dict)
    ]
    job = engine.Job(
        spec=spec,
        prompt_ids=text.chat_prompt_ids(messages),
        seed=messages[-1][1] if messages else "",
        num_predict=num_predict(body.get("max_tokens")),
        keep_alive_s=sim.config.default_keep_alive_s,
        stream=wants_stream(body, False),
        think=think,
    )
    flavor = openai.ChatCompletions(model, _include_usage(body))
    return await engine.run(request, sim, job, flavor, openai_error)


async def completions(request: web.Request) -> web.StreamResponse:
    sim = request.app[SIMULATOR]
    try:
        body = await read_json(request, "openai.CompletionRequest")
        model, spec = _spec(sim, body, "generate")
    except BadRequest as exc:
        return openai_error(400, str(exc))
    except LookupError as exc:
        return openai_error(404, f"model '{exc}' not found")
    prompt = str(body.get("prompt") or "")
    job = engine.Job(
        spec=spec,
        prompt_ids=text.generate_prompt_ids(prompt),
        seed=prompt,
        num_predict=num_predict(body.get("max_tokens")),
        keep_alive_s=sim.config.default_keep_alive_s,
        stream=wants_stream(body, False),
    )
    flavor = openai.Completions(model, _include_usage(body))
    return await engine.run(request, sim, job, flavor, openai_error)


def _embedding_inputs(value: Any) -> list[str]:
    if value == "":
        return [""]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise BadRequest("invalid input")


def _base64_vector(values: list[float]) -> bytes:
    packed = struct.pack(f"<{len(values)}f", *values)
    return b'"' + base64.b64encode(packed) + b'"'


async def embeddings(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    try:
        body = await read_json(request, "openai.EmbedRequest")
        fmt = str(body.get("encoding_format") or "")
        if fmt and fmt.lower() not in ("float", "base64"):
            raise BadRequest(
                f"Invalid value for 'encoding_format' = {fmt}. "
                "Supported values: ['float', 'base64']."
            )
        inputs = _embedding_inputs(body.get("input"))
        model, spec = _spec(sim, body, "")
    except BadRequest as exc:
        return openai_error(400, str(exc))
    except LookupError as exc:
        return openai_error(404, f"model '{exc}' not found")
    timed = await engine.embed_timing(
        request, sim, spec, sim.config.default_keep_alive_s, inputs, openai_error
    )
    if isinstance(timed, web.Response):
        return timed
    dims = min(int(body.get("dimensions") or spec.embedding_length), spec.embedding_length)
    if fmt.lower() == "base64":
        vectors = [_base64_vector(text.embedding_values(i, dims)) for i in inputs]
    else:
        vectors = [text.embedding_json(i, dims) for i in inputs]
    body_bytes = openai.embeddings_body(model, vectors, timed.prompt_eval_count)
    return respond(200, body_bytes, openai.JSON)


async def models(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    return respond(200, openai.models_body(sim.registry.listed()), openai.JSON)


async def model(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    name = request.match_info["model"]
    spec = sim.registry.get(name)
    if spec is None:
        return openai_error(404, f"model '{name}' not found")
    return respond(200, openai.model_body(name, spec), openai.JSON)


def _responses_messages(body: dict[str, Any]) -> list[tuple[str, str]]:
    messages: list[tuple[str, str]] = []
    if body.get("instructions"):
        messages.append(("system", str(body["instructions"])))
    value = body.get("input")
    if isinstance(value, str):
        if value:
            messages.append(("user", value))
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and item.get("role"):
                messages.append((str(item["role"]), _content_text(item.get("content"))))
    elif value is not None:
        raise BadRequest("input must be a string or array")
    return messages


async def responses_handler(request: web.Request) -> web.StreamResponse:
    sim = request.app[SIMULATOR]
    try:
        body = await read_json(request, "openai.ResponsesRequest")
        messages = _responses_messages(body)
        model, spec = _spec(sim, body, "chat")
    except BadRequest as exc:
        return openai_error(400, str(exc))
    except LookupError as exc:
        return openai_error(404, f"model '{exc}' not found")
    job = engine.Job(
        spec=spec,
        prompt_ids=text.chat_prompt_ids(messages),
        seed=messages[-1][1] if messages else "",
        num_predict=num_predict(body.get("max_output_tokens")),
        keep_alive_s=sim.config.default_keep_alive_s,
        stream=body.get("stream") is True,
    )
    flavor = responses.Responses(model, body)
    return await engine.run(request, sim, job, flavor, openai_error)


def _anthropic_system(value: Any) -> str:
    return value if isinstance(value, str) else _content_text(value)


async def messages_handler(request: web.Request) -> web.StreamResponse:
    sim = request.app[SIMULATOR]
    raw = await request.read()
    stream = b'"stream":true' in raw.replace(b" ", b"")  # for the error headers only
    error = anthropic_error_for(stream)
    try:
        body = await read_json(request, "anthropic.MessagesRequest")
        if not body.get("model"):
            raise BadRequest("model is required")
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens <= 0:
            raise BadRequest("max_tokens is required and must be positive")
        if not body.get("messages"):
            raise BadRequest("messages is required")
        model, spec = _spec(sim, body, "chat")
        thinking = body.get("thinking")
        enabled = isinstance(thinking, dict) and thinking.get("type") == "enabled"
        think = check_think(model, spec, True if enabled else None)
    except BadRequest as exc:
        return error(400, str(exc))
    except LookupError as exc:
        return error(404, f"model '{exc}' not found")
    system = _anthropic_system(body.get("system"))
    messages = [
        (str(m.get("role") or ""), _content_text(m.get("content")))
        for m in body["messages"]
        if isinstance(m, dict)
    ]
    prompt = ([("system", system)] if system else []) + messages
    job = engine.Job(
        spec=spec,
        prompt_ids=text.chat_prompt_ids(prompt),
        seed=messages[-1][1] if messages else "",
        num_predict=max_tokens,
        keep_alive_s=sim.config.default_keep_alive_s,
        stream=body.get("stream") is True,
        think=think,
    )
    flavor = anthropic.Messages(model, text.estimate_anthropic_tokens(system, messages))
    return await engine.run(request, sim, job, flavor, error)
