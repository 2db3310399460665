"""Pure: which rollup rows answer an aggregate, and the SQL that reads them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ollama_proxy.stats import rollup_queries
from ollama_proxy.stats.aggregate import Aggregate
from ollama_proxy.stats.query import Filters
from ollama_proxy.stats.rollup_queries import (
    FIVE,
    HOUR,
    MINUTE,
    Piece,
    finish_rows,
    plan,
    regroup,
    rollup_sql,
    sql_groups,
    window_pieces,
)
from ollama_proxy.stats.sql_queries import SqlDialect
from ollama_proxy.store import sketch
from ollama_proxy.store.rollups import TOTAL_TABLE

H = 3600


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_all_time_reads_the_totals_only() -> None:
    assert window_pieces(None, None) == [Piece(TOTAL_TABLE)]


def test_a_window_is_whole_hours_then_five_minutes_then_minutes_at_the_edges() -> None:
    since, until = 10 * H + 600, 40 * H + 420
    assert window_pieces(since, until) == [
        Piece(FIVE, since, 11 * H),
        Piece(HOUR, 11 * H, 40 * H),
        Piece(FIVE, 40 * H, 40 * H + 300),
        Piece(MINUTE, 40 * H + 300, until),
    ]
    assert window_pieces(10 * H - 120, 12 * H) == [
        Piece(MINUTE, 10 * H - 120, 10 * H),
        Piece(HOUR, 10 * H, 12 * H),
    ]
    assert window_pieces(10 * H, 12 * H) == [Piece(HOUR, 10 * H, 12 * H)]
    # Shorter than its first whole hour: five minutes and minutes only.
    assert window_pieces(10 * H + 60, 11 * H - 60) == [
        Piece(MINUTE, 10 * H + 60, 10 * H + 300),
        Piece(FIVE, 10 * H + 300, 11 * H - 300),
        Piece(MINUTE, 11 * H - 300, 11 * H - 60),
    ]
    assert window_pieces(10 * H + 60, 10 * H + 240) == [Piece(MINUTE, 10 * H + 60, 10 * H + 240)]


def test_an_open_window_ends_with_the_current_hour_row() -> None:
    # The current hour's row holds everything after its start: no minute edge at the end.
    assert window_pieces(10 * H + 540, None) == [
        Piece(MINUTE, 10 * H + 540, 10 * H + 600),
        Piece(FIVE, 10 * H + 600, 11 * H),
        Piece(HOUR, 11 * H, None),
    ]


def test_windows_round_out_to_whole_minutes() -> None:
    agg = Aggregate(Filters(since=at(10 * H + 61), until=at(10 * H + 119)))
    assert plan(agg) == [Piece(MINUTE, 10 * H + 60, 10 * H + 120)]


def test_series_pick_the_table_of_their_step() -> None:
    window = Filters(since=at(10 * H), until=at(20 * H))
    assert plan(Aggregate(window, ("bucket",), step_s=60)) == [Piece(MINUTE, 10 * H, 20 * H)]
    assert plan(Aggregate(window, ("bucket",), step_s=300)) == [Piece(FIVE, 10 * H, 20 * H)]
    assert plan(Aggregate(window, ("bucket",), step_s=900)) == [Piece(FIVE, 10 * H, 20 * H)]
    assert plan(Aggregate(window, ("bucket",), step_s=6 * H)) == [Piece(HOUR, 10 * H, 20 * H)]


def test_filters_and_measures_the_rollups_lack_read_raw_rows() -> None:
    for filters in (Filters(status="error"), Filters(client="10.0.0.1"), Filters(endpoint="/x")):
        assert plan(Aggregate(filters)) is None
    assert plan(Aggregate(Filters(), measures=("requests", "no_such_measure"))) is None


def test_sql_binds_every_value_and_concatenates_sketches() -> None:
    agg = Aggregate(
        Filters(model="m'; DROP TABLE x; --", since=at(10 * H), until=at(11 * H)),
        ("model",),
        ("requests", "lat_p95"),
    )
    pieces = plan(agg)
    assert pieces is not None
    for dialect, concat in (("sqlite", "group_concat(lat_sketch"), ("postgresql", "string_agg")):
        sql, params = rollup_sql(SqlDialect(dialect), agg, pieces)
        assert "DROP" not in sql and concat in sql
        assert agg.filters.model in params.values()


def test_a_series_of_its_tables_own_step_groups_by_the_stored_bucket() -> None:
    window = Filters(since=at(10 * H), until=at(20 * H))
    for step, grouped in ((300, "bucket AS g_bucket"), (900, "(bucket / 900) * 900 AS g_bucket")):
        agg = Aggregate(window, ("bucket",), ("requests",), step_s=step)
        pieces = plan(agg)
        assert pieces is not None
        sql, _ = rollup_sql(SqlDialect("sqlite"), agg, pieces)
        assert sql.startswith(f"SELECT {grouped},"), sql


def test_a_series_with_more_keys_groups_by_the_primary_key_prefix_and_merges_after() -> None:
    window = Filters(since=at(10 * H), until=at(20 * H))
    agg = Aggregate(window, ("bucket", "instance"), ("requests", "lat_p95"), step_s=300)
    pieces = plan(agg)
    assert pieces is not None
    sql, _ = rollup_sql(SqlDialect("sqlite"), agg, pieces)
    assert sql.endswith("GROUP BY g_bucket, g_model, g_instance"), sql
    rows = [
        {"g_bucket": 0, "g_model": "a", "g_instance": "x", "requests": 2, "lat_sketch": b"12"},
        {"g_bucket": 0, "g_model": "b", "g_instance": "x", "requests": 3, "lat_sketch": None},
        {"g_bucket": 0, "g_model": "c", "g_instance": "y", "requests": 1, "lat_sketch": b"56"},
        {"g_bucket": 0, "g_model": "d", "g_instance": "x", "requests": 4, "lat_sketch": b"34"},
    ]
    assert regroup(rows, agg) == [
        {"g_bucket": 0, "g_instance": "x", "requests": 9, "lat_sketch": [b"12", b"34"]},
        {"g_bucket": 0, "g_instance": "y", "requests": 1, "lat_sketch": [b"56"]},
    ]
    # Measures that do not merge by adding (the newest timestamp) keep the asked grouping.
    agg = Aggregate(window, ("bucket", "instance"), ("requests", "last_ts"), step_s=300)
    assert sql_groups(agg, pieces) == ("bucket", "instance")


async def test_percentiles_are_the_same_inline_and_in_worker_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    agg = Aggregate(Filters(), ("model",), ("requests", "lat_p50", "lat_p95", "ttft_p99"))
    rows = [
        {
            "g_model": name,
            "requests": len(values),
            "lat_sketch": sketch.encode_counts(sketch.count_keys(values)),
            "ttft_sketch": [sketch.encode_counts(sketch.count_keys(values[:2])) or b""],
        }
        for name, values in (("a", [1.0, 2.0, 30.0]), ("b", [5.0, 500.0, 7.0, 9.0]))
    ]
    monkeypatch.setattr(rollup_queries, "INLINE_SKETCH_BYTES", 1 << 30)
    inline = await finish_rows([dict(r) for r in rows], agg)
    monkeypatch.setattr(rollup_queries, "INLINE_SKETCH_BYTES", 0)
    threaded = await finish_rows([dict(r) for r in rows], agg)
    assert inline == threaded
    assert (
        inline[1]["model"] == "b"
        and inline[1]["lat_p50"] == sketch.quantiles(rows[1]["lat_sketch"], [0.5])[0]
    )
