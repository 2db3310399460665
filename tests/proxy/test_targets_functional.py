"""Request targets that are not a path: a clear 400 in Ollama's shape, nothing forwarded."""

from __future__ import annotations

import json

import pytest

from ollama_proxy.proxy.headers import target_error
from tests.proxy.conftest import Stack
from tests.proxy.tap import http_request, parse_responses, raw_request


@pytest.mark.parametrize(
    ("method", "target"),
    [
        # Bug: absolute form made the upstream URL unparsable: 500 "Server got itself in
        # trouble" (a ValueError while building it).
        ("GET", "http://169.254.169.254/latest"),
        ("POST", "http://127.0.0.1:11434/api/chat"),
        ("OPTIONS", "*"),
    ],
)
async def test_non_path_target_gets_400_and_reaches_nothing(
    stack: Stack, method: str, target: str
) -> None:
    raw = await raw_request("127.0.0.1", stack.proxy_port, http_request(method, target))
    [exchange] = parse_responses(raw, [method.encode()])
    assert exchange.status == 400
    assert "request target must be a path" in json.loads(exchange.body)["error"]
    assert not any(stack.relay.request_bytes)


def test_origin_form_paths_pass() -> None:
    assert target_error("/api/chat?x=1") is None
    assert target_error("//api/chat") is None  # an empty first segment is still a path
    assert target_error("api/chat") is not None
