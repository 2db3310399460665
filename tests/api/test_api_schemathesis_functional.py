"""schemathesis with every check and both generation modes, against the real server:
`ollama-proxy serve` as a process (SQLite store, the simulator as Ollama, a few requests
already metered), once without ADMIN_TOKEN (this test is a loopback client, so it may change
settings) and once with it (the test sends the token; `ignored_auth` checks that requests
without it are refused). Any finding fails the test: the OpenAPI document states exactly what
the server does, ranges and required bodies included.

Bounded and stable: `--generation-deterministic` (the same cases every run), a cap on
examples per operation and a timeout on every request and on the whole run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.procs import Proc, proxy, running_simulator

TOKEN = "schemathesis-admin-token-0123456789"
# An endless event stream (a request to it never ends by design); tests/live covers it.
EXCLUDED = ("/api/stats/live",)
MAX_EXAMPLES = 30
RUN_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with running_simulator("--zero-delay") as url:
        yield url


def serve(upstream: str, workdir: Path, token: str | None) -> Proc:
    env = {"ADMIN_TOKEN": token, "INSTANCE_NAME": "fuzz"}
    return proxy(upstream, workdir, env=env, log=workdir / "proxy.log")


def get_json(url: str, token: str | None) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
        data = json.loads(r.read())
    assert isinstance(data, dict)
    return data


def meter_some_traffic(url: str, token: str | None) -> None:
    """Two requests through the proxy, so the log, detail and breakdown endpoints have rows."""
    for path in ("/api/generate", "/api/chat"):
        body = {"model": "llama3.2", "stream": False, "prompt": "hi"}
        if path == "/api/chat":
            body = {
                "model": "llama3.2",
                "stream": False,
                "messages": [{"role": "user", "content": "hi"}],
            }
        request = urllib.request.Request(
            url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
    for _ in range(200):  # the recorder writes in batches: up to 20 s
        if get_json(f"{url}/api/stats/logs", token).get("total") == 2:
            return
        time.sleep(0.1)
    raise AssertionError("the two requests were not recorded within 20 s")


def operations(document: dict[str, object]) -> int:
    paths = document["paths"]
    assert isinstance(paths, dict)
    return sum(len(ops) for ops in paths.values())


def run_schemathesis(url: str, workdir: Path, token: str | None) -> str:
    cmd = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{url}/api/openapi.json",
        "--checks",
        "all",
        "--mode",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",  # also: no example database written
        "--request-timeout",
        "10",
        "--no-color",
        "--output-truncate",
        "false",
    ]
    for path in EXCLUDED:
        cmd += ["--exclude-path", path]
    if token:
        cmd += ["--header", f"Authorization: Bearer {token}"]
    result = subprocess.run(
        cmd, cwd=workdir, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-12000:]
    return output


@pytest.mark.parametrize("token", [None, TOKEN], ids=["no-admin-token", "admin-token"])
def test_schemathesis_with_every_check_finds_nothing(
    upstream: str, tmp_path: Path, token: str | None
) -> None:
    server = serve(upstream, tmp_path, token)
    try:
        meter_some_traffic(server.url, token)
        document = get_json(f"{server.url}/api/openapi.json", None)
        # The document says what this mode does: security exactly when a token is set.
        secured = any(
            "security" in op and op["security"]
            for ops in document["paths"].values()  # type: ignore[attr-defined]
            for op in ops.values()
        )
        assert secured == bool(token)
        output = run_schemathesis(server.url, tmp_path, token)
    finally:
        server.stop()
    assert "No issues found" in output, output[-12000:]
    # Every operation was exercised but the excluded ones (schemathesis counts /api/stats and
    # /api/stats/ as one).
    counts = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", output)
    assert counts is not None, output[-3000:]
    selected, total, tested = map(int, counts.groups())
    assert tested == selected == total - len(EXCLUDED) and total >= operations(document) - 1
    for phase in ("Coverage", "Fuzzing", "Stateful"):
        assert re.search(rf"✅ {phase}", output), output[-3000:]
