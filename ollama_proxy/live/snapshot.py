"""One live snapshot from the tracked requests, the learned rates and /api/ps: pure.

Phases come from what the proxy sees. Once output flows a request is `generating` (or
`thinking` while its latest output is reasoning text). Before the first response byte the
proxy cannot see inside Ollama, so the phase is an estimate (`estimated: true`): `loading` when
the model is absent from /api/ps, `queued` beyond the runner's parallel slots, else `prefill`.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ollama_proxy.fleet.names import normalize_model
from ollama_proxy.live.rates import ModelRates, RateBook
from ollama_proxy.live.tracker import SAMPLES, Entry

RATE_WINDOW_S = 2.0  # tokens/s over the last two seconds
MIN_RATE_SPAN_S = 0.25  # shorter spans give noise, not a rate
BYTES_PER_TOKEN = 4  # prompt size estimate from request bytes (JSON overhead included)
WAITING = ("queued", "loading")


@dataclass(frozen=True, slots=True)
class LoadedModel:
    name: str
    size_vram: int
    expires_at: datetime | None
    node: str = ""  # with a fleet: the node it is resident on (the same model may be on two)


def parse_expiry(text: str) -> datetime | None:
    """Go's RFC 3339 with nanoseconds -> datetime (Python takes at most microseconds).

    >>> parse_expiry("2026-11-30T17:00:00.123456789-07:00").isoformat()
    '2026-11-30T17:00:00.123456-07:00'
    >>> parse_expiry("") is None
    True
    """
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.strip()).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def is_resident(model: str, names: Mapping[str, Any]) -> bool:
    """/api/ps names carry a tag; a request may leave `:latest` out."""
    return model in names or (":" not in model and f"{model}:latest" in names)


@dataclass(slots=True)
class _Row:
    entry: Entry
    model: str
    node: str
    tokens: int
    ttfb: float | None
    ttft: float | None
    bytes_in: int


def _read(entry: Entry, now: float) -> _Row:
    view = entry.meter.live_view()
    entry.read_head()
    samples = entry.samples
    if samples is None:
        samples = entry.samples = deque(maxlen=SAMPLES)
    if view.ttft is not None:
        grew = not samples or view.chunks > samples[-1][1]
        if grew:  # the thinking marker is only known from output seen since the last look
            entry.thinking = view.thinking
        samples.append((now, view.chunks))
    record = entry.record
    model = view.model or entry.model or record.model
    node = str(getattr(record, "node", "") or "")
    return _Row(entry, model, node, view.chunks, view.ttfb, view.ttft, view.bytes_in)


def tokens_per_s(samples: deque[tuple[float, int]], now: float) -> float | None:
    """Output units per second over the last RATE_WINDOW_S.

    Samples are in time order; those older than the one at the window's start are dropped
    here, so the rate is the first and the last sample, whatever the request's age.
    """
    edge = now - RATE_WINDOW_S
    while len(samples) > 1 and samples[1][0] <= edge:
        samples.popleft()
    if not samples:
        return None
    (t0, c0), (t1, c1) = samples[0], samples[-1]
    if t1 - t0 < MIN_RATE_SPAN_S:
        return None
    return round((c1 - c0) / (t1 - t0), 2)


def _resident(
    row: _Row, names: Mapping[str, Any] | None, nodes: Mapping[str, Collection[str]] | None
) -> bool | None:
    """Whether the request's model is in VRAM where it runs; None when that is not known.

    With a fleet (`nodes`: each polled node's models from its own /api/ps) only the node the
    request went to counts; before dispatch, or before that node answered, nothing is known.
    """
    if not row.model:
        return None
    if nodes is not None:
        held = nodes.get(row.node) if row.node else None
        return None if held is None else normalize_model(row.model) in held
    return None if names is None else is_resident(row.model, names)


def _pre_output_phase(
    row: _Row,
    position: int,
    free_slots: int,
    names: Mapping[str, Any] | None,
    nodes: Mapping[str, Collection[str]] | None,
) -> str:
    if _resident(row, names, nodes) is False:
        return "loading"
    return "queued" if position >= free_slots else "prefill"


def _prefill_eta(
    row: _Row, rates: ModelRates | None, elapsed_s: float
) -> tuple[int | None, float | None]:
    """Time left and progress of a prefill, from the prompt size and the model's prefill rate."""
    if rates is None or not rates.prefill_tps:
        return None, None
    total_s = row.bytes_in / BYTES_PER_TOKEN / rates.prefill_tps
    left_s = max(0.0, total_s - elapsed_s)
    progress = min(1.0, elapsed_s / total_s) if total_s > 0 else None
    return round(left_s * 1000), progress


def _generation_eta(
    row: _Row, rates: ModelRates | None, rate: float | None
) -> tuple[int | None, float | None, bool]:
    """Time left, progress and whether the target is a guess (typical length, not a limit)."""
    limit = row.entry.limit
    target = float(limit) if limit else (rates.answer_tokens if rates else None)
    speed = rate or (rates.decode_tps if rates else None)
    if not target:
        return None, None, True
    progress = min(1.0, row.tokens / target)
    if not speed or row.tokens > target:
        return None, progress, limit is None
    return round((target - row.tokens) / speed * 1000), progress, limit is None


def _request(row: _Row, phase: str, estimated: bool, now: float, rates: RateBook) -> dict[str, Any]:
    entry, record = row.entry, row.entry.record
    elapsed_s = now - entry.started
    model_rates = rates.get(row.model)
    samples = entry.samples
    rate = tokens_per_s(samples, now) if row.ttft is not None and samples else None
    eta: int | None = None
    progress: float | None = None
    eta_estimated = True
    if phase == "prefill":
        eta, progress = _prefill_eta(row, model_rates, elapsed_s)
    elif phase in ("generating", "thinking"):
        eta, progress, eta_estimated = _generation_eta(row, model_rates, rate)
    item: dict[str, Any] = {
        "id": record.request_id,
        "model": row.model,
        "client": record.client_name or record.client,
        "endpoint": record.endpoint,
        "phase": phase,
        "estimated": estimated,
        "elapsed_ms": round(elapsed_s * 1000),
        "tokens": row.tokens,
        "tokens_per_s": rate,
        "eta_ms": eta,
        "eta_estimated": eta_estimated if eta is not None else None,
        "progress": None if progress is None else round(progress, 3),
    }
    if row.node:
        item["node"] = row.node
    return item


def _phases(
    rows: list[_Row],
    slots: int,
    names: Mapping[str, Any] | None,
    nodes: Mapping[str, Collection[str]] | None,
) -> list[tuple[_Row, str, bool]]:
    """Each row's phase: output -> generating/thinking; before it, by slots and residency."""
    busy: dict[tuple[str, str], int] = {}
    for row in rows:
        if row.ttfb is not None:
            key = (row.node, row.model)
            busy[key] = busy.get(key, 0) + 1
    waiting_seen: dict[tuple[str, str], int] = {}
    out = []
    for row in sorted(rows, key=lambda r: r.entry.started):
        if row.ttft is not None:
            out.append((row, "thinking" if row.entry.thinking else "generating", False))
        elif row.ttfb is not None:
            out.append((row, "prefill", False))  # headers came before any output
        else:
            key = (row.node, row.model)
            position = waiting_seen.get(key, 0)
            waiting_seen[key] = position + 1
            free = max(0, slots - busy.get(key, 0))
            out.append((row, _pre_output_phase(row, position, free, names, nodes), True))
    return out


def _loaded(models: Iterable[LoadedModel], wall: datetime) -> list[dict[str, Any]]:
    out = []
    for m in sorted(models, key=lambda m: (m.node, m.name)):
        left = None if m.expires_at is None else (m.expires_at - wall).total_seconds() * 1000
        item: dict[str, Any] = {
            "name": m.name,
            "size_vram": m.size_vram,
            "expires_in_ms": None if left is None else max(0, round(left)),
        }
        if m.node:
            item["node"] = m.node
        out.append(item)
    return out


def build(
    entries: Iterable[Entry],
    now: float,
    wall: datetime,
    rates: RateBook,
    slots: int,
    loaded: list[LoadedModel] | None,
    nodes: Mapping[str, Collection[str]] | None = None,
) -> dict[str, Any]:
    """The snapshot: requests (oldest first), per-model counts, loaded models.

    `loaded` is None while /api/ps has not answered yet: then no request is called `loading`.
    `nodes` (a fleet): per node that answered /api/ps, its resident models (normalized names);
    a request's residency is then read on its own node.
    """
    rows = [_read(entry, now) for entry in entries]
    names = None if loaded is None else {m.name: m for m in loaded}
    requests = []
    models: dict[str, dict[str, int]] = {}
    for row, phase, estimated in _phases(rows, slots, names, nodes):
        requests.append(_request(row, phase, estimated, now, rates))
        counts = models.setdefault(row.model, {"waiting": 0, "generating": 0})
        counts["waiting" if phase in WAITING else "generating"] += 1
    return {
        "timestamp": wall.isoformat().replace("+00:00", "Z"),
        "in_flight": len(requests),
        "requests": requests,
        "models": models,
        "loaded": _loaded(loaded or [], wall),
    }
