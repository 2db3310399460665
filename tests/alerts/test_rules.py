"""Each built-in rule over hand-built facts; the window's quantiles; the defaults."""

from __future__ import annotations

import pytest

from ollama_proxy.alerts.rules import (
    DEFAULT_RULES,
    Baseline,
    Facts,
    GpuUse,
    NodeHealth,
    StoreBacklog,
    evaluate,
)
from ollama_proxy.alerts.window import LogHistogram, RecordWindow


def window(keep_s: float = 3600) -> RecordWindow:
    return RecordWindow(bucket_s=10, keep_s=keep_s)


def judged(name: str, facts: Facts, now: float = 1000.0, **values: object) -> list[tuple]:
    spec = DEFAULT_RULES[name].with_values(values)
    return [(dict(o.labels), round(o.value, 3), o.active) for o in evaluate(spec, facts, now)]


def test_defaults_match_the_issue() -> None:
    d = DEFAULT_RULES
    assert (d["error_rate"].threshold, d["error_rate"].window_s, d["error_rate"].min_count) == (
        0.2,
        300,
        20,
    )
    assert d["upstream_down"].for_s == 30
    assert (d["queue_full"].threshold, d["queue_full"].window_s) == (1, 300)
    assert (d["cold_load_thrash"].threshold, d["cold_load_thrash"].window_s) == (6, 3600)
    assert d["ttft_p95"].threshold is None and not d["ttft_p95"].active  # off until set
    assert d["ttft_p95"].window_s == 600
    assert (d["decode_regression"].threshold, d["decode_regression"].min_count) == (0.3, 50)
    assert (d["vram_high"].threshold, d["vram_high"].for_s) == (95, 600)
    assert d["store_backlog"].threshold == 300


def test_error_rate_needs_min_count_and_threshold() -> None:
    w = window()
    for i in range(19):
        w.add("m", now=900.0, error=i < 5)
    assert judged("error_rate", Facts(w)) == []  # 19 < 20 requests: not judged
    w.add("m", now=900.0)
    assert judged("error_rate", Facts(w)) == [({"model": "m"}, 0.25, True)]
    assert judged("error_rate", Facts(w), threshold=0.3) == [({"model": "m"}, 0.25, False)]
    assert judged("error_rate", Facts(w), now=1300.0) == []  # out of the 5-minute window


def test_queue_full_counts_any_503_in_the_window() -> None:
    w = window()
    assert judged("queue_full", Facts(w)) == [({}, 0.0, False)]
    w.add("m", now=990.0, queue_full=True)
    assert judged("queue_full", Facts(w)) == [({}, 1.0, True)]


def test_cold_load_thrash_per_model() -> None:
    w = window()
    for _ in range(6):
        w.add("a", now=500.0, load=True)
    w.add("b", now=500.0, load=True)
    assert judged("cold_load_thrash", Facts(w)) == [
        ({"model": "a"}, 6.0, True),
        ({"model": "b"}, 1.0, False),
    ]


def test_ttft_p95_off_until_set_then_judged() -> None:
    w = window()
    for i in range(20):
        w.add("m", now=900.0, ttft_ms=100.0 if i < 18 else 5000.0)
    assert judged("ttft_p95", Facts(w)) == []
    [(labels, value, active)] = judged("ttft_p95", Facts(w), threshold=1000.0)
    assert labels == {"model": "m"} and active and value == pytest.approx(5000, rel=0.03)


def test_decode_regression_against_the_baseline() -> None:
    w = window()
    for _ in range(50):
        w.add("m", now=900.0, decode_tps=60.0)
    slow = Facts(w, baselines={"m": Baseline(100.0, 500)})
    [(_, drop, active)] = judged("decode_regression", slow)
    assert active and drop == pytest.approx(0.4, abs=0.03)
    fine = Facts(w, baselines={"m": Baseline(70.0, 500)})
    assert not judged("decode_regression", fine)[0][2]
    thin = Facts(w, baselines={"m": Baseline(100.0, 10)})  # a baseline of 10 requests
    assert judged("decode_regression", thin) == []
    assert judged("decode_regression", Facts(w)) == []  # no baseline yet


def test_state_rules() -> None:
    facts = Facts(
        window(),
        nodes=[NodeHealth("a", True), NodeHealth("b", False), NodeHealth("c", None)],
        gpus=[GpuUse("0", 96.0), GpuUse("1", 50.0)],
        stores=[StoreBacklog("s1", 400.0), StoreBacklog("s2", None)],
    )
    assert judged("upstream_down", facts) == [
        ({"node": "a"}, 0.0, False),
        ({"node": "b"}, 1.0, True),
    ]
    assert judged("vram_high", facts) == [({"gpu": "0"}, 96.0, True), ({"gpu": "1"}, 50.0, False)]
    assert judged("store_backlog", facts) == [
        ({"store": "s1"}, 400.0, True),
        ({"store": "s2"}, 0.0, False),
    ]


def test_disabled_rule_observes_nothing() -> None:
    facts = Facts(window(), nodes=[NodeHealth("b", False)])
    assert judged("upstream_down", facts, enabled=False) == []


def test_log_histogram_quantiles_within_bin_width() -> None:
    h = LogHistogram()
    for v in range(1, 1001):
        h.add(float(v))
    h.add(0.0)  # ignored: no log of zero
    assert h.count == 1000
    assert h.quantile(0.5) == pytest.approx(500, rel=0.03)
    assert h.quantile(0.95) == pytest.approx(950, rel=0.03)
    assert LogHistogram().quantile(0.5) is None


def test_window_expires_old_buckets_and_caps_models() -> None:
    w = RecordWindow(bucket_s=1, keep_s=5)
    w.add("m", now=0.0)
    w.add("m", now=10.0)
    assert w.per_model(since=-100.0)["m"].requests == 1  # the bucket at 0 was dropped
    for i in range(300):
        w.add(f"model-{i}", now=10.0)
    models = w.per_model(since=0.0)
    assert len(models) == 257 and models["_other"].requests == 45
