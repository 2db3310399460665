"""The one store query of the alerts: each model's median decode speed over the last 7 days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ollama_proxy.alerts.rules import Baseline
from ollama_proxy.stats.aggregate import Aggregate
from ollama_proxy.stats.query import Filters

BASELINE_DAYS = 7


async def store_baselines(stores: list[Any], now: datetime | None = None) -> dict[str, Baseline]:
    """Model -> 7-day median decode tokens/s and request count, from the first store."""
    if not stores:
        return {}
    from ollama_proxy.api.handlers import backend_for

    now = now or datetime.now(UTC)
    agg = Aggregate(
        Filters(status="success", since=now - timedelta(days=BASELINE_DAYS), until=now),
        groups=("model",),
        measures=("requests", "decode_p50"),
        require_model=True,
    )
    rows = await backend_for(stores[0]).aggregate(agg)
    return {
        str(row["model"]): Baseline(float(row["decode_p50"]), int(row["requests"]))
        for row in rows
        if row.get("decode_p50")
    }
