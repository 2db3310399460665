"""The pure snapshot: phases before and after output, rates, times left, per-model counts."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ollama_proxy.live.rates import RateBook
from ollama_proxy.live.snapshot import LoadedModel, build, tokens_per_s
from ollama_proxy.live.tracker import Entry
from ollama_proxy.meter.meter import LiveView
from ollama_proxy.records import RequestRecord

WALL = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)


@dataclass
class FakeMeter:
    head: bytes
    chunks: int = 0
    ttfb: float | None = None
    ttft: float | None = None
    thinking: bool = False

    def live_view(self) -> LiveView:
        return LiveView(self.chunks, self.ttfb, self.ttft, "", self.thinking, len(self.head))

    def request_head(self) -> bytes:
        return self.head


def entry(model: str, started: float, limit: int | None = None, **view: object) -> Entry:
    options = f',"options":{{"num_predict":{limit}}}' if limit else ""
    head = f'{{"model":"{model}","prompt":"{"x" * 400}"{options}}}'.encode()
    record = RequestRecord(endpoint="/api/chat", client="10.0.0.1", inference=True)
    return Entry(record, FakeMeter(head, **view), started)  # type: ignore[arg-type]


def phases(snapshot: dict[str, object]) -> list[tuple[str, str, bool]]:
    return [(r["model"], r["phase"], r["estimated"]) for r in snapshot["requests"]]  # type: ignore[attr-defined,index]


def test_before_output_loading_queued_prefill_by_residency_and_slots() -> None:
    entries = [
        entry("llama3.2", 1.0, chunks=5, ttfb=1.5, ttft=1.5),  # holds the only slot
        entry("llama3.2", 2.0),
        entry("qwen3:0.6b", 3.0),
        entry("gemma3:1b", 4.0),
    ]
    loaded = [
        LoadedModel("llama3.2:latest", 2_000, WALL + timedelta(minutes=5)),
        LoadedModel("qwen3:0.6b", 500, None),
    ]
    snap = build(entries, 10.0, WALL, RateBook(), 1, loaded)
    assert phases(snap) == [
        ("llama3.2", "generating", False),
        ("llama3.2", "queued", True),
        ("qwen3:0.6b", "prefill", True),
        ("gemma3:1b", "loading", True),  # absent from /api/ps
    ]
    assert snap["models"]["llama3.2"] == {"waiting": 1, "generating": 1}
    assert snap["loaded"][0] == {
        "name": "llama3.2:latest",
        "size_vram": 2000,
        "expires_in_ms": 300000,
    }
    # Before /api/ps answered, nobody is said to be loading.
    assert phases(build(entries, 10.0, WALL, RateBook(), 2, None))[1:] == [
        ("llama3.2", "prefill", True),
        ("qwen3:0.6b", "prefill", True),
        ("gemma3:1b", "prefill", True),
    ]


def test_rate_eta_and_progress_from_samples_and_limit() -> None:
    e = entry("m", 0.0, limit=100, chunks=0, ttfb=0.1, ttft=0.1)
    meter: FakeMeter = e.meter  # type: ignore[assignment]
    for step in range(5):  # 10 tokens every half second
        meter.chunks = 10 * step
        snap = build([e], 0.5 * (step + 1), WALL, RateBook(), 1, None)
    [r] = snap["requests"]
    assert r["tokens"] == 40 and r["tokens_per_s"] == 20.0
    assert r["eta_ms"] == 3000 and r["eta_estimated"] is False and r["progress"] == 0.4


def test_prefill_eta_from_learned_rate_and_thinking_phase() -> None:
    rates = RateBook()
    rates.learn(
        RequestRecord(
            model="m",
            inference=True,
            prefill_tps=100.0,
            decode_tps=10.0,
            completion_tokens=30,
            done_reason="stop",
        )
    )
    waiting = entry("m", 0.0)
    [r] = build([waiting], 0.5, WALL, rates, 1, None)["requests"]
    # ~430 request bytes / 4 per token / 100 tokens/s ~ 1.07 s; half a second gone.
    assert r["phase"] == "prefill" and 500 < r["eta_ms"] < 650
    thinking = entry("m", 0.0, chunks=3, ttfb=0.2, ttft=0.2, thinking=True)
    [r] = build([thinking], 1.0, WALL, rates, 1, None)["requests"]
    assert r["phase"] == "thinking" and r["eta_estimated"] is True  # typical length: a guess
    assert r["eta_ms"] == 2700  # 27 tokens left of a typical 30, at the learned 10/s


def test_tokens_per_s_needs_a_span() -> None:
    assert tokens_per_s(deque([(1.0, 5)]), 1.0) is None
    samples = deque([(0.0, 0), (1.0, 10), (3.0, 50)])
    assert tokens_per_s(samples, 3.0) == 20.0  # last 2 s only
    assert list(samples) == [(1.0, 10), (3.0, 50)]  # older ones dropped


def test_a_fleet_reads_residency_on_the_node_each_request_went_to() -> None:
    on_a, on_b, undispatched = entry("llama3.2", 1.0), entry("llama3.2", 2.0), entry("qwen3", 3.0)
    on_a.record.node, on_b.record.node = "a", "b"
    nodes = {"a": {"llama3.2:latest"}, "b": {"qwen3:latest"}}
    # The first node's /api/ps (`loaded`) says llama3.2 is resident: a fleet does not ask it.
    loaded = [LoadedModel("llama3.2:latest", 2_000, None)]
    snap = build([on_a, on_b, undispatched], 5.0, WALL, RateBook(), 4, loaded, nodes)
    assert [(r["node"] if "node" in r else None, r["phase"]) for r in snap["requests"]] == [
        ("a", "prefill"),
        ("b", "loading"),  # llama3.2 is on a, not on b
        (None, "prefill"),  # no node yet: residency unknown, never called loading
    ]
    # A node that has not answered /api/ps yet says nothing either.
    [_, r, _] = build([on_a, on_b, undispatched], 5.0, WALL, RateBook(), 4, None, {})["requests"]
    assert r["phase"] == "prefill"
