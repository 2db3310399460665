"""One inference request, from scheduling to the last byte, for every API flavour.

Timings follow Ollama: load_duration runs from handler entry until the scheduler hands over a
runner; the wait for a free slot on a loaded runner counts toward total_duration only. Headers
go out with the first chunk, so nothing at all is sent while a model loads.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast, runtime_checkable

from aiohttp import web

from ollama_proxy.simulator import text
from ollama_proxy.simulator.config import ModelSpec
from ollama_proxy.simulator.faults import MID_STREAM_ERROR, NON_JSON_LINE, Faults
from ollama_proxy.simulator.native import Metrics
from ollama_proxy.simulator.scheduler import QUEUE_FULL_MESSAGE, Lease, QueueFullError
from ollama_proxy.simulator.state import Simulator

ErrorResponder = Callable[[int, str], web.Response]


class Flavor(Protocol):
    """How one API writes a generation (native NDJSON, OpenAI SSE, Anthropic SSE, ...)."""

    stream_content_type: str
    body_content_type: str
    stream_headers: dict[str, str]

    def frames(self, index: int, token: str) -> list[bytes]: ...
    def final(self, text: str, m: Metrics) -> list[bytes]: ...
    def body(self, text: str, m: Metrics) -> bytes: ...
    def error_frames(self, message: str) -> list[bytes]: ...


@runtime_checkable
class ThinkingFlavor(Protocol):
    """A flavour that can carry thinking: thinking chunks, and a body with the thinking."""

    def thinking_frames(self, index: int, token: str) -> list[bytes]: ...
    def thinking_body(self, text: str, thinking: str, m: Metrics) -> bytes: ...


@dataclass
class Job:
    spec: ModelSpec
    prompt_ids: list[int]
    seed: str
    num_predict: int | None
    keep_alive_s: float
    stream: bool
    think: bool = False  # the request asked a thinking model to think


# Reply tokens remembered in the prompt cache (enough for any realistic follow-up prompt).
_CACHE_REPLY_TOKENS = 4096


class _Reset(Exception):
    """The fault plan reset the connection."""


def plan_length(num_predict: int | None, default: int) -> tuple[int, str]:
    """Output tokens and done_reason: num_predict is reached exactly ("length")."""
    if num_predict is not None and num_predict > 0:
        return num_predict, "length"
    return default, "stop"


class Pacer:
    """Spaces tokens at `tokens_per_s`; with 0, only yields to the loop now and then."""

    def __init__(self, tokens_per_s: float, yield_every: int) -> None:
        self._interval = 1.0 / tokens_per_s if tokens_per_s > 0 else 0.0
        self._yield_every = max(1, yield_every)
        self._loop = asyncio.get_running_loop()
        self._start = self._loop.time()

    async def wait(self, index: int) -> None:
        if self._interval:
            delay = self._start + (index + 1) * self._interval - self._loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        elif index % self._yield_every == self._yield_every - 1:
            await asyncio.sleep(0)


def reset_connection(request: web.Request) -> None:
    """Close with an RST, as a crashed upstream would."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def run(
    request: web.Request, sim: Simulator, job: Job, flavor: Flavor, error: ErrorResponder
) -> web.StreamResponse:
    started = time.monotonic_ns()
    faults = sim.plan.take()
    if faults is not None and faults.status is not None:
        return error(faults.status, faults.error_message or "simulated failure")
    if faults is not None and faults.queue_full:
        sim.stats.queue_full += 1
        return error(503, QUEUE_FULL_MESSAGE)
    try:
        lease = await sim.scheduler.acquire(job.spec, job.keep_alive_s)
    except QueueFullError:
        sim.stats.queue_full += 1
        return error(503, QUEUE_FULL_MESSAGE)
    except asyncio.CancelledError:
        sim.stats.record_cancel(request.path, 0)  # Ollama logs a 499 here
        raise
    sim.stats.started += 1
    sim.stats.active += 1
    try:
        return await _generate(request, sim, job, flavor, error, lease, faults, started)
    finally:
        sim.stats.active -= 1
        sim.scheduler.release(lease)


async def _generate(
    request: web.Request,
    sim: Simulator,
    job: Job,
    flavor: Flavor,
    error: ErrorResponder,
    lease: Lease,
    faults: Faults | None,
    started: int,
) -> web.StreamResponse:
    config = sim.config
    count, reason = plan_length(job.num_predict, config.default_tokens)
    huge = faults.huge_line_bytes if faults is not None else 0
    tokens = text.Reply(job.seed, count, "x" * huge if huge else None)
    thinks = job.think and job.spec.thinking and isinstance(flavor, ThinkingFlavor)
    # Ollama counts thinking tokens in eval_count; they stream before the answer.
    thoughts = text.Reply("think:" + job.seed, config.thinking_tokens if thinks else 0)
    cached = _prompt_cache(lease, job.prompt_ids, tokens)

    prefill_started = time.monotonic_ns()
    if config.ttft_s > 0:
        uncached = 1 - cached / max(1, len(job.prompt_ids))
        await asyncio.sleep(config.ttft_s * uncached)
    prompt_eval_ns = time.monotonic_ns() - prefill_started

    def metrics(eval_started: int, eval_count: int) -> Metrics:
        now = time.monotonic_ns()
        return Metrics(
            created_ns=time.time_ns(),
            total_ns=now - started,
            load_ns=lease.load_ns,
            prompt_eval_count=len(job.prompt_ids),
            prompt_eval_cached_count=cached if config.report_cached_tokens else 0,
            prompt_eval_ns=prompt_eval_ns,
            eval_count=eval_count,
            eval_ns=now - eval_started,
            done_reason=reason,
        )

    if job.stream:
        return await _stream(request, sim, flavor, tokens, faults, metrics, thoughts)
    return await _single(request, sim, flavor, error, tokens, faults, metrics, thoughts)


async def embed_timing(
    request: web.Request,
    sim: Simulator,
    spec: ModelSpec,
    keep_alive_s: float,
    inputs: list[str],
    error: ErrorResponder,
) -> Metrics | web.Response:
    """Schedule an embedding request and time it; an error response when it cannot run."""
    started = time.monotonic_ns()
    faults = sim.plan.take()
    if faults is not None and faults.status is not None:
        return error(faults.status, faults.error_message or "simulated failure")
    if faults is not None and faults.queue_full:
        sim.stats.queue_full += 1
        return error(503, QUEUE_FULL_MESSAGE)
    try:
        lease = await sim.scheduler.acquire(spec, keep_alive_s)
    except QueueFullError:
        sim.stats.queue_full += 1
        return error(503, QUEUE_FULL_MESSAGE)
    try:
        prompt_tokens = sum(len(text.words(i)) + 2 for i in inputs)
        prefill_started = time.monotonic_ns()
        if inputs and sim.config.ttft_s > 0:
            await asyncio.sleep(sim.config.ttft_s)
        now = time.monotonic_ns()
        return Metrics(
            created_ns=time.time_ns(),
            total_ns=now - started,
            load_ns=lease.load_ns,
            prompt_eval_count=prompt_tokens,
            prompt_eval_cached_count=0,
            prompt_eval_ns=now - prefill_started,
            eval_count=0,
            eval_ns=0,
            done_reason="",
        )
    finally:
        sim.scheduler.release(lease)


def _prompt_cache(lease: Lease, prompt_ids: list[int], tokens: text.Reply) -> int:
    """Tokens of this prompt already in the runner's cache (llama.cpp reuses the prefix)."""
    residency = lease.residency
    cached = min(text.common_prefix(residency.last_prompt, prompt_ids), len(prompt_ids) - 1)
    reply = (tokens[i] for i in range(min(len(tokens), _CACHE_REPLY_TOKENS)))
    residency.last_prompt = prompt_ids + [text.token_id(t) for t in reply]
    return max(0, cached)


async def _stream(
    request: web.Request,
    sim: Simulator,
    flavor: Flavor,
    tokens: text.Reply,
    faults: Faults | None,
    metrics: Callable[[int, int], Metrics],
    thoughts: text.Reply,
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": flavor.stream_content_type, **flavor.stream_headers}
    )
    pacer = Pacer(sim.config.tokens_per_s, sim.config.yield_every)
    eval_started = time.monotonic_ns()
    sent = 0
    thinking = len(thoughts)
    steps = itertools.chain(thoughts, tokens) if thinking else tokens
    thinker = cast(ThinkingFlavor, flavor)  # used only when there are thoughts (checked then)
    try:
        for index, token in enumerate(steps):
            await pacer.wait(index)
            if faults is not None and await _inject(request, response, flavor, faults, sent):
                sim.stats.record_done(failed=True)
                return response
            if not response.prepared:
                await response.prepare(request)
            if index < thinking:
                frames = thinker.thinking_frames(index, token)
            else:
                frames = flavor.frames(index, token)
            for frame in frames:
                await response.write(frame)
            sent += 1
        if faults is not None and await _inject(request, response, flavor, faults, sent):
            sim.stats.record_done(failed=True)
            return response
        m = metrics(eval_started, sent)
        for frame in flavor.final(tokens.text(sent - thinking), m):
            await response.write(frame)
        await response.write_eof()
    except asyncio.CancelledError:
        sim.stats.record_cancel(request.path, sent)
        raise
    except ConnectionResetError:  # the client left; the server was not cancelling handlers
        sim.stats.record_cancel(request.path, sent)
        return response
    except _Reset:
        sim.stats.record_done(failed=True)
        return response
    sim.stats.record_done()
    return response


async def _inject(
    request: web.Request,
    response: web.StreamResponse,
    flavor: Flavor,
    faults: Faults,
    sent: int,
) -> bool:
    """Apply mid-stream faults before chunk number `sent`; True when the stream is over."""
    if faults.stall_s and sent == faults.stall_after_chunks:
        await asyncio.sleep(faults.stall_s)
    if faults.reset_after_chunks is not None and sent == faults.reset_after_chunks:
        reset_connection(request)
        raise _Reset()
    if faults.non_json_line and sent == 1:
        await response.write(NON_JSON_LINE)
    if faults.mid_stream_error_after is not None and sent == faults.mid_stream_error_after:
        if not response.prepared:
            await response.prepare(request)
        for frame in flavor.error_frames(faults.error_message or MID_STREAM_ERROR):
            await response.write(frame)
        await response.write_eof()
        return True
    return False


async def _single(
    request: web.Request,
    sim: Simulator,
    flavor: Flavor,
    error: ErrorResponder,
    tokens: text.Reply,
    faults: Faults | None,
    metrics: Callable[[int, int], Metrics],
    thoughts: text.Reply,
) -> web.StreamResponse:
    """`stream: false`: generate everything, then one body (Ollama: 500 on a failure)."""
    pacer = Pacer(sim.config.tokens_per_s, sim.config.yield_every)
    eval_started = time.monotonic_ns()
    total = len(thoughts) + len(tokens)
    try:
        for index in range(total):
            await pacer.wait(index)
            if faults is None:
                continue
            if faults.stall_s and index == faults.stall_after_chunks:
                await asyncio.sleep(faults.stall_s)
            if faults.reset_after_chunks is not None and index == faults.reset_after_chunks:
                reset_connection(request)
                sim.stats.record_done(failed=True)
                return web.Response(status=500)
            if faults.mid_stream_error_after is not None and index == faults.mid_stream_error_after:
                sim.stats.record_done(failed=True)
                return error(500, faults.error_message or MID_STREAM_ERROR)
    except asyncio.CancelledError:
        sim.stats.record_cancel(request.path, 0)
        raise
    m = metrics(eval_started, total)
    if len(thoughts):
        body = cast(ThinkingFlavor, flavor).thinking_body(tokens.text(), thoughts.text(), m)
    else:
        body = flavor.body(tokens.text(), m)
    sim.stats.record_done()
    return web.Response(body=body, headers={"Content-Type": flavor.body_content_type})
