"""OllamaService (the original package's class) and NetworkConfig (the brief's parameters).

    service = OllamaService(settings, telemetry)
    await service.start()          # attach to the upstream, or spawn `ollama serve`
    await service.health_check()   # {"healthy": bool, "version": ..., "latency_ms": ...}
    await service.get_models()     # /api/tags models
    await service.stop()           # stops a spawned ollama

Each operation runs inside a `ollama.service <name>` span when telemetry is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from typing import Any, Literal

import aiohttp
import structlog
from pydantic import BaseModel

from ollama_proxy.config import Settings

log = structlog.get_logger("ollama_proxy.service")
# Longest stderr line of a spawned `ollama serve` relayed to the log; the rest of it is cut.
LOG_LINE_MAX_BYTES = 16_384


class NetworkConfig(BaseModel):
    """The brief's NetworkConfig, mapped onto Settings for users of the original API."""

    host: str = "127.0.0.1"
    port: int = 11434
    enable_instrumentation: bool = True
    exporter_type: Literal["clickhouse", "postgres", "both", "sqlite"] = "clickhouse"
    metrics_export_interval: int = 5

    def to_settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "upstream": f"http://{self.host}:{self.port}",
            "enable_instrumentation": self.enable_instrumentation,
            "exporter_type": self.exporter_type,
            "metrics_export_interval": self.metrics_export_interval,
        }
        values.update(overrides)
        return Settings(**values)


class OllamaNotFoundError(RuntimeError):
    pass


class OllamaService:
    def __init__(self, settings: Settings, telemetry: Any = None) -> None:
        self.settings = settings
        self.telemetry = telemetry
        self.process: asyncio.subprocess.Process | None = None
        self._session: aiohttp.ClientSession | None = None
        self._log_task: asyncio.Task[None] | None = None
        self._base = str(settings.upstream_url)

    @contextlib.contextmanager
    def _span(self, name: str) -> Iterator[None]:
        if self.telemetry is None:
            yield
            return
        with self.telemetry.lifecycle_span(name):
            yield

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self._session

    async def start(self, wait_s: float = 30.0) -> None:
        """Attach to the upstream, or launch `ollama serve` when spawning is configured."""
        with self._span("start"):
            if self.settings.spawn_ollama:
                await self._spawn()
                await self._wait_healthy(wait_s)
            else:
                health = await self.health_check()
                log.info("ollama_attached", upstream=self._base, healthy=health["healthy"])

    async def _spawn(self) -> None:
        binary = shutil.which(self.settings.ollama_binary)
        if binary is None:
            raise OllamaNotFoundError(
                f"SPAWN_OLLAMA is set but the ollama binary {self.settings.ollama_binary!r} was "
                "not found (set OLLAMA_BINARY to its path, or attach to a running Ollama)"
            )
        url = self.settings.upstream_url
        env = dict(os.environ, OLLAMA_HOST=f"{url.host}:{url.port}")
        self.process = await asyncio.create_subprocess_exec(
            binary,
            "serve",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._log_task = asyncio.create_task(self._forward_logs())
        log.info("ollama_spawned", pid=self.process.pid, binary=binary, host=env["OLLAMA_HOST"])

    async def _forward_logs(self) -> None:
        """Relay the child's stderr line by line until it closes.

        Reads by chunks, not `readline`: a line over the stream's 64 KiB limit made
        `readline` raise and end this task, and a child whose stderr nobody reads blocks on
        its next write once the pipe fills. Over-long lines are cut at LOG_LINE_MAX_BYTES.
        """
        stderr = self.process.stderr if self.process is not None else None
        if stderr is None:
            return
        pending = b""
        while chunk := await stderr.read(65536):
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()[:LOG_LINE_MAX_BYTES]
            for line in lines:
                self._log_line(line)
        if pending:
            self._log_line(pending)

    @staticmethod
    def _log_line(line: bytes) -> None:
        log.info("ollama", line=line[:LOG_LINE_MAX_BYTES].decode(errors="replace").rstrip())

    async def _wait_healthy(self, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.returncode is not None:
                raise RuntimeError(f"ollama serve exited with {self.process.returncode}")
            if (await self.health_check())["healthy"]:
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"ollama serve did not become healthy within {wait_s} s")

    async def health_check(self) -> dict[str, Any]:
        with self._span("health_check"):
            started = time.perf_counter()
            try:
                async with self._http().get(f"{self._base}/api/version") as response:
                    body = await response.json(content_type=None)
                    healthy = response.status == 200
                    version = body.get("version") if isinstance(body, dict) else None
                    error = None if healthy else f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                healthy, version, error = False, None, f"{type(exc).__name__}: {exc}"
            return {
                "healthy": healthy,
                "version": version,
                "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                "error": error,
            }

    async def get_models(self) -> list[dict[str, Any]]:
        with self._span("get_models"):
            async with self._http().get(f"{self._base}/api/tags") as response:
                response.raise_for_status()
                body = await response.json(content_type=None)
            return list(body.get("models") or [])

    async def stop(self, grace_s: float = 10.0) -> None:
        with self._span("stop"):
            if self.process is not None and self.process.returncode is None:
                self.process.terminate()
                try:
                    async with asyncio.timeout(grace_s):
                        await self.process.wait()
                except TimeoutError:
                    self.process.kill()
                    await self.process.wait()
                log.info("ollama_stopped", returncode=self.process.returncode)
            if self._log_task is not None:
                # A grandchild may still hold the pipe open: stop relaying after 2 s.
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    async with asyncio.timeout(2):
                        await self._log_task
            if self._session is not None:
                await self._session.close()
