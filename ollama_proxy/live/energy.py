"""Energy per request from sampled GPU power: pure bookkeeping.

While requests run, the GPUs' power draw is sampled (at least twice a second; see
`system/power.py`), each sample with the number of requests sharing the GPU at that moment. A
finished request is charged its GPU time (`gpu_ms`, taken as the last part of its life: prompt
evaluation and generation come after any queue or load wait) times the mean of
`watts / sharers` over the samples in that window (and the one just before it, which holds until
the next). No sample in or just before the window: `None`, never a guess.
"""

from __future__ import annotations

from collections import deque

MAX_SAMPLES = 20_000  # over an hour at four samples a second
MAX_HOLD_S = 2.0  # a sample stands for at most this long before a window


class EnergyLedger:
    """Power samples as (time, watts per sharing request).

    >>> ledger = EnergyLedger()
    >>> for t in (0.0, 0.5, 1.0):
    ...     ledger.add(t, 200.0, sharing=2)
    >>> ledger.energy_for(end=1.0, gpu_s=1.0)  # 200 W over a second, half of it ours
    100.0
    >>> EnergyLedger().energy_for(end=1.0, gpu_s=1.0) is None
    True
    """

    def __init__(self) -> None:
        self._samples: deque[tuple[float, float]] = deque(maxlen=MAX_SAMPLES)

    def idle(self) -> None:
        """Nothing runs: the last sample no longer stands for what follows."""
        if self._samples and self._samples[-1][1] >= 0:
            self._samples.append((self._samples[-1][0], -1.0))  # a break marker

    def add(self, at: float, watts: float, sharing: int) -> None:
        self._samples.append((at, watts / max(1, sharing)))

    def energy_for(self, end: float, gpu_s: float) -> float | None:
        start = end - gpu_s
        shares: list[float] = []
        for at, share in reversed(self._samples):
            if at > end:
                continue
            if share < 0:  # a break: nothing before it belongs to this window
                break
            shares.append(share)
            if at <= start:  # the sample holding at the window's start: the last one needed
                if start - at > MAX_HOLD_S:
                    shares.pop()
                break
        if not shares:
            return None
        return round(sum(shares) / len(shares) * gpu_s, 3)
