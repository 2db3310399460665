"""create_app(settings): routes, app keys and lifecycles. Wiring only."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog
from aiohttp import web

from ollama_proxy import appkeys
from ollama_proxy.api import add_api_fallback, add_api_routes
from ollama_proxy.api.system_routes import add_system_routes
from ollama_proxy.config import Settings
from ollama_proxy.dashboard import add_dashboard_routes
from ollama_proxy.live.accounting import Accounting
from ollama_proxy.live.feed import LiveFeed, add_live_routes
from ollama_proxy.live.snapshot import LoadedModel, parse_expiry
from ollama_proxy.live.tracker import LiveTracker
from ollama_proxy.privacy import client_ip_salt
from ollama_proxy.proxy.access import Access, RateLimiter, parse_keys
from ollama_proxy.proxy.forwarded import parse_networks
from ollama_proxy.proxy.handler import InFlight, ProxyHandler
from ollama_proxy.proxy.observer import Observer
from ollama_proxy.quota import QUOTAS, QuotaBook, parse_quotas, restore_from

if TYPE_CHECKING:
    from ollama_proxy.alerts.engine import AlertEngine
    from ollama_proxy.records import RequestRecord

log = structlog.get_logger("ollama_proxy.app")

PROXY_HANDLER = web.AppKey("proxy_handler", ProxyHandler)


def upstream_session(settings: Settings) -> aiohttp.ClientSession:
    """One pooled session to Ollama: no total or read timeout (model loads are silent).

    The connect timeout is `sock_connect`, the TCP connect alone: aiohttp's `connect` also
    covers the wait for a free pooled connection, which with UPSTREAM_MAX_CONNECTIONS turned a
    request queued behind long streams into a false 502 "unreachable". Waiting for a slot is
    queueing, with no limit.
    """
    timeout = aiohttp.ClientTimeout(
        total=None,
        connect=None,
        sock_connect=settings.connect_timeout_s,
        sock_read=settings.read_timeout_s or None,
    )
    connector = aiohttp.TCPConnector(limit=settings.upstream_max_connections, limit_per_host=0)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        raise_for_status=False,
    )


def _session_ctx(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        session = upstream_session(settings)
        app[appkeys.UPSTREAM_SESSION] = session
        app[PROXY_HANDLER].session = session
        yield
        await session.close()

    return ctx


def _recorder_ctx(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        from ollama_proxy.recorder import Recorder
        from ollama_proxy.store import open_stores

        stores = await open_stores(settings)
        recorder = Recorder(stores, settings)
        app[appkeys.STORES] = stores
        app[appkeys.RECORDER] = recorder
        telemetry = app.get(appkeys.TELEMETRY)
        if telemetry is not None:
            recorder.register_gauges(telemetry)
        await recorder.start()
        app[PROXY_HANDLER].submit = recorder.submit
        app[PROXY_HANDLER].submit_content = recorder.submit_content
        yield
        await recorder.close()  # final flush of everything queued
        for store in stores:
            await store.close()

    return ctx


def _telemetry_ctx(
    settings: Settings, telemetry: Any
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        from ollama_proxy.telemetry import metrics_json_dumper

        dumper = None
        if settings.metrics_json_file:
            dumper = asyncio.create_task(
                metrics_json_dumper(
                    telemetry, settings.metrics_json_file, settings.metrics_export_interval
                )
            )
        yield
        if dumper is not None:
            dumper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dumper
        await telemetry.shutdown()  # flushes the exporters

    return ctx


def _system_ctx(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        from ollama_proxy.system.monitor import SystemMonitor

        handler = app[PROXY_HANDLER]
        recorder = app.get(appkeys.RECORDER)
        monitor = SystemMonitor(
            settings,
            None,  # probes on a pool of their own, never queued behind long streams
            recorder.submit_metric if recorder is not None else None,
            lambda: (handler.requests_total, handler.errors_total),
            app[appkeys.STARTED_AT],
        )
        app[appkeys.SYSTEM] = monitor
        telemetry = app.get(appkeys.TELEMETRY)
        if telemetry is not None:
            monitor.register_gauges(telemetry)
        await monitor.start()
        yield
        await monitor.stop()

    return ctx


def _fleet_ctx(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    """Keeps every node's state fresh while the proxy runs (more than one upstream)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        from ollama_proxy.fleet.poller import Poller

        poller = Poller(
            app[appkeys.FLEET],
            lambda: app[appkeys.UPSTREAM_SESSION],
            ps_interval_s=settings.fleet_ps_interval_s,
            tags_interval_s=settings.fleet_tags_interval_s,
            probe_timeout_s=min(settings.connect_timeout_s, settings.fleet_ps_interval_s),
        )
        await poller.start()
        yield
        await poller.stop()

    return ctx


def build_alerts(settings: Settings, app: web.Application) -> AlertEngine:
    """The alert engine; an invalid ALERT_RULES file fails here, at start, naming the line."""
    from ollama_proxy.alerts import silence_file
    from ollama_proxy.alerts.engine import AlertEngine
    from ollama_proxy.alerts.inputs import AppInputs
    from ollama_proxy.alerts.notify import Dispatcher
    from ollama_proxy.alerts.payloads import parse_target
    from ollama_proxy.alerts.rulesfile import load_rules
    from ollama_proxy.alerts.store_baselines import store_baselines

    link = settings.alert_dashboard_url or f"http://{settings.listen}/dashboard/"
    dispatcher = Dispatcher(
        [parse_target(url) for url in settings.alert_webhooks],
        instance=settings.instance_name,
        link=link.rstrip("/") + "/#/alerts",
        timeout_s=settings.alert_notify_timeout_s,
    )
    return AlertEngine(
        load_rules(settings.alert_rules),
        eval_interval_s=settings.alert_eval_interval_s,
        inputs=AppInputs(
            lambda: app.get(appkeys.SYSTEM),
            lambda: app.get(appkeys.RECORDER),
            lambda: app.get(appkeys.FLEET),
        ),
        dispatcher=dispatcher,
        baselines=lambda: store_baselines(app.get(appkeys.STORES) or []),
        silences_path=Path(settings.journal_dir) / silence_file.FILE_NAME,
    )


def _alerts_ctx(engine: AlertEngine) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        handler = app[PROXY_HANDLER]
        submit, observe = handler.submit, engine.observe
        if submit is None:
            handler.submit = observe
        else:

            def both(record: RequestRecord) -> None:
                submit(record)
                observe(record)

            handler.submit = both
        await engine.start()
        yield
        await engine.stop()

    return ctx


def _add_fleet(app: web.Application, settings: Settings, handler: ProxyHandler) -> None:
    from ollama_proxy.fleet.nodes import Fleet
    from ollama_proxy.fleet.spec import parse_node_numbers, parse_rules
    from ollama_proxy.proxy.fleet_forward import FleetForwarder

    fleet = Fleet(
        settings.nodes,
        parse_rules(settings.route_rules),
        slots=parse_node_numbers(settings.route_node_slots, "ROUTE_NODE_SLOTS"),
        vram_gb=parse_node_numbers(settings.route_node_vram_gb, "ROUTE_NODE_VRAM_GB"),
        eject_after=settings.route_eject_failures,
    )
    app[appkeys.FLEET] = fleet
    handler.fleet_forward = FleetForwarder(handler, fleet, settings.route_max_attempts)
    telemetry = app.get(appkeys.TELEMETRY)
    if telemetry is not None:
        telemetry.set_nodes({node.name: (node.address, node.port) for node in fleet.nodes})
    app.cleanup_ctx.append(_fleet_ctx(settings))


def _service_ctx(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    """`--spawn-ollama`: run `ollama serve` for the proxy's lifetime."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        from ollama_proxy.service import OllamaService

        service = OllamaService(settings, app.get(appkeys.TELEMETRY))
        await service.start()
        yield
        await service.stop()

    return ctx


def _build_telemetry(settings: Settings, observer: Observer | None) -> Any:
    from ollama_proxy.telemetry import Telemetry, build_telemetry

    if isinstance(observer, Telemetry):
        return observer
    if observer is None and settings.enable_instrumentation and not settings.otel_sdk_disabled:
        return build_telemetry(settings)
    return None


def live_feed(settings: Settings, tracker: LiveTracker, app: web.Application) -> LiveFeed:
    """The live view, reading residency from the system monitor when one runs."""

    def loaded() -> list[LoadedModel] | None:
        monitor = app.get(appkeys.SYSTEM)  # polls every node's /api/ps, residents by node
        if monitor is None or not monitor.timeline.seen:
            return None
        return [
            LoadedModel(r.name, r.size_vram, parse_expiry(r.expires_at), r.node)
            for r in monitor.timeline.residents.values()
        ]

    def nodes() -> dict[str, Collection[str]] | None:
        fleet = app.get(appkeys.FLEET)  # the poller keeps each node's /api/ps
        if fleet is None:
            return None
        return {node.name: node.loaded.keys() for node in fleet.nodes if node.seen}

    return LiveFeed(
        tracker,
        settings.live_parallel_slots,
        settings.live_interval_ms / 1000,
        loaded,
        nodes=nodes,
    )


def _power_ctx(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    """GPU power sampling for energy per request, when NVML or nvidia-smi gives a reading."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        from ollama_proxy.live.power import PowerSampling
        from ollama_proxy.system.power import PowerReader

        reader = PowerReader(settings.sampler_timeout_s)
        handler = app[PROXY_HANDLER]
        if not await _power_available(reader, settings.sampler_timeout_s):
            yield
            return
        interval_s = settings.power_sample_ms / 1000
        sampling = PowerSampling(
            handler.live, reader.read, interval_s, timeout_s=settings.sampler_timeout_s
        )
        handler.accounting.energy = sampling.ledger
        sampling.start()
        yield
        await sampling.stop()

    return ctx


async def _power_available(reader: Any, timeout_s: float) -> bool:
    """Opens NVML (or finds nvidia-smi) in a thread; a driver that hangs there must not keep
    the proxy from starting: no power reading, then (the thread is left to finish)."""
    try:
        async with asyncio.timeout(timeout_s):
            return bool(await asyncio.to_thread(lambda: reader.available))
    except TimeoutError:
        log.warning("gpu_power_open_timed_out", timeout_s=timeout_s)
        return False


def _quota_ctx(book: QuotaBook) -> Callable[[web.Application], AsyncIterator[None]]:
    """Today's usage per quota label, from the store: a restart forgets nothing recorded."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        stores = app.get(appkeys.STORES) or []
        if stores:
            try:
                await restore_from(book, stores[0])
            except Exception:  # the proxy still serves; quotas count from zero
                log.exception("quota_restore_failed")
        yield

    return ctx


def build_access(settings: Settings) -> Access:
    limiter = (
        RateLimiter(
            settings.rate_limit_rps, settings.rate_limit_burst, settings.rate_limit_max_clients
        )
        if settings.rate_limit_rps > 0
        else None
    )
    salt = (
        client_ip_salt(settings.client_ip_salt, settings.journal_dir)
        if settings.hash_client_ips
        else ""
    )
    return Access(
        parse_keys(settings.proxy_api_keys),
        limiter,
        settings.hash_client_ips,
        salt,
        parse_networks(settings.trusted_proxies),
        settings.forwarded_header,
    )


def create_app(
    settings: Settings,
    *,
    observer: Observer | None = None,
    submit: Callable[[Any], None] | None = None,
    with_stores: bool = True,
) -> web.Application:
    """The proxy application.

    `observer` replaces telemetry (tests pass one built on in-memory exporters); `submit`
    replaces the recorder's submit (tests collect records in a list) and then no stores and no
    system monitor run, so the upstream sees only the client's requests.
    """
    app = web.Application(client_max_size=0)
    app[appkeys.SETTINGS] = settings
    app[appkeys.STARTED_AT] = time.time()
    inflight = InFlight()
    app[appkeys.INFLIGHT] = inflight
    live = LiveTracker()

    if submit is None and with_stores and settings.enable_instrumentation:
        app.cleanup_ctx.append(_recorder_ctx(settings))

    add_api_routes(app)  # own routes first: the catch-all below takes everything else
    telemetry = _build_telemetry(settings, observer)
    app[appkeys.TELEMETRY] = telemetry
    if telemetry is not None:
        from ollama_proxy.telemetry import add_telemetry_routes

        add_telemetry_routes(app, telemetry)
        app.cleanup_ctx.append(_telemetry_ctx(settings, telemetry))
        observer = observer or telemetry

    add_system_routes(app)
    add_live_routes(app, live_feed(settings, live, app))
    add_dashboard_routes(app)
    add_api_fallback(app)
    if submit is None and with_stores and settings.enable_instrumentation:
        app.cleanup_ctx.append(_system_ctx(settings))  # after the session and the recorder

    handler = ProxyHandler(settings, None, submit, observer, inflight, build_access(settings), live)
    app[PROXY_HANDLER] = handler
    if settings.enable_instrumentation and settings.power_sample_ms > 0:
        app.cleanup_ctx.append(_power_ctx(settings))
    if settings.proxy_quotas:
        book = QuotaBook(parse_quotas(settings.proxy_quotas))
        app[QUOTAS] = book
        handler.accounting = Accounting(book)
        if submit is None and with_stores and settings.enable_instrumentation:
            app.cleanup_ctx.append(_quota_ctx(book))  # after the recorder opened the stores
    if settings.enable_instrumentation:
        engine = build_alerts(settings, app)
        app[appkeys.ALERTS] = engine
        app.cleanup_ctx.append(_alerts_ctx(engine))  # after the recorder: wraps its submit
        if telemetry is not None:
            engine.register_gauges(telemetry)
    app.cleanup_ctx.insert(0, _session_ctx(settings))
    if len(settings.nodes) > 1:  # one upstream: the plain path, no fleet at all
        _add_fleet(app, settings, handler)
    if settings.spawn_ollama:
        app.cleanup_ctx.insert(0, _service_ctx(settings))  # Ollama up before anything uses it
    if telemetry is not None:
        from ollama_proxy.telemetry import names

        telemetry.register_counter(
            names.PROXY_REFUSED,
            "{request}",
            "Requests refused by the proxy (API key, scope, rate limit), per reason and client",
            lambda: [
                (count, {names.OLLAMA_REFUSAL_REASON: reason, names.OLLAMA_CLIENT: client})
                for (reason, client), count in handler.refusals.counts().items()
            ],
        )
    app.router.add_route("*", "/{tail:.*}", handler.__call__, expect_handler=handler.expect)
    return app
