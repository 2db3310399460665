"""QuotaBook: limits, the UTC day rolling over, GPU time including charged loads, parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ollama_proxy.operations import Route
from ollama_proxy.quota import Limit, QuotaBook, parse_quotas
from ollama_proxy.records import RequestRecord

CHAT = Route("chat", "native", True)
LATE = datetime(2026, 11, 30, 23, 59, 30, tzinfo=UTC)
NEXT_DAY = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC)


def test_gpu_quota_counts_loads_and_resets_at_midnight() -> None:
    book = QuotaBook({"ci": Limit(gpu_s=2.0)})
    record = RequestRecord(client="ci", inference=True, gpu_ms=1500.0, load_charged_ms=600.0)
    assert book.check("ci", CHAT, LATE) is None
    book.add(record, LATE)
    refusal = book.check("ci", CHAT, LATE)
    assert refusal is not None and refusal.status == 429 and refusal.retry_after_s == 30
    assert "GPU time (2 s)" in refusal.message and "2026-12-01T00:00:00Z" in refusal.message
    assert book.check("other", CHAT, LATE) is None  # no quota: never refused
    assert book.check("ci", Route("list", "native", False), LATE) is None  # not inference
    assert book.check("ci", CHAT, NEXT_DAY) is None  # a new day
    assert book.usage("ci", NEXT_DAY)["gpu_s_used"] == 0.0  # type: ignore[index]


def test_restore_takes_the_store_rows_of_labels_with_quotas() -> None:
    book = QuotaBook({"ci": Limit(tokens=100)})
    book.restore([{"client": "ci", "gpu_ms": 10, "tokens": 100}, {"client": "x"}], LATE)
    assert book.check("ci", CHAT, LATE) is not None
    assert book.usage("x", LATE) is None


@pytest.mark.parametrize("entry", ["ci", "ci:gpu", "ci:watts=3", ":tokens=3", "ci:tokens=-1"])
def test_bad_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError):
        parse_quotas([entry])
