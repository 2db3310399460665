"""What the simulator serves and how fast: models, timings, scheduler limits."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace

# Go's time.ParseDuration units, in seconds.
_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")

FOREVER = float("inf")


class KeepAliveError(ValueError):
    """A keep_alive value Ollama would reject with a 400."""


@dataclass(frozen=True)
class ModelSpec:
    """One local model, as `/api/tags`, `/api/show` and `/api/ps` describe it.

    >>> spec = ModelSpec("llama3.2:latest", size=2019393189, parameter_size="3.2B")
    >>> spec.size_vram is None, spec.family  # fully in VRAM unless told otherwise
    (True, 'llama')
    """

    name: str
    size: int = 2_019_393_189
    size_vram: int | None = None  # None: fully in VRAM (== size)
    context_length: int = 4096
    family: str = "llama"
    parameter_size: str = "3.2B"
    quantization: str = "Q4_K_M"
    embedding_length: int = 3072
    embedding_only: bool = False
    thinking: bool = False  # can think (`think` in the request): thinking chunks come first
    modified_at_ns: int = 1_746_405_464_706_015_396  # 2025-05-04T17:37:44.706015396-07:00
    digest_hex: str = ""  # default: derived from the name

    @property
    def digest(self) -> str:
        return self.digest_hex or hashlib.sha256(self.name.encode()).hexdigest()

    @property
    def vram(self) -> int:
        return self.size if self.size_vram is None else self.size_vram

    @property
    def capabilities(self) -> list[str]:
        if self.embedding_only:
            return ["embedding"]
        return ["completion", "tools", "thinking"] if self.thinking else ["completion", "tools"]


DEFAULT_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("llama3.2:latest"),
    ModelSpec(
        "qwen3:0.6b",
        size=522_653_767,
        family="qwen3",
        parameter_size="751.63M",
        context_length=8192,
        embedding_length=1024,
        thinking=True,
        modified_at_ns=1_746_400_000_000_000_000,
    ),
    ModelSpec(
        "all-minilm:latest",
        size=45_960_996,
        family="bert",
        parameter_size="23M",
        quantization="F16",
        context_length=256,
        embedding_length=384,
        embedding_only=True,
        modified_at_ns=1_746_300_000_000_000_000,
    ),
)

# Models `/api/pull` can fetch that are not local at start.
DEFAULT_PULLABLE: tuple[ModelSpec, ...] = (
    ModelSpec("gemma3:1b", size=815_319_791, family="gemma3", parameter_size="999.89M"),
    ModelSpec(
        "nomic-embed-text:latest",
        size=274_302_450,
        family="nomic-bert",
        parameter_size="137M",
        quantization="F16",
        embedding_length=768,
        embedding_only=True,
    ),
)


@dataclass
class SimulatorConfig:
    """Simulator settings. `tokens_per_s=0` means no delay between tokens (zero-delay mode).

    >>> SimulatorConfig(tokens_per_s=0, ttft_s=0, load_s=0).tokens_per_s  # as fast as possible
    0
    """

    models: list[ModelSpec] = field(default_factory=lambda: list(DEFAULT_MODELS))
    pullable: list[ModelSpec] = field(default_factory=lambda: list(DEFAULT_PULLABLE))
    tokens_per_s: float = 40.0
    ttft_s: float = 0.05  # prompt evaluation time (time to first token once loaded)
    load_s: float = 1.0  # cold load time
    pull_s: float = 0.5  # duration of a simulated `/api/pull`
    keep_alive: str | float = "5m"
    max_queue: int = 512
    num_parallel: int = 1
    version: str = "0.33.0"
    default_tokens: int = 20  # reply length when options.num_predict is absent
    thinking_tokens: int = 8  # thinking length of a thinking model asked to think
    report_cached_tokens: bool = True  # emit `prompt_eval_cached_count` on prompt cache hits
    yield_every: int = 32  # zero-delay mode: let the loop breathe every N chunks

    def __post_init__(self) -> None:
        parse_keep_alive(self.keep_alive)  # fail at start on a bad value

    @property
    def default_keep_alive_s(self) -> float:
        return parse_keep_alive(self.keep_alive)

    @classmethod
    def zero_delay(cls, **overrides: object) -> SimulatorConfig:
        base = cls(tokens_per_s=0, ttft_s=0, load_s=0, pull_s=0)
        return replace(base, **overrides)  # type: ignore[arg-type]


def parse_go_duration(text: str) -> float:
    """`time.ParseDuration` in seconds ("5m", "1h30m", "-1s", "300ms", "0")."""
    original = text
    sign = 1.0
    if text[:1] in ("+", "-"):
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    if text == "0":
        return 0.0
    if not text:
        raise KeepAliveError(f'time: invalid duration "{original}"')
    total = 0.0
    pos = 0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None:
            if text[pos:].replace(".", "").isdigit():
                raise KeepAliveError(f'time: missing unit in duration "{original}"')
            raise KeepAliveError(f'time: invalid duration "{original}"')
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return sign * total


def parse_keep_alive(value: object) -> float:
    """Seconds to stay loaded: a duration string or seconds; negative = forever, 0 = unload."""
    if isinstance(value, bool):
        raise KeepAliveError("json: cannot unmarshal bool into Go value of type time.Duration")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = parse_go_duration(value)
    else:
        raise KeepAliveError("json: cannot unmarshal into Go value of type time.Duration")
    return FOREVER if seconds < 0 else seconds


def normalize_name(name: str) -> str:
    """Ollama's name handling: case-insensitive, `:latest` when no tag is given."""
    name = name.strip()
    if name.startswith("registry.ollama.ai/library/"):
        name = name.removeprefix("registry.ollama.ai/library/")
    name = name.removeprefix("library/")
    if ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name.lower()


def parse_listen(value: str, default_port: int = 11434) -> tuple[str, int]:
    """`host:port`, `:port`, `host`, or `scheme://host:port` (the forms OLLAMA_HOST accepts)."""
    value = value.strip()
    if "://" in value:
        scheme, value = value.split("://", 1)
        if scheme == "https":
            default_port = 443
        elif scheme == "http" and value and ":" not in value.split("/", 1)[0]:
            default_port = 80
    value = value.split("/", 1)[0]
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest.lstrip(":")
    elif value.count(":") == 1:
        host, port = value.split(":")
    else:
        host, port = value, ""
    return host or "127.0.0.1", int(port) if port else default_port
