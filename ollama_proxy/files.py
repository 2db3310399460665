"""Small state files written whole: a reader finds the old content or the new, never a part."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, body: bytes) -> None:
    """Blocking (mkdir, write, rename): call it off the event loop.

    No fsync: what is kept this way (a store's cursor, alert silences, a metrics snapshot)
    costs little when a power loss takes its last change back.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(body)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
