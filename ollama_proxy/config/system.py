"""System settings: host sampling, the model residency poll and a spawned `ollama serve`."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ollama_proxy.config.fields import env


class SystemSettings(BaseModel):
    ps_poll_interval_s: float = Field(
        5.0,
        gt=0,
        validation_alias=env("PS_POLL_INTERVAL_S", "ps_poll_interval_s"),
        description="Seconds between /api/ps polls for the model residency timeline.",
    )
    sampler_timeout_s: float = Field(
        5.0,
        gt=0,
        validation_alias=env("SAMPLER_TIMEOUT_S", "sampler_timeout_s"),
        description="Seconds a host or GPU sampler (psutil, NVML, nvidia-smi) may take, in its "
        "own worker thread; a slower one is skipped for that sample (nvidia-smi is killed).",
    )
    spawn_ollama: bool = Field(
        False,
        validation_alias=env("SPAWN_OLLAMA", "spawn_ollama"),
        description="Start `ollama serve` as a child process (`--spawn-ollama`) instead of "
        "attaching to a running upstream.",
    )
    ollama_binary: str = Field(
        "ollama",
        validation_alias=env("OLLAMA_BINARY", "ollama_binary"),
        description="The ollama executable used with SPAWN_OLLAMA (a name on PATH or a path).",
    )
    power_sample_ms: int = Field(
        500,
        ge=0,
        le=5000,
        validation_alias=env("POWER_SAMPLE_MS", "power_sample_ms"),
        description="Milliseconds between GPU power readings (NVML, else nvidia-smi) while "
        "inference requests run, for each request's `energy_j`; 0 = off. Without a reading "
        "`energy_j` stays null.",
    )
