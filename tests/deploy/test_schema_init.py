"""The compose stores' init scripts: rendering, applying, and the repository's schemas through them.

The compose file mounts `schemas/clickhouse.sql` and `schemas/postgres.sql` (checked in
test_compose_config.py); here the very same files go through the very same init scripts and are
applied to chDB and to the PostgreSQL at 127.0.0.1:5432.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.pg import drop_pg_database, pg_database_or_skip, pg_url

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = {
    "clickhouse": ROOT / "deploy/clickhouse/initdb/10-ollama-schema.sh",
    "postgres": ROOT / "deploy/postgres/initdb/10-ollama-schema.sh",
}
SCHEMAS = {"clickhouse": ROOT / "schemas/clickhouse.sql", "postgres": ROOT / "schemas/postgres.sql"}
TEMPLATE = (
    "CREATE TABLE {{DATABASE}}.t {{ ON_CLUSTER }} (ts DateTime)\n"
    "TTL ts + INTERVAL {{ RETENTION_DAYS }} DAY;\n"
)


def bash() -> str:
    found = shutil.which("bash")
    assert found, "bash is needed by the init scripts"
    return found


def run_script(
    store: str, *args: str, env: dict[str, str], path_prefix: Path | None = None
) -> subprocess.CompletedProcess[str]:
    path = os.environ.get("PATH", "/usr/bin:/bin")
    if path_prefix:
        path = f"{path_prefix}:{path}"
    return subprocess.run(
        [bash(), str(SCRIPTS[store]), *args],
        env={"PATH": path, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def render(store: str, schema: Path, **env: str) -> str:
    result = run_script(store, "--render", env={"SCHEMA_FILE": str(schema), **env})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_scripts_are_executable() -> None:
    # The images execute executable scripts and *source* the others.
    for script in SCRIPTS.values():
        assert os.access(script, os.X_OK), script


def test_clickhouse_placeholders_render_from_the_environment(tmp_path: Path) -> None:
    schema = tmp_path / "schema.sql"
    schema.write_text(TEMPLATE)
    single = render("clickhouse", schema, RETENTION_DAYS="7", CLICKHOUSE_DB="metrics")
    assert single == "CREATE TABLE metrics.t  (ts DateTime)\nTTL ts + INTERVAL 7 DAY;\n"
    clustered = render("clickhouse", schema, CLICKHOUSE_CLUSTER="c1")
    assert "ollama_metrics.t ON CLUSTER 'c1' (ts" in clustered
    assert "INTERVAL 30 DAY" in clustered  # the documented default


def test_postgres_placeholders_render_from_the_environment(tmp_path: Path) -> None:
    schema = tmp_path / "schema.sql"
    schema.write_text(
        "SELECT add_retention_policy('{{DATABASE}}', INTERVAL '{{ RETENTION_DAYS }} days');\n"
    )
    assert render("postgres", schema, RETENTION_DAYS="90", POSTGRES_DB="m") == (
        "SELECT add_retention_policy('m', INTERVAL '90 days');\n"
    )


@pytest.mark.parametrize("store", sorted(SCRIPTS))
def test_an_unknown_placeholder_stops_the_init(store: str, tmp_path: Path) -> None:
    schema = tmp_path / "schema.sql"
    schema.write_text("SELECT {{ SOMETHING_ELSE }};\n")
    result = run_script(store, "--render", env={"SCHEMA_FILE": str(schema)})
    assert result.returncode == 1
    assert "unrendered placeholder" in result.stderr and "SOMETHING_ELSE" in result.stderr


def fake_client(tmp_path: Path, name: str) -> Path:
    """A stand-in for `clickhouse` / `psql` that records its arguments and stdin."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / name
    fake.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/args\ncat > {tmp_path}/stdin\n')
    fake.chmod(0o755)
    return bin_dir


def test_clickhouse_init_feeds_the_rendered_schema_to_the_client(tmp_path: Path) -> None:
    schema = tmp_path / "schema.sql"
    schema.write_text(TEMPLATE)
    env = {
        "SCHEMA_FILE": str(schema),
        "CLICKHOUSE_USER": "ollama",
        "CLICKHOUSE_PASSWORD": "pw",
        "CLICKHOUSE_DB": "ollama_metrics",
    }
    result = run_script("clickhouse", env=env, path_prefix=fake_client(tmp_path, "clickhouse"))
    assert result.returncode == 0, result.stderr
    args = (tmp_path / "args").read_text().split()
    assert args[:3] == ["client", "--host", "127.0.0.1"]
    assert ["--user", "ollama", "--password", "pw", "--database", "ollama_metrics"] == args[3:9]
    assert (tmp_path / "stdin").read_text().startswith("CREATE TABLE ollama_metrics.t  (ts")


def test_postgres_init_survives_being_sourced(tmp_path: Path) -> None:
    """The entrypoint sources non-executable scripts: no exit, no `set -u` may leak."""
    schema = tmp_path / "schema.sql"
    schema.write_text("CREATE TABLE t (ts timestamptz);\n")
    bin_dir = fake_client(tmp_path, "psql")
    script = f'set -e; source "{SCRIPTS["postgres"]}" postgres; echo "after:$-"'
    result = subprocess.run(
        [bash(), "-c", script],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "SCHEMA_FILE": str(schema), "POSTGRES_DB": "db"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    flags = result.stdout.strip().rsplit("after:", 1)[1]
    assert "u" not in flags
    assert (tmp_path / "args").read_text().split() == [
        "-v", "ON_ERROR_STOP=1", "--username", "postgres", "--dbname", "db",
    ]  # fmt: skip
    assert (tmp_path / "stdin").read_text() == "CREATE TABLE t (ts timestamptz);\n"


# --- the repository's schemas, through the scripts, into real engines -------------------------
def test_the_clickhouse_schema_applies_to_chdb(tmp_path: Path) -> None:
    chdb_session = pytest.importorskip("chdb.session")
    sql = render("clickhouse", SCHEMAS["clickhouse"], RETENTION_DAYS="30")
    session = chdb_session.Session(str(tmp_path / "chdb"))
    try:
        session.query("CREATE DATABASE IF NOT EXISTS ollama_metrics")
        session.query("USE ollama_metrics")
        session.query(sql)
        session.query(sql)  # idempotent: the proxy applies it again at every start
        tables = str(session.query("SHOW TABLES FROM ollama_metrics", "CSV"))
    finally:
        session.close()
    assert '"request_logs"' in tables and '"ollama_metrics"' in tables, tables


@pytest.fixture
async def fresh_postgres() -> AsyncIterator[str]:
    name = await pg_database_or_skip("deploy")
    try:
        yield pg_url(name)
    finally:
        await drop_pg_database(name)


async def test_the_postgres_schema_applies_to_postgresql(fresh_postgres: str) -> None:
    import asyncpg

    sql = render("postgres", SCHEMAS["postgres"], RETENTION_DAYS="30")
    connection = await asyncpg.connect(fresh_postgres)
    try:
        await connection.execute(sql)
        await connection.execute(sql)  # idempotent
        tables = {
            row["tablename"]
            for row in await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        }
    finally:
        await connection.close()
    assert {"request_logs", "ollama_metrics"} <= tables, tables
