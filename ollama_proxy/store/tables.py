"""SQLAlchemy Core tables shared by SQLite and PostgreSQL (DDL itself lives in schemas/)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from ollama_proxy.records import (
    NULLABLE_FLOAT_FIELDS,
    NULLABLE_INT_FIELDS,
    REQUEST_FIELDS,
    RequestRecord,
)

METADATA = sa.MetaData()

_NULLABLE_FLOATS = frozenset(NULLABLE_FLOAT_FIELDS)


def _column(name: str) -> sa.Column[object]:
    if name == "timestamp":
        return sa.Column(name, sa.DateTime(timezone=True), nullable=False)
    if name in _NULLABLE_FLOATS:
        return sa.Column(name, sa.Float, nullable=True)
    if name in NULLABLE_INT_FIELDS:
        return sa.Column(name, sa.BigInteger, nullable=True)
    sample = getattr(RequestRecord(), name)
    if isinstance(sample, bool):
        return sa.Column(name, sa.Boolean, nullable=False)
    if isinstance(sample, int):
        return sa.Column(name, sa.BigInteger, nullable=False)
    if isinstance(sample, float):
        return sa.Column(name, sa.Float, nullable=False)
    return sa.Column(name, sa.Text, nullable=False, primary_key=name == "request_id")


request_logs = sa.Table(
    "request_logs",
    METADATA,
    *(_column(name) for name in REQUEST_FIELDS),
    sa.Column("tokens_generated", sa.BigInteger, nullable=False),
)

ollama_metrics = sa.Table(
    "ollama_metrics",
    METADATA,
    sa.Column("point_id", sa.Text, primary_key=True),
    sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
    sa.Column("service_name", sa.Text, nullable=False),
    sa.Column("metric_type", sa.Text, nullable=False),
    sa.Column("metric_name", sa.Text, nullable=False),
    sa.Column("metric_value", sa.Float, nullable=False),
    sa.Column("metadata", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
)

request_content = sa.Table(
    "request_content",
    METADATA,
    sa.Column("request_id", sa.Text, primary_key=True),
    sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
    sa.Column("instance", sa.Text, nullable=False),
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("response", sa.Text, nullable=False),
)
