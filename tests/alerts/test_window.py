"""The alert window's running totals answer as a fresh merge of its buckets, at O(models) per
evaluation, and the window holds a bounded number of model names."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ollama_proxy.alerts import window as window_module
from ollama_proxy.alerts.window import MAX_MODELS, OTHER, ModelCounts, RecordWindow

SPANS = (30.0, 300.0)


def flat(models: dict[str, ModelCounts]) -> dict[str, tuple[Any, ...]]:
    return {
        m: (c.requests, c.errors, c.queue_full, c.loads, dict(c.ttft.bins), c.ttft.count)
        for m, c in models.items()
    }


ops = st.lists(
    st.tuples(
        st.floats(0, 40),  # time step
        st.sampled_from(["a", "b", "c"]),
        st.booleans(),
        st.floats(1, 5000),
        st.integers(0, 2),  # 0: add only, 1: evaluate the windows, 2: expire
    ),
    max_size=120,
)


@settings(max_examples=150, deadline=None)
@given(ops)
def test_running_totals_equal_a_fresh_merge(
    steps: list[tuple[float, str, bool, float, int]],
) -> None:
    w = RecordWindow(bucket_s=10, keep_s=max(SPANS) + 10)
    now = 1000.0
    for step, model, error, ttft, action in steps:
        now += step
        w.add(model, now, error=error, ttft_ms=ttft)
        if action == 2:
            w.expire(now)
        if action >= 1:
            for span in SPANS:
                since = now - span
                assert flat(w.per_model(since, window_s=span)) == flat(w.per_model(since))


def test_an_evaluation_merges_per_model_not_per_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression: every evaluation merged every bucket of an hour (361 of them) per rule.
    w = RecordWindow(bucket_s=10, keep_s=3610)
    models = [f"m{i}" for i in range(5)]
    for second in range(0, 3600, 2):
        for model in models:
            w.add(model, float(second), ttft_ms=100.0 + second % 300)
    w.per_model(3600 - 3600.0, window_s=3600.0)
    merges = 0
    merge = ModelCounts.merge

    def counted(self: ModelCounts, other: ModelCounts) -> None:
        nonlocal merges
        merges += 1
        merge(self, other)

    monkeypatch.setattr(window_module.ModelCounts, "merge", counted)
    for model in models:
        w.add(model, 3605.0)
    totals = w.per_model(3605.0 - 3600.0, window_s=3600.0)
    assert merges <= 3 * len(models)  # the closed bucket in, the open one merged fresh
    assert flat(totals) == flat(w.per_model(3605.0 - 3600.0))


def test_the_window_caps_model_names_across_buckets() -> None:
    # Regression: the cap was per bucket, so an hour of ten-second buckets held 361 x 256.
    w = RecordWindow(bucket_s=1, keep_s=10_000)
    for i in range(MAX_MODELS + 100):
        w.add(f"junk-{i}", float(i))
    models = w.per_model(-1.0)
    assert len(models) == MAX_MODELS + 1
    assert models[OTHER].requests == 100
    w.expire(10_000.0 + MAX_MODELS)  # the first names left the window: room again
    w.add("new", 10_000.0 + MAX_MODELS)
    assert "new" in w.per_model(0.0)
