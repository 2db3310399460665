"""API keys, rate limits and hashed client addresses on the proxied Ollama routes."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from pydantic import ValidationError
from yarl import URL

from ollama_proxy.app import PROXY_HANDLER, create_app
from ollama_proxy.config import Settings
from ollama_proxy.proxy.access import (
    Access,
    Admitted,
    RateLimiter,
    Refusal,
    hash_ip,
    parse_keys,
)
from ollama_proxy.simulator import SimulatorConfig, create_simulator_app
from tests.proxy.conftest import RecordSink, proxy_settings
from tests.proxy.tap import TapRelay, parse_request_bodies
from tests.servers import start_app


def test_keys_are_checked_and_labelled() -> None:
    access = Access(parse_keys(["laptop:k-123", "ci:k-456"]))
    assert access.check({"Authorization": "Bearer k-456"}, "10.0.0.1", 0.0) == Admitted(
        "ci", "10.0.0.1"
    )
    for bad in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic k-123"}):
        refusal = access.check(bad, "10.0.0.1", 0.0)
        assert isinstance(refusal, Refusal) and refusal.status == 401


def test_token_bucket_refuses_with_a_retry_after() -> None:
    limiter = RateLimiter(rate=2, burst=2)
    assert limiter.take("a", 0.0) is None and limiter.take("a", 0.0) is None
    wait = limiter.take("a", 0.0)
    assert wait == pytest.approx(0.5)
    assert limiter.take("b", 0.0) is None  # per client
    assert limiter.take("a", 0.6) is None  # refilled


def test_hashed_addresses_are_stable_and_salted() -> None:
    assert hash_ip("10.0.0.1", "s") == hash_ip("10.0.0.1", "s") != hash_ip("10.0.0.1", "t")
    assert "10.0.0.1" not in hash_ip("10.0.0.1", "s")
    assert Access({}).open and not Access({}, hash_ips=True).open


def test_an_empty_key_is_a_clear_settings_error() -> None:
    with pytest.raises(ValidationError, match="label:key"):
        Settings(proxy_api_keys=["laptop:"])


async def test_api_keys_guard_ollama_routes_and_never_reach_ollama() -> None:
    sim_runner, sim_url = await start_app(create_simulator_app(SimulatorConfig.zero_delay()))
    relay = TapRelay("127.0.0.1", URL(sim_url).port or 0)
    records = RecordSink()
    settings = proxy_settings(await relay.start(), proxy_api_keys=["laptop:secret-1"])
    runner, url = await start_app(create_app(settings, submit=records.append))
    try:
        async with aiohttp.ClientSession() as http:
            denied = await http.get(f"{url}/api/tags")
            assert denied.status == 401 and "API key" in (await denied.json())["error"]
            ok = await http.get(f"{url}/api/tags", headers={"Authorization": "Bearer secret-1"})
            assert ok.status == 200
            health = await http.get(f"{url}/api/health")  # our own routes have their own auth
            assert health.status in (200, 503)
        got = await records.await_for(2)
        assert [(r.http_status, r.client) for r in got[:2]] == [(401, "127.0.0.1"), (200, "laptop")]
        forwarded = [
            request
            for conn in relay.request_bytes
            for request, _ in parse_request_bodies(bytes(conn))
            if request.target == b"/api/tags"
        ]
        assert len(forwarded) == 1, "the refused request never reached Ollama"
        assert b"authorization" not in {k.lower() for k, _ in forwarded[0].headers}
    finally:
        await runner.cleanup()
        await relay.close()
        await sim_runner.cleanup()


async def test_rate_limit_answers_429_with_retry_after_and_hashes_clients() -> None:
    sim_runner, sim_url = await start_app(create_simulator_app(SimulatorConfig.zero_delay()))
    records = RecordSink()
    settings = proxy_settings(
        sim_url, rate_limit_rps=0.5, rate_limit_burst=2, hash_client_ips=True, client_ip_salt="t"
    )
    runner, url = await start_app(create_app(settings, submit=records.append))
    try:
        async with aiohttp.ClientSession() as http:
            statuses = []
            for _ in range(3):
                async with http.get(f"{url}/api/version") as response:
                    statuses.append(response.status)
                    retry = response.headers.get("Retry-After")
        assert statuses == [200, 200, 429] and retry == "2"
        got = await records.await_for(3)
        assert all(r.client.startswith("ip-") for r in got)
        assert got[2].status == "error" and got[2].http_status == 429
    finally:
        await runner.cleanup()
        await sim_runner.cleanup()


async def test_a_key_out_of_scope_gets_403_and_nothing_reaches_ollama() -> None:
    sim_runner, sim_url = await start_app(create_simulator_app(SimulatorConfig.zero_delay()))
    records = RecordSink()
    keys = ["app:k-app:inference", "ops:k-ops:manage"]
    app = create_app(proxy_settings(sim_url, proxy_api_keys=keys), submit=records.append)
    runner, url = await start_app(app)
    try:
        async with aiohttp.ClientSession() as http:
            app_key = {"Authorization": "Bearer k-app"}
            chat = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}
            ok = await http.post(f"{url}/api/chat", json={**chat, "stream": False}, headers=app_key)
            assert ok.status == 200
            denied = await http.post(f"{url}/api/delete", json={"model": "x"}, headers=app_key)
            assert denied.status == 403
            body = await denied.json()
            assert set(body) == {"error"} and "'manage'" in body["error"]
            ops = {"Authorization": "Bearer k-ops"}
            tags = await http.get(f"{url}/api/tags", headers=ops)
            assert tags.status == 200
        assert app[PROXY_HANDLER].refusals.counts() == {("forbidden", "app"): 1}
        got = await records.await_for(3)
        assert sorted((r.http_status, r.client) for r in got) == [
            (200, "app"),
            (200, "ops"),
            (403, "app"),
        ]
    finally:
        await runner.cleanup()
        await sim_runner.cleanup()


async def _first_status_line(port: int, headers: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(headers.encode())
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()


async def test_expect_100_continue_is_answered_after_the_key_check() -> None:
    # Reproduces: aiohttp answered `100 Continue` before the handler ran, so a client without
    # a key uploaded its whole body (a model blob) before getting its 401.
    sim_runner, sim_url = await start_app(create_simulator_app(SimulatorConfig.zero_delay()))
    records = RecordSink()
    settings = proxy_settings(sim_url, proxy_api_keys=["ops:k-ops"])
    runner, url = await start_app(create_app(settings, submit=records.append))
    port = URL(url).port or 0
    upload = (
        "POST /api/blobs/sha256:{} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Length: 50000000\r\nExpect: 100-continue\r\n{}\r\n"
    )
    try:
        refused = await _first_status_line(port, upload.format("0" * 64, ""))
        assert refused.startswith(b"HTTP/1.1 401"), refused
        key = "Authorization: Bearer k-ops\r\n"
        allowed = await _first_status_line(port, upload.format("1" * 64, key))
        assert allowed.startswith(b"HTTP/1.1 100 Continue"), allowed
    finally:
        await runner.cleanup()
        await sim_runner.cleanup()
    assert records[0].http_status == 401


async def test_spans_carry_the_hashed_client_address() -> None:
    # Reproduces: with HASH_CLIENT_IPS the records held a pseudonym while every span kept the
    # raw client.address.
    from tests.telemetry.conftest import make_otel

    sim_runner, sim_url = await start_app(create_simulator_app(SimulatorConfig.zero_delay()))
    otel = make_otel(URL(sim_url))
    records = RecordSink()
    settings = proxy_settings(sim_url, hash_client_ips=True, client_ip_salt="pepper")
    app = create_app(settings, observer=otel.telemetry, submit=records.append)
    runner, url = await start_app(app)
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{url}/api/version") as response:
            assert response.status == 200
        record = (await records.await_for(1))[0]
        server = [s for s in otel.spans() if s.attributes and "url.path" in s.attributes]
        assert server and server[0].attributes is not None
        assert (
            server[0].attributes["client.address"]
            == record.client
            == hash_ip("127.0.0.1", "pepper")
        )
    finally:
        await runner.cleanup()
        await sim_runner.cleanup()
        otel.tracer_provider.shutdown()
        otel.meter_provider.shutdown()


async def test_refusals_are_counted_per_reason_and_client_in_metrics() -> None:
    from tests.telemetry.conftest import make_otel

    otel = make_otel(URL("http://127.0.0.1:9"))
    settings = proxy_settings("http://127.0.0.1:9", proxy_api_keys=["app:k-app:inference"])
    app = create_app(settings, observer=otel.telemetry, submit=RecordSink().append)
    runner, url = await start_app(app)
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(3):
                async with http.get(f"{url}/api/tags") as response:
                    assert response.status == 401
            key = {"Authorization": "Bearer k-app"}
            async with http.post(f"{url}/api/pull", headers=key) as response:
                assert response.status == 403
            async with http.get(f"{url}/metrics") as response:
                text = await response.text()
    finally:
        await runner.cleanup()
        otel.tracer_provider.shutdown()
        otel.meter_provider.shutdown()
    lines = {line for line in text.splitlines() if line.startswith("ollama_proxy_refused_total")}
    assert lines == {
        'ollama_proxy_refused_total{ollama_client="127.0.0.1",'
        'ollama_refusal_reason="unauthorized"} 3.0',
        'ollama_proxy_refused_total{ollama_client="app",ollama_refusal_reason="forbidden"} 1.0',
    }


async def test_a_key_over_its_quota_is_refused_before_100_continue() -> None:
    from ollama_proxy.records import RequestRecord

    records = RecordSink()
    settings = proxy_settings(
        "http://127.0.0.1:9", proxy_api_keys=["alice:k-a"], proxy_quotas=["alice:tokens=10"]
    )
    app = create_app(settings, submit=records.append)
    quotas = app[PROXY_HANDLER].accounting.quotas
    assert quotas is not None
    used = RequestRecord(client="alice", inference=True, prompt_tokens=5, completion_tokens=6)
    quotas.add(used)
    runner, url = await start_app(app)
    upload = (
        "POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer k-a\r\n"
        "Content-Length: 1000000\r\nExpect: 100-continue\r\n\r\n"
    )
    try:
        status = await _first_status_line(URL(url).port or 0, upload)
    finally:
        await runner.cleanup()
    assert status.startswith(b"HTTP/1.1 429"), status
