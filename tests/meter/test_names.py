"""Model names: the canonical form, and its memory bounded against clients' junk names."""

from __future__ import annotations

from ollama_proxy.meter import names
from ollama_proxy.meter.names import MODEL_NAME_MAX, canonical_model


def test_canonical_names() -> None:
    assert canonical_model("llama3.2") == "llama3.2:latest"
    assert canonical_model(" qwen3:0.6b ") == "qwen3:0.6b"
    assert canonical_model("hf.co/org/m") == "hf.co/org/m:latest"
    assert canonical_model("m@sha256:abc") == "m:latest@sha256:abc"
    assert canonical_model("") == canonical_model("   ") == ""


def test_remembered_answers_equal_fresh_ones_and_the_memory_is_bounded() -> None:
    remembered = names._canonical_remembered
    remembered.cache_clear()
    for i in range(3 * 1024):
        name = f"model-{i}" + ("" if i % 2 else ":7b")
        assert canonical_model(name) == names._canonical(name)
    assert remembered.cache_info().currsize == 1024
    junk = "x" * (MODEL_NAME_MAX + 1_000_000)
    before = remembered.cache_info()
    assert canonical_model(junk) == "x" * MODEL_NAME_MAX
    after = remembered.cache_info()
    assert (after.hits, after.misses) == (before.hits, before.misses)  # never kept
