"""`ollama-proxy demo`: simulator + proxy + a traffic generator, so a newcomer sees a living
dashboard with no Ollama installed.

The traffic mixes models (cold loads included), clients (X-Client-Name), native and OpenAI
routes, streaming and not, and errors (unknown models, a mid-stream failure).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from ollama_proxy.config import Settings, split_host_port

CLIENTS = ("notebook", "open-webui", "batch-job", "vscode")
MODELS = ("llama3.2", "qwen3:0.6b")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", default="127.0.0.1:11435", help="proxy address")
    parser.add_argument("--sim-listen", default="127.0.0.1:0", help="simulator address")
    parser.add_argument("--store", default="", help="store URL (default: a temp SQLite file)")
    parser.add_argument("--rate", type=float, default=2.0, help="requests per second")
    parser.add_argument("--requests", type=int, default=0, help="stop after N (0 = forever)")
    parser.add_argument("--seed", type=int, default=7)


def _one_request(rng: random.Random, i: int) -> tuple[str, dict[str, Any], str]:
    client = rng.choice(CLIENTS)
    model = rng.choice(MODELS)
    if i % 17 == 5:
        model = "no-such-model"  # a 404, as when someone mistypes a model name
    tokens = rng.randint(8, 120)
    kind = rng.random()
    if kind < 0.45:
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": "user", "content": "Tell me about the sky."}],
            "options": {"num_predict": tokens},
        }
        return "/api/chat", body, client
    if kind < 0.7:
        body = {"model": model, "prompt": "Write a haiku.", "stream": False}
        body["options"] = {"num_predict": tokens}
        return "/api/generate", body, client
    if kind < 0.9:
        body = {
            "model": model,
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": tokens,
        }
        return "/v1/chat/completions", body, client
    return "/api/embed", {"model": "all-minilm", "input": ["a", "b"]}, client


async def generate_traffic(
    proxy_url: str, *, requests: int = 60, rate: float = 0.0, seed: int = 7, concurrency: int = 6
) -> int:
    """Send `requests` (0 = forever) requests through the proxy, up to `concurrency` at a
    time, `rate` new requests per second (0 = as fast as they complete); returns the count."""
    rng = random.Random(seed)
    gate = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task[None]] = set()

    async def send(session: aiohttp.ClientSession, i: int) -> None:
        path, body, client = _one_request(rng, i)
        try:
            async with session.post(
                proxy_url + path, json=body, headers={"X-Client-Name": client}
            ) as response:
                await response.read()
        except aiohttp.ClientError:
            pass
        finally:
            gate.release()

    sent = 0
    async with aiohttp.ClientSession() as session:
        while requests == 0 or sent < requests:
            await gate.acquire()
            task = asyncio.create_task(send(session, sent))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
            if rate > 0:
                await asyncio.sleep(rng.expovariate(rate))
        await asyncio.gather(*tasks)
    return sent


async def _main(args: argparse.Namespace) -> None:
    from ollama_proxy.app import create_app
    from ollama_proxy.simulator import SimulatorConfig, create_simulator_app

    workdir = Path(tempfile.mkdtemp(prefix="ollama-proxy-demo-"))
    sim_host, sim_port = split_host_port(args.sim_listen)
    sim = web.AppRunner(
        create_simulator_app(
            SimulatorConfig(tokens_per_s=80, ttft_s=0.05, load_s=1.5, keep_alive="45s")
        ),
        handler_cancellation=True,
    )
    await sim.setup()
    sim_site = web.TCPSite(sim, sim_host, sim_port)
    await sim_site.start()
    sim_url = f"http://{sim_host}:{sim_site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    settings = Settings(
        upstream=sim_url,
        listen=args.listen,
        store_urls=[args.store or f"sqlite:///{workdir / 'demo.db'}"],
        journal_dir=str(workdir / "journal"),
        metrics_export_interval=2,
        instance_name="demo",
    )
    proxy = web.AppRunner(create_app(settings), handler_cancellation=True, access_log=None)
    await proxy.setup()
    host, port = split_host_port(args.listen)
    site = web.TCPSite(proxy, host, port)
    await site.start()
    real_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://{host}:{real_port}"
    print(f"simulator: {sim_url}\nproxy:     {url}  (OLLAMA_HOST={host}:{real_port})")
    print(f"dashboard: {url}/dashboard/", flush=True)
    try:
        await generate_traffic(url, requests=args.requests, rate=args.rate, seed=args.seed)
        if args.requests:
            print(f"sent {args.requests} requests; Ctrl-C to stop", file=sys.stderr)
            await asyncio.Event().wait()
    finally:
        await proxy.cleanup()
        await sim.cleanup()


def run(args: argparse.Namespace) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args))
