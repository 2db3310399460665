"""SystemMonitor: samples the host, the upstream and /api/ps on intervals; writes the samples as
`ollama_metrics` rows, exposes them as OTEL gauges and to /api/health."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import structlog

from ollama_proxy.config import Settings
from ollama_proxy.records import MetricPoint
from ollama_proxy.system.residency import Key, ResidencyEvent, Resident, Timeline, parse_ps
from ollama_proxy.system.samplers import GpuSample, OffLoop, Sampler, SystemSample
from ollama_proxy.tasks import cancel_and_wait, every

log = structlog.get_logger("ollama_proxy.system")
FAILED = "system_sample_failed"  # a sampler must never take the proxy down

Counters = Callable[[], tuple[int, int]]  # (requests so far, errors so far)


class SystemMonitor:
    """Tests call `poll_once()` instead of waiting for the intervals."""

    def __init__(
        self,
        settings: Settings,
        session: Callable[[], aiohttp.ClientSession] | None = None,
        submit_metric: Callable[[MetricPoint], None] | None = None,
        counters: Counters | None = None,
        started_at: float | None = None,
    ) -> None:
        self._settings = settings
        # Probes get a small pool of their own by default: on the proxy's pool, with
        # UPSTREAM_MAX_CONNECTIONS held by long streams, they queued and timed out, and the
        # upstream was reported down while it was serving.
        self._session = session or self._probe_session
        self._own_session: aiohttp.ClientSession | None = None
        self._submit = submit_metric
        self._counters = counters
        self._upstream = str(settings.upstream_url)
        # Residency of every node (labelled by node) with a fleet; one upstream: unlabelled.
        nodes = settings.nodes
        self._ps_nodes = (
            [(node.name, node.url.rstrip("/")) for node in nodes]
            if len(nodes) > 1
            else [("", self._upstream.rstrip("/"))]
        )
        timeout_s = settings.sampler_timeout_s
        self.sampler = Sampler(started_at, gpu_timeout_s=timeout_s)
        # Each in a worker thread of its own: a stuck GPU driver must not delay host samples,
        # and nothing here may block the loop that relays streams.
        self.host_sampler: OffLoop[SystemSample] = OffLoop("host", self.sampler.host, timeout_s)
        self.gpu_sampler: OffLoop[list[GpuSample]] = OffLoop("gpu", self.sampler.gpus, timeout_s)
        self.timeline = Timeline()
        self.last: SystemSample | None = None
        self.health: dict[str, Any] = {"url": self._upstream, "reachable": None, "error": None}
        self.error_rate: float | None = None
        self._last_counts = (0, 0)
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(
                every(self._settings.metrics_export_interval, self.sample, log, FAILED)
            ),
            asyncio.create_task(
                every(self._settings.ps_poll_interval_s, self.poll_ps, log, FAILED)
            ),
        ]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        if self._own_session is not None:
            await self._own_session.close()
        self.host_sampler.close()
        self.gpu_sampler.close()
        try:  # nvmlShutdown behind a hung driver must not hold the proxy's stop
            async with asyncio.timeout(self._settings.sampler_timeout_s):
                await asyncio.to_thread(self.sampler.close)
        except TimeoutError:
            log.warning("gpu_close_timed_out", timeout_s=self._settings.sampler_timeout_s)

    def _probe_session(self) -> aiohttp.ClientSession:
        if self._own_session is None:
            self._own_session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=4))
        return self._own_session

    async def poll_once(self) -> None:
        await self.sample()
        await self.poll_ps()

    # --- samples -------------------------------------------------------------------------
    async def sample(self) -> None:
        now = datetime.now(UTC)
        self._update_error_rate()  # counted up to now, before the awaits below
        # The residents at `now`, the time the points carry: read after the awaits below (up
        # to SAMPLER_TIMEOUT_S later), a model loaded meanwhile was stored as resident at `now`.
        residents = list(self.timeline.residents.values())
        await self.check_upstream()  # first: /api/health reads it from the start
        host, gpus = await asyncio.gather(self.host_sampler.run(), self.gpu_sampler.run())
        if host is not None:  # a stuck or failed host sampler skips this sample
            host.gpus = gpus or []
            self.last = host
        for name, value, meta in self._points(host, residents):
            self._emit(MetricPoint(name, float(value), "gauge", now, self._instance, meta))

    def _points(
        self, s: SystemSample | None, residents: list[Resident]
    ) -> list[tuple[str, float, dict[str, Any]]]:
        points: list[tuple[str, float, dict[str, Any]]] = [
            ("upstream.up", 1.0 if self.health.get("reachable") else 0.0, {}),
        ]
        if s is not None:
            points += [
                ("system.cpu.percent", s.cpu_percent, {}),
                ("system.memory.percent", s.memory_percent, {}),
                ("proxy.rss.bytes", s.proxy_rss_bytes, {}),
                ("proxy.cpu.percent", s.proxy_cpu_percent, {}),
                ("proxy.uptime.hours", s.uptime_hours, {}),
            ]
        if self.health.get("latency_ms") is not None:
            points.append(("upstream.health_check.latency_ms", self.health["latency_ms"], {}))
        if self._counters is not None:
            points.append(("proxy.errors.total", float(self._counters()[1]), {}))
        if self.error_rate is not None:
            points.append(("proxy.error_rate", self.error_rate, {}))
        for gpu in s.gpus if s is not None else []:
            meta = {"gpu": gpu.index, "name": gpu.name}
            points += [
                ("gpu.utilization.percent", gpu.utilization_percent, meta),
                ("gpu.memory.used.bytes", gpu.memory_used_bytes, meta),
                ("gpu.temperature.c", gpu.temperature_c, meta),
            ]
        for resident in residents:
            points.append(("model.vram.bytes", resident.size_vram, _labels(resident)))
        return points

    def _update_error_rate(self) -> None:
        if self._counters is None:
            return
        requests, errors = self._counters()
        done = requests - self._last_counts[0]
        failed = errors - self._last_counts[1]
        self._last_counts = (requests, errors)
        self.error_rate = failed / done if done > 0 else 0.0

    async def check_upstream(self) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            async with self._session().get(
                f"{self._upstream}/api/version", timeout=aiohttp.ClientTimeout(total=5)
            ) as response:
                body = await response.json(content_type=None)
                version = body.get("version") if isinstance(body, dict) else None
                self.health = {
                    "url": self._upstream,
                    "reachable": True,
                    "status_code": response.status,
                    "version": version,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                    "error": None if response.status == 200 else f"HTTP {response.status}",
                }
        except Exception as exc:
            self.health = {
                "url": self._upstream,
                "reachable": False,
                "status_code": None,
                "version": None,
                "latency_ms": None,
                "error": f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
            }
        return self.health

    async def poll_ps(self) -> list[ResidencyEvent]:
        """Every node's /api/ps at once; a node that does not answer keeps its residents (its
        health is reported elsewhere: check_upstream, the fleet's poller)."""
        bodies = await asyncio.gather(*(self._ps(url) for _, url in self._ps_nodes))
        if all(body is None for body in bodies):
            return []
        snapshot: dict[Key, Resident] = {}
        for (node, _), body in zip(self._ps_nodes, bodies, strict=True):
            if body is None:
                snapshot.update((k, r) for k, r in self.timeline.residents.items() if k[0] == node)
            else:
                snapshot.update(parse_ps(body, node))
        events = self.timeline.update(snapshot, datetime.now(UTC))
        for event in events:
            meta = event.to_dict()
            meta.pop("timestamp")
            self._emit(
                MetricPoint(
                    f"model.{event.event}",
                    float(event.size_vram),
                    "event",
                    event.timestamp,
                    self._instance,
                    meta,
                )
            )
        return events

    async def _ps(self, base_url: str) -> dict[str, Any] | None:
        try:
            async with self._session().get(
                f"{base_url}/api/ps", timeout=aiohttp.ClientTimeout(total=5)
            ) as response:
                if response.status != 200:
                    return None
                body = await response.json(content_type=None)
        except Exception:
            return None
        return body if isinstance(body, dict) else None

    def _emit(self, point: MetricPoint) -> None:
        if self._submit is not None:
            self._submit(point)

    @property
    def _instance(self) -> str:
        return self._settings.instance_name

    # --- what the API and telemetry read -------------------------------------------------
    def upstream_health(self) -> dict[str, Any]:
        return dict(self.health)

    def loaded_models(self) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        return [
            {
                "name": r.name,
                "size": r.size,
                "size_vram": r.size_vram,
                "context_length": r.context_length,
                "expires_at": r.expires_at,
                "loaded_at": _iso(self.timeline.loaded_at.get(r.key)),
                "resident_s": self.timeline.resident_for(r.name, now, r.node),
                **({"node": r.node} if r.node else {}),
            }
            for r in self.timeline.residents.values()
        ]

    def register_gauges(self, telemetry: Any) -> None:
        from ollama_proxy.telemetry import names as n

        def last(attr: str) -> Callable[[], float | None]:
            return lambda: None if self.last is None else float(getattr(self.last, attr))

        telemetry.register_gauge(n.SYSTEM_CPU_PERCENT, "%", "Host CPU use", last("cpu_percent"))
        telemetry.register_gauge(
            n.SYSTEM_MEMORY_PERCENT, "%", "Host memory use", last("memory_percent")
        )
        telemetry.register_gauge(n.SYSTEM_UPTIME, "h", "Proxy uptime", last("uptime_hours"))
        telemetry.register_gauge(
            n.SYSTEM_LOADED_MODELS,
            "{model}",
            "Models resident in Ollama",
            lambda: float(len(self.timeline.residents)) if self.timeline.seen else None,
        )
        telemetry.register_gauge(
            n.SYSTEM_VRAM,
            "By",
            "VRAM used per resident model",
            lambda: [
                (
                    float(r.size_vram),
                    {"gen_ai.request.model": r.name, **({n.OLLAMA_NODE: r.node} if r.node else {})},
                )
                for r in self.timeline.residents.values()
            ],
        )


def _labels(resident: Resident) -> dict[str, Any]:
    return {"model": resident.name, **({"node": resident.node} if resident.node else {})}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")
