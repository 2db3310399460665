"""Helpers shared by the settings modules: env aliases, comma-separated lists, `*_FILE` secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel


def env(*names: str) -> AliasChoices:
    """The environment names of a setting; the first is the documented one."""
    return AliasChoices(*names)


def read_secret_file(path: str, variable: str) -> str:
    """The contents of a `*_FILE` setting (Docker secrets convention), without the newline."""
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise ValueError(f"{variable}: cannot read {path!r}: {exc.strerror or exc}") from None


def fill_from_secret_file(settings: BaseModel, name: str) -> None:
    """An empty `name` takes the contents of the file `name_file` names (NAME_FILE)."""
    path = getattr(settings, f"{name}_file")
    if path and not getattr(settings, name):
        secret = read_secret_file(path, f"{name.upper()}_FILE")
        object.__setattr__(settings, name, secret)  # after validation: no re-validation


def split_commas(value: Any) -> Any:
    """`a, b,,c` -> ["a", "b", "c"]; lists (from kwargs) pass through."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value
