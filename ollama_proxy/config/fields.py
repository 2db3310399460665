"""Helpers shared by the settings modules: env-name aliases and comma-separated lists."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices


def env(*names: str) -> AliasChoices:
    """The environment names of a setting; the first is the documented one."""
    return AliasChoices(*names)


def split_commas(value: Any) -> Any:
    """`a, b,,c` -> ["a", "b", "c"]; lists (from kwargs) pass through."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value
