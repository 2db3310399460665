"""Migrations 0020-0021 on rows of the first release: a pull that counted its progress lines as
completion tokens loses them, every row gets a usage_source, readers see the new fields."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from ollama_proxy.records import RequestRecord
from ollama_proxy.stats.shape import log_entry
from ollama_proxy.store.base import schema_dir, split_statements
from ollama_proxy.store.sql import SqlStore

COLUMNS = (
    "request_id, timestamp, endpoint, operation, inference, model, completion_tokens, "
    "tokens_generated, estimated, prompt_tokens"
)
ROWS = [
    # The bug of the first release: 24 progress lines of a pull counted as completion tokens.
    ("pull-1", "/api/pull", "pull", 0, "llama3.2", 24, 24, 0, 0),
    ("chat-1", "/api/chat", "chat", 1, "llama3.2", 7, 7, 0, 12),
    ("cut-1", "/api/chat", "chat", 1, "llama3.2", 3, 3, 1, 0),
]


def _first_release_db(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in split_statements((schema_dir() / "sqlite.sql").read_text()):
        conn.execute(statement)
    stamp = datetime(2026, 11, 1, tzinfo=UTC).replace(tzinfo=None).isoformat(" ")
    conn.executemany(
        f"INSERT INTO request_logs ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(rid, stamp, *rest) for rid, *rest in ROWS],
    )
    conn.close()


async def test_first_release_rows_get_usage_source_and_lose_phantom_tokens(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    _first_release_db(path)
    store = SqlStore(f"sqlite:///{path}")
    await store.open()
    try:
        rows = await store.fetch("SELECT * FROM request_logs ORDER BY request_id", {})
        entries = {row["request_id"]: log_entry(row) for row in rows}
        pull = entries["pull-1"]
        assert pull["usage_source"] == "none" and pull["completion_tokens"] is None
        raw = {row["request_id"]: row for row in rows}
        assert raw["pull-1"]["completion_tokens"] == 0 == raw["pull-1"]["tokens_generated"]
        assert entries["chat-1"]["usage_source"] == "reported"
        assert entries["chat-1"]["completion_tokens"] == 7
        assert entries["cut-1"]["usage_source"] == "estimated"
        assert entries["chat-1"]["model_requested"] == "llama3.2"  # as it was stored
        assert entries["chat-1"]["thinking_tokens"] is None
        # New records with every new field land next to the old ones.
        new = RequestRecord(
            model="qwen3:0.6b",
            inference=True,
            thinking_tokens=8,
            thinking_ms=120.0,
            ttft_answer_ms=300.0,
            thinking_estimated=True,
        )
        await store.write_requests([new])
        [row] = await store.fetch(
            "SELECT * FROM request_logs WHERE request_id = :id", {"id": new.request_id}
        )
        entry = log_entry(row)
        assert (entry["thinking_tokens"], entry["thinking_ms"]) == (8, 120.0)
        assert entry["usage_source"] == "reported" and entry["thinking_estimated"] is True
    finally:
        await store.close()
