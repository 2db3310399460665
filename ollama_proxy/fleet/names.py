"""Model names as Ollama compares them."""

from __future__ import annotations


def normalize_model(name: str) -> str:
    """Case-insensitive, `:latest` when no tag is given, library prefixes dropped.

    >>> normalize_model("Llama3.2"), normalize_model("qwen3:0.6b")
    ('llama3.2:latest', 'qwen3:0.6b')
    """
    name = name.strip().lower()
    name = name.removeprefix("registry.ollama.ai/").removeprefix("library/")
    if name and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name
