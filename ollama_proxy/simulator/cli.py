"""`ollama-proxy simulate`: run the simulator as a server.

ollama-proxy simulate --listen 127.0.0.1:11434 --zero-delay
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from aiohttp import web

from ollama_proxy.simulator.app import create_simulator_app
from ollama_proxy.simulator.config import (
    DEFAULT_MODELS,
    DEFAULT_PULLABLE,
    ModelSpec,
    SimulatorConfig,
    normalize_name,
    parse_listen,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = SimulatorConfig()
    parser.add_argument(
        "--listen", default="127.0.0.1:11434", help="host:port to serve on (default %(default)s)"
    )
    parser.add_argument(
        "--tokens-per-s",
        type=float,
        default=defaults.tokens_per_s,
        help="generation speed; 0 = no delay between tokens (default %(default)s)",
    )
    parser.add_argument(
        "--ttft-s",
        type=float,
        default=defaults.ttft_s,
        help="prompt evaluation time before the first token (default %(default)s)",
    )
    parser.add_argument(
        "--load-s",
        type=float,
        default=defaults.load_s,
        help="cold model load time (default %(default)s)",
    )
    parser.add_argument(
        "--pull-s",
        type=float,
        default=defaults.pull_s,
        help="duration of a simulated /api/pull (default %(default)s)",
    )
    parser.add_argument(
        "--keep-alive",
        default=str(defaults.keep_alive),
        help="default keep_alive: duration or seconds, negative = forever (default %(default)s)",
    )
    parser.add_argument(
        "--max-queue",
        type=int,
        default=defaults.max_queue,
        help="pending scheduler queue size (default %(default)s)",
    )
    parser.add_argument(
        "--num-parallel",
        type=int,
        default=defaults.num_parallel,
        help="concurrent requests per loaded model (default %(default)s)",
    )
    parser.add_argument(
        "--default-tokens",
        type=int,
        default=defaults.default_tokens,
        help="reply length without num_predict (default %(default)s)",
    )
    parser.add_argument(
        "--ollama-version",
        default=defaults.version,
        help="version reported by /api/version (default %(default)s)",
    )
    parser.add_argument(
        "--models",
        default="",
        help="comma-separated local models, from the default and pullable ones "
        "(default: the default ones)",
    )
    parser.add_argument(
        "--zero-delay",
        action="store_true",
        help="no delays at all (tokens, first token, loads, pulls): benchmarks",
    )


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    keep_alive: str | float = args.keep_alive
    with contextlib.suppress(ValueError):
        keep_alive = float(args.keep_alive)
    config = SimulatorConfig(
        tokens_per_s=args.tokens_per_s,
        ttft_s=args.ttft_s,
        load_s=args.load_s,
        pull_s=args.pull_s,
        keep_alive=keep_alive,
        max_queue=args.max_queue,
        num_parallel=args.num_parallel,
        default_tokens=args.default_tokens,
        version=args.ollama_version,
    )
    if args.models:
        config.models = pick_models(args.models.split(","))
    if args.zero_delay:
        config.tokens_per_s = config.ttft_s = config.load_s = config.pull_s = 0
    return config


def pick_models(names: list[str]) -> list[ModelSpec]:
    """The named models of the catalogue (default and pullable ones), in the order given."""
    catalogue = {m.name: m for m in (*DEFAULT_MODELS, *DEFAULT_PULLABLE)}
    picked = []
    for name in names:
        spec = catalogue.get(normalize_name(name))
        if spec is None:
            raise SystemExit(f"unknown model {name!r}; known: {', '.join(catalogue)}")
        picked.append(spec)
    return picked


def serve(config: SimulatorConfig, host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM, with handler cancellation on so a client leaving stops
    its generation at once (as closing the connection stops Ollama)."""
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    web.run_app(
        create_simulator_app(config),
        host=host,
        port=port,
        handler_cancellation=True,
        access_log=None,
        print=None,
        shutdown_timeout=2,
    )


def run(args: argparse.Namespace) -> None:
    host, port = parse_listen(args.listen)
    serve(config_from_args(args), host, port)
