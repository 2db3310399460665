"""Samples GPU power while inference requests run and feeds the energy ledger.

One task; each tick it checks whether any request is in flight and only then reads the power
(in a worker thread: NVML and nvidia-smi block). Idle, it reads nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from ollama_proxy.live.energy import EnergyLedger
from ollama_proxy.live.tracker import LiveTracker
from ollama_proxy.system.samplers import OffLoop


class PowerSampling:
    def __init__(
        self,
        tracker: LiveTracker,
        read: Callable[[], float | None],
        interval_s: float,
        ledger: EnergyLedger | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.tracker = tracker
        self.ledger = ledger or EnergyLedger()
        self._interval = interval_s
        self._reader = OffLoop("power", read, timeout_s=timeout_s)
        self._task: asyncio.Task[None] | None = None
        self.samples = 0

    async def tick(self) -> None:
        entries = self.tracker.entries.values()
        if not entries:
            self.ledger.idle()
            return
        watts = await self._reader.run()
        if watts is None:
            return
        # The requests that share this interval: those producing output (on the GPU now); when
        # none is yet, every request in flight (they are in prefill or loading).
        generating = sum(1 for e in entries if e.meter.first_byte_seen())
        self.ledger.add(time.perf_counter(), watts, generating or len(entries))
        self.samples += 1

    async def _run(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._reader.close()
