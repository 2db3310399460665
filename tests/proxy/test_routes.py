"""Route table and header rules (pure)."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ollama_proxy.operations import classify
from ollama_proxy.proxy.headers import (
    end_to_end,
    request_headers,
    skipped_auto_headers,
    target_url,
    upstream_host,
)
from ollama_proxy.proxy.routes import OWN_ROUTE_PREFIXES, is_own_route

# Every route of ollama-api.md §1 (native, OpenAI, Anthropic): none may be ours.
OLLAMA_ROUTES = [
    "/",
    "/api/version",
    "/api/status",
    "/api/generate",
    "/api/chat",
    "/api/embed",
    "/api/embeddings",
    "/api/tags",
    "/api/show",
    "/api/ps",
    "/api/pull",
    "/api/push",
    "/api/create",
    "/api/copy",
    "/api/delete",
    "/api/blobs/sha256:abc",
    "/api/me",
    "/api/signout",
    "/api/user/keys/abc",
    "/api/experimental/web_search",
    "/api/experimental/web_fetch",
    "/api/experimental/model-recommendations",
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/models",
    "/v1/models/llama3.2",
    "/v1/responses",
    "/v1/audio/transcriptions",
    "/v1/messages",
]


@pytest.mark.parametrize("path", OLLAMA_ROUTES)
def test_no_own_route_shadows_an_ollama_route(path: str) -> None:
    assert not is_own_route(path)


@pytest.mark.parametrize("prefix", OWN_ROUTE_PREFIXES)
def test_own_routes_are_ours(prefix: str) -> None:
    assert is_own_route(prefix.rstrip("/") + "/x" if prefix.endswith("/") else prefix)


def test_own_route_matches_only_at_a_path_boundary() -> None:
    assert is_own_route("/api/models") and is_own_route("/dashboard/assets/a.js")
    assert not is_own_route("/api/modelsX") and not is_own_route("/metricsz")


@pytest.mark.parametrize(
    ("path", "operation", "flavor", "inference"),
    [
        ("/api/chat", "chat", "native", True),
        ("/api/generate", "generate", "native", True),
        ("/api/embed", "embeddings", "native", True),
        ("/v1/chat/completions", "chat", "openai", True),
        ("/v1/completions", "text_completion", "openai", True),
        ("/v1/messages", "chat", "anthropic", True),
        ("/v1/responses", "chat", "openai_responses", True),
        ("/api/tags", "list", "native", False),
        ("/api/blobs/sha256:00", "blob", "native", False),
        ("/v1/models/x", "show", "openai", False),
        ("/nope", "other", "none", False),
    ],
)
def test_classify(path: str, operation: str, flavor: str, inference: bool) -> None:
    route = classify(path)
    assert (route.operation, route.flavor, route.inference) == (operation, flavor, inference)


def _headers(*pairs: tuple[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(pairs))


def test_hop_by_hop_and_connection_named_headers_are_dropped() -> None:
    headers = _headers(
        ("Connection", "keep-alive, X-Secret-Hop"),
        ("X-Secret-Hop", "1"),
        ("Transfer-Encoding", "chunked"),
        ("Keep-Alive", "timeout=5"),
        ("Content-Type", "application/x-ndjson"),
        ("X-Multi", "a"),
        ("X-Multi", "b"),
    )
    kept = end_to_end(headers)
    assert list(kept.items()) == [
        ("Content-Type", "application/x-ndjson"),
        ("X-Multi", "a"),
        ("X-Multi", "b"),
    ]


def test_request_headers_rewrite_host_and_append_forwarded_for() -> None:
    incoming = _headers(
        ("Host", "gpu-box:11435"),
        ("Origin", "http://localhost:3000"),
        ("Authorization", "Bearer k"),
        ("X-Forwarded-For", "10.0.0.1"),
    )
    out = request_headers(incoming, URL("http://127.0.0.1:11434"), "192.0.2.7")
    assert out["Host"] == "127.0.0.1:11434"  # Ollama answers 403 to a foreign Host
    assert out["Origin"] == "http://localhost:3000"
    assert out["Authorization"] == "Bearer k"
    assert out["X-Forwarded-For"] == "10.0.0.1, 192.0.2.7"


def test_upstream_host_forms() -> None:
    assert upstream_host(URL("http://ollama:11434")) == "ollama:11434"
    assert upstream_host(URL("https://gpu.example")) == "gpu.example"
    assert upstream_host(URL("http://[::1]:11434")) == "[::1]:11434"


def test_auto_headers_are_skipped_unless_the_client_sent_them() -> None:
    assert skipped_auto_headers(_headers(("Accept", "*/*"))) == ("Accept-Encoding", "User-Agent")


def test_target_url_keeps_encoding_and_query_and_base_path() -> None:
    assert (
        str(target_url(URL("http://h:1"), "/api/x%2Fy?a=1&b=%20"))
        == "http://h:1/api/x%2Fy?a=1&b=%20"
    )
    assert str(target_url(URL("http://h:1/ollama"), "/api/tags")) == "http://h:1/ollama/api/tags"
