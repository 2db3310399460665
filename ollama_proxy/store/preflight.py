"""Open-time checks: a store that can never work stops the start with one line saying why.

A network store that is merely down at start is fine (the journal keeps its records and
/api/health says so); a missing SQLite folder, a wrong password or an unknown database will
not fix themselves, so running on would only log a warning every few seconds.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from ollama_proxy.store.base import mask_password

# Causes that retrying cannot fix, as the drivers word them (asyncpg through SQLAlchemy,
# ClickHouse, SQLite).
FATAL = re.compile(
    r'database "[^"]*" does not exist|role "[^"]*" does not exist'
    r"|password authentication failed|InvalidPasswordError|InvalidCatalogNameError"
    r"|InvalidAuthorizationSpecification|AUTHENTICATION_FAILED|Authentication failed"
    r"|UNKNOWN_DATABASE|unable to open database file"
)


class StoreOpenError(RuntimeError):
    """A configured store cannot be opened; the message names the URL and the cause."""


def sqlite_file(url: str) -> Path | None:
    """The file of a sqlite:/// URL (relative to the working folder), None for other URLs."""
    if urlsplit(url).scheme.split("+")[0] != "sqlite" or ":///" not in url:
        return None
    path = url.split(":///", 1)[1].split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


def sqlite_problem(url: str) -> str | None:
    """Why a SQLite file cannot be created or written, or None."""
    path = sqlite_file(url)
    if path is None:
        return None
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        return (
            f"folder {str(folder)!r} does not exist (working folder {os.getcwd()!r}). "
            "sqlite:///relative/path is relative to the working folder; "
            "sqlite:////absolute/path (four slashes) is absolute. Create the folder or fix "
            "the URL."
        )
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return f"{str(path)!r} is not writable by this user"
    return None


def fatal_cause(error_text: str) -> bool:
    """A wrong password, an unknown database or role: retrying will not fix it."""
    return FATAL.search(error_text) is not None


def refuse(url: str, cause: str) -> StoreOpenError:
    first_line = cause.strip().splitlines()[0] if cause.strip() else "unknown cause"
    return StoreOpenError(f"store {mask_password(url)} cannot be opened: {first_line}")
