"""The benchmark report's arithmetic: floors judged from the run's own numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import cpu_ratio, floor_checks, metering_section, stores_section, write_report


def _target(ttfb: float, cpu_chunk: float, cpu_req: float, rss: float = 50.0) -> dict[str, float]:
    return {
        "ttfb_p50": ttfb,
        "ttfb_p95": ttfb,
        "ttfb_p99": ttfb,
        "total_p50": ttfb,
        "total_p95": ttfb,
        "total_p99": ttfb,
        "rps": 100.0,
        "chunks_per_s": 1000.0,
        "cpu_us_per_chunk": cpu_chunk,
        "cpu_us_per_request": cpu_req,
        "rss_mb": rss,
    }


def _run(on_cpu: float, on_ttfb: float) -> dict[str, Any]:
    c1 = {
        "direct": _target(1.0, 0, 0),
        "proxy_off": _target(1.3, 10.0, 2000.0),
        "proxy_on": _target(on_ttfb, on_cpu / 200, on_cpu),
        "aiohttp_bare": _target(1.4, 11.0, 2200.0),
        "nginx": _target(1.1, 5.0, 1000.0),
    }
    c16 = {
        "direct": _target(5.0, 0, 0),
        "proxy_on": _target(6.0, 1, 1),
        "nginx": _target(5.5, 1, 1),
    }
    c128 = {"direct": _target(9.0, 0, 0), "proxy_on": _target(9.0, 1, 1, rss=130.0)}
    return {
        "results": {"chat_stream@c1": c1, "chat_stream@c16": c16, "chat_stream@c128": c128},
        "machine": {"cores": 2, "cpu": "x", "python": "3.11", "aiohttp": "3", "kernel": "6"},
        "idle_rss_mb": {},
        "pinning": {"measured": [1], "load": [0]},
        "quick": True,
        "timestamp": "2026-11-29T00:00:00Z",
    }


def test_floors_are_judged_from_the_run() -> None:
    checks = {name: (value, ok) for name, value, ok in floor_checks(_run(2200.0, 1.4))}
    assert checks["added TTFB p50 at c=1 < 0.5 ms"] == ("0.400 ms (bare aiohttp: 0.400 ms)", True)
    assert checks["metering on / off CPU per chunk ≤ 1.15"] == ("1.10", True)
    assert checks["cpu_us_per_chunk vs nginx ≤ 2.5x"][1] is True
    assert checks["added TTFB p50 at c=16 ≤ 3x nginx's"][1] is True  # 1.0 vs 0.5 ms
    assert checks["RSS at 128 streams < 120 MB"] == ("130 MB", False)


def test_a_floor_that_fails_says_so() -> None:
    checks = {name: ok for name, _, ok in floor_checks(_run(2400.0, 1.6))}
    assert checks["metering on / off CPU per chunk ≤ 1.15"] is False
    assert checks["added TTFB p50 at c=1 < 0.5 ms"] is False


def test_metering_cost_is_listed_for_every_workload() -> None:
    table = "\n".join(metering_section(_run(2200.0, 1.4)))
    assert "| chat_stream@c1 | 2000 | 2200 | 1.10x |" in table


def test_stores_section_inlines_markdown_results_only(tmp_path: Path) -> None:
    (tmp_path / "ingest-10.md").write_text("# Ingest, 10 records\n\n| store | rows/s |\n")
    (tmp_path / "api-10.md").write_text('{"raw": "json"}\n')
    lines = stores_section(tmp_path)
    assert "### Ingest, 10 records" in lines and "| store | rows/s |" in lines
    assert not any("raw" in line for line in lines)


def test_the_report_is_written(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    write_report(_run(2200.0, 1.4), out)
    text = out.read_text()
    assert "pinned to core [1]" in text and "| RSS at 128 streams < 120 MB | 130 MB | NO |" in text
    # proxy_on: 2200 µs a request against nginx's 1000, same req/s as direct
    assert "| 100 | 1.00x | 1000 | 2200 | 11.00 | 2.20x | 50 |" in text


def test_streamed_and_non_streamed_requests_are_judged_apart() -> None:
    run = _run(2200.0, 1.4)
    run["results"]["generate@c1"] = {
        "direct": _target(0.2, 0, 0),
        "proxy_off": _target(0.5, 200.0, 200.0),
        "proxy_on": _target(0.5, 260.0, 260.0),
        "aiohttp_bare": _target(0.5, 210.0, 210.0),
        "nginx": _target(0.4, 40.0, 40.0),
    }
    checks = {name: (value, ok) for name, value, ok in floor_checks(run)}
    streamed = checks["metering on / off CPU per request, every streamed workload ≤ 1.15"]
    assert streamed == ("1.10", True)
    assert checks["CPU per streamed request vs nginx ≤ 2.5x"] == (
        "2.20x (bare aiohttp: 2.20x)",
        True,
    )
    beyond = "beyond the floors: "
    non_streamed = checks[
        f"{beyond}metering on / off CPU per request, every non-streamed workload ≤ 1.15"
    ]
    assert non_streamed == ("1.30", False)
    vs_nginx = checks[f"{beyond}CPU per non-streamed request vs nginx ≤ 2.5x"]
    assert vs_nginx == ("6.50x (bare aiohttp: 5.25x)", False)


def test_cpu_ratios_pair_the_rounds_when_the_run_has_them() -> None:
    per_target = {
        "proxy_on": {
            "cpu_us_per_request": 110.0,
            "cpu_us_per_request_rounds": [110.0, 220.0, 99.0],
        },
        "proxy_off": {
            "cpu_us_per_request": 100.0,
            "cpu_us_per_request_rounds": [100.0, 200.0, 90.0],
        },
    }
    # Medians give 110/100; round by round every ratio is 1.10 whatever the machine did.
    assert cpu_ratio(per_target, "proxy_on", "proxy_off", "cpu_us_per_request") == 1.1
    del per_target["proxy_off"]["cpu_us_per_request_rounds"]
    assert cpu_ratio(per_target, "proxy_on", "proxy_off", "cpu_us_per_request") == 1.1
    per_target["proxy_off"]["cpu_us_per_request_rounds"] = [50.0, 200.0, 90.0]
    assert cpu_ratio(per_target, "proxy_on", "proxy_off", "cpu_us_per_request") == 1.1
