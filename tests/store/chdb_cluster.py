"""The ClickHouse schema as one server of a cluster runs it, in chDB (run in a subprocess:
chDB keeps one engine per process, and this one needs a cluster in its configuration).

    python -m tests.store.chdb_cluster DIR fresh|upgrade

chDB has neither Keeper nor distributed DDL, so each statement the cluster runner generates is
run as one server would run it: without `ON CLUSTER`, with the plain engines instead of the
Replicated ones. The cluster `c1` is one local shard, so `*_all` Distributed tables insert and
read locally. `upgrade` applies versions up to 0040 as the runner did before it repeated
column changes on `*_all`, then the rest with today's runner. Prints JSON: the columns of each
table and its companion, and a record inserted and read back through `request_logs_all`.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from ollama_proxy.records import RequestRecord
from ollama_proxy.store import migrations
from ollama_proxy.store.clickhouse import (
    DISTRIBUTED,
    _values,
    migration_statements,
    replicated_engine,
    request_json,
)

CLUSTER = "c1"
CONFIG = """<clickhouse>
  <tcp_port>9000</tcp_port>
  <remote_servers><c1><shard><replica><host>localhost</host><port>9000</port></replica>
  </shard></c1></remote_servers>
</clickhouse>
"""
_REPLICATED = re.compile(r"Replicated(\w+MergeTree)\('[^']*', '[^']*'\)")
OLD_RUNNER_UNTIL = 40  # the last version applied by the runner that did not repeat on *_all


def on_one_server(statement: str) -> str:
    return _REPLICATED.sub(r"\1", statement.replace(f"ON CLUSTER {CLUSTER}", ""))


def old_runner(migration: migrations.Migration) -> list[str]:
    if migration.version == migrations.BASELINE_VERSION:
        return migration_statements(migration, 30, CLUSTER)
    return [replicated_engine(s) for s in migration.statements(_values(30, CLUSTER))]


def main(directory: Path, scenario: str) -> None:
    from chdb import session

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.xml").write_text(CONFIG)
    db = session.Session(f"file:{directory / 'db'}?config-file={directory / 'config.xml'}")  # type: ignore[no-untyped-call]
    for migration in migrations.available("clickhouse"):
        old = scenario == "upgrade" and migration.version <= OLD_RUNNER_UNTIL
        for statement in (old_runner if old else lambda m: migration_statements(m, 30, CLUSTER))(
            migration
        ):
            db.query(on_one_server(statement))
    columns = {}
    for table in DISTRIBUTED:
        for name in (table, f"{table}_all"):
            rows = db.query(
                "SELECT name, type FROM system.columns WHERE database = currentDatabase() "
                f"AND table = '{name}' ORDER BY position",
                "JSONCompact",
            )
            columns[name] = json.loads(bytes(rows.bytes()))["data"]
    record = RequestRecord(
        model="llama3.2:latest",
        model_requested="llama3.2",
        inference=True,
        node="gpu1",
        gpu_ms=512.5,
        energy_j=3.25,
    )
    db.query(
        "INSERT INTO request_logs_all SETTINGS date_time_input_format = 'best_effort' "
        f"FORMAT JSONEachRow {request_json(record).decode()}"
    )
    read = db.query(
        "SELECT node, gpu_ms, energy_j, usage_source, model_requested FROM request_logs_all",
        "JSON",
    )
    print(json.dumps({"columns": columns, "read": json.loads(bytes(read.bytes()))["data"]}))
    db.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
