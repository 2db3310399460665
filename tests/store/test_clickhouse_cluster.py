"""ClickHouse on a cluster: the `*_all` Distributed tables follow every column migration."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ollama_proxy.store import migrations
from ollama_proxy.store.clickhouse import migration_statements

ROOT = Path(__file__).resolve().parents[2]


def version(number: int) -> migrations.Migration:
    [found] = [m for m in migrations.available("clickhouse") if m.version == number]
    return found


def test_column_changes_are_repeated_on_the_distributed_table_and_mutations_are_not() -> None:
    gpu = migration_statements(version(40), 30, "c1")
    assert (
        "ALTER TABLE request_logs_all ON CLUSTER c1 ADD COLUMN IF NOT EXISTS gpu_ms "
        "Nullable(Float64)"
    ) in gpu
    assert len(gpu) == 6  # three columns, each on request_logs and request_logs_all
    usage = migration_statements(version(20), 30, "c1")
    assert [s.split()[2] for s in usage] == ["request_logs", "request_logs_all", "request_logs"]
    assert "UPDATE" in usage[2]  # the mutation concerns stored rows: the local table only
    # One server: the file as written, no companion.
    assert not any("_all" in s for s in migration_statements(version(40), 30, ""))


@pytest.mark.parametrize("scenario", ["fresh", "upgrade"])
def test_every_column_reaches_request_logs_all_on_chdb(scenario: str, tmp_path: Path) -> None:
    pytest.importorskip("chdb")
    result = subprocess.run(
        [sys.executable, "-m", "tests.store.chdb_cluster", str(tmp_path), scenario],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout)
    columns = out["columns"]
    for table in ("request_logs", "ollama_metrics", "request_rollup_1m"):
        assert columns[f"{table}_all"] == columns[table], table
    assert ["gpu_ms", "Nullable(Float64)"] in columns["request_logs_all"]
    # A record with the newest fields goes in and comes out through the Distributed table.
    [row] = out["read"]
    assert row == {
        "node": "gpu1",
        "gpu_ms": 512.5,
        "energy_j": 3.25,
        "usage_source": "reported",
        "model_requested": "llama3.2",
    }
