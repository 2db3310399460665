from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.metrics.export import Histogram, Sum

from ollama_proxy.telemetry import names as n
from ollama_proxy.telemetry.aggregates import Aggregates

KEY = (("gen_ai.operation.name", "chat"),)


def test_value_on_a_boundary_counts_in_that_bucket() -> None:
    # OTel and Prometheus buckets are upper-inclusive: 0.01 belongs to le=0.01, not le=0.02.
    agg = Aggregates(start_ns=1)
    agg.observe("d", n.DURATION_BUCKETS, KEY, 0.01)
    agg.observe("d", n.DURATION_BUCKETS, KEY, 0.0100001)
    agg.observe("d", n.DURATION_BUCKETS, KEY, 500.0)
    counts = agg.histograms["d"][KEY].bucket_counts
    assert counts[0] == 1 and counts[1] == 1 and counts[-1] == 1
    assert len(counts) == len(n.DURATION_BUCKETS) + 1


def test_weighted_observation_keeps_sum_exact() -> None:
    agg = Aggregates(start_ns=1)
    agg.observe("c", n.DURATION_BUCKETS, KEY, 0.05, 9)
    state = agg.histograms["c"][KEY]
    assert state.count == 9
    assert abs(state.total - 0.45) < 1e-12
    assert state.min == state.max == 0.05


def test_to_metrics_emits_cumulative_histograms_and_sums() -> None:
    agg = Aggregates(start_ns=5)
    agg.observe(n.OPERATION_DURATION.name, n.DURATION_BUCKETS, KEY, 1.0)
    agg.add(n.REQUESTS.name, KEY, 2)
    agg.add(n.IN_FLIGHT.name, KEY, 1)
    agg.add(n.IN_FLIGHT.name, KEY, -1)
    metrics = {m.name: m for m in agg.to_metrics(n.ALL_METRICS, now_ns=9)}
    assert set(metrics) == {n.OPERATION_DURATION.name, n.REQUESTS.name, n.IN_FLIGHT.name}
    hist = metrics[n.OPERATION_DURATION.name].data
    assert isinstance(hist, Histogram)
    point = hist.data_points[0]
    assert (point.count, point.sum) == (1, 1.0)
    assert (point.start_time_unix_nano, point.time_unix_nano) == (5, 9)
    assert dict(point.attributes) == {"gen_ai.operation.name": "chat"}
    requests = metrics[n.REQUESTS.name].data
    assert isinstance(requests, Sum) and requests.is_monotonic
    assert requests.data_points[0].value == 2
    in_flight = metrics[n.IN_FLIGHT.name].data
    assert isinstance(in_flight, Sum) and not in_flight.is_monotonic
    assert in_flight.data_points[0].value == 0


@given(st.lists(st.floats(min_value=0, max_value=1e9, allow_nan=False), min_size=1))
def test_bucket_counts_always_add_up(values: list[float]) -> None:
    agg = Aggregates(start_ns=0)
    for value in values:
        agg.observe("t", n.TOKEN_BUCKETS, KEY, value)
    state = agg.histograms["t"][KEY]
    assert sum(state.bucket_counts) == state.count == len(values)
    assert state.min == min(values) and state.max == max(values)
