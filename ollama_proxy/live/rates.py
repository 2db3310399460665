"""What finished requests taught about each model: prefill and decode rates, answer length.

Moving averages, updated once per finished inference request (a few float operations), read
by the live view to estimate phases and times left.
"""

from __future__ import annotations

from dataclasses import dataclass

from ollama_proxy.records import RequestRecord

ALPHA = 0.2  # weight of the newest request: about the last ten count
MAX_MODELS = 1000  # bounded memory when clients send many model names


@dataclass(slots=True)
class ModelRates:
    prefill_tps: float | None = None
    decode_tps: float | None = None
    answer_tokens: float | None = None  # typical output length of a completed answer


def _blend(old: float | None, new: float) -> float:
    return new if old is None else old + ALPHA * (new - old)


class RateBook:
    """Per-model moving averages.

    >>> book = RateBook()
    >>> book.learn(RequestRecord(model="m", inference=True, prefill_tps=100.0,
    ...                          decode_tps=20.0, completion_tokens=50, done_reason="stop"))
    >>> book.get("m")
    ModelRates(prefill_tps=100.0, decode_tps=20.0, answer_tokens=50.0)
    """

    def __init__(self) -> None:
        self._models: dict[str, ModelRates] = {}

    def get(self, model: str) -> ModelRates | None:
        return self._models.get(model)

    def learn(self, record: RequestRecord) -> None:
        if not record.inference or record.status != "success" or not record.model:
            return
        rates = self._models.get(record.model)
        if rates is None:
            if len(self._models) >= MAX_MODELS:
                self._models.clear()
            rates = self._models[record.model] = ModelRates()
        if record.prefill_tps:
            rates.prefill_tps = _blend(rates.prefill_tps, record.prefill_tps)
        if record.decode_tps:
            rates.decode_tps = _blend(rates.decode_tps, record.decode_tps)
        # Only answers that ended by themselves say how long answers are; a length cap does not.
        if record.done_reason == "stop" and record.completion_tokens > 0:
            rates.answer_tokens = _blend(rates.answer_tokens, float(record.completion_tokens))
