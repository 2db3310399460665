"""Each notifier's request shape against a local receiver; retries; a hanging receiver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web

from ollama_proxy.alerts.lifecycle import Alert
from ollama_proxy.alerts.notify import MAX_ATTEMPTS, Dispatcher
from ollama_proxy.alerts.payloads import parse_target
from tests.alerts.receiver import Receiver
from tests.servers import start_app

LINK = "http://proxy:11435/dashboard/#/alerts"


def alert(state: str = "firing") -> Alert:
    a = Alert(
        "error_rate",
        (("model", "llama3.2:latest"), ("severity", "critical")),
        "A model's requests are failing",
        threshold=0.2,
        value=0.35,
        active_since=1_700_000_000.0,
        state="firing",
        fired_at=1_700_000_030.0,
    )
    if state == "resolved":
        a.state, a.resolved_at = "resolved", 1_700_000_300.0
    return a


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.close()


async def deliver(entry: str, *states: str, **kwargs: float) -> Dispatcher:
    d = Dispatcher([parse_target(entry)], instance="gpu1", link=LINK, **kwargs)
    await d.start()
    for state in states:
        d.send(state, alert(state))
    await d.drain(10)
    await d.stop()
    return d


async def test_generic_webhook(receiver: Receiver) -> None:
    await deliver(f"{receiver.url}/hook", "firing", "resolved")
    firing, resolved = (orjson.loads(r.body) for r in receiver.received)
    assert receiver.received[0].path == "/hook"
    assert receiver.received[0].headers["Content-Type"] == "application/json"
    assert firing["rule"] == "error_rate" and firing["state"] == "firing"
    assert firing["labels"] == {"model": "llama3.2:latest", "severity": "critical"}
    assert (firing["value"], firing["threshold"]) == (0.35, 0.2)
    assert firing["started_at"] == "2023-11-14T22:13:50Z" and firing["ended_at"] is None
    assert (firing["url"], firing["instance"]) == (LINK, "gpu1")
    assert resolved["state"] == "resolved" and resolved["ended_at"] == "2023-11-14T22:18:20Z"


async def test_slack_text(receiver: Receiver) -> None:
    await deliver(f"slack+{receiver.url}/services/T/B/X", "firing", "resolved")
    texts = [orjson.loads(r.body)["text"] for r in receiver.received]
    assert texts[0].startswith("[FIRING] error_rate (model=llama3.2:latest): A model's")
    assert "value 0.35, threshold 0.2" in texts[0] and f"<{LINK}|dashboard>" in texts[0]
    assert texts[1].startswith("[RESOLVED] error_rate")


async def test_ntfy(receiver: Receiver) -> None:
    await deliver(f"ntfy+{receiver.url}/alerts-topic", "firing", "resolved")
    firing, resolved = receiver.received
    assert firing.path == "/alerts-topic"
    assert firing.body.decode().startswith("[FIRING] error_rate")
    assert firing.headers["Title"] == "error_rate firing"
    assert (firing.headers["Priority"], firing.headers["Tags"]) == ("5", "warning")
    assert firing.headers["Click"] == LINK
    assert (resolved.headers["Priority"], resolved.headers["Tags"]) == ("3", "white_check_mark")


async def test_alertmanager_v2(receiver: Receiver) -> None:
    await deliver(f"alertmanager+{receiver.url}", "firing", "resolved")
    assert [r.path for r in receiver.received] == ["/api/v2/alerts"] * 2
    [firing] = orjson.loads(receiver.received[0].body)
    assert firing["labels"] == {
        "alertname": "error_rate",
        "model": "llama3.2:latest",
        "severity": "critical",
        "instance": "gpu1",
    }
    assert firing["annotations"]["summary"] == "A model's requests are failing"
    assert firing["startsAt"] == "2023-11-14T22:13:50Z" and "endsAt" not in firing
    assert firing["generatorURL"] == LINK
    [resolved] = orjson.loads(receiver.received[1].body)
    assert resolved["endsAt"] == "2023-11-14T22:18:20Z"


async def test_retries_with_backoff_then_succeeds(receiver: Receiver) -> None:
    receiver.fail_first = 2
    d = await deliver(receiver.url, "firing", backoff_s=0.01)
    assert len(receiver.received) == 3
    assert d.stats()[0]["sent"] == 1 and d.stats()[0]["failed"] == 0


async def test_gives_up_after_max_attempts(receiver: Receiver) -> None:
    receiver.status = 500
    d = await deliver(receiver.url, "firing", backoff_s=0.01)
    assert len(receiver.received) == MAX_ATTEMPTS
    assert d.stats()[0]["failed"] == 1 and d.stats()[0]["last_error"] == "HTTP 500"


async def test_hanging_receiver_times_out_and_others_still_get_theirs(
    receiver: Receiver,
) -> None:
    hanging = Receiver(hang=True)
    await hanging.start()
    try:
        d = Dispatcher(
            [parse_target(hanging.url), parse_target(receiver.url)],
            instance="gpu1",
            link=LINK,
            timeout_s=0.2,
            backoff_s=0.01,
        )
        await d.start()
        d.send("firing", alert())
        await receiver.wait_for(1)  # not held up by the hanging one
        await d.drain(10)
        await d.stop()
        assert d.stats()[1]["sent"] == 1
        assert len(hanging.received) == MAX_ATTEMPTS
        assert d.stats()[0]["failed"] == 1 and "Timeout" in str(d.stats()[0]["last_error"])
    finally:
        await hanging.close()


async def test_full_queue_drops_and_counts(receiver: Receiver) -> None:
    receiver.hang = True
    d = Dispatcher([parse_target(receiver.url)], instance="i", link="", timeout_s=5)
    await d.start()
    for _ in range(300):
        d.send("firing", alert())
    assert d.stats()[0]["dropped"] >= 300 - 256 - 1
    await d.stop()  # cancels the hung send: stop never waits on a receiver


def test_parse_target_rejects_unknown_schemes() -> None:
    with pytest.raises(ValueError, match="expected http"):
        parse_target("ftp://x")
    with pytest.raises(ValueError):
        parse_target("slack+ftp://x")
    t = parse_target("ntfy+https://ntfy.sh/topic")
    assert (t.kind, t.url, t.display) == ("ntfy", "https://ntfy.sh/topic", "ntfy:https://ntfy.sh")


async def test_the_receivers_answer_body_is_not_read() -> None:
    # A 200 whose body never ends: the status is the answer; reading the body would buffer it
    # until the attempt's timeout, then retry.
    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        while True:
            await response.write(b"x" * 65536)
            await asyncio.sleep(0.001)

    app = web.Application()
    app.router.add_post("/hook", endless)
    runner, url = await start_app(app)
    try:
        d = Dispatcher([parse_target(f"{url}/hook")], instance="i", link="", timeout_s=0.5)
        await d.start()
        d.send("firing", alert())
        await d.drain(10)
        await d.stop()
        assert (d.stats()[0]["sent"], d.stats()[0]["failed"]) == (1, 0)
    finally:
        await runner.cleanup()
