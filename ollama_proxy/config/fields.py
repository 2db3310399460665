"""Helpers shared by the settings modules: env-name aliases and comma-separated lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import AliasChoices


def env(*names: str) -> AliasChoices:
    """The environment names of a setting; the first is the documented one."""
    return AliasChoices(*names)


def read_secret_file(path: str, variable: str) -> str:
    """The contents of a `*_FILE` setting (Docker secrets convention), without the newline."""
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise ValueError(f"{variable}: cannot read {path!r}: {exc.strerror or exc}") from None


def split_commas(value: Any) -> Any:
    """`a, b,,c` -> ["a", "b", "c"]; lists (from kwargs) pass through."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value
