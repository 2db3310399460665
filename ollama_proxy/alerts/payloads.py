"""Pure: notifier targets from ALERT_WEBHOOKS, and the request each one gets for an event.

| ALERT_WEBHOOKS entry            | sends                                                   |
|---------------------------------|---------------------------------------------------------|
| `https://host/path`             | our JSON (rule, state, labels, value, threshold, ...)   |
| `slack+https://hooks...`        | `{"text": ...}` (Slack, Mattermost; Discord's /slack URL)|
| `ntfy+https://ntfy.sh/topic`    | plain text with Title, Priority and Tags headers        |
| `alertmanager+http://host:9093` | Alertmanager v2 `POST /api/v2/alerts` (a list of alerts)|

>>> parse_target("slack+https://hooks.example/T1").url
'https://hooks.example/T1'
>>> parse_target("alertmanager+http://am:9093").url
'http://am:9093/api/v2/alerts'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import orjson

from ollama_proxy.alerts.lifecycle import Alert

Kind = Literal["webhook", "slack", "ntfy", "alertmanager"]
PREFIXES: dict[str, Kind] = {"slack+": "slack", "ntfy+": "ntfy", "alertmanager+": "alertmanager"}


@dataclass(frozen=True, slots=True)
class Target:
    kind: Kind
    url: str

    @property
    def display(self) -> str:
        """Scheme, host and port only: webhook paths are secrets (Slack's hold the token)."""
        parts = urlsplit(self.url)
        return f"{self.kind}:{parts.scheme}://{parts.hostname}:{parts.port or ''}".rstrip(":")


@dataclass(frozen=True, slots=True)
class Request:
    body: bytes
    headers: dict[str, str]


def parse_target(entry: str) -> Target:
    kind: Kind = "webhook"
    url = entry.strip()
    for prefix, prefixed_kind in PREFIXES.items():
        if url.startswith(prefix):
            kind, url = prefixed_kind, url[len(prefix) :]
            break
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{entry!r}: expected http(s)://..., slack+https://..., ntfy+https://... "
            "or alertmanager+http(s)://host:port"
        )
    if kind == "alertmanager":
        url = url.rstrip("/") + "/api/v2/alerts"
    return Target(kind, url)


def iso(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def alert_view(alert: Alert) -> dict[str, Any]:
    """The alert as the API and the generic webhook show it."""
    return {
        "rule": alert.rule,
        "state": alert.state,
        "labels": dict(alert.labels),
        "summary": alert.summary,
        "value": round(alert.value, 6),
        "threshold": alert.threshold,
        "active_since": iso(alert.active_since),
        "started_at": iso(alert.fired_at),
        "ended_at": iso(alert.resolved_at),
        "silenced_by": alert.silenced_by,
    }


def _text(state: str, alert: Alert) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in alert.labels if k != "severity")
    head = "FIRING" if state == "firing" else "RESOLVED"
    where = f" ({labels})" if labels else ""
    return (
        f"[{head}] {alert.rule}{where}: {alert.summary}; "
        f"value {alert.value:.4g}, threshold {alert.threshold:.4g}"
    )


def build_request(target: Target, state: str, alert: Alert, instance: str, link: str) -> Request:
    json_headers = {"Content-Type": "application/json"}
    if target.kind == "webhook":
        body = {**alert_view(alert), "state": state, "instance": instance, "url": link}
        return Request(orjson.dumps(body), json_headers)
    if target.kind == "slack":
        text = f"{_text(state, alert)} <{link}|dashboard>" if link else _text(state, alert)
        return Request(orjson.dumps({"text": text}), json_headers)
    if target.kind == "ntfy":
        return Request(_text(state, alert).encode(), _ntfy_headers(state, alert, link))
    return Request(orjson.dumps([alertmanager_alert(state, alert, instance, link)]), json_headers)


def _ntfy_headers(state: str, alert: Alert, link: str) -> dict[str, str]:
    severity = dict(alert.labels).get("severity", "warning")
    headers = {
        "Title": quote(f"{alert.rule} {state}", safe=" "),
        "Tags": "warning" if state == "firing" else "white_check_mark",
        "Priority": ("5" if severity == "critical" else "4") if state == "firing" else "3",
        "Content-Type": "text/plain; charset=utf-8",
    }
    if link:
        headers["Click"] = link
    return headers


def alertmanager_alert(state: str, alert: Alert, instance: str, link: str) -> dict[str, Any]:
    """One `postableAlert` of Alertmanager's v2 API; `endsAt` in the past resolves it."""
    out: dict[str, Any] = {
        "labels": {**alert.label_dict(), "instance": instance},
        "annotations": {
            "summary": alert.summary,
            "value": f"{alert.value:.6g}",
            "threshold": f"{alert.threshold:.6g}",
        },
        "startsAt": iso(alert.fired_at or alert.active_since),
    }
    if link:
        out["generatorURL"] = link
    if state == "resolved":
        out["endsAt"] = iso(alert.resolved_at)
    return out
