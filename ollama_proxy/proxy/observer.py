"""The hooks the proxy handler calls so telemetry can watch a request.

The handler knows only this protocol; `ollama_proxy.telemetry` provides the real one.
"""

from __future__ import annotations

from typing import Protocol

from aiohttp import web
from multidict import CIMultiDict

from ollama_proxy.operations import Route
from ollama_proxy.records import RequestRecord

# The client's address as records name it (behind trusted proxies, hashed when
# HASH_CLIENT_IPS): set by the handler when access checks ran, for spans to show instead of
# the raw peer address.
CLIENT_ADDRESS = web.RequestKey("client_address", str)


class RequestObservation(Protocol):
    def inject(self, upstream_headers: CIMultiDict[str]) -> None:
        """Add trace context (traceparent/tracestate) to the upstream request headers."""

    def on_first_chunk(self) -> None:
        """The first response body bytes were relayed to the client."""

    def finish(self, record: RequestRecord) -> None:
        """The last byte was relayed (or the request failed): end spans, record metrics."""


class Observer(Protocol):
    def start(
        self, request: web.Request, route: Route, record: RequestRecord
    ) -> RequestObservation:
        """Called when a request arrives; may set record.trace_id."""


class _NullObservation:
    def inject(self, upstream_headers: CIMultiDict[str]) -> None:
        pass

    def on_first_chunk(self) -> None:
        pass

    def finish(self, record: RequestRecord) -> None:
        pass


NULL_OBSERVATION = _NullObservation()


class NullObserver:
    """Observer used when telemetry is off: costs one call per hook."""

    _observation = NULL_OBSERVATION

    def start(
        self, request: web.Request, route: Route, record: RequestRecord
    ) -> RequestObservation:
        return self._observation
