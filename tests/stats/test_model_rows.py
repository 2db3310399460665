"""/api/models rows: loaded models without traffic are listed, with nothing made up."""

from __future__ import annotations

from ollama_proxy.stats.shape import model_rows


def test_a_loaded_model_without_requests_gets_a_row_of_zeros() -> None:
    rows = model_rows([{"model": "llama3.2", "requests": 4, "latency_sum": 40.0}], {"qwen3"}, False)
    by_name = {row["model_name"]: row for row in rows}
    assert [row["model_name"] for row in rows] == ["llama3.2", "qwen3"]  # busiest first
    assert by_name["llama3.2"]["loaded"] is False and by_name["llama3.2"]["avg_latency"] == 10.0
    idle = by_name["qwen3"]
    assert idle["loaded"] is True and idle["requests_count"] == 0 and idle["tokens"] == 0
    assert idle["error_rate"] is None and idle["avg_latency"] is None
    assert idle["last_used"] is None and idle["instance"] is None


def test_a_loaded_model_with_requests_is_listed_once() -> None:
    rows = model_rows([{"model": "qwen3", "requests": 1}], {"qwen3"}, False)
    assert [(row["model_name"], row["loaded"]) for row in rows] == [("qwen3", True)]


def test_per_instance_rows_add_no_idle_models() -> None:
    # Which instance holds a loaded model is not known from this proxy's /api/ps alone.
    rows = model_rows([{"model": "a", "instance": "box-1", "requests": 2}], {"b"}, True)
    assert [row["model_name"] for row in rows] == ["a"]
