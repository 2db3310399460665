"""GPU power draw in watts (all NVIDIA GPUs together): NVML, else nvidia-smi, else nothing.

Blocking: call `read()` off the event loop (system.samplers.OffLoop).
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import structlog

log = structlog.get_logger("ollama_proxy.system")


def parse_power(text: str) -> float | None:
    """`nvidia-smi --query-gpu=power.draw --format=csv,noheader,nounits` -> total watts.

    >>> parse_power("212.5\\n31.0\\n")
    243.5
    >>> parse_power("[N/A]\\n") is None
    True
    """
    watts = []
    for line in text.strip().splitlines():
        try:
            watts.append(float(line.strip()))
        except ValueError:
            continue  # "[N/A]": a board without a power sensor
    return sum(watts) if watts else None


class PowerReader:
    """Opens NVML or nvidia-smi on the first read; `read()` is None without a reading."""

    def __init__(self, timeout_s: float = 2.0) -> None:
        self._timeout_s = timeout_s
        self._opened = False
        self._nvml: Any = None
        self._smi: str | None = None

    @property
    def available(self) -> bool:
        self._open()
        return self._nvml is not None or self._smi is not None

    def _open(self) -> None:
        if self._opened:
            return
        self._opened = True
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
        except Exception:  # no package, no driver, no GPU
            self._smi = shutil.which("nvidia-smi")

    def read(self) -> float | None:
        self._open()
        if self._nvml is not None:
            return self._read_nvml()
        if self._smi is not None:
            return self._read_smi(self._smi)
        return None

    def _read_nvml(self) -> float | None:
        nv = self._nvml
        try:
            handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in range(nv.nvmlDeviceGetCount())]
            return float(sum(nv.nvmlDeviceGetPowerUsage(h) for h in handles)) / 1000  # mW
        except Exception as exc:
            log.warning("gpu_power_failed", error=str(exc))
            return None

    def _read_smi(self, binary: str) -> float | None:
        try:
            done = subprocess.run(
                [binary, "--query-gpu=power.draw", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=self._timeout_s,
                check=True,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("nvidia_smi_failed", error=str(exc))
            return None
        return parse_power(done.stdout)
