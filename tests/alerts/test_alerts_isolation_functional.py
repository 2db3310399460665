"""A notifier that hangs or answers 500 leaves proxying untouched; the admin token guards."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ollama_proxy.alerts.rulesfile import RulesFileError
from ollama_proxy.app import create_app
from ollama_proxy.config import Settings
from tests.alerts.conftest import close, make_stack
from tests.alerts.receiver import Receiver


async def test_hanging_and_failing_notifiers_leave_proxying_untouched(tmp_path: Path) -> None:
    hanging, failing = Receiver(hang=True), Receiver(status=500)
    # A 60 s notifier timeout: had the request path waited on the hanging notifier, the chats
    # below would still be waiting when the test's own timeout ends it.
    stack, runners = await make_stack(tmp_path, [hanging, failing], alert_notify_timeout_s=60)
    try:
        await stack.fault(queue_full=True, count=1)
        await stack.chat(1)
        assert stack.step(0) == ["queue_full:firing"]
        await hanging.wait_for(1)  # the notification is hanging now
        await failing.wait_for(1)  # and the other one failed and is being retried
        statuses = await asyncio.gather(*(stack.chat(1) for _ in range(20)))
        assert statuses == [[200]] * 20
        hung, retried = stack.engine.snapshot()["notifiers"]
        assert len(hanging.received) == 1 and hung["sent"] == hung["failed"] == 0  # in flight
        assert retried["sent"] == 0 and retried["last_error"] == "HTTP 500"
    finally:
        await close(stack, runners)


async def test_admin_token_guards_alerts(tmp_path: Path) -> None:
    stack, runners = await make_stack(tmp_path, [Receiver()], admin_token="s3cret")
    try:
        url = f"{stack.proxy_url}/api/alerts/silences"
        silence = {"rule": "queue_full", "duration_s": 60}
        async with stack.http.post(url, json=silence) as response:
            assert response.status == 401
        async with stack.http.get(f"{stack.proxy_url}/api/alerts") as response:
            assert response.status == 401
        auth = {"Authorization": "Bearer s3cret"}
        async with stack.http.post(url, json=silence, headers=auth) as response:
            assert response.status == 201
    finally:
        await close(stack, runners)


def test_invalid_rules_file_fails_at_start(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  error_rate:\n    window: fortnight\n")
    settings = Settings(upstream="http://127.0.0.1:9", listen="127.0.0.1:0", alert_rules=str(rules))
    with pytest.raises(RulesFileError, match=r"rules.yaml line 3: rules.error_rate.window"):
        create_app(settings)


def test_invalid_webhook_fails_at_start() -> None:
    with pytest.raises(ValueError, match="ALERT_WEBHOOKS|alert_webhooks"):
        Settings(alert_webhooks="ftp://x")
