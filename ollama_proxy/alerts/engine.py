"""AlertEngine: folds records into the window, evaluates the rules on an interval, notifies.

The request path calls `observe(record)`: one append to a bounded deque. Everything else
runs in the engine's own task every ALERT_EVAL_INTERVAL_S seconds: fold the queued records,
read the other inputs (node health, GPU samples, store backlogs) from memory, step every
rule's lifecycle, hand the events to the dispatcher. The only store query is the hourly
refresh of the 7-day decode-speed baselines.

In use: `engine = AlertEngine(load_rules(""), eval_interval_s=15)`, `engine.observe(record)`;
tests call `await engine.evaluate_once()` instead of waiting for the interval.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import structlog

from ollama_proxy.alerts import silence_file
from ollama_proxy.alerts.lifecycle import Event, Silences, Tracker
from ollama_proxy.alerts.notify import Dispatcher
from ollama_proxy.alerts.payloads import alert_view
from ollama_proxy.alerts.rules import (
    Baseline,
    Facts,
    GpuUse,
    NodeHealth,
    RuleSpec,
    StoreBacklog,
    evaluate,
    longest_window_s,
)
from ollama_proxy.alerts.window import RecordWindow
from ollama_proxy.records import RequestRecord
from ollama_proxy.tasks import cancel_and_wait, every

log = structlog.get_logger("ollama_proxy.alerts")

PENDING_MAX = 100_000  # records between two evaluations; beyond, the oldest are dropped
FOLD_SLICE = 2_000  # records folded between two yields to the event loop (a few ms)
BASELINE_REFRESH_S = 3600.0
ALERTMANAGER_RESEND_S = 60.0  # Alertmanager resolves an alert not re-sent within 5 min
HISTORY_MAX = 200
QUEUE_FULL_TEXT = ("maximum pending requests", "server busy")  # Ollama's ErrMaxQueue text
SILENCE_FILE_TIMEOUT_S = 5.0  # a hung disk: the silence holds in memory, the log says so


class AlertInputs(Protocol):
    """What the rules read besides requests; each call is a cached, in-memory read."""

    def nodes(self) -> list[NodeHealth]: ...
    def gpus(self) -> list[GpuUse]: ...
    def stores(self) -> list[StoreBacklog]: ...


class NoInputs:
    def nodes(self) -> list[NodeHealth]:
        return []

    def gpus(self) -> list[GpuUse]:
        return []

    def stores(self) -> list[StoreBacklog]:
        return []


BaselineSource = Callable[[], Awaitable[dict[str, Baseline]]]


def is_queue_full(record: RequestRecord) -> bool:
    if record.http_status != 503:
        return False
    message = record.error_message.lower()
    return any(text in message for text in QUEUE_FULL_TEXT)


class AlertEngine:
    def __init__(
        self,
        specs: dict[str, RuleSpec],
        *,
        eval_interval_s: float,
        inputs: AlertInputs | None = None,
        dispatcher: Dispatcher | None = None,
        baselines: BaselineSource | None = None,
        clock: Callable[[], float] = time.time,
        silences_path: Path | None = None,
    ) -> None:
        self.specs = specs
        self.eval_interval_s = eval_interval_s
        bucket_s = min(10.0, eval_interval_s)
        self.window = RecordWindow(bucket_s, keep_s=longest_window_s(specs) + bucket_s)
        self.silences = Silences()
        self.silences_path = silences_path  # None: silences last as long as the process
        self._silences_saving = asyncio.Lock()  # one write at a time: the newest lands last
        self.tracker = Tracker(HISTORY_MAX, self.silences)
        self.inputs: AlertInputs = inputs or NoInputs()
        self.dispatcher = dispatcher
        self.baselines: dict[str, Baseline] = {}
        self._baseline_source = baselines
        self._clock = clock
        self._queued: deque[RequestRecord] = deque(maxlen=PENDING_MAX)
        self._tasks: list[asyncio.Task[None]] = []
        self._min_load_ms = specs["cold_load_thrash"].min_load_ms
        self._last_am_resend = 0.0
        self.evaluations = 0

    def now(self) -> float:
        return self._clock()

    # --- the request path ------------------------------------------------------------------
    def observe(self, record: RequestRecord) -> None:
        self._queued.append(record)

    @property
    def queued(self) -> int:
        """Records observed since the last evaluation."""
        return len(self._queued)

    # --- evaluation ------------------------------------------------------------------------
    def fold(self, now: float, limit: int = PENDING_MAX) -> None:
        """Move queued records into the window (at evaluation time, off the request path)."""
        add, min_load = self.window.add, self._min_load_ms
        queued = self._queued
        for _ in range(min(limit, len(queued))):
            r = queued.popleft()
            ok = r.status == "success"
            add(
                r.model,
                now,
                error=r.status == "error",
                queue_full=is_queue_full(r),
                load=(r.load_duration_ms or 0.0) >= min_load,
                ttft_ms=r.ttft_ms if ok else None,
                decode_tps=r.decode_tps if ok else None,
            )
        self.window.expire(now)

    def facts(self) -> Facts:
        return Facts(
            self.window,
            nodes=self.inputs.nodes(),
            gpus=self.inputs.gpus(),
            stores=self.inputs.stores(),
            baselines=self.baselines,
        )

    def evaluate_once(self, now: float | None = None) -> list[Event]:
        now = self._clock() if now is None else now
        self.fold(now)
        facts = self.facts()
        events: list[Event] = []
        for spec in self.specs.values():
            if not spec.active:
                self.tracker.drop_rule(spec.name)
                continue
            events += self.tracker.update(spec, evaluate(spec, facts, now), now)
        self.evaluations += 1
        self._notify(events, now)
        return events

    def _notify(self, events: list[Event], now: float) -> None:
        for event in events:
            log.warning(
                "alert_" + event.state,
                rule=event.alert.rule,
                labels=dict(event.alert.labels),
                value=event.alert.value,
                threshold=event.alert.threshold,
            )
            if self.dispatcher is not None:
                self.dispatcher.send(event.state, event.alert)
        if self.dispatcher is not None and now - self._last_am_resend >= ALERTMANAGER_RESEND_S:
            self._last_am_resend = now
            sent = {id(e.alert) for e in events}
            for alert in self.tracker.firing():
                if alert.notified and alert.silenced_by is None and id(alert) not in sent:
                    self.dispatcher.send("firing", alert, only="alertmanager")

    async def refresh_baselines(self) -> None:
        if self._baseline_source is None or not self.specs["decode_regression"].active:
            return
        try:
            async with asyncio.timeout(60):
                self.baselines = await self._baseline_source()
        except Exception as exc:  # keep the previous baselines; retried at the next refresh
            log.warning("alert_baselines_failed", error=f"{type(exc).__name__}: {exc}")

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        await self.load_silences()
        if self.dispatcher is not None:
            await self.dispatcher.start()
        self._tasks = [
            asyncio.create_task(
                every(self.eval_interval_s, self._tick, log, "alert_evaluation_failed"),
                name="alerts",
            ),
            asyncio.create_task(
                every(BASELINE_REFRESH_S, self.refresh_baselines, log, "alert_evaluation_failed"),
                name="alert-baselines",
            ),
        ]

    async def load_silences(self) -> None:
        """The silences of the previous run still in force; an unreadable file is reported
        and left for the next change to replace (the engine runs without them)."""
        if self.silences_path is None:
            return
        now = self._clock()
        try:
            async with asyncio.timeout(SILENCE_FILE_TIMEOUT_S):
                loaded = await asyncio.to_thread(silence_file.load, self.silences_path, now)
        except (OSError, ValueError, TimeoutError) as exc:
            log.warning("alert_silences_not_loaded", path=str(self.silences_path), error=str(exc))
            return
        for silence in loaded:
            self.silences.add(silence, now)
        if loaded:
            log.info("alert_silences_loaded", count=len(loaded))

    async def save_silences(self) -> bool:
        """Write the silences in force (after the API changed them); False when the file could
        not be written in time: the change holds in memory until the process ends."""
        if self.silences_path is None:
            return True
        async with self._silences_saving:
            current = self.silences.list(self._clock())
            try:
                async with asyncio.timeout(SILENCE_FILE_TIMEOUT_S):
                    await asyncio.to_thread(silence_file.save, self.silences_path, current)
            except (OSError, TimeoutError) as exc:
                log.warning(
                    "alert_silences_not_saved", path=str(self.silences_path), error=str(exc)
                )
                return False
        return True

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        if self.dispatcher is not None:
            await self.dispatcher.drain(timeout_s=2.0)  # a last resolved message, if quick
            await self.dispatcher.stop()

    async def _tick(self) -> None:
        now = self._clock()
        while len(self._queued) > FOLD_SLICE:  # a burst: fold it in slices, the loop breathes
            self.fold(now, FOLD_SLICE)
            await asyncio.sleep(0)
        self.evaluate_once(now)

    # --- what the API and /metrics read ----------------------------------------------------
    def firing_counts(self) -> list[tuple[float, dict[str, str]]]:
        counts = {name: 0 for name, spec in self.specs.items() if spec.active}
        for alert in self.tracker.firing():
            counts[alert.rule] = counts.get(alert.rule, 0) + 1
        return [(float(n), {"rule": name}) for name, n in counts.items()]

    def register_gauges(self, telemetry: Any) -> None:
        """/metrics: firing alerts per rule, and the inputs a scrape cannot see otherwise."""
        inputs = self.inputs
        telemetry.register_gauge(
            "ollama.alerts.firing", "{alert}", "Firing alerts per rule", self.firing_counts
        )
        telemetry.register_gauge(
            "ollama.upstream.up",
            "",
            "1 when the Ollama node answered its last health check, else 0",
            lambda: [(float(bool(n.reachable)), {"node": n.node}) for n in inputs.nodes()],
        )
        telemetry.register_gauge(
            "ollama.gpu.memory.utilization",
            "%",
            "GPU memory in use",
            lambda: [(g.memory_percent, {"gpu": g.gpu}) for g in inputs.gpus()],
        )
        telemetry.register_gauge(
            "ollama.store.backlog.age",
            "s",
            "Age of the oldest record a store has not written yet",
            lambda: [(s.backlog_age_s or 0.0, {"store": s.store}) for s in inputs.stores()],
        )

    def snapshot(self, history_limit: int = 50) -> dict[str, Any]:
        now = self._clock()
        return {
            "firing": [alert_view(a) for a in self.tracker.firing()],
            "pending": [alert_view(a) for a in self.tracker.pending()],
            "history": [alert_view(a) for a in list(self.tracker.history)[::-1][:history_limit]],
            "silences": [s.to_dict() for s in self.silences.list(now)],
            "rules": [rule_view(s) for s in self.specs.values()],
            "eval_interval_s": self.eval_interval_s,
            "evaluations": self.evaluations,
            "notifiers": self.dispatcher.stats() if self.dispatcher is not None else [],
        }


def rule_view(spec: RuleSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "summary": spec.summary,
        "enabled": spec.active,
        "threshold": spec.threshold,
        "window_s": spec.window_s,
        "for_s": spec.for_s,
        "resolve_after_s": spec.resolve_after_s,
        "min_count": spec.min_count,
        "labels": dict(spec.labels),
    }
