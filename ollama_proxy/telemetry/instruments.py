"""Request metrics: one `record(RequestRecord)` per request, gauges registered by callback.

Instruments are created once from an injected MeterProvider. Request values go to `Aggregates`
(cheap, see aggregates.py) and reach the provider's readers through `bridge.attach`; gauges
(CPU, memory, loaded models, ...) are ordinary SDK observable gauges.

>>> from opentelemetry.sdk.metrics import MeterProvider
>>> from yarl import URL
>>> inst = Instruments(MeterProvider(), URL("http://127.0.0.1:11434"))
>>> inst.record(RequestRecord(operation="chat", inference=True, model="m", latency_ms=20))
>>> sorted(inst.aggregates.histograms)
['gen_ai.client.operation.duration']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from time import time_ns

import structlog
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from yarl import URL

from ollama_proxy.records import RequestRecord
from ollama_proxy.telemetry import names as n
from ollama_proxy.telemetry.aggregates import Aggregates, AttrKey, AttrValue, HistogramState
from ollama_proxy.telemetry.bridge import attach
from ollama_proxy.telemetry.labels import (
    DEFAULT_MAX_MODEL_LABELS,
    LabelBudget,
)

log = structlog.get_logger("ollama_proxy.telemetry")

GaugeValue = float | int | None
GaugeResult = GaugeValue | Iterable[tuple[float | int, Mapping[str, AttrValue]]]
GaugeCallback = Callable[[], GaugeResult]

VERSION = "0.1.0"


def genai_operation(operation: str) -> str:
    """The proxy's route verb as gen_ai.operation.name (`generate` -> `text_completion`)."""
    return n.GENAI_OPERATION_BY_ROUTE.get(operation, operation)


def error_type(record: RequestRecord) -> str:
    """Low-cardinality error.type: the HTTP status for HTTP errors (semconv), else our class."""
    kind = record.error_type
    if kind.startswith("http_"):
        return kind[5:]
    if kind:
        return kind
    if record.http_status >= 400:
        return str(record.http_status)
    return n.ERROR_TYPE_OTHER


def seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000.0


class Instruments:
    """Creates the instruments once; `record` turns a finished request into metric values."""

    def __init__(
        self,
        meter_provider: MeterProvider,
        upstream_url: URL,
        *,
        max_model_labels: int = DEFAULT_MAX_MODEL_LABELS,
    ) -> None:
        self.aggregates = Aggregates(start_ns=time_ns())
        # Model names come from requests: budgeted (see labels.py).
        self.models = LabelBudget(max_model_labels)
        self._meter = meter_provider.get_meter(n.SCOPE, VERSION)
        self._server: AttrKey = (
            (n.SERVER_ADDRESS, upstream_url.host or ""),
            (n.SERVER_PORT, upstream_url.port or 0),
        )
        self._series: dict[tuple[str, str, str, str], _Series] = {}
        self._node_servers: dict[str, AttrKey] = {}  # a fleet: server.* of each node
        self._operation_keys: dict[str, AttrKey] = {}
        scope = InstrumentationScope(n.SCOPE, VERSION)
        attach(meter_provider, scope, self._produce)

    def _produce(self, now_ns: int) -> list:  # type: ignore[type-arg]
        return self.aggregates.to_metrics(n.ALL_METRICS, now_ns)

    def set_nodes(self, nodes: Mapping[str, tuple[str, int]]) -> None:
        """A fleet: GenAI metrics carry the server.address/port of the node that answered."""
        self._node_servers = {
            name: ((n.SERVER_ADDRESS, host), (n.SERVER_PORT, port))
            for name, (host, port) in nodes.items()
        }

    # --- per request ------------------------------------------------------------------
    def in_flight(self, operation: str, delta: int) -> None:
        key = self._operation_keys.get(operation)
        if key is None:  # operations are the few verbs of operations.py
            key = self._operation_keys[operation] = ((n.OLLAMA_OPERATION, operation),)
        with self.aggregates.lock:
            self.aggregates.add(n.IN_FLIGHT.name, key, delta)

    def record(self, record: RequestRecord, ttfc_s: float | None = None) -> None:
        """All metric values of one finished request (bench/bench_telemetry.py measures them)."""
        agg = self.aggregates
        model = self.model_label(record)
        requests_key: AttrKey = (
            (n.OLLAMA_OPERATION, record.operation),
            (n.GEN_AI_REQUEST_MODEL, model),
            (n.HTTP_RESPONSE_STATUS_CODE, record.http_status),
            (n.OLLAMA_REQUEST_STATUS, record.status),
        )
        with agg.lock:
            agg.add(n.REQUESTS.name, requests_key, 1)
            if record.status == "error":
                agg.add(n.ERRORS.name, self._error_key(record, model), 1)
            if record.inference:
                self._record_genai(record, model, ttfc_s)

    def model_label(self, record: RequestRecord) -> str:
        """The record's model as a metric label: itself while the budget lasts, else `other`.

        Only a name Ollama answered with a 2xx is trusted: a 4xx for a made-up name
        must not take a label.
        """
        return self.models.label(record.model, trusted=200 <= record.http_status < 300)

    def _error_key(self, record: RequestRecord, model: str) -> AttrKey:
        return (
            (n.OLLAMA_OPERATION, record.operation),
            (n.GEN_AI_REQUEST_MODEL, model),
            (n.ERROR_TYPE, error_type(record)),
        )

    def _genai_series(self, operation: str, model: str, error: str, node: str) -> _Series:
        cache_key = (operation, model, error, node)
        series = self._series.get(cache_key)
        if series is None:
            key: AttrKey = (
                (n.GEN_AI_OPERATION_NAME, genai_operation(operation)),
                (n.GEN_AI_PROVIDER_NAME, n.PROVIDER),
                (n.GEN_AI_REQUEST_MODEL, model),
                *self._node_servers.get(node, self._server),
            )
            if error:
                key += ((n.ERROR_TYPE, error),)
            series = _Series(self.aggregates, key)
            if len(self._series) < 10_000:  # bounded: model names come from clients
                self._series[cache_key] = series
        return series

    def _record_genai(self, r: RequestRecord, model: str, ttfc_s: float | None) -> None:
        if r.status == "cancelled":
            return  # client hang-ups would skew latency; they are counted in ollama.requests
        error = error_type(r) if r.status == "error" else ""
        series = self._genai_series(r.operation, model, error, r.node)
        series.observe(n.OPERATION_DURATION.name, n.DURATION_BUCKETS, r.latency_ms / 1000.0)
        if error:
            return
        self._record_tokens(r, series)
        self._record_thinking(r, series)
        if r.stream:
            self._record_chunks(r, series, ttfc_s)
        self._record_server(r, series)

    def _record_thinking(self, r: RequestRecord, series: _Series) -> None:
        if r.thinking_tokens:
            self.aggregates.add(n.REASONING_OUTPUT_TOKENS.name, series.key, r.thinking_tokens)
        if r.thinking_ms is not None:
            series.observe(n.THINKING_DURATION.name, n.DURATION_BUCKETS, r.thinking_ms / 1e3)
        if r.ttft_answer_ms is not None:
            answer_s = r.ttft_answer_ms / 1e3
            series.observe(n.TIME_TO_FIRST_ANSWER_CHUNK.name, n.DURATION_BUCKETS, answer_s)

    def _record_tokens(self, r: RequestRecord, series: _Series) -> None:
        # Semconv: MUST NOT report counts that could not be obtained; estimates are not usage.
        if r.usage_source != "reported" or not (r.prompt_tokens or r.completion_tokens):
            return
        usage, bounds = n.TOKEN_USAGE.name, n.TOKEN_BUCKETS
        series.observe(usage, bounds, r.prompt_tokens, extra=_INPUT)
        if genai_operation(r.operation) != "embeddings":
            series.observe(usage, bounds, r.completion_tokens, extra=_OUTPUT)
        if r.cached_tokens:
            self.aggregates.add(n.CACHED_INPUT_TOKENS.name, series.key, r.cached_tokens)

    def _record_chunks(self, r: RequestRecord, series: _Series, ttfc_s: float | None) -> None:
        if ttfc_s is None:
            ttfc_s = seconds(r.ttfb_ms)
        if ttfc_s is None:
            return
        series.observe(n.TIME_TO_FIRST_CHUNK.name, n.DURATION_BUCKETS, ttfc_s)
        if r.chunks > 1:
            # Semconv wants one value per chunk after the first; measuring each would cost per
            # chunk, so each counts at the mean interval (the sum stays exact).
            mean = max(r.latency_ms / 1000.0 - ttfc_s, 0.0) / (r.chunks - 1)
            series.observe(n.TIME_PER_OUTPUT_CHUNK.name, n.DURATION_BUCKETS, mean, r.chunks - 1)

    def _record_server(self, r: RequestRecord, series: _Series) -> None:
        if r.total_duration_ms is not None:
            series.observe(
                n.SERVER_REQUEST_DURATION.name, n.DURATION_BUCKETS, r.total_duration_ms / 1e3
            )
        load, prefill = r.load_duration_ms, r.prompt_eval_duration_ms
        if load is not None:
            series.observe(n.MODEL_LOAD_DURATION.name, n.DURATION_BUCKETS, load / 1e3)
        if prefill is not None:
            series.observe(n.PROMPT_EVAL_DURATION.name, n.DURATION_BUCKETS, prefill / 1e3)
            ttft = (prefill + (load or 0.0)) / 1e3
            series.observe(n.SERVER_TIME_TO_FIRST_TOKEN.name, n.TTFT_BUCKETS, ttft)
        if r.eval_duration_ms is not None and r.completion_tokens > 0:
            tpot = r.eval_duration_ms / 1e3 / r.completion_tokens
            series.observe(n.SERVER_TIME_PER_OUTPUT_TOKEN.name, n.TPOT_BUCKETS, tpot)
        if r.queue_wait_ms is not None:
            series.observe(n.QUEUE_WAIT.name, n.QUEUE_BUCKETS, r.queue_wait_ms / 1e3)
        if r.decode_tps is not None:
            series.observe(n.TOKENS_PER_SECOND.name, n.TPS_BUCKETS, r.decode_tps)

    # --- gauges -----------------------------------------------------------------------
    def register_gauge(
        self, name: str, unit: str, description: str, callback: GaugeCallback
    ) -> None:
        """An observable gauge read at every collection (scrape, export, JSON snapshot).

        `callback` returns a number, None (no value now), or (value, attributes) pairs, e.g.
        one per loaded model. It runs on the collecting thread: keep it to a cached read.
        """

        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            try:
                return _observations(callback())
            except Exception:
                log.exception("gauge_callback_failed", gauge=name)
                return []

        self._meter.create_observable_gauge(
            name, callbacks=[observe], unit=unit, description=description
        )

    def register_counter(
        self, name: str, unit: str, description: str, callback: GaugeCallback
    ) -> None:
        """An observable (monotonic) counter: `callback` returns running totals, as above."""

        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            try:
                return _observations(callback())
            except Exception:
                log.exception("counter_callback_failed", counter=name)
                return []

        self._meter.create_observable_counter(
            name, callbacks=[observe], unit=unit, description=description
        )


_INPUT: AttrKey = ((n.GEN_AI_TOKEN_TYPE, n.TOKEN_TYPE_INPUT),)
_OUTPUT: AttrKey = ((n.GEN_AI_TOKEN_TYPE, n.TOKEN_TYPE_OUTPUT),)


class _Series:
    """One gen_ai attribute set and the histogram states recorded under it.

    A request records about ten values under the same attributes; looking each state up by
    metric name here, instead of by name and attribute key in `Aggregates`, hashes the key
    once per new series rather than once per value (callers hold the aggregates' lock).
    """

    __slots__ = ("_aggregates", "_states", "key")

    def __init__(self, aggregates: Aggregates, key: AttrKey) -> None:
        self._aggregates = aggregates
        self._states: dict[object, HistogramState] = {}
        self.key = key

    def observe(
        self,
        name: str,
        bounds: tuple[float, ...],
        value: float,
        count: int = 1,
        extra: AttrKey = (),
    ) -> None:
        """Add `count` observations of `value`; `extra` attributes extend the set's (token type)."""
        slot = (name, extra) if extra else name
        state = self._states.get(slot)
        if state is None:
            state = self._aggregates.histogram(name, bounds, self.key + extra)
            self._states[slot] = state
        state.add(value, count)


def _observations(result: GaugeResult) -> list[Observation]:
    if result is None:
        return []
    if isinstance(result, int | float):
        return [Observation(result)]
    return [Observation(value, dict(attrs)) for value, attrs in result]
