"""Safe by default: with no ADMIN_TOKEN only this machine may change settings."""

from __future__ import annotations

from typing import Any
from unittest import mock

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from ollama_proxy import appkeys
from ollama_proxy.addresses import is_loopback
from ollama_proxy.api.middleware import api_middleware
from ollama_proxy.cli import exposure_warning
from ollama_proxy.config import Settings


def request_from(peer: str, method: str, path: str, settings: Settings) -> web.Request:
    app = web.Application()
    app[appkeys.SETTINGS] = settings
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (peer, 40000) if name == "peername" else default
    )
    return make_mocked_request(method, path, app=app, transport=transport)


async def reached(request: web.Request) -> web.Response:
    return web.json_response({"reached": True})


async def answer(peer: str, method: str, path: str, **settings: Any) -> tuple[int, Any]:
    config = Settings(instance_name="t", **settings)
    response = await api_middleware(request_from(peer, method, path, config), reached)
    assert isinstance(response, web.Response) and response.body is not None
    return response.status, orjson.loads(bytes(response.body))  # type: ignore[arg-type]


async def test_remote_client_cannot_change_settings_without_a_token() -> None:
    # Bug: with no ADMIN_TOKEN (the compose default) anyone reaching the port could POST
    # /api/config, and lowering the retention days deletes data.
    status, body = await answer("192.0.2.7", "POST", "/api/config")
    assert status == 403 and "ADMIN_TOKEN" in body["error"]
    assert await answer("127.0.0.1", "POST", "/api/config") == (200, {"reached": True})
    assert await answer("::1", "POST", "/api/config") == (200, {"reached": True})
    assert await answer("192.0.2.7", "GET", "/api/config") == (200, {"reached": True})
    # The login routes change nothing: open as before.
    assert (await answer("192.0.2.7", "POST", "/api/stats/login"))[0] == 200


async def test_with_a_token_the_token_decides_not_the_address() -> None:
    status, _ = await answer("192.0.2.7", "POST", "/api/config", admin_token="s3cret")
    assert status == 401


@pytest.mark.parametrize(
    ("listen", "token", "warns"),
    [
        ("127.0.0.1:11435", "", False),
        ("localhost:11435", "", False),
        ("[::1]:11435", "", False),
        ("0.0.0.0:11435", "", True),
        ("192.0.2.7:11435", "", True),
        ("0.0.0.0:11435", "s3cret", False),
    ],
)
def test_one_warning_for_an_exposed_listen_address_without_token(
    listen: str, token: str, warns: bool
) -> None:
    warning = exposure_warning(Settings(listen=listen, admin_token=token))
    assert (warning is not None) == warns
    if warning:
        assert "ADMIN_TOKEN" in warning


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.2") and is_loopback("::ffff:127.0.0.1") and is_loopback("")
    assert not is_loopback("10.0.0.1") and not is_loopback(None) and not is_loopback("x")


async def test_config_post_without_a_body_is_a_400(sqlite_api: Any) -> None:
    # Bug: an empty POST /api/config answered 200 while changing nothing.
    for body in (b"", b"{}"):
        response = await sqlite_api.client.post("/api/config", data=body)
        assert response.status == 400
        assert (await response.json())["field"] == "body"


def test_the_openapi_document_states_each_modes_auth() -> None:
    # Bug: the document declared a token the server did not ask for (schemathesis ST401).
    from ollama_proxy.api.openapi import openapi_document

    secured, open_ = openapi_document(True)["paths"], openapi_document(False)["paths"]
    assert secured["/api/stats/current"]["get"]["security"]
    assert "401" in secured["/api/config"]["post"]["responses"]
    assert "security" not in open_["/api/stats/current"]["get"]
    assert "401" not in open_["/api/stats/current"]["get"]["responses"]
    assert not open_["/api/config"]["post"]["security"]
    assert "403" in open_["/api/config"]["post"]["responses"]
