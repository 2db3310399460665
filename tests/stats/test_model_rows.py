"""/api/models rows: loaded models without traffic are listed, with nothing made up."""

from __future__ import annotations

from ollama_proxy.stats.shape import model_rows


def test_a_loaded_model_without_requests_gets_a_row_of_zeros() -> None:
    rows = model_rows([{"model": "llama3.2", "requests": 4, "latency_sum": 40.0}], {"qwen3"}, False)
    by_name = {row["model_name"]: row for row in rows}
    assert [row["model_name"] for row in rows] == ["llama3.2:latest", "qwen3:latest"]  # busiest 1st
    busy = by_name["llama3.2:latest"]
    assert busy["loaded"] is False and busy["avg_latency"] == 10.0
    idle = by_name["qwen3:latest"]
    assert idle["loaded"] is True and idle["requests_count"] == 0 and idle["tokens"] == 0
    assert idle["error_rate"] is None and idle["avg_latency"] is None
    assert idle["last_used"] is None and idle["instance"] is None


def test_a_loaded_model_with_requests_is_listed_once() -> None:
    rows = model_rows([{"model": "qwen3", "requests": 1}], {"qwen3"}, False)
    assert [(row["model_name"], row["loaded"]) for row in rows] == [("qwen3:latest", True)]


def test_per_instance_rows_add_no_idle_models() -> None:
    # Which instance holds a loaded model is not known from this proxy's /api/ps alone.
    rows = model_rows([{"model": "a", "instance": "box-1", "requests": 2}], {"b"}, True)
    assert [row["model_name"] for row in rows] == ["a:latest"]


def test_a_model_named_with_and_without_its_tag_is_one_row() -> None:
    # Bug: the Models page listed `llama3.2` (the requests) and `llama3.2:latest` (/api/ps)
    # as two models, the first "not loaded".
    rows = model_rows(
        [
            {"model": "llama3.2", "requests": 3, "errors": 1, "latency_sum": 30.0,
             "lat_p95": 11.0, "last_ts": "2026-11-30T10:00:00+00:00"},
            {"model": "llama3.2:latest", "requests": 1, "latency_sum": 50.0, "lat_p95": 50.0,
             "last_ts": "2026-11-30T11:00:00+00:00"},
        ],
        {"llama3.2:latest"},
        False,
    )  # fmt: skip
    [row] = rows
    assert row["model_name"] == "llama3.2:latest" and row["loaded"] is True
    assert (row["requests_count"], row["errors"], row["avg_latency"]) == (4, 1, 20.0)
    assert row["p95_latency"] == 11.0  # from the busier row: percentiles do not add up
    assert row["last_used"] == "2026-11-30T11:00:00.000Z"
