"""Label budgets: how many distinct model and client values metrics may carry.

Model names and client labels come from requests, so a client sending random names would grow
every metric series, /metrics, OTLP exports and memory without bound. Each budget admits its
first `limit` values; the rest share one `other` label. A model name is admitted only once it
is trusted (Ollama answered it with a 2xx): a 404 for `no-such-model-7f3a` is
counted under `other` however much room is left. Records keep the name (cut to 200 characters).

>>> models = LabelBudget(2)
>>> models.label("llama3.2:latest", trusted=True), models.label("junk:latest", trusted=False)
('llama3.2:latest', 'other')
>>> models.label("qwen3:0.6b"), models.label("gemma3:1b"), models.label("llama3.2:latest")
('qwen3:0.6b', 'other', 'llama3.2:latest')
"""

from __future__ import annotations

OTHER = "other"
DEFAULT_MAX_MODEL_LABELS = 200


class LabelBudget:
    """At most `limit` distinct label values; `label()` answers `other` for the rest.

    An empty value ("no model") is always itself and uses no room. Admission is for the life
    of the process: a label once emitted keeps its series (they are cumulative counters).
    """

    __slots__ = ("_admitted", "limit", "overflowed")

    def __init__(self, limit: int) -> None:
        self.limit = max(0, limit)
        self._admitted: set[str] = set()
        self.overflowed = 0  # values answered `other` (for the docs' figures and tests)

    def __len__(self) -> int:
        return len(self._admitted)

    def label(self, value: str, trusted: bool = True) -> str:
        if not value or value in self._admitted:
            return value
        if trusted and len(self._admitted) < self.limit:
            self._admitted.add(value)
            return value
        self.overflowed += 1
        return OTHER
