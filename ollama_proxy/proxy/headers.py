"""Pure header handling for the proxy: hop-by-hop filtering, Host rewrite, X-Forwarded-For."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

# RFC 9110 §7.6.1 connection-specific headers, plus the de-facto ones proxies drop.
HOP_BY_HOP: frozenset[str] = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

# aiohttp's client adds these when absent; a transparent proxy must not invent them.
CLIENT_AUTO_HEADERS: tuple[str, ...] = ("Accept", "Accept-Encoding", "User-Agent")


def _connection_tokens(headers: Mapping[str, str]) -> set[str]:
    value = headers.get("Connection", "")
    return {token.strip().lower() for token in value.split(",") if token.strip()}


def end_to_end(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> CIMultiDict[str]:
    """Copy headers without hop-by-hop ones (and those the Connection header names)."""
    drop = HOP_BY_HOP | _connection_tokens(headers)
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in drop)


def upstream_host(upstream: URL) -> str:
    """The Host value Ollama accepts: its own address (a foreign Host gets 403)."""
    host = upstream.raw_host or "127.0.0.1"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if upstream.explicit_port is None:
        return host
    return f"{host}:{upstream.explicit_port}"


def request_headers(
    incoming: CIMultiDictProxy[str],
    upstream: URL,
    remote: str | None,
    drop: Iterable[str] = (),
) -> CIMultiDict[str]:
    """Headers for the upstream request: end-to-end ones, Host rewritten, XFF appended."""
    headers = end_to_end(incoming)
    for name in drop:
        headers.popall(name, None)
    headers["Host"] = upstream_host(upstream)
    if remote:
        previous = headers.getone("X-Forwarded-For", "")
        headers["X-Forwarded-For"] = f"{previous}, {remote}" if previous else remote
    return headers


def skipped_auto_headers(incoming: CIMultiDictProxy[str]) -> tuple[str, ...]:
    """The aiohttp auto headers the client did not send (so none are added)."""
    return tuple(name for name in CLIENT_AUTO_HEADERS if name not in incoming)


def response_headers(upstream_headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """Headers for the client: what Ollama sent minus hop-by-hop ones."""
    return end_to_end(upstream_headers)


def target_url(upstream: URL, raw_path: str) -> URL:
    """The upstream URL for a request path, percent-encoding and query kept as sent."""
    prefix = upstream.raw_path.rstrip("/")
    return URL(f"{upstream.origin()}{prefix}{raw_path}", encoded=True)


def target_error(raw_path: str) -> str | None:
    """Why a request target cannot be forwarded, or None for an origin-form path.

    Absolute form (`GET http://host/path`, meant for forward proxies) and asterisk form
    (`OPTIONS *`) have no place in front of Ollama; they are answered 400 rather than turned
    into an upstream URL.
    """
    if raw_path.startswith("/"):
        return None
    shown = raw_path[:100]
    return f"request target must be a path such as /api/chat, not {shown!r}"
