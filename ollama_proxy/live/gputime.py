"""GPU time per request: pure.

`gpu_ms` is what Ollama reports the request kept the GPU busy: prompt evaluation plus
generation. A model load is charged to the one request that caused it (`load_charged_ms`):
every request that waited for the same load reports about the same load_duration ending at the
same moment, so the first one to finish is charged and the others get 0.
"""

from __future__ import annotations

from ollama_proxy.records import RequestRecord
from ollama_proxy.stats.aggregate import COLD_LOAD_MS

# Requests that waited for one load see it end within network jitter of each other.
SAME_LOAD_S = 0.25
MAX_MODELS = 1000  # bounded memory when clients send many model names


def gpu_ms(record: RequestRecord) -> float | None:
    """prompt_eval + eval duration; None when Ollama reported neither.

    >>> gpu_ms(RequestRecord(prompt_eval_duration_ms=20.0, eval_duration_ms=480.0))
    500.0
    >>> gpu_ms(RequestRecord()) is None
    True
    """
    prefill, decode = record.prompt_eval_duration_ms, record.eval_duration_ms
    if prefill is None and decode is None:
        return None
    return (prefill or 0.0) + (decode or 0.0)


class LoadCharger:
    """Charges each cold load once, to the first finished request that waited for it.

    >>> from datetime import UTC, datetime
    >>> at = datetime(2026, 11, 30, tzinfo=UTC)
    >>> charger = LoadCharger()
    >>> charger.charge(RequestRecord(model="m", timestamp=at, load_duration_ms=900.0))
    900.0
    >>> charger.charge(RequestRecord(model="m", timestamp=at, load_duration_ms=880.0))
    0.0
    >>> charger.charge(RequestRecord(model="m", timestamp=at, load_duration_ms=3.0))
    0.0
    """

    def __init__(self) -> None:
        self._load_end: dict[str, float] = {}  # model -> when its last charged load ended

    def charge(self, record: RequestRecord) -> float | None:
        load = record.load_duration_ms
        if load is None:
            return None
        if load < COLD_LOAD_MS:
            return 0.0  # the model was resident: a few ms of bookkeeping, not a load
        end = record.timestamp.timestamp() + load / 1000
        last = self._load_end.get(record.model)
        if last is not None and abs(end - last) <= SAME_LOAD_S:
            return 0.0  # waited for a load already charged to another request
        if len(self._load_end) >= MAX_MODELS:
            self._load_end.clear()
        self._load_end[record.model] = end
        return load
