"""Safe by default: with no ADMIN_TOKEN only this machine may change settings."""

from __future__ import annotations

from typing import Any
from unittest import mock

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

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
    # Reads are open without a token: no 403 stated for them.
    assert "403" not in open_["/api/alerts"]["get"]["responses"]
    assert "403" not in open_["/api/alerts/silences"]["get"]["responses"]


def test_the_document_states_the_guard_of_every_mutating_route(tmp_path: Any) -> None:
    from ollama_proxy.api.openapi import openapi_document

    secured, open_ = openapi_document(True)["paths"], openapi_document(False)["paths"]
    for method, path in mutating_routes(build("proxy", tmp_path, token="")):
        assert "403" in open_[path][method.lower()]["responses"], (method, path)
        assert "401" in secured[path][method.lower()]["responses"], (method, path)


# --- every mutating route, enumerated from the router (a new one cannot slip through) -----

TOKEN = "s3cret-token"
# Change nothing on the server: a login cookie for this client only.
OPEN_MUTATIONS = {("POST", "/api/stats/login"), ("POST", "/api/stats/logout")}
KNOWN_MUTATIONS = {
    ("POST", "/api/config"),
    ("POST", "/api/alerts/silences"),
    ("DELETE", "/api/alerts/silences/{id}"),
}
# A valid body per route, so a refusal is the guard's and not the body's.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/config"): {"retention_days": 3650},
    ("POST", "/api/alerts/silences"): {"matchers": {"model": "m"}, "duration_s": 3600},
}
PEER_HEADER = "X-Test-Peer"


@web.middleware
async def peer_from_header(request: web.Request, handler: Any) -> web.StreamResponse:
    """The client's address as the test says (the real socket is always loopback here)."""
    peer = request.headers.get(PEER_HEADER)
    return await handler(request.clone(remote=peer) if peer else request)


def mutating_routes(app: web.Application) -> list[tuple[str, str]]:
    from ollama_proxy.api.middleware import READ_METHODS
    from ollama_proxy.proxy.routes import is_own_route

    found = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
        and route.method not in READ_METHODS
        and route.method != "*"  # the 405/404 fallbacks and the proxy's catch-all
        and is_own_route(route.resource.canonical)
    }
    return sorted(found - OPEN_MUTATIONS)


def build(kind: str, tmp_path: Any, token: str) -> web.Application:
    from ollama_proxy.api import create_api_app
    from ollama_proxy.app import create_app

    settings = Settings(
        instance_name="t",
        admin_token=token,
        upstream="http://127.0.0.1:9",
        store_urls=[f"sqlite:///{tmp_path / 'guard.db'}"],
    )
    app = create_app(settings, submit=lambda record: None) if kind == "proxy" else None
    if app is None:
        app = create_api_app(settings)
    app.middlewares.insert(0, peer_from_header)
    return app


@pytest.mark.parametrize("kind", ["proxy", "api"])
async def test_every_mutating_route_is_refused_to_a_remote_client_without_a_token(
    kind: str, tmp_path: Any
) -> None:
    app = build(kind, tmp_path, token="")
    routes = mutating_routes(app)
    if kind == "proxy":  # the enumeration sees the routes we know of (it is not vacuous)
        assert KNOWN_MUTATIONS <= set(routes), routes
    assert routes
    async with TestClient(TestServer(app)) as client:
        for method, path in routes:
            url = path.replace("{id}", "x")
            body = BODIES.get((method, path), {})
            remote = await client.request(
                method, url, json=body, headers={PEER_HEADER: "192.0.2.7"}
            )
            answer = await remote.json()
            assert remote.status == 403, (method, path, answer)
            assert "ADMIN_TOKEN" in answer["error"] and answer["field"] == "authorization"
            # From this machine the same request reaches the handler (whatever it answers then).
            local = await client.request(method, url, json=body)
            assert local.status not in (401, 403), (method, path, await local.text())
        if kind == "proxy":  # nothing a remote client sent took effect
            silences = await (await client.get("/api/alerts/silences")).json()
            assert len(silences["silences"]) == 1  # the local one only


@pytest.mark.parametrize("kind", ["proxy", "api"])
async def test_every_mutating_route_needs_the_token_when_one_is_set(
    kind: str, tmp_path: Any
) -> None:
    app = build(kind, tmp_path, token=TOKEN)
    routes = mutating_routes(app)
    assert routes
    async with TestClient(TestServer(app)) as client:
        for method, path in routes:
            url = path.replace("{id}", "x")
            body = BODIES.get((method, path), {})
            for peer in ("127.0.0.1", "192.0.2.7"):  # the address does not matter then
                refused = await client.request(method, url, json=body, headers={PEER_HEADER: peer})
                assert refused.status == 401, (method, path, peer, await refused.text())
                assert refused.headers["WWW-Authenticate"].startswith("Bearer")
            bearer = {"Authorization": f"Bearer {TOKEN}", PEER_HEADER: "192.0.2.7"}
            allowed = await client.request(method, url, json=body, headers=bearer)
            assert allowed.status not in (401, 403), (method, path, await allowed.text())
