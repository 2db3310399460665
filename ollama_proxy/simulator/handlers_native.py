"""Handlers of the native API: `/`, `/api/*` (ollama-api.md §1, §2, §4)."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from dataclasses import replace
from typing import Any

from aiohttp import web

from ollama_proxy.simulator import engine, gojson, native, text
from ollama_proxy.simulator.config import KeepAliveError, ModelSpec, normalize_name
from ollama_proxy.simulator.config import parse_keep_alive as _parse_keep_alive
from ollama_proxy.simulator.http import (
    BadRequest,
    check_think,
    empty,
    native_error,
    native_json,
    num_predict,
    options,
    read_json,
    respond,
    stream_lines,
    wants_stream,
)
from ollama_proxy.simulator.scheduler import QUEUE_FULL_MESSAGE, QueueFullError
from ollama_proxy.simulator.state import SIMULATOR, Simulator

_DIGEST = re.compile(r"^sha256[:-]([0-9a-fA-F]{64})$")


def not_found(model: str) -> web.Response:
    return native_error(404, f"model '{model}' not found")


def keep_alive(sim: Simulator, body: dict[str, Any]) -> float:
    value = body.get("keep_alive")
    if value is None:
        return sim.config.default_keep_alive_s
    try:
        return _parse_keep_alive(value)
    except KeepAliveError as exc:
        raise BadRequest(str(exc)) from None


async def root(request: web.Request) -> web.Response:
    return respond(200, b"Ollama is running", "text/plain; charset=utf-8")


async def version(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    return native_json(gojson.dumps({"version": sim.config.version}))


async def status(request: web.Request) -> web.Response:
    return native_json(gojson.dumps({"cloud": {"disabled": False, "source": "default"}}))


def _model_or_error(sim: Simulator, body: dict[str, Any]) -> tuple[str, ModelSpec]:
    model = body.get("model") or body.get("name") or ""
    if not isinstance(model, str) or not model:
        raise BadRequest("model is required")
    spec = sim.registry.get(model)
    if spec is None:
        raise LookupError(model)
    return model, spec


async def _load_reply(
    sim: Simulator, model: str, spec: ModelSpec, keep: float, *, chat: bool
) -> web.Response:
    """An empty prompt: load (or unload, with keep_alive 0) and answer with one object."""
    if keep == 0:
        sim.scheduler.unload(spec.name)
        return native_json(native.load_reply(model, "unload", chat=chat))
    try:
        await sim.scheduler.load_only(spec, keep)
    except QueueFullError:
        return native_error(503, QUEUE_FULL_MESSAGE)
    return native_json(native.load_reply(model, "load", chat=chat))


def _check_inference(model: str, spec: ModelSpec, body: dict[str, Any], what: str) -> bool:
    """Whether the model is to think; a 400 for what it cannot do."""
    if spec.embedding_only:
        raise BadRequest(f'"{model}" does not support {what}')
    return check_think(model, spec, body.get("think"))


async def generate(request: web.Request) -> web.StreamResponse:
    sim = request.app[SIMULATOR]
    try:
        body = await read_json(request, "api.GenerateRequest")
        model, spec = _model_or_error(sim, body)
        keep = keep_alive(sim, body)
        think = _check_inference(model, spec, body, "generate")
    except BadRequest as exc:
        return native_error(400, str(exc))
    except LookupError as exc:
        return not_found(str(exc))
    prompt = str(body.get("prompt") or "")
    if not prompt and not body.get("images"):
        return await _load_reply(sim, model, spec, keep, chat=False)
    raw = bool(body.get("raw"))
    if raw:
        prompt_ids = text.prompt_token_ids(text.words(prompt))
    else:
        prompt_ids = text.generate_prompt_ids(prompt, str(body.get("system") or ""))
    job = engine.Job(
        spec=spec,
        prompt_ids=prompt_ids,
        seed=prompt,
        num_predict=num_predict(options(body).get("num_predict")),
        keep_alive_s=keep,
        stream=wants_stream(body, True),
        think=think,
    )
    cached = sim.config.report_cached_tokens
    flavor = native.NativeGenerate(model, None if raw else prompt_ids, cached)
    return await engine.run(request, sim, job, flavor, native_error)


def chat_messages(messages: Any) -> list[tuple[str, str]]:
    if not isinstance(messages, list):
        raise BadRequest("json: cannot unmarshal into Go struct field ChatRequest.messages")
    out = []
    for message in messages:
        if not isinstance(message, dict):
            raise BadRequest("json: cannot unmarshal into Go value of type api.Message")
        out.append((str(message.get("role") or ""), str(message.get("content") or "")))
    return out


async def chat(request: web.Request) -> web.StreamResponse:
    sim = request.app[SIMULATOR]
    try:
        body = await read_json(request, "api.ChatRequest")
        model, spec = _model_or_error(sim, body)
        keep = keep_alive(sim, body)
        messages = chat_messages(body.get("messages") or [])
        think = _check_inference(model, spec, body, "chat")
    except BadRequest as exc:
        return native_error(400, str(exc))
    except LookupError as exc:
        return not_found(str(exc))
    if not messages:
        return await _load_reply(sim, model, spec, keep, chat=True)
    job = engine.Job(
        spec=spec,
        prompt_ids=text.chat_prompt_ids(messages),
        seed=messages[-1][1],
        num_predict=num_predict(options(body).get("num_predict")),
        keep_alive_s=keep,
        stream=wants_stream(body, True),
        think=think,
    )
    flavor = native.NativeChat(model, sim.config.report_cached_tokens)
    return await engine.run(request, sim, job, flavor, native_error)


def embed_inputs(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise BadRequest("invalid input type")


async def embed(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    try:
        body = await read_json(request, "api.EmbedRequest")
        model, spec = _model_or_error(sim, body)
        keep = keep_alive(sim, body)
        inputs = embed_inputs(body.get("input"))
    except BadRequest as exc:
        return native_error(400, str(exc))
    except LookupError as exc:
        return not_found(str(exc))
    timed = await engine.embed_timing(request, sim, spec, keep, inputs, native_error)
    if isinstance(timed, web.Response):
        return timed
    dims = int(body.get("dimensions") or spec.embedding_length)
    vectors = [text.embedding_json(i, min(dims, spec.embedding_length)) for i in inputs]
    return native_json(native.embed_body(model, vectors, timed if inputs else None))


async def embeddings(request: web.Request) -> web.Response:
    """Legacy `/api/embeddings`: `{"embedding":[...]}` (float64), no metrics at all."""
    sim = request.app[SIMULATOR]
    try:
        body = await read_json(request, "api.EmbeddingRequest")
        _model, spec = _model_or_error(sim, body)
        keep = keep_alive(sim, body)
    except BadRequest as exc:
        return native_error(400, str(exc))
    except LookupError as exc:
        return not_found(str(exc))
    prompt = str(body.get("prompt") or "")
    timed = await engine.embed_timing(request, sim, spec, keep, [prompt], native_error)
    if isinstance(timed, web.Response):
        return timed
    vector = text.embedding_json(prompt, spec.embedding_length, float64=True) if prompt else b"[]"
    return native_json(b'{"embedding":' + vector + b"}")


async def tags(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    return native_json(native.tags_body(sim.registry.listed()))


async def ps(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    return native_json(native.ps_body(sim.scheduler.resident()))


async def show(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    try:
        body = await read_json(request, "api.ShowRequest")
        _model, spec = _model_or_error(sim, body)
    except BadRequest as exc:
        return native_error(400, str(exc))
    except LookupError as exc:
        return not_found(str(exc))
    return native_json(native.show_body(spec))


async def _progress(
    request: web.Request, body: dict[str, Any], lines: list[bytes], total_s: float
) -> web.StreamResponse:
    if wants_stream(body, True):
        return await stream_lines(request, lines, total_s)
    if total_s > 0:
        await asyncio.sleep(total_s)
    return native_json(lines[-1].rstrip(b"\n"))


def _name(body: dict[str, Any]) -> str:
    name = body.get("model") or body.get("name") or ""
    if not isinstance(name, str) or not name:
        raise BadRequest("model is required")
    return name


async def pull(request: web.Request) -> web.StreamResponse:
    sim = request.app[SIMULATOR]
    try:
        body = await read_json(request, "api.PullRequest")
        name = _name(body)
    except BadRequest as exc:
        return native_error(400, str(exc))
    spec = sim.registry.pullable(name) or sim.registry.get(name)
    if spec is None:
        missing = "pull model manifest: file does not exist"
        lines = [native.progress_line("pulling manifest"), native.error_body(missing) + b"\n"]
        if not wants_stream(body, True):
            return native_error(500, missing)
        return await stream_lines(request, lines, 0)
    response = await _progress(request, body, native.pull_lines(spec), sim.config.pull_s)
    sim.registry.add(replace(spec, name=normalize_name(name), modified_at_ns=time.time_ns()))
    return response


async def push(request: web.Request) -> web.StreamResponse:
    sim = request.app[SIMULATOR]
    try:
        body = await read_json(request, "api.PushRequest")
        name = _name(body)
    except BadRequest as exc:
        return native_error(400, str(exc))
    spec = sim.registry.get(name)
    if spec is None:
        return not_found(name)
    return await _progress(request, body, native.push_lines(spec), sim.config.pull_s)


async def create(request: web.Request) -> web.StreamResponse:
    sim = request.app[SIMULATOR]
    try:
        body = await read_json(request, "api.CreateRequest")
        name = _name(body)
    except BadRequest as exc:
        return native_error(400, str(exc))
    source = str(body.get("from") or "")
    base = sim.registry.get(source) if source else None
    if base is None:
        if not source:
            return native_error(400, "neither 'from' or 'files' was specified")
        return native_error(404, f"model '{source}' not found")
    created = replace(base, name=normalize_name(name), modified_at_ns=time.time_ns())
    response = await _progress(request, body, native.create_lines(created), 0)
    sim.registry.add(created)
    return response


async def copy(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    try:
        body = await read_json(request, "api.CopyRequest")
    except BadRequest as exc:
        return native_error(400, str(exc))
    source, destination = str(body.get("source") or ""), str(body.get("destination") or "")
    if not source or not destination:
        return native_error(400, "source and destination are required")
    if not sim.registry.copy(source, destination):
        return native_error(404, f"model '{source}' not found")
    return empty(200)


async def delete(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    try:
        body = await read_json(request, "api.DeleteRequest")
        name = _name(body)
    except BadRequest as exc:
        return native_error(400, str(exc))
    if not sim.registry.delete(name):
        return not_found(name)
    sim.scheduler.unload(name)
    return empty(200)


def _digest(request: web.Request) -> str | None:
    match = _DIGEST.match(request.match_info["digest"])
    return None if match is None else "sha256:" + match.group(1).lower()


async def head_blob(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    digest = _digest(request)
    if digest is None:
        return native_error(400, "invalid digest format")
    return empty(200 if digest in sim.registry.blobs else 404)


async def create_blob(request: web.Request) -> web.Response:
    """Hash the upload as it streams in (never buffered): 201, or 400 on a digest mismatch."""
    sim = request.app[SIMULATOR]
    digest = _digest(request)
    if digest is None:
        return native_error(400, "invalid digest format")
    hasher = hashlib.sha256()
    size = 0
    async for chunk in request.content.iter_any():
        hasher.update(chunk)
        size += len(chunk)
    if digest in sim.registry.blobs:
        return empty(200)
    actual = "sha256:" + hasher.hexdigest()
    if actual != digest:
        return native_error(400, f'digest mismatch, expected "{digest}", got "{actual}"')
    sim.registry.blobs[digest] = size
    return empty(201)
