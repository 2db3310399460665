"""Pure: the answers of several nodes as one Ollama's (/api/tags, /api/ps, /api/version,
/v1/models). Entries keep their own keys in their own order; duplicates (same name and
digest) keep the first node's entry."""

from __future__ import annotations

import re
from typing import Any

import orjson


def _models(bodies: list[Any], key: str) -> list[Any]:
    out, seen = [], set()
    for body in bodies:
        items = body.get(key) if isinstance(body, dict) else None
        for item in items if isinstance(items, list) else ():
            if not isinstance(item, dict):
                continue
            ident = (item.get("name") or item.get("model") or item.get("id"), item.get("digest"))
            if ident not in seen:
                seen.add(ident)
                out.append(item)
    return out


def union_models(bodies: list[Any]) -> bytes:
    """`{"models":[...]}` of /api/tags or /api/ps, merged.

    >>> union_models([{"models": [{"name": "a", "digest": "1"}]},
    ...               {"models": [{"name": "a", "digest": "1"}, {"name": "b", "digest": "2"}]}])
    b'{"models":[{"name":"a","digest":"1"},{"name":"b","digest":"2"}]}'
    """
    return orjson.dumps({"models": _models(bodies, "models")})


def union_openai_models(bodies: list[Any]) -> bytes:
    """`{"object":"list","data":[...]}` of /v1/models, merged by id."""
    return orjson.dumps({"object": "list", "data": _models(bodies, "data")})


_PARTS = re.compile(r"\d+")


def _version_key(version: str) -> tuple[int, ...]:
    core, _, pre = version.partition("-")
    numbers = tuple(int(p) for p in _PARTS.findall(core)[:3])
    # A pre-release (0.5.0-rc1) is older than its release.
    return (*numbers, 0 if pre else 1)


def lowest_version(bodies: list[Any]) -> bytes:
    """The oldest `{"version": ...}`: what every node of the fleet supports.

    >>> lowest_version([{"version": "0.12.3"}, {"version": "0.9.6"}, {"version": "0.12.3-rc1"}])
    b'{"version":"0.9.6"}'
    """
    versions = [
        b["version"] for b in bodies if isinstance(b, dict) and isinstance(b.get("version"), str)
    ]
    return orjson.dumps({"version": min(versions, key=_version_key) if versions else ""})
