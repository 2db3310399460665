"""GET /api/stats/live against slow simulated streams: phases, rising counts, requests leaving."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from ollama_proxy.app import PROXY_HANDLER, create_app
from ollama_proxy.config import Settings
from ollama_proxy.live.feed import LIVE_FEED
from ollama_proxy.live.tracker import Entry
from ollama_proxy.meter.meter import Meter
from ollama_proxy.simulator import SimulatorConfig, create_simulator_app
from tests.live.sse import snapshots
from tests.servers import start_app


@pytest.fixture
async def slow_stack() -> AsyncIterator[tuple[str, Any]]:
    """A simulator at 20 tokens/s with one slot per model, and the proxy in front."""
    sim = SimulatorConfig(tokens_per_s=20, ttft_s=0.05, load_s=0, num_parallel=1)
    sim_runner, sim_url = await start_app(create_simulator_app(sim))
    settings = Settings(
        upstream=sim_url, listen="127.0.0.1:0", instance_name="t", live_interval_ms=100
    )
    app = create_app(settings, submit=lambda record: None)
    runner, url = await start_app(app)
    yield url, app
    await runner.cleanup()
    await sim_runner.cleanup()


async def _generate(http: aiohttp.ClientSession, url: str, client: str) -> None:
    body = {"model": "llama3.2", "prompt": "hi", "options": {"num_predict": 20}}
    async with http.post(
        f"{url}/api/generate", json=body, headers={"X-Client-Name": client}
    ) as response:
        assert response.status == 200
        await response.read()


async def test_live_view_follows_two_requests_from_queue_to_exit(
    slow_stack: tuple[str, Any],
) -> None:
    url, app = slow_stack
    seen: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http:
        live = await http.get(f"{url}/api/stats/live")
        assert live.status == 200
        assert live.headers["Content-Type"].startswith("text/event-stream")
        stream = snapshots(live)
        first = await anext(stream)
        assert first["requests"] == [] and first["in_flight"] == 0
        calls = asyncio.gather(_generate(http, url, "a"), _generate(http, url, "b"))
        running = asyncio.ensure_future(calls)
        async with asyncio.timeout(30):
            async for snap in stream:
                seen.append(snap)
                if running.done() and snap["in_flight"] == 0:
                    break
        await running
        live.close()
    busy = [s for s in seen if s["requests"]]
    assert busy, "no snapshot showed the requests"
    phases = {r["phase"] for s in busy for r in s["requests"]}
    # One slot: while one request generates, the other waits its turn.
    assert {"queued", "generating"} <= phases
    queued = [r for s in busy for r in s["requests"] if r["phase"] == "queued"]
    assert all(r["estimated"] for r in queued)
    # A request's token count rises while it generates, with a rate and a known end.
    by_id: dict[str, list[dict[str, Any]]] = {}
    for snap in busy:
        for r in snap["requests"]:
            by_id.setdefault(r["id"], []).append(r)
    assert len(by_id) == 2
    for rows in by_id.values():
        counts = [r["tokens"] for r in rows if r["phase"] == "generating"]
        assert counts == sorted(counts) and counts[-1] > counts[0]
        assert any(r["tokens_per_s"] for r in rows)
        assert any(r["eta_ms"] is not None and r["eta_estimated"] is False for r in rows)
        assert {r["client"] for r in rows} <= {"a", "b"}
    counts = [s["models"].get("llama3.2", {}) for s in busy]
    assert {"waiting": 1, "generating": 1} in counts
    assert seen[-1]["requests"] == [] and seen[-1]["models"] == {}
    assert app[PROXY_HANDLER].live.subscribers == 0 or not app[PROXY_HANDLER].live.entries


async def test_nobody_subscribed_nothing_runs_per_chunk_or_per_tick(
    slow_stack: tuple[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, app = slow_stack
    tracker, feed = app[PROXY_HANDLER].live, app[LIVE_FEED]
    looks: list[int] = []
    sets: list[int] = []
    tracked: list[Entry] = []
    live_view, enter = Meter.live_view, tracker.enter

    def counted_view(meter: Meter) -> Any:
        looks.append(1)
        return live_view(meter)

    def kept_enter(record: Any, meter: Any, started: float) -> None:
        enter(record, meter, started)
        tracked.append(tracker.entries[record.request_id])

    monkeypatch.setattr(Meter, "live_view", counted_view)
    monkeypatch.setattr(tracker.changed, "set", lambda: sets.append(1))
    monkeypatch.setattr(tracker, "enter", kept_enter)
    async with aiohttp.ClientSession() as http:
        await _generate(http, url, "a")  # 20 chunks over a second
        # Unwatched: no meter read, no wake-up, no feed task; the entry was never looked at.
        assert looks == [] and sets == [] and feed._task is None
        [entry] = tracked
        assert entry.samples is None and not entry.head_read
        assert tracker.entries == {}
        # The same request watched: the same spies see the work (they can fail).
        live = await http.get(f"{url}/api/stats/live")
        stream = snapshots(live)
        await anext(stream)
        running = asyncio.ensure_future(_generate(http, url, "b"))
        async with asyncio.timeout(30):
            async for snap in stream:
                if running.done() and snap["in_flight"] == 0:
                    break
        await running
        live.close()
    assert looks and sets
    assert tracked[1].samples is not None and tracked[1].head_read
