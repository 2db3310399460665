"""Rollups on SQLite and PostgreSQL give the raw rows' answers.

Counts and integer sums exactly, float sums to rounding, percentiles within the sketch's
stated error; replayed batches change nothing; a database migrated with raw rows already in
it (backfilled while records keep arriving) answers as one that had rollups from the start.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ollama_proxy.records import REQUEST_FIELDS, RequestRecord
from ollama_proxy.stats import service
from ollama_proxy.stats.aggregate import PCT_MEASURES, Aggregate
from ollama_proxy.stats.nodes import NODE_MEASURES
from ollama_proxy.stats.query import Filters
from ollama_proxy.stats.rollup_queries import RollupStatsBackend
from ollama_proxy.stats.shape import as_datetime
from ollama_proxy.stats.sql_queries import SqlStatsBackend
from ollama_proxy.store import rollups, sketch
from ollama_proxy.store.base import schema_dir
from ollama_proxy.store.sql import SqlStore
from tests.pg import drop_pg_database, pg_database_or_skip_sync, pg_url

ANCHOR = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # whole hour: windows below cut through hours
SPAN_S = 5 * 3600


@pytest.fixture(params=["sqlite", "postgres"])
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    """Two empty databases of one kind."""
    if request.param == "sqlite":
        yield [f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"]
        return
    names = [pg_database_or_skip_sync(), pg_database_or_skip_sync()]
    yield [pg_url(n) for n in names]
    for name in names:
        asyncio.run(drop_pg_database(name))


# --- records -------------------------------------------------------------------------------

ms = st.floats(min_value=0, max_value=1e6).map(lambda v: round(v, 3))
record_strategy = st.builds(
    lambda offset_ms, model, instance, client, name, status, tokens, lat, ttft, ev, load, gpu, j, node: (  # noqa: E501
        RequestRecord(
            timestamp=ANCHOR - timedelta(milliseconds=offset_ms),
            model=model,
            instance=instance,
            client=client,
            client_name=name,
            status=status,
            prompt_tokens=tokens[0],
            completion_tokens=tokens[1],
            cached_tokens=tokens[2],
            latency_ms=lat,
            ttft_ms=ttft,
            eval_duration_ms=ev,
            load_duration_ms=load,
            gpu_ms=gpu,
            energy_j=j,
            node=node,
            queue_wait_ms=ev,
        )
    ),
    st.integers(0, SPAN_S * 1000 - 1),
    st.sampled_from(["llama3.2:3b", "qwen3:8b", ""]),
    st.sampled_from(["box-1", "box-2"]),
    st.sampled_from(["10.0.0.1", "10.0.0.2"]),
    st.sampled_from(["", "open-webui"]),
    st.sampled_from(["success", "success", "error", "cancelled"]),
    st.tuples(*[st.integers(0, 100_000)] * 3),
    ms,
    st.none() | ms,
    st.none() | st.just(0.0) | ms,
    st.none() | st.sampled_from([3.0, 1500.0]),
    st.none() | ms,
    st.none() | ms,
    st.sampled_from(["", "gpu-a"]),
)


def seeded_records(count: int, seed: int) -> list[RequestRecord]:
    rnd = random.Random(seed)
    return [
        RequestRecord(
            timestamp=ANCHOR - timedelta(milliseconds=rnd.randrange(SPAN_S * 1000)),
            model=rnd.choice(["llama3.2:3b", "qwen3:8b", ""]),
            instance=rnd.choice(["box-1", "box-2"]),
            client=rnd.choice(["10.0.0.1", "10.0.0.2", "10.0.0.3"]),
            status=rnd.choice(["success", "error"]),
            prompt_tokens=rnd.randrange(500),
            completion_tokens=rnd.randrange(500),
            latency_ms=round(rnd.lognormvariate(6, 1), 3),
            ttft_ms=None if rnd.random() < 0.2 else round(rnd.uniform(1, 900), 3),
            eval_duration_ms=round(rnd.uniform(10, 4000), 3),
            gpu_ms=round(rnd.uniform(1, 4000), 3),
            node=rnd.choice(["", "gpu-a", "gpu-b"]),
            queue_wait_ms=rnd.choice([None, 0.0, round(rnd.uniform(0, 50), 3)]),
            thinking_tokens=rnd.choice([None, rnd.randrange(300)]),
            thinking_ms=rnd.choice([None, round(rnd.uniform(0, 900), 3)]),
        )
        for _ in range(count)
    ]


# --- the questions and how answers compare ------------------------------------------------


def at(seconds_before_anchor: int) -> datetime:
    return ANCHOR - timedelta(seconds=seconds_before_anchor)


def questions() -> list[Aggregate]:
    """Every aggregate the stats service asks, over windows that cut hours at minute edges."""
    window = Filters(since=at(4 * 3600 + 17 * 60), until=at(23 * 60))
    return [
        Aggregate(Filters(), (), service.TOTAL_MEASURES),
        Aggregate(Filters(instance="box-1"), (), service.TOTAL_MEASURES),
        Aggregate(window, (), service.WINDOW_MEASURES),
        Aggregate(
            Filters(since=at(SPAN_S), until=ANCHOR),
            ("bucket",),
            service.HISTORY_MEASURES,
            step_s=300,
        ),  # fmt: skip
        Aggregate(
            Filters(model="qwen3:8b", since=at(SPAN_S), until=ANCHOR),
            ("bucket", "instance"),
            service.HISTORY_MEASURES,
            step_s=3600,
        ),  # fmt: skip
        Aggregate(
            Filters(since=at(3600), until=at(0)), ("bucket",), service.HISTORY_MEASURES, step_s=60
        ),  # fmt: skip
        Aggregate(
            Filters(since=at(SPAN_S), until=ANCHOR),
            ("bucket", "node"),
            service.HISTORY_MEASURES,
            step_s=300,
        ),  # fmt: skip
        Aggregate(window, ("model", "instance"), service.MODEL_MEASURES, require_model=True),
        Aggregate(
            window, ("client",), (*service.BREAKDOWN_MEASURES, *service.GPU_MEASURES, "models")
        ),  # fmt: skip
        Aggregate(Filters(since=window.since), ("instance",), service.BREAKDOWN_MEASURES),
        Aggregate(window, ("node",), NODE_MEASURES),
        Aggregate(Filters(node="gpu-a", since=window.since), (), service.WINDOW_MEASURES),
    ]


def _keyed(rows: list[dict[str, Any]], agg: Aggregate) -> dict[tuple[Any, ...], dict[str, Any]]:
    out = {}
    for row in rows:
        if row.get("requests"):  # PostgreSQL's raw series also lists empty buckets
            out[tuple(int(row[g]) if g == "bucket" else row[g] for g in agg.groups)] = row
    return out


def _models(value: Any) -> set[str]:
    if value is None:
        return set()
    return set(value.split(",")) if isinstance(value, str) else set(value)


def assert_same(raw: dict[str, Any], rolled: dict[str, Any], measures: tuple[str, ...]) -> None:
    for name in measures:
        want, got = raw.get(name), rolled.get(name)
        if name in PCT_MEASURES:
            if want is None:
                assert got is None, name
            else:
                want = float(want)
                assert got is not None and abs(got - want) <= (
                    sketch.RELATIVE_ACCURACY * want + sketch.MIN_VALUE + 1e-9
                ), (name, got, want)
        elif name == "last_ts":
            assert as_datetime(got) == as_datetime(want), name
        elif name == "models":
            assert _models(got) == _models(want), name
        elif isinstance(want, float) or name in rollups._FLOAT_SUMS:
            assert float(got or 0) == pytest.approx(float(want or 0), rel=1e-9, abs=1e-6), name
        else:
            assert int(got or 0) == int(want or 0), name


async def assert_rollups_answer_as_raw(store: SqlStore) -> None:
    raw, rolled = SqlStatsBackend(store.engine), RollupStatsBackend(store.engine)
    for agg in questions():
        want = _keyed(await raw.aggregate(agg), agg)
        got = _keyed(await rolled.aggregate(agg), agg)
        assert set(got) == set(want), agg
        for key, row in want.items():
            assert_same(row, got[key], agg.measures)


async def rollup_rows(store: SqlStore) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    async with store.engine.connect() as conn:
        for table in rollups.ROLLUP_TABLES:
            columns = ", ".join(c for c in rollups.COLUMNS if c not in rollups.SKETCH_COLUMNS)
            result = await conn.execute(
                sa.text(f"SELECT {columns} FROM {table} ORDER BY 1, 2, 3, 4, 5")
            )
            out[table] = [tuple(row) for row in result]
    return out


async def rollup_sketches(store: SqlStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every rollup row's key and decoded sketches (bin counts, however the pairs are laid)."""
    out = {}
    async with store.engine.connect() as conn:
        for table in rollups.ROLLUP_TABLES:
            columns = ", ".join((*rollups.KEY_COLUMNS, *rollups.SKETCH_COLUMNS))
            result = await conn.execute(
                sa.text(f"SELECT {columns} FROM {table} ORDER BY 1, 2, 3, 4, 5")
            )
            out[table] = [
                (*row[:5], sketch.decode_counts(row[5]), sketch.decode_counts(row[6]))
                for row in result
            ]
    return out


def assert_close(a: dict[str, list[tuple[Any, ...]]], b: dict[str, list[tuple[Any, ...]]]) -> None:
    """Same rows; float sums equal up to the order they were added in."""
    assert {t: len(rows) for t, rows in a.items()} == {t: len(rows) for t, rows in b.items()}
    for table, rows in a.items():
        for x, y in zip(rows, b[table], strict=True):
            for p, q in zip(x, y, strict=True):
                assert p == (pytest.approx(q, rel=1e-12) if isinstance(q, float) else q), table


async def open_store(url: str, **attrs: Any) -> SqlStore:
    store = SqlStore(url, **attrs)
    await store.open()
    return store


async def _truncate(store: SqlStore) -> None:
    tables = ["request_logs", *rollups.TABLES.values(), rollups.TOTAL_TABLE]
    async with store.engine.begin() as conn:
        for table in tables:
            await conn.execute(sa.text(f"DELETE FROM {table}"))


# --- tests ---------------------------------------------------------------------------------


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    records=st.lists(record_strategy, min_size=1, max_size=60),
    cuts=st.lists(st.integers(0, 60), max_size=4),
    replays=st.lists(st.integers(0, 4), max_size=3),
)
def test_rollups_equal_raw_answers_and_replays_count_once(
    urls: list[str], records: list[RequestRecord], cuts: list[int], replays: list[int]
) -> None:
    async def run() -> None:
        store = await open_store(urls[0])
        try:
            await _truncate(store)
            edges = sorted({0, len(records), *(c for c in cuts if c < len(records))})
            batches = [records[a:b] for a, b in zip(edges, edges[1:], strict=False)]
            for batch in batches:
                await store.write_requests(batch)
            before = await rollup_rows(store)
            for index in replays:  # a journal segment shipped again after a lost ack
                await store.write_requests(batches[index % len(batches)])
            assert await rollup_rows(store) == before
            await assert_rollups_answer_as_raw(store)
        finally:
            await store.close()

    asyncio.run(run())


async def _insert_raw(store: SqlStore, records: list[RequestRecord]) -> None:
    """Raw rows as a release without rollups wrote them."""
    columns = ", ".join(REQUEST_FIELDS)
    marks = ", ".join(f":{name}" for name in REQUEST_FIELDS)
    rows = []
    for record in records:
        row = record.to_dict()
        if store.kind == "sqlite":
            row["timestamp"] = rollups.sqlite_time(record.timestamp)
        rows.append(row)
    async with store.engine.begin() as conn:
        await conn.execute(sa.text(f"INSERT INTO request_logs ({columns}) VALUES ({marks})"), rows)


def _without_rollups(root: Path, pattern: str = "001?") -> Path:
    shutil.copytree(schema_dir() / "migrations", root, dirs_exist_ok=True)
    for path in root.glob(f"*/{pattern}_*.sql"):  # the rollup migrations
        path.unlink()
    return root


async def test_a_migrated_database_answers_as_a_fresh_one(urls: list[str]) -> None:
    old, late = seeded_records(700, 1), seeded_records(150, 2)
    with tempfile.TemporaryDirectory() as tmp:
        before = await open_store(urls[0], migrations_dir=_without_rollups(Path(tmp)))
        await _insert_raw(before, old)
        await before.close()
    migrated = SqlStore(urls[0])
    migrated.backfill_batch = 37  # many small batches, with writes in between
    await migrated.open()
    fresh = await open_store(urls[1])
    try:
        # Records keep arriving during the backfill: late ones inside the span it still has
        # to cover, and replays of rows it already holds (which must not count twice).
        for start in range(0, len(late), 30):
            await migrated.write_requests(late[start : start + 30] + old[start : start + 5])
            await migrated.backfill_step(37)
        while await migrated.backfill_step(37):
            pass
        await fresh.write_requests(old + late)
        assert_close(await rollup_rows(migrated), await rollup_rows(fresh))
        assert await rollup_sketches(migrated) == await rollup_sketches(fresh)
        await assert_rollups_answer_as_raw(migrated)
    finally:
        await migrated.close()
        await fresh.close()


async def test_five_minute_rows_of_an_existing_rollup_database_equal_fresh_ones(
    urls: list[str],
) -> None:
    """Migration 0012 fills the five-minute table from the minute rows already there."""
    old, late = seeded_records(400, 3), seeded_records(100, 4)
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        # The release before 0012: rollups without the five-minute table.
        patch.setattr(
            rollups, "GRAINS", tuple(g for g in rollups.GRAINS if g[0] != rollups.TABLES["5m"])
        )
        before = await open_store(urls[0], migrations_dir=_without_rollups(Path(tmp), "0012"))
        await before.write_requests(old)
        await before.close()
    migrated, fresh = await open_store(urls[0]), await open_store(urls[1])
    try:
        await migrated.write_requests(late)  # merged into the copied rows
        await fresh.write_requests(old + late)
        assert_close(await rollup_rows(migrated), await rollup_rows(fresh))
        assert await rollup_sketches(migrated) == await rollup_sketches(fresh)
        await assert_rollups_answer_as_raw(migrated)
    finally:
        await migrated.close()
        await fresh.close()


async def test_retention_drops_old_rollup_buckets_but_keeps_all_time_totals(
    urls: list[str],
) -> None:
    store = await open_store(urls[0])
    try:
        old = RequestRecord(timestamp=datetime.now(UTC) - timedelta(days=40), latency_ms=5.0)
        new = RequestRecord(timestamp=datetime.now(UTC) - timedelta(days=2), latency_ms=7.0)
        await store.write_requests([old, new])
        store.rollup_retention_days = 30
        deleted = await store.apply_retention([*rollups.TABLES.values()])
        assert deleted == {table: 1 for table in rollups.TABLES.values()}
        rows = await rollup_rows(store)
        assert [len(rows[t]) for t in rollups.TABLES.values()] == [1, 1, 1]
        assert sum(r[5] for r in rows[rollups.TOTAL_TABLE]) == 2  # requests, all time
    finally:
        await store.close()
