"""Host, process and GPU samples (psutil; NVML when present, skipped cleanly when absent)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

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
    """One call per interval; CPU percentages are over the time since the previous call."""

    def __init__(self, started_at: float | None = None) -> None:
        self._process = psutil.Process(os.getpid())
        self._cores = psutil.cpu_count() or 1
        self._started_at = started_at or time.time()
        psutil.cpu_percent(None)  # prime the counters: the first real call measures from here
        self._process.cpu_percent(None)
        self._nvml = _Nvml.open()
        self._smi = None if self._nvml else _NvidiaSmi.open()

    def sample(self) -> SystemSample:
        return SystemSample(
            cpu_percent=psutil.cpu_percent(None),
            memory_percent=psutil.virtual_memory().percent,
            proxy_rss_bytes=self._process.memory_info().rss,
            # Over a very short interval psutil can report more than all cores together.
            proxy_cpu_percent=min(self._process.cpu_percent(None), 100.0 * self._cores),
            uptime_hours=(time.time() - self._started_at) / 3600,
            gpus=self._gpus(),
        )

    def _gpus(self) -> list[GpuSample]:
        if self._nvml:
            return self._nvml.sample()
        return self._smi.sample() if self._smi else []

    def close(self) -> None:
        if self._nvml:
            self._nvml.close()


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

    def __init__(self, binary: str) -> None:
        self._binary = binary

    @classmethod
    def open(cls) -> _NvidiaSmi | None:
        binary = shutil.which("nvidia-smi")
        return cls(binary) if binary else None

    def sample(self) -> list[GpuSample]:
        try:
            done = subprocess.run(
                [self._binary, f"--query-gpu={SMI_QUERY}", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=5,
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
