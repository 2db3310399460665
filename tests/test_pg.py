"""The PostgreSQL helper's one rule: without the server a test fails in CI, skips elsewhere."""

from __future__ import annotations

import socket

import pytest

from tests import pg


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg, "PG_ADMIN_DSN", pg.pg_url("test", closed_port()))


@pytest.mark.usefixtures("no_server")
async def test_a_missing_server_skips_with_the_reason_outside_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="unreachable"):
        await pg.pg_database_or_skip()


@pytest.mark.usefixtures("no_server")
def test_a_missing_server_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required in CI"):
        pg.pg_database_or_skip_sync()
