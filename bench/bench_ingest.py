"""Ingest rows/s per store: RequestRecords through each store's write_requests, in batches.

    python -m bench.bench_ingest --records 1000000      # the issue's figure
    python -m bench.bench_ingest --records 100000       # quick
    python -m bench.bench_ingest --ids proxy            # the proxy's own (increasing) ids

PostgreSQL gets a fresh database (dropped afterwards). Prints JSON and writes
bench/results/ingest-<N>.md. Floors: SQLite 37k/s, PostgreSQL 52k/s, chDB 270k/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ollama_proxy.records import RequestRecord, new_request_id
from ollama_proxy.store import open_store
from tests.pg import create_named_pg_database, drop_pg_database, pg_url

# Not to fall below: the code before the rollups on the machine of 2026-11-30 (39-41k, 51-65k,
# 263-301k rows/s; docs/benchmarks.md).
FLOORS = {"sqlite": 37_000, "postgres": 52_000, "chdb": 270_000}
ROOT = Path(__file__).resolve().parents[1]


def make_records(n: int, seed: int = 1, ids: str = "random") -> list[RequestRecord]:
    """`ids`: "random" (uuid4, the figures the floors were set with) or "proxy" (the proxy's
    own increasing ids, `new_request_id`, which append to the primary-key index)."""
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(days=1)
    models = ["llama3.2", "qwen3:0.6b", "gemma3:1b"]
    return [
        RequestRecord(
            request_id=(
                str(uuid.UUID(int=rng.getrandbits(128), version=4))
                if ids == "random"
                else new_request_id()
            ),
            timestamp=start + timedelta(milliseconds=i * 80),
            instance="bench",
            endpoint="/api/chat",
            operation="chat",
            model=rng.choice(models),
            client=f"10.0.0.{rng.randint(1, 50)}",
            http_status=200,
            prompt_tokens=rng.randint(5, 500),
            completion_tokens=rng.randint(5, 800),
            latency_ms=rng.uniform(20, 5000),
            ttft_ms=rng.uniform(5, 400),
            eval_duration_ms=rng.uniform(10, 4000),
            inference=True,
            stream=True,
        )
        for i in range(n)
    ]


async def ingest(url: str, records: list[RequestRecord], batch: int) -> float:
    store = open_store(url)
    await store.open()
    started = time.perf_counter()
    for i in range(0, len(records), batch):
        await store.write_requests(records[i : i + batch])
    elapsed = time.perf_counter() - started
    await store.close()
    return len(records) / elapsed


async def run(n: int, batch: int, ids: str = "random") -> dict[str, Any]:
    records = make_records(n, ids=ids)
    tmp = Path(tempfile.mkdtemp(prefix="olp-ingest-"))
    results: dict[str, Any] = {}
    results["sqlite"] = await ingest(f"sqlite:///{tmp}/i.db", records, batch)
    # Column stores want big blocks: one insert per 100k rows (the recorder's batches are
    # sized by BATCH_MAX_RECORDS; raise it for ClickHouse ingest at this rate).
    results["chdb"] = await ingest(f"chdb://{tmp}/chdb", records, max(batch, 100_000))
    name = f"olp_ingest_{uuid.uuid4().hex[:8]}"
    try:
        await create_named_pg_database(name)
        results["postgres"] = await ingest(pg_url(name), records, max(batch, 20_000))
    except OSError as exc:
        results["postgres"] = f"unavailable: {exc}"
    finally:
        await drop_pg_database(name)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument(
        "--ids",
        choices=("random", "proxy"),
        default="random",
        help="request ids: random uuid4 (the floors' figures) or the proxy's own increasing ids",
    )
    args = parser.parse_args()
    results = asyncio.run(run(args.records, args.batch, args.ids))
    print(json.dumps(results))
    lines = [
        f"# Ingest, {args.records:,} records (batches: SQLite {args.batch:,}, "
        f"PostgreSQL {max(args.batch, 20_000):,}, chDB {max(args.batch, 100_000):,})",
        "",
        "| store | rows/s | floor | holds |",
        "|---|---|---|---|",
    ]
    for kind, floor in FLOORS.items():
        value = results.get(kind)
        if isinstance(value, float):
            lines.append(
                f"| {kind} | {value:,.0f} | {floor:,} | {'yes' if value >= floor else 'NO'} |"
            )
        else:
            lines.append(f"| {kind} | {value} | {floor:,} | — |")
    suffix = "" if args.ids == "random" else "-proxy-ids"
    out = ROOT / "bench" / "results" / f"ingest-{args.records}{suffix}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
