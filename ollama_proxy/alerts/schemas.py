"""Pydantic models of the alerts API, for the OpenAPI document (`api/openapi.py`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MIN_SILENCE_S = 60


class AlertView(BaseModel):
    rule: str
    state: Literal["pending", "firing", "resolved"]
    labels: dict[str, str]
    summary: str
    value: float
    threshold: float
    active_since: str | None = Field(description="When the condition first held (ISO 8601)")
    started_at: str | None = Field(description="When it fired")
    ended_at: str | None = Field(description="When it resolved")
    silenced_by: str | None = Field(description="The id of the silence muting it")


class SilenceView(BaseModel):
    id: str
    rule: str | None
    matchers: dict[str, str]
    comment: str
    created_at: float = Field(description="Unix time")
    expires_at: float = Field(description="Unix time")


class SilenceBody(BaseModel):
    """A rule, label matchers, or both; every matcher must equal the alert's label."""

    # The document also states that a rule or a matcher is needed, and which rules exist
    # (`api/openapi.py` fills the enum from the server's rules).
    model_config = ConfigDict(
        strict=True,
        json_schema_extra={
            "anyOf": [
                {"required": ["rule"], "properties": {"rule": {"type": "string"}}},
                {"required": ["matchers"], "properties": {"matchers": {"minProperties": 1}}},
            ]
        },
    )

    rule: str | None = Field(None, max_length=100)
    matchers: dict[str, str] = Field(default_factory=dict, max_length=20)
    # A minute at least: a shorter silence is gone before an alert is evaluated again.
    duration_s: float = Field(ge=MIN_SILENCE_S, le=366 * 86400)
    comment: str = Field("", max_length=500)


class SilenceList(BaseModel):
    silences: list[SilenceView]


class RuleView(BaseModel):
    name: str
    summary: str
    enabled: bool
    threshold: float | None
    window_s: float
    for_s: float
    resolve_after_s: float
    min_count: int
    labels: dict[str, str]


class NotifierStats(BaseModel):
    target: str = Field(description="Kind, scheme, host and port (paths are secrets)")
    queued: int
    sent: int
    failed: int
    dropped: int
    last_error: str | None


class AlertsPage(BaseModel):
    firing: list[AlertView]
    pending: list[AlertView]
    history: list[AlertView] = Field(description="Recently resolved, newest first")
    silences: list[SilenceView]
    rules: list[RuleView]
    eval_interval_s: float
    evaluations: int
    notifiers: list[NotifierStats]
