"""Residency diffs from /api/ps snapshots (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from ollama_proxy.system.residency import Timeline, diff, parse_ps

PS = {
    "models": [
        {
            "name": "gemma4",
            "model": "gemma4",
            "size": 6591830464,
            "size_vram": 5333539264,
            "context_length": 4096,
            "expires_at": "2025-10-17T16:47:07.93355-07:00",
        }
    ]
}
AT = datetime(2026, 11, 28, 10, tzinfo=UTC)


def test_parse_ps_fixture_f8() -> None:
    [resident] = parse_ps(PS).values()
    assert (resident.name, resident.size_vram, resident.context_length) == (
        "gemma4",
        5333539264,
        4096,
    )
    assert parse_ps({"models": []}) == {}


def test_diff_loads_and_unloads() -> None:
    now = parse_ps(PS)
    [load] = diff({}, now, AT)
    assert (load.model, load.event, load.size_vram) == ("gemma4", "load", 5333539264)
    [unload] = diff(now, {}, AT)
    assert (unload.model, unload.event) == ("gemma4", "unload")
    assert diff(now, now, AT) == []


def test_timeline_keeps_events_and_residents() -> None:
    timeline = Timeline(limit=3)
    assert [e.event for e in timeline.update(parse_ps(PS), AT)] == ["load"]
    assert timeline.update(parse_ps(PS), AT) == []
    later = AT.replace(minute=5)
    [unload] = timeline.update({}, later)
    assert (unload.event, unload.resident_s) == ("unload", 300.0)
    assert timeline.residents == {} and len(timeline.since(AT)) == 2
    assert timeline.resident_for("gemma4", later) is None


def test_nvidia_smi_output_is_parsed_and_na_fields_skipped() -> None:
    from ollama_proxy.system.samplers import Sampler, parse_smi

    text = "0, NVIDIA GeForce RTX 4090, 37, 20480, 24564, 61\n1, Tesla T4, [N/A], 10, 15360, 40\n"
    [gpu] = parse_smi(text)
    assert (gpu.index, gpu.utilization_percent, gpu.temperature_c) == (0, 37.0, 61.0)
    assert gpu.memory_used_bytes == 20480 * 1024 * 1024
    sample = Sampler().sample()  # no GPU here: sampled cleanly as none
    assert sample.gpus == [] or all(g.memory_total_bytes > 0 for g in sample.gpus)
    assert 0 <= sample.proxy_cpu_percent
