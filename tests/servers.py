"""Run aiohttp apps on 127.0.0.1:0, in the test's loop or in a thread of their own.

Sync clients (the `ollama` package's `Client`, the `openai` SDK) block the calling thread, so
the servers they talk to must run in another thread with its own event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from ollama_proxy.config import Settings

AppFactory = Callable[[], web.Application | Awaitable[web.Application]]


async def start_app(app: web.Application, port: int = 0) -> tuple[web.AppRunner, str]:
    """Start an app the way `ollama-proxy serve` does (handler cancellation on)."""
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    sockets = site._server.sockets  # type: ignore[union-attr]
    host, real_port = sockets[0].getsockname()[:2]
    return runner, f"http://{host}:{real_port}"


@dataclass
class ThreadedServer:
    """An app served from its own thread and loop; `call` runs a coroutine there."""

    url: str
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    runner: web.AppRunner
    app: web.Application
    _stopped: bool = field(default=False)

    def call(self, coro: Awaitable[Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.call(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def serve_in_thread(factory: AppFactory) -> ThreadedServer:
    loop = asyncio.new_event_loop()
    ready: dict[str, Any] = {}
    started = threading.Event()

    async def boot() -> None:
        app = factory()
        if not isinstance(app, web.Application):
            app = await app
        runner, url = await start_app(app)
        ready.update(app=app, runner=runner, url=url)

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(boot())
        except BaseException as exc:  # surface start-up errors to the test
            ready["error"] = exc
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(30)
    if "error" in ready:
        raise ready["error"]
    return ThreadedServer(ready["url"], loop, thread, ready["runner"], ready["app"])


@contextlib.asynccontextmanager
async def hung_driver(monkeypatch: Any, owner: type, name: str) -> AsyncIterator[str]:
    """`owner.name` blocks the worker thread that calls it (a hung GPU driver) until the
    block is left; yields the URL of a simulator to start the proxy against."""
    from ollama_proxy.simulator import SimulatorConfig, create_simulator_app

    release = threading.Event()
    monkeypatch.setattr(owner, name, lambda self: release.wait(30))
    runner, url = await start_app(create_simulator_app(SimulatorConfig.zero_delay()))
    try:
        yield url
    finally:
        release.set()
        await runner.cleanup()


def proxy_settings(tmp_path: Path, upstream: str, **extra: Any) -> Settings:
    """A proxy on 127.0.0.1:0 over SQLite in `tmp_path` that samples nothing by itself (the
    tests sample and poll explicitly)."""
    return Settings(
        upstream=upstream,
        listen="127.0.0.1:0",
        store_urls=[f"sqlite:///{tmp_path}/s.db"],
        journal_dir=str(tmp_path / "journal"),
        metrics_export_interval=3600,
        ps_poll_interval_s=3600,
        instance_name="box",
        **extra,
    )
