"""Command line: flags -> Settings -> run (serve, simulate, api, demo, settings).

The flags of `serve` are a contract other tools rely on:
    ollama-proxy serve --listen 127.0.0.1:11435 --upstream http://127.0.0.1:11434 \
        --store sqlite:///./ollama-proxy.db
Each flag is also settable by environment (PROXY_LISTEN, OLLAMA_UPSTREAM, STORE_URLS).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import structlog
from pydantic import ValidationError

from ollama_proxy import __version__
from ollama_proxy.addresses import is_loopback
from ollama_proxy.config import Settings, format_validation_error, loop_error
from ollama_proxy.logs import configure_logging
from ollama_proxy.runtime import install_fast_loop, settle_gc


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", help="host:port to listen on (PROXY_LISTEN)")
    parser.add_argument(
        "--upstream",
        action="append",
        dest="upstreams",
        metavar="[NAME=]URL",
        help="Ollama base URL (OLLAMA_UPSTREAM / OLLAMA_HOST); repeat it for a fleet of "
        "nodes (OLLAMA_UPSTREAMS)",
    )
    parser.add_argument(
        "--store",
        action="append",
        dest="store_urls",
        metavar="URL",
        help="store URL, repeatable: sqlite:///PATH, postgresql://..., "
        "clickhouse://HOST:8123/DB, chdb:///PATH (STORE_URLS)",
    )
    parser.add_argument(
        "--spawn-ollama",
        dest="spawn_ollama",
        action="store_const",
        const=True,
        help="start `ollama serve` as a child process (SPAWN_OLLAMA)",
    )
    parser.add_argument("--profile", choices=["dev", "staging", "prod"], help="APP_PROFILE")
    parser.add_argument("--log-level", dest="api_log_level", help="API_LOG_LEVEL")
    parser.add_argument(
        "--no-instrumentation",
        dest="enable_instrumentation",
        action="store_const",
        const=False,
        help="plain pass-through, no metering (ENABLE_INSTRUMENTATION=false)",
    )


def settings_from_args(args: argparse.Namespace, names: Sequence[str]) -> Settings:
    """Settings from the environment, with the flags that were given taking precedence."""
    overrides: dict[str, Any] = {
        name: getattr(args, name) for name in names if getattr(args, name, None) is not None
    }
    return Settings(**overrides)


SERVE_FLAGS = (
    "listen",
    "upstreams",
    "store_urls",
    "profile",
    "api_log_level",
    "enable_instrumentation",
    "spawn_ollama",
)


def _load_settings(args: argparse.Namespace) -> Settings:
    try:
        settings = settings_from_args(args, SERVE_FLAGS)
    except ValidationError as exc:
        raise SystemExit(format_validation_error(exc)) from None
    configure_logging(settings.log_level, settings.log_format or "console", settings.log_libraries)
    return settings


def exposure_warning(settings: Settings) -> str | None:
    """The one start-up warning of a proxy other machines reach with no ADMIN_TOKEN, or None."""
    host = settings.listen_host
    if settings.admin_token or host == "localhost" or is_loopback(host):
        return None
    return (
        f"listening on {settings.listen} with no ADMIN_TOKEN: anyone who reaches this port can "
        "read the stats (client addresses, user agents); settings can be changed only from "
        "this machine. Set ADMIN_TOKEN to require a token."
    )


def _warn_if_exposed(settings: Settings) -> None:
    warning = exposure_warning(settings)
    if warning:
        structlog.get_logger("ollama_proxy.cli").warning("no_admin_token", message=warning)


@contextmanager
def _refusing_bad_stores() -> Iterator[None]:
    """A store that can never work ends the start with one line, not a traceback."""
    from ollama_proxy.store.preflight import StoreOpenError

    try:
        yield
    except StoreOpenError as exc:
        raise SystemExit(f"refusing to start: {exc}") from None


def cmd_serve(args: argparse.Namespace) -> None:
    from aiohttp import web

    from ollama_proxy.app import create_app

    settings = _load_settings(args)
    problem = loop_error(settings)
    if problem:
        raise SystemExit(f"refusing to start: {problem}")
    _warn_if_exposed(settings)
    loop_kind = install_fast_loop(settings.use_uvloop)
    app = create_app(settings)
    print(
        f"ollama-proxy {__version__}: listening on http://{settings.listen}, "
        f"forwarding to {', '.join(n.url for n in settings.nodes)} (loop={loop_kind})",
        file=sys.stderr,
    )
    settle_gc()
    with _refusing_bad_stores():
        web.run_app(
            app,
            host=settings.listen_host,
            port=settings.listen_port,
            shutdown_timeout=settings.shutdown_grace_s,
            handler_cancellation=True,
            # from connect (or the end of the last response) to a complete request head:
            # aiohttp closes a connection still waiting for one, however slowly bytes arrive
            keepalive_timeout=settings.keepalive_timeout_s,
            access_log=None,
            print=None,
        )


def cmd_api(args: argparse.Namespace) -> None:
    from aiohttp import web

    from ollama_proxy.api import create_api_app

    settings = _load_settings(args)
    _warn_if_exposed(settings)
    install_fast_loop(settings.use_uvloop)
    print(f"ollama-proxy api: stats API and dashboard on http://{settings.listen}", file=sys.stderr)
    with _refusing_bad_stores():
        web.run_app(
            create_api_app(settings),
            host=settings.listen_host,
            port=settings.listen_port,
            shutdown_timeout=settings.shutdown_grace_s,
            keepalive_timeout=settings.keepalive_timeout_s,
            access_log=None,
            print=None,
        )


def cmd_settings(args: argparse.Namespace) -> None:
    from ollama_proxy.settings_doc import settings_table

    print(settings_table())


Command = Callable[[argparse.Namespace], None]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ollama-proxy", description="Transparent metering proxy for Ollama."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the proxy")
    _serve_arguments(serve)
    serve.set_defaults(func=cmd_serve)

    api = sub.add_parser("api", help="serve the stats API and dashboard over a store, no proxy")
    _serve_arguments(api)
    api.set_defaults(func=cmd_api)

    _add_optional_commands(sub)

    settings = sub.add_parser("settings", help="print the settings table (Markdown)")
    settings.set_defaults(func=cmd_settings)
    return parser


def _add_optional_commands(sub: Any) -> None:
    """Commands implemented in their own modules: simulate, api, demo."""
    from ollama_proxy.simulator import cli as simulator_cli

    simulate = sub.add_parser("simulate", help="run the Ollama simulator")
    simulator_cli.add_arguments(simulate)
    simulate.set_defaults(func=simulator_cli.run)

    from ollama_proxy import demo

    demo_parser = sub.add_parser("demo", help="simulator + proxy + traffic, for a first look")
    demo.add_arguments(demo_parser)
    demo_parser.set_defaults(func=demo.run)


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command = args.func
    func(args)


if __name__ == "__main__":
    main()
