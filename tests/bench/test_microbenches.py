"""The in-process micro-benchmarks still run against the code they measure (no timings judged)."""

from __future__ import annotations

from bench import bench_meter, bench_telemetry


def test_bench_telemetry_runs_every_mode() -> None:
    # Its SDK-instruments mode stands in for Instruments' aggregates: an interface change there
    # broke it once without any test noticing.
    result = bench_telemetry.run(rounds=1, batch=5)
    for path in ("chat", "tags"):
        assert set(result[path]) >= {"off", "on", "on_with_spans", "on_sdk_instruments"}


def test_bench_meter_runs_every_stream() -> None:
    result = bench_meter.measure(rounds=1, per_round=1)
    assert set(result) == set(bench_meter.STREAMS)
    assert all(figures["chunks"] > 1 for figures in result.values())
