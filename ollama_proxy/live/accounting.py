"""What a finished request cost: GPU time, the load it caused, and (later) energy and quota.

The proxy handler calls `settle(record)` once per metered request, before the record is
submitted, so the stores and the stats see the filled fields.
"""

from __future__ import annotations

from time import perf_counter

from ollama_proxy.live.energy import EnergyLedger
from ollama_proxy.live.gputime import LoadCharger, gpu_ms
from ollama_proxy.quota import QuotaBook
from ollama_proxy.records import RequestRecord


class Accounting:
    """Fills `gpu_ms` and `load_charged_ms` on inference records.

    >>> record = RequestRecord(model="m", inference=True, eval_duration_ms=40.0)
    >>> Accounting().settle(record)
    >>> record.gpu_ms, record.load_charged_ms
    (40.0, None)
    """

    def __init__(self, quotas: QuotaBook | None = None, energy: EnergyLedger | None = None) -> None:
        self.loads = LoadCharger()
        self.quotas = quotas
        self.energy = energy  # set when a GPU power reading exists

    def settle(self, record: RequestRecord) -> None:
        if not record.inference:
            return
        record.gpu_ms = gpu_ms(record)
        record.load_charged_ms = self.loads.charge(record)
        if self.energy is not None and record.gpu_ms:
            record.energy_j = self.energy.energy_for(perf_counter(), record.gpu_ms / 1000)
        if self.quotas is not None:
            self.quotas.add(record)
