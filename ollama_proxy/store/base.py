"""The Store protocol every backend implements, and what they share.

Writes are idempotent (by request_id / point_id) so a retry or a journal replay lands each
record once. Reads used by the stats API go through `fetch` (ClickHouse) or `engine` (SQL).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from ollama_proxy.records import ContentRecord, MetricPoint, RequestRecord

SCHEMA_VERSION = 1


class Store(Protocol):
    url: str  # password masked
    kind: str  # sqlite | postgres | clickhouse | chdb

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> bool: ...
    async def write_requests(self, records: Sequence[RequestRecord]) -> None: ...
    async def write_metrics(self, points: Sequence[MetricPoint]) -> None: ...
    async def write_content(self, items: Sequence[ContentRecord]) -> None: ...
    async def purge_content(self, older_than: datetime) -> None: ...
    async def fetch(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]: ...
    def health(self) -> dict[str, Any]: ...


@dataclass
class StoreState:
    """Up/down bookkeeping shared by the backends (shown in /api/health)."""

    up: bool = False
    last_error: str = ""
    last_success: float | None = None
    last_failure: float | None = None
    schema_applied: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def ok(self) -> None:
        self.up = True
        self.last_success = time.time()

    def report(self, url: str, kind: str) -> dict[str, Any]:
        """The store's entry in /api/health."""
        return {
            "url": url,
            "kind": kind,
            "healthy": self.up,
            "error": None if self.up else self.last_error or None,
            "last_success": self.last_success,
        }

    def failed(self, error: BaseException | str) -> None:
        self.up = False
        self.last_error = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self.last_failure = time.time()


def mask_password(url: str) -> str:
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def schema_dir() -> Path:
    """`schemas/` of a checkout, or the copy shipped inside the wheel."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[2] / "schemas", here.parents[1] / "_schemas"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("schemas/ not found next to the package")


def render_schema(name: str, values: Mapping[str, str]) -> str:
    text = (schema_dir() / name).read_text()
    for key, value in values.items():
        text = text.replace("{{ " + key + " }}", value)
    leftover = re.search(r"\{\{ *\w+ *\}\}", text)
    if leftover:
        raise ValueError(f"{name}: unknown placeholder {leftover.group(0)}")
    return text


def split_statements(sql: str) -> list[str]:
    """Statements of a schema file: comments dropped, split on `;` at line ends.

    Dollar-quoted PostgreSQL blocks (DO $$ ... $$;) stay whole.
    """
    statements: list[str] = []
    current: list[str] = []
    in_dollar = False
    for line in sql.splitlines():
        stripped = line.strip()
        if not in_dollar and (not stripped or stripped.startswith("--")):
            continue
        current.append(line)
        if stripped.count("$$") % 2 == 1:
            in_dollar = not in_dollar
        if not in_dollar and stripped.endswith(";"):
            statement = "\n".join(current).strip().rstrip(";").strip()
            if statement:
                statements.append(statement)
            current = []
    if current and "\n".join(current).strip():
        statements.append("\n".join(current).strip().rstrip(";"))
    return statements


def request_row(record: RequestRecord) -> dict[str, Any]:
    row = record.to_dict()
    row["tokens_generated"] = record.completion_tokens  # the brief's column name
    return row
