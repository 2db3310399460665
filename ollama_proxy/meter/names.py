"""Pure: one canonical name per model, by Ollama's own rule.

Ollama reads `llama3.2` as `llama3.2:latest` (a name without a tag gets `latest`), so the
requests for one and the `/api/ps` row of the other are the same model. Registry hosts and
namespaces are kept as written (`hf.co/org/m:q4`, `me/m:latest`): they name other models.
Case is kept too: `/api/tags` and `/api/ps` list names as they were pulled.

>>> canonical_model("llama3.2"), canonical_model("qwen3:0.6b")
('llama3.2:latest', 'qwen3:0.6b')
>>> canonical_model("localhost:5000/me/m"), canonical_model("")
('localhost:5000/me/m:latest', '')
"""

from __future__ import annotations

import functools

# Longest model name a record keeps: Ollama's own names are far shorter (host, namespace,
# model and tag are each capped well below this), so anything longer is a client's junk.
MODEL_NAME_MAX = 200


def clip(name: str, limit: int = MODEL_NAME_MAX) -> str:
    """`name` cut to `limit` characters (records keep what the client sent, bounded)."""
    return name if len(name) <= limit else name[:limit]


def canonical_model(name: str) -> str:
    """`name` with `:latest` added when its last path segment has no tag; "" stays "".

    A digest (`m@sha256:...`) is not a tag: the tag goes before it.

    >>> canonical_model("m@sha256:abc"), canonical_model(" m:7b ")
    ('m:latest@sha256:abc', 'm:7b')

    Every metered request asks this of its model, nearly always one of a few names: those up
    to MODEL_NAME_MAX long are remembered (1,024 at most), longer junk is worked out each time.
    """
    if len(name) > MODEL_NAME_MAX:
        return _canonical(name)
    return _canonical_remembered(name)


def _canonical(name: str) -> str:
    name = name.strip()
    if not name:
        return ""
    base, at, digest = name.partition("@")
    if not base:
        return clip(name)
    if ":" not in base.rsplit("/", 1)[-1]:
        base += ":latest"
    return clip(base + at + digest)


_canonical_remembered = functools.lru_cache(maxsize=1024)(_canonical)


def stored_names(name: str) -> tuple[str, ...]:
    """The names rows may hold for the model `name`: its canonical name, and for a `:latest`
    model the untagged text that rows written before names were canonical kept.

    >>> stored_names("llama3.2"), stored_names("qwen3:0.6b")
    (('llama3.2:latest', 'llama3.2'), ('qwen3:0.6b',))
    """
    canonical = canonical_model(name)
    base, at, digest = canonical.partition("@")
    if not base.endswith(":latest"):
        return (canonical,)
    return (canonical, base.removesuffix(":latest") + at + digest)
