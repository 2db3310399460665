"""Daily quotas per API-key label: GPU-seconds and/or tokens (opt-in, PROXY_QUOTAS).

Pure bookkeeping plus one store read at start. The handler asks `QuotaBook.check(label, route)`
before forwarding an inference request and gets a 429 refusal once the label's usage of the
current UTC day reached a limit (Retry-After: until midnight UTC). Finished requests add their
GPU time (`gpu_ms` + `load_charged_ms`) and tokens through `add(record)`. The usage of the
day is rebuilt from the store at start, so a restart forgets nothing that was recorded.

A request is checked before it runs and charged after, so the last one admitted may take a
label past its limit; the next is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from aiohttp import web

from ollama_proxy.operations import Route
from ollama_proxy.proxy.access import Refusal
from ollama_proxy.records import RequestRecord


@dataclass(frozen=True, slots=True)
class Limit:
    gpu_s: float | None = None
    tokens: int | None = None


def parse_quotas(entries: list[str]) -> dict[str, Limit]:
    """`label:gpu_s=N[:tokens=M]` entries -> limits by label.

    >>> parse_quotas(["ci:gpu_s=3600", "bob:tokens=50000:gpu_s=60"])
    {'ci': Limit(gpu_s=3600.0, tokens=None), 'bob': Limit(gpu_s=60.0, tokens=50000)}
    """
    out: dict[str, Limit] = {}
    for entry in entries:
        label, *parts = entry.split(":")
        values: dict[str, str] = {}
        for part in parts:
            name, sep, value = part.partition("=")
            if not sep or name not in ("gpu_s", "tokens") or not label:
                raise ValueError(f"quota {entry!r}: expected label:gpu_s=N and/or :tokens=N")
            values[name] = value
        if not values:
            raise ValueError(f"quota {entry!r} sets no limit (gpu_s=N and/or tokens=N)")
        gpu = float(values["gpu_s"]) if "gpu_s" in values else None
        tokens = int(values["tokens"]) if "tokens" in values else None
        if (gpu is not None and gpu < 0) or (tokens is not None and tokens < 0):
            raise ValueError(f"quota {entry!r}: limits cannot be negative")
        out[label] = Limit(gpu, tokens)
    return out


@dataclass(slots=True)
class Used:
    gpu_ms: float = 0.0
    tokens: int = 0


def next_midnight(now: datetime) -> datetime:
    return datetime.combine(now.date() + timedelta(days=1), time(), UTC)


class QuotaBook:
    """Usage of the current UTC day per label, against its limits.

    >>> book = QuotaBook({"ci": Limit(tokens=10)})
    >>> book.add(RequestRecord(client="ci", inference=True, prompt_tokens=4, completion_tokens=6))
    >>> book.check("ci", Route("chat", "native", True)).status
    429
    """

    def __init__(self, limits: dict[str, Limit]) -> None:
        self.limits = limits
        self._day: date | None = None
        self._used: dict[str, Used] = {}

    def _today(self, now: datetime) -> dict[str, Used]:
        if now.date() != self._day:  # a new UTC day starts every label from zero
            self._day, self._used = now.date(), {}
        return self._used

    def check(self, label: str, route: Route, now: datetime | None = None) -> Refusal | None:
        limit = self.limits.get(label)
        if limit is None or not route.inference:
            return None
        now = now or datetime.now(UTC)
        used = self._today(now).get(label) or Used()
        over = _over(limit, used)
        if over is None:
            return None
        resets = next_midnight(now)
        message = f"daily {over} quota of {label} used up; it resets at {_iso(resets)}"
        retry = max(1, int((resets - now).total_seconds() + 0.999))
        return Refusal(429, "quota_exceeded", message, retry, label)

    def add(self, record: RequestRecord, now: datetime | None = None) -> None:
        if record.client not in self.limits or not record.inference:
            return
        used = self._today(now or datetime.now(UTC)).setdefault(record.client, Used())
        used.gpu_ms += (record.gpu_ms or 0.0) + (record.load_charged_ms or 0.0)
        used.tokens += record.prompt_tokens + record.completion_tokens

    def restore(self, rows: list[dict[str, Any]], now: datetime) -> None:
        """The day's usage per label from the store (rows of `usage_query`)."""
        used = self._today(now)
        for row in rows:
            label = str(row.get("client") or "")
            if label in self.limits:
                used[label] = Used(float(row.get("gpu_ms") or 0), int(row.get("tokens") or 0))

    def usage(self, label: str, now: datetime | None = None) -> dict[str, Any] | None:
        """Usage against limits for /api/stats/clients; None for a label without a quota."""
        limit = self.limits.get(label)
        if limit is None:
            return None
        now = now or datetime.now(UTC)
        used = self._today(now).get(label) or Used()
        return {
            "gpu_s_used": round(used.gpu_ms / 1000, 3),
            "gpu_s_limit": limit.gpu_s,
            "tokens_used": used.tokens,
            "tokens_limit": limit.tokens,
            "exceeded": _over(limit, used) is not None,
            "resets_at": _iso(next_midnight(now)),
        }


def _over(limit: Limit, used: Used) -> str | None:
    if limit.gpu_s is not None and used.gpu_ms >= limit.gpu_s * 1000:
        return f"GPU time ({limit.gpu_s:g} s)"
    if limit.tokens is not None and used.tokens >= limit.tokens:
        return f"token ({limit.tokens})"
    return None


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def usage_query(kind: str, since: datetime) -> tuple[str, dict[str, Any]]:
    """SQL for the GPU time and tokens per client since `since`, for the store's kind."""
    measures = (
        "sum(coalesce(gpu_ms, 0) + coalesce(load_charged_ms, 0)) AS gpu_ms, "
        "sum(prompt_tokens + completion_tokens) AS tokens"
    )
    if kind in ("chdb", "clickhouse"):
        sql = (
            f"SELECT client, {measures} FROM request_logs FINAL WHERE inference "
            "AND timestamp >= {since:DateTime64(6, 'UTC')} GROUP BY client"
        )
        return sql, {"since": since.strftime("%Y-%m-%d %H:%M:%S.%f")}
    sql = (
        f"SELECT client, {measures} FROM request_logs "
        "WHERE inference = :yes AND timestamp >= :since GROUP BY client"
    )
    return sql, {"since": since if kind == "postgres" else since.replace(tzinfo=None), "yes": True}


async def restore_from(book: QuotaBook, store: Any, now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    midnight = datetime.combine(now.date(), time(), UTC)
    sql, params = usage_query(store.kind, midnight)
    book.restore(await store.fetch(sql, params), now)


QUOTAS: web.AppKey[QuotaBook] = web.AppKey("quotas", QuotaBook)
