"""Host, process and GPU samples (psutil; NVML when present, skipped cleanly when absent).

Every call here may block (psutil reads /proc, NVML talks to the driver, nvidia-smi is a
process): `OffLoop` runs each sampler in its own worker thread with a timeout, so the event
loop relaying streams never waits for one. With nvidia-smi on the loop, every stream stalled
while it ran (up to 5 s).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import psutil
import structlog

log = structlog.get_logger("ollama_proxy.system")


@dataclass
class GpuSample:
    index: int
    name: str
    utilization_percent: float
    memory_used_bytes: int
    memory_total_bytes: int
    temperature_c: float


@dataclass
class SystemSample:
    cpu_percent: float
    memory_percent: float
    proxy_rss_bytes: int
    proxy_cpu_percent: float
    uptime_hours: float
    gpus: list[GpuSample] = field(default_factory=list)


class Sampler:
    """One call per interval; CPU percentages are over the time since the previous call.

    Blocking: call `host()` and `gpus()` off the event loop (`OffLoop`). The GPU backend is
    opened on the first `gpus()` call, in that worker thread too.
    """

    def __init__(self, started_at: float | None = None, gpu_timeout_s: float = 5.0) -> None:
        self._process = psutil.Process(os.getpid())
        self._cores = psutil.cpu_count() or 1
        self._started_at = started_at or time.time()
        self._gpu_timeout_s = gpu_timeout_s
        psutil.cpu_percent(None)  # prime the counters: the first real call measures from here
        self._process.cpu_percent(None)
        self._gpu_opened = False
        self._nvml: _Nvml | None = None
        self._smi: _NvidiaSmi | None = None

    def sample(self) -> SystemSample:
        sample = self.host()
        sample.gpus = self.gpus()
        return sample

    def host(self) -> SystemSample:
        return SystemSample(
            cpu_percent=psutil.cpu_percent(None),
            memory_percent=psutil.virtual_memory().percent,
            proxy_rss_bytes=self._process.memory_info().rss,
            # Over a very short interval psutil can report more than all cores together.
            proxy_cpu_percent=min(self._process.cpu_percent(None), 100.0 * self._cores),
            uptime_hours=(time.time() - self._started_at) / 3600,
        )

    def gpus(self) -> list[GpuSample]:
        if not self._gpu_opened:
            self._gpu_opened = True
            self._nvml = _Nvml.open()
            self._smi = None if self._nvml else _NvidiaSmi.open(self._gpu_timeout_s)
        if self._nvml:
            return self._nvml.sample()
        return self._smi.sample() if self._smi else []

    def close(self) -> None:
        if self._nvml:
            self._nvml.close()


T = TypeVar("T")


class OffLoop(Generic[T]):
    """Runs one blocking sampler in a worker thread of its own, with a timeout.

    A call that overruns is left to finish in its thread (a thread cannot be cancelled); until
    it does, later calls are skipped instead of piling up threads behind a stuck driver.

    >>> async def main() -> int | None:
    ...     offloop = OffLoop("demo", lambda: 42, timeout_s=1.0)
    ...     try:
    ...         return await offloop.run()
    ...     finally:
    ...         offloop.close()
    >>> asyncio.run(main())
    42
    """

    def __init__(self, name: str, sample: Callable[[], T], timeout_s: float) -> None:
        self.name = name
        self._sample = sample
        self._timeout_s = timeout_s
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"sampler-{name}")
        self._running: asyncio.Future[T] | None = None
        self.skipped = 0  # calls skipped because the previous one was still running
        self.timeouts = 0

    async def run(self) -> T | None:
        """The sample, or None when it failed, timed out or the previous one still runs."""
        if self._running is not None and not self._running.done():
            self.skipped += 1
            log.warning("sampler_still_running", sampler=self.name, skipped=self.skipped)
            return None
        running = asyncio.get_running_loop().run_in_executor(self._executor, self._sample)
        running.add_done_callback(_retrieve)  # an overrun that fails later is not "unretrieved"
        self._running = running
        try:
            async with asyncio.timeout(self._timeout_s):
                return await asyncio.shield(running)
        except TimeoutError:
            self.timeouts += 1
            log.warning("sampler_timed_out", sampler=self.name, timeout_s=self._timeout_s)
        except Exception as exc:
            log.warning("sampler_failed", sampler=self.name, error=str(exc))
        return None

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


SMI_QUERY = "index,name,utilization.gpu,memory.used,memory.total,temperature.gpu"


def parse_smi(text: str) -> list[GpuSample]:
    """`nvidia-smi --query-gpu=SMI_QUERY --format=csv,noheader,nounits` -> samples (MiB)."""
    out = []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 6:
            continue
        try:
            out.append(
                GpuSample(
                    index=int(parts[0]),
                    name=parts[1],
                    utilization_percent=float(parts[2]),
                    memory_used_bytes=int(float(parts[3]) * 1024 * 1024),
                    memory_total_bytes=int(float(parts[4]) * 1024 * 1024),
                    temperature_c=float(parts[5]),
                )
            )
        except ValueError:
            continue  # "[N/A]" fields on some boards
    return out


class _NvidiaSmi:
    """NVIDIA GPUs through the nvidia-smi command, when NVML's Python binding is absent."""

    def __init__(self, binary: str, timeout_s: float) -> None:
        self._binary = binary
        self._timeout_s = timeout_s

    @classmethod
    def open(cls, timeout_s: float) -> _NvidiaSmi | None:
        binary = shutil.which("nvidia-smi")
        return cls(binary, timeout_s) if binary else None

    def sample(self) -> list[GpuSample]:
        try:
            done = subprocess.run(
                [self._binary, f"--query-gpu={SMI_QUERY}", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=self._timeout_s,  # killed, not left running, when it hangs
                check=True,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("nvidia_smi_failed", error=str(exc))
            return []
        return parse_smi(done.stdout)


class _Nvml:
    """NVIDIA GPUs through nvidia-ml-py (the `gpu` extra)."""

    def __init__(self, module: Any) -> None:
        self._nv = module

    @classmethod
    def open(cls) -> _Nvml | None:
        try:
            import pynvml

            pynvml.nvmlInit()
        except Exception:  # no package, no driver, no GPU: nothing to sample
            return None
        return cls(pynvml)

    def sample(self) -> list[GpuSample]:
        nv = self._nv
        out = []
        try:
            for index in range(nv.nvmlDeviceGetCount()):
                handle = nv.nvmlDeviceGetHandleByIndex(index)
                memory = nv.nvmlDeviceGetMemoryInfo(handle)
                out.append(
                    GpuSample(
                        index=index,
                        name=str(nv.nvmlDeviceGetName(handle)),
                        utilization_percent=float(nv.nvmlDeviceGetUtilizationRates(handle).gpu),
                        memory_used_bytes=int(memory.used),
                        memory_total_bytes=int(memory.total),
                        temperature_c=float(nv.nvmlDeviceGetTemperature(handle, 0)),
                    )
                )
        except Exception as exc:
            log.warning("gpu_sample_failed", error=str(exc))
        return out

    def close(self) -> None:
        try:
            self._nv.nvmlShutdown()
        except Exception:
            pass
