"""API settings: the admin token, CORS, the dashboard's refresh and the live view."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import NoDecode

from ollama_proxy.config.fields import env, fill_from_secret_file, split_commas


class ApiSettings(BaseModel):
    admin_token: str = Field(
        "",
        validation_alias=env("ADMIN_TOKEN"),
        description="When set, the stats API, /api/config, /metrics and the dashboard need it.",
    )
    admin_token_file: str = Field(
        "",
        validation_alias=env("ADMIN_TOKEN_FILE", "admin_token_file"),
        description="File holding the admin token (Docker secrets); used when ADMIN_TOKEN is "
        "empty.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=env("CORS_ORIGINS"),
        description="Comma-separated origins allowed to call the stats API (default: same "
        "origin only).",
    )
    dashboard_refresh_s: float = Field(
        5.0,
        gt=0,
        validation_alias=env("DASHBOARD_REFRESH_S"),
        description="Dashboard auto-refresh interval and stats query cache lifetime.",
    )
    live_interval_ms: int = Field(
        500,
        ge=50,
        le=60_000,
        validation_alias=env("LIVE_INTERVAL_MS", "live_interval_ms"),
        description="Milliseconds between /api/stats/live snapshots (one comes sooner when a "
        "request arrives, answers or leaves: at most every 250 ms, less often when snapshots "
        "are large).",
    )
    live_parallel_slots: int = Field(
        1,
        ge=1,
        le=1024,
        validation_alias=env("LIVE_PARALLEL_SLOTS", "live_parallel_slots"),
        description="Requests one loaded model serves at once (Ollama's OLLAMA_NUM_PARALLEL); "
        "the live view calls requests beyond it `queued`.",
    )

    @model_validator(mode="after")
    def _read_admin_token_file(self) -> Self:
        fill_from_secret_file(self, "admin_token")
        return self

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        return split_commas(value)
