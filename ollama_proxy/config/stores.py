"""Store settings: where records go, the record pipeline, the spill journal and retention."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import NoDecode

from ollama_proxy.config.fields import env, fill_from_secret_file, split_commas

STORE_SCHEMES = ("sqlite", "postgresql", "postgres", "clickhouse", "chdb")


class ExporterType(StrEnum):
    sqlite = "sqlite"
    clickhouse = "clickhouse"
    postgres = "postgres"
    both = "both"


class StoreSettings(BaseModel):
    store_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=env("STORE_URLS", "store_urls"),
        description="Comma-separated store URLs (`--store`, repeatable): sqlite:///PATH, "
        "postgresql://..., clickhouse://HOST:8123/DB, chdb:///PATH. Empty = from EXPORTER_TYPE.",
    )
    exporter_type: ExporterType = Field(
        ExporterType.sqlite,
        validation_alias=env("EXPORTER_TYPE", "exporter_type"),
        description="Store(s) when STORE_URLS is empty: sqlite, clickhouse, postgres or both.",
    )
    sqlite_path: str = Field(
        "./ollama-proxy.db",
        validation_alias=env("SQLITE_PATH", "sqlite_path"),
        description="SQLite file used by EXPORTER_TYPE=sqlite.",
    )
    metrics_export_interval: float = Field(
        5.0,
        gt=0,
        validation_alias=env("METRICS_EXPORT_INTERVAL", "metrics_export_interval"),
        description="Seconds between store flushes and system samples.",
    )
    batch_max_records: int = Field(
        1000,
        ge=1,
        validation_alias=env("BATCH_MAX_RECORDS", "batch_max_records"),
        description="Flush early once this many records are waiting.",
    )
    queue_max_records: int = Field(
        100_000,
        ge=1,
        validation_alias=env("QUEUE_MAX_RECORDS", "queue_max_records"),
        description="Bound of the in-process record queue; when full the oldest is dropped "
        "with a counted warning.",
    )
    store_write_timeout_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        validation_alias=env("STORE_WRITE_TIMEOUT_S", "store_write_timeout_s"),
        description="Seconds one batch write to a store may take before it is abandoned and "
        "retried; also PostgreSQL's statement and command timeout, ClickHouse's HTTP timeout "
        "and SQLite's busy timeout.",
    )
    journal_dir: str = Field(
        "./ollama-proxy-journal",
        validation_alias=env("JOURNAL_DIR", "journal_dir"),
        description="Directory of the write-ahead journal: every record is fsynced here before "
        "any store sees it, and stays until every store has it. Also keeps the alert silences "
        "(silences.json), so they outlast a restart.",
    )
    retention_days: int = Field(
        30,
        ge=1,
        validation_alias=env("RETENTION_DAYS", "retention_days"),
        description="Days of request logs and metrics kept by the stores.",
    )
    rollup_retention_days: int = Field(
        400,
        ge=1,
        validation_alias=env("ROLLUP_RETENTION_DAYS", "rollup_retention_days"),
        description="Days of hourly rollups kept by SQLite and PostgreSQL (long-range history "
        "and breakdowns survive raw-log deletion). Minute and 5-minute rollups follow "
        "RETENTION_DAYS; all-time totals are kept.",
    )
    clickhouse_host: str = Field(
        "localhost", validation_alias=env("CLICKHOUSE_HOST"), description="ClickHouse host."
    )
    clickhouse_port: int = Field(
        8123, validation_alias=env("CLICKHOUSE_PORT"), description="ClickHouse HTTP port."
    )
    clickhouse_database: str = Field(
        "ollama_metrics",
        validation_alias=env("CLICKHOUSE_DATABASE", "CLICKHOUSE_DB"),
        description="ClickHouse database.",
    )
    clickhouse_user: str = Field(
        "default", validation_alias=env("CLICKHOUSE_USER"), description="ClickHouse user."
    )
    clickhouse_password: str = Field(
        "", validation_alias=env("CLICKHOUSE_PASSWORD"), description="ClickHouse password."
    )
    clickhouse_cluster: str = Field(
        "",
        validation_alias=env("CLICKHOUSE_CLUSTER"),
        description="When set, DDL runs ON CLUSTER with Replicated and Distributed tables.",
    )
    postgres_host: str = Field(
        "localhost", validation_alias=env("POSTGRES_HOST"), description="PostgreSQL host."
    )
    postgres_port: int = Field(
        5432, validation_alias=env("POSTGRES_PORT"), description="PostgreSQL port."
    )
    postgres_db: str = Field(
        "ollama_metrics", validation_alias=env("POSTGRES_DB"), description="PostgreSQL database."
    )
    postgres_user: str = Field(
        "postgres", validation_alias=env("POSTGRES_USER"), description="PostgreSQL user."
    )
    postgres_password: str = Field(
        "", validation_alias=env("POSTGRES_PASSWORD"), description="PostgreSQL password."
    )
    clickhouse_password_file: str = Field(
        "",
        validation_alias=env("CLICKHOUSE_PASSWORD_FILE", "clickhouse_password_file"),
        description="File holding the ClickHouse password (Docker secrets); used when "
        "CLICKHOUSE_PASSWORD is empty.",
    )
    postgres_password_file: str = Field(
        "",
        validation_alias=env("POSTGRES_PASSWORD_FILE", "postgres_password_file"),
        description="File holding the PostgreSQL password (Docker secrets); used when "
        "POSTGRES_PASSWORD is empty.",
    )

    @field_validator("store_urls", mode="before")
    @classmethod
    def _split_store_urls(cls, value: Any) -> Any:
        return split_commas(value)

    @field_validator("store_urls")
    @classmethod
    def _check_store_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            scheme = urlsplit(url).scheme.split("+")[0]
            if scheme not in STORE_SCHEMES:
                raise ValueError(
                    f"unknown store URL {url!r}; accepted schemes: sqlite:///PATH, "
                    "postgresql://USER@HOST:PORT/DB, clickhouse://HOST:8123/DB, chdb:///PATH"
                )
        return urls

    @model_validator(mode="after")
    def _read_store_password_files(self) -> Self:
        fill_from_secret_file(self, "clickhouse_password")
        fill_from_secret_file(self, "postgres_password")
        return self

    def effective_store_urls(self) -> list[str]:
        """The stores every record goes to; queries are served from the first."""
        if self.store_urls:
            return list(self.store_urls)
        sqlite = f"sqlite:///{self.sqlite_path}"
        clickhouse = (
            f"clickhouse://{self.clickhouse_host}:{self.clickhouse_port}/{self.clickhouse_database}"
        )
        postgres = (
            f"postgresql://{self.postgres_user}@{self.postgres_host}:{self.postgres_port}"
            f"/{self.postgres_db}"
        )
        return {
            ExporterType.sqlite: [sqlite],
            ExporterType.clickhouse: [clickhouse],
            ExporterType.postgres: [postgres],
            ExporterType.both: [clickhouse, postgres],
        }[self.exporter_type]
