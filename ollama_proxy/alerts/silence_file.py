"""Silences kept across restarts: `JOURNAL_DIR/silences.json`, rewritten whole on each change.

A silence is an operator's decision (mute this rule during maintenance); a restart in the
middle of that maintenance must not turn the notifications back on. Alerts themselves are
not kept: they are derived again from what the proxy sees.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from ollama_proxy.alerts.lifecycle import MAX_SILENCE_TEXT, MAX_SILENCES, Silence
from ollama_proxy.files import write_atomic

FILE_NAME = "silences.json"
FORMAT_VERSION = 1
MAX_FILE_BYTES = 4 * 1024 * 1024  # 1,000 silences of 500-character matchers fit well within


def document(silences: Iterable[Silence]) -> bytes:
    """The file's content.

    >>> body = document([Silence({"model": "m"}, expires_at=20.0, created_at=10.0, id="1-a")])
    >>> [s.id for s in parse(body, now=15.0)], parse(body, now=20.0)
    (['1-a'], [])
    """
    return orjson.dumps(
        {"version": FORMAT_VERSION, "silences": [s.to_dict() for s in silences]},
        option=orjson.OPT_INDENT_2,
    )


def parse(body: bytes, now: float) -> list[Silence]:
    """The silences still in force at `now`, at most MAX_SILENCES. ValueError: not this file's
    format (the caller keeps running without them and says so)."""
    data = orjson.loads(body)
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise ValueError(f"not a version {FORMAT_VERSION} silences file")
    items = data.get("silences")
    if not isinstance(items, list):
        raise ValueError("'silences' is not a list")
    silences = [_silence(item) for item in items[:MAX_SILENCES]]
    return [s for s in silences if s.expires_at > now]


def _silence(item: Any) -> Silence:
    if not isinstance(item, dict):
        raise ValueError("a silence is not an object")
    matchers, rule = item.get("matchers") or {}, item.get("rule")
    if not isinstance(matchers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in matchers.items()
    ):
        raise ValueError("a silence's matchers are not text labels")
    if rule is not None and not isinstance(rule, str):
        raise ValueError("a silence's rule is not text")
    try:
        return Silence(
            matchers={k[:MAX_SILENCE_TEXT]: v[:MAX_SILENCE_TEXT] for k, v in matchers.items()},
            expires_at=float(item["expires_at"]),
            created_at=float(item["created_at"]),
            rule=rule[:MAX_SILENCE_TEXT] if rule is not None else None,
            comment=str(item.get("comment") or "")[:MAX_SILENCE_TEXT],
            id=str(item["id"])[:MAX_SILENCE_TEXT],
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"a silence lacks {exc}") from None


def load(path: Path, now: float) -> list[Silence]:
    """Blocking: call it off the event loop. No file: no silences."""
    try:
        with path.open("rb") as file:
            body = file.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return []
    if len(body) > MAX_FILE_BYTES:
        raise ValueError(f"larger than {MAX_FILE_BYTES} bytes")
    return parse(body, now)


def save(path: Path, silences: Iterable[Silence]) -> None:
    """Blocking: call it off the event loop."""
    write_atomic(path, document(silences))
