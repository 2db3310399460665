"""The engine without a network: record classification, sliced folding, Alertmanager resends."""

from __future__ import annotations

import asyncio

import pytest

from ollama_proxy.alerts.engine import FOLD_SLICE, PENDING_MAX, AlertEngine, is_queue_full
from ollama_proxy.alerts.lifecycle import Alert
from ollama_proxy.alerts.rules import Baseline
from ollama_proxy.alerts.rulesfile import parse_rules
from ollama_proxy.records import RequestRecord

BUSY = "server busy, please try again.  maximum pending requests exceeded"


class FakeDispatcher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str | None]] = []

    def send(self, state: str, alert: Alert, *, only: str | None = None) -> None:
        self.sent.append((state, alert.rule, only))


def engine(rules: str = "", **kwargs: object) -> AlertEngine:
    return AlertEngine(parse_rules(rules, "r.yaml"), eval_interval_s=15, **kwargs)  # type: ignore[arg-type]


def test_queue_full_is_ollamas_503_message_only() -> None:
    assert is_queue_full(RequestRecord(http_status=503, error_message=BUSY))
    assert not is_queue_full(RequestRecord(http_status=503, error_message="no healthy upstream"))
    assert not is_queue_full(RequestRecord(http_status=500, error_message=BUSY))


def test_records_are_classified_when_folded() -> None:
    e = engine()
    e.observe(RequestRecord(model="m", status="error", http_status=503, error_message=BUSY))
    e.observe(RequestRecord(model="m", load_duration_ms=1200.0, ttft_ms=1500.0, decode_tps=40.0))
    e.observe(RequestRecord(model="m", load_duration_ms=3.0, status="cancelled"))
    assert e.queued == 3
    e.fold(now=100.0)
    c = e.window.per_model(since=0.0)["m"]
    assert (c.requests, c.errors, c.queue_full, c.loads) == (3, 1, 1, 1)
    assert (c.ttft.count, c.decode_tps.count) == (1, 1)  # failures carry no speed


async def test_a_burst_is_folded_in_slices() -> None:
    e = engine()
    for _ in range(5_000):
        e.observe(RequestRecord(model="m"))
    folded: list[int] = []  # records each fold took (the queue shrinks by them)
    fold = e.fold

    def counted(now: float, limit: int = PENDING_MAX) -> None:
        before = e.queued
        fold(now, limit)
        folded.append(before - e.queued)

    e.fold = counted  # type: ignore[method-assign]
    await e._tick()
    assert folded == [FOLD_SLICE, FOLD_SLICE, 5_000 - 2 * FOLD_SLICE]
    assert e.queued == 0 and e.evaluations == 1
    assert e.window.per_model(since=0.0)["m"].requests == 5_000


def test_firing_alerts_are_resent_to_alertmanager_only() -> None:
    dispatcher = FakeDispatcher()
    clock = [1000.0]
    e = engine(
        "rules:\n  queue_full: {resolve_after: 0s}\n",
        dispatcher=dispatcher,
        clock=lambda: clock[0],
    )
    e.observe(RequestRecord(model="m", http_status=503, error_message=BUSY, status="error"))
    e.evaluate_once()
    assert dispatcher.sent == [("firing", "queue_full", None)]
    clock[0] += 30
    e.evaluate_once()
    assert len(dispatcher.sent) == 1  # no resend before 60 s
    clock[0] += 31
    e.evaluate_once()
    assert dispatcher.sent[-1] == ("firing", "queue_full", "alertmanager")
    counts = dict((labels["rule"], n) for n, labels in e.firing_counts())
    assert counts["queue_full"] == 1 and counts["error_rate"] == 0 and "ttft_p95" not in counts


@pytest.mark.parametrize("turns", range(6))
async def test_a_stop_that_meets_a_finishing_baseline_refresh_ends(turns: int) -> None:
    # Regression: the refresh waited with asyncio.wait_for, which on Python 3.11 returns the
    # result when the cancel arrives just as the query completes; the refresh loop then slept
    # an hour and the proxy's stop never ended. `turns` walks the cancel across the few loop
    # iterations between the query's end and the wait's return.
    answer: asyncio.Future[dict[str, Baseline]] = asyncio.get_running_loop().create_future()
    asked = asyncio.Event()

    async def source() -> dict[str, Baseline]:
        asked.set()
        return await answer

    e = engine(baselines=source)
    await e.start()
    try:
        async with asyncio.timeout(10):
            await asked.wait()
        answer.set_result({"m": Baseline(40.0, 10)})
        for _ in range(turns):
            await asyncio.sleep(0)
    finally:
        async with asyncio.timeout(10) as stopping:  # a hang, not a speed
            await e.stop()
    # (a stop cut short by the timeout still returns: its own wait on the task ends then)
    assert not stopping.expired()
