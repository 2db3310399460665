"""Alert settings: the rules file, the evaluation interval, the notifiers (docs/alerts.md)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode

from ollama_proxy.config.fields import env, split_commas


class AlertSettings(BaseModel):
    alert_rules: str = Field(
        "",
        validation_alias=env("ALERT_RULES", "alert_rules"),
        description="YAML file of alert rule thresholds, windows, `for:` durations and labels, "
        "on top of the built-in defaults (docs/alerts.md); checked at start.",
    )
    alert_eval_interval_s: float = Field(
        15.0,
        gt=0,
        validation_alias=env("ALERT_EVAL_INTERVAL_S", "alert_eval_interval_s"),
        description="Seconds between two evaluations of the alert rules.",
    )
    alert_webhooks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=env("ALERT_WEBHOOKS", "alert_webhooks"),
        description="Comma-separated notifier URLs: https://... (JSON), slack+https://... "
        "(Slack, Discord, Mattermost text), ntfy+https://host/topic, alertmanager+http://host:9093.",
    )
    alert_notify_timeout_s: float = Field(
        10.0,
        gt=0,
        validation_alias=env("ALERT_NOTIFY_TIMEOUT_S", "alert_notify_timeout_s"),
        description="Seconds one notification attempt may take (5 attempts with backoff).",
    )
    alert_dashboard_url: str = Field(
        "",
        validation_alias=env("ALERT_DASHBOARD_URL", "alert_dashboard_url"),
        description="The dashboard's address as people reach it, for links in notifications "
        "(default: http://PROXY_LISTEN/dashboard/).",
    )

    @field_validator("alert_webhooks", mode="before")
    @classmethod
    def _split_alert_webhooks(cls, value: Any) -> Any:
        return split_commas(value)

    @field_validator("alert_webhooks")
    @classmethod
    def _check_alert_webhooks(cls, entries: list[str]) -> list[str]:
        # Imported here: the alerts package reaches the stores, which import this package.
        from ollama_proxy.alerts.payloads import parse_target

        for entry in entries:
            parse_target(entry)  # the app parses them again at start: one rule, checked here
        return entries
