"""Deterministic stand-ins for a tokenizer and a model: prompt token counts, reply tokens,
token ids and embedding vectors. Same input, same output, so tests can predict them."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache

from ollama_proxy.simulator import gojson

_WORD = re.compile(r"\w+|[^\w\s]")

# Reply vocabulary. A few tokens exercise Go's HTML escaping (<, >, &) and multi-byte UTF-8,
# which a byte-transparent proxy and an incremental decoder must both survive.
VOCABULARY: tuple[str, ...] = (
    "The",
    " sky",
    " appears",
    " blue",
    " because",
    " of",
    " Rayleigh",
    " scattering",
    ".",
    " Sunlight",
    " is",
    " made",
    " of",
    " many",
    " colours",
    ",",
    " and",
    " shorter",
    " blue",
    " wavelengths",
    " scatter",
    " more",
    " than",
    " red",
    " ones",
    " <",
    "b",
    ">",
    " &",
    " so",
    " the",
    " café",
    " sky",
    " looks",
    " blue",
    " 🙂",
    " at",
    " noon",
    ";",
    " at",
    " sunset",
    " light",
    " travels",
    " farther",
    ",",
    " so",
    " reds",
    " and",
    " oranges",
    " dominate",
    ".",
    ' "Quoted"',
    " text",
    " and",
    " a",
    " back\\slash",
    " too",
    ".",
    "\n",
    "Hope",
    " that",
    " helps",
    "!",
)

# Template overhead Ollama adds around a prompt (a chat template's special tokens).
GENERATE_OVERHEAD = 10
CHAT_OVERHEAD = 5
PER_MESSAGE_OVERHEAD = 4


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def token_id(piece: str) -> int:
    return 1000 + zlib.crc32(piece.encode()) % 127_000


def prompt_token_ids(pieces: Iterable[str]) -> list[int]:
    return [token_id(p) for p in pieces]


def generate_prompt_ids(prompt: str, system: str = "") -> list[int]:
    """The token ids of a templated generate prompt."""
    ids = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10][:GENERATE_OVERHEAD]
    return ids + prompt_token_ids(words(system)) + prompt_token_ids(words(prompt))


def chat_prompt_ids(messages: Sequence[tuple[str, str]]) -> list[int]:
    """The token ids of a templated chat: per-message role headers plus content."""
    ids = [1, 2, 3, 4, 5][:CHAT_OVERHEAD]
    for role, content in messages:
        ids += [11, token_id(role), 12, 13][:PER_MESSAGE_OVERHEAD]
        ids += prompt_token_ids(words(content))
    return ids


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class Reply(Sequence[str]):
    """`count` reply tokens from the vocabulary, starting at a place chosen by the prompt.

    Lazy, so a client asking for num_predict=10**8 costs nothing up front.
    """

    def __init__(self, seed_text: str, count: int, first: str | None = None) -> None:
        self._start = zlib.crc32(seed_text.encode()) % len(VOCABULARY)
        self._count = count
        self._first = first

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> str:  # type: ignore[override]
        if not 0 <= index < self._count:
            raise IndexError(index)
        if index == 0 and self._first is not None:
            return self._first
        return VOCABULARY[(self._start + index) % len(VOCABULARY)]

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(self._count))

    def text(self, upto: int | None = None) -> str:
        return "".join(self[i] for i in range(min(self._count, upto or self._count)))


def reply_tokens(seed_text: str, count: int) -> list[str]:
    return list(Reply(seed_text, count))


@lru_cache(maxsize=1)
def _float_table() -> tuple[tuple[float, ...], tuple[bytes, ...], tuple[bytes, ...]]:
    """1024 float32 values in ±[0.001, 0.2), with their Go encodings as float32 and float64."""
    values: list[float] = []
    for i in range(1024):
        raw = ((i * 2_654_435_761) % 1_999) / 10_000 + 0.001
        value = struct.unpack("<f", struct.pack("<f", raw if i % 2 else -raw))[0]
        values.append(value)
    as32 = tuple(gojson.go_float32(v) for v in values)
    as64 = tuple(gojson.go_float64(v) for v in values)
    return tuple(values), as32, as64


def embedding_indices(text: str, dims: int) -> list[int]:
    seed = zlib.crc32(text.encode())
    return [(seed + i * 40_503) % 1024 for i in range(dims)]


def embedding_json(text: str, dims: int, *, float64: bool = False) -> bytes:
    """The JSON array of a deterministic embedding (float32 as /api/embed, float64 as the
    legacy /api/embeddings writes it)."""
    _, as32, as64 = _float_table()
    table = as64 if float64 else as32
    return b"[" + b",".join(table[i] for i in embedding_indices(text, dims)) + b"]"


def embedding_values(text: str, dims: int) -> list[float]:
    values, _, _ = _float_table()
    return [values[i] for i in embedding_indices(text, dims)]


def estimate_anthropic_tokens(system: str, messages: Sequence[tuple[str, str]]) -> int:
    """Ollama's `EstimateInputTokens`: bytes / 4, at least 1 when there is anything."""
    total = len(system.encode())
    for role, content in messages:
        total += len(role.encode()) + len(content.encode())
    tokens = total // 4
    if tokens == 0 and (messages or system):
        tokens = 1
    return tokens
