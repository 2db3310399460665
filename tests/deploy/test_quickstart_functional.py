"""The README's quick start, followed literally on a fresh clone: `make run` (a new .venv, the
package installed, the dashboard built with npm, the proxy serving), the simulator as Ollama,
one request with the `ollama` client, `curl /api/stats/`, `/dashboard/`.

It takes minutes (a fresh venv, `npm ci`, a Vite build); every wait has a timeout and the whole
process group of `make run` is stopped at the end. Without Node.js 20+ it skips, except in CI
(CI=true), where it fails: the README promises the dashboard.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import ollama
import pytest

from bench.run import free_port
from tests.ci import missing
from tests.faults.procs import running_simulator

ROOT = Path(__file__).resolve().parents[2]
NODE_MAJOR = 20
START_TIMEOUT_S = 1200  # venv + pip install + npm ci + vite build on a small shared machine
# What a fresh shell would not have: a parent make's flags (CI runs `make test`) and the
# proxy's own settings, which the quick start does not set.
DROPPED_ENV = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES", "VIRTUAL_ENV")


def node_missing() -> str | None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "Node.js and npm are not on PATH"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    match = re.match(r"v(\d+)\.", version.stdout.strip())
    if match is None or int(match.group(1)) < NODE_MAJOR:
        return f"Node.js {NODE_MAJOR}+ is needed, found {version.stdout.strip() or 'unknown'}"
    return None


@pytest.fixture
def upstream() -> Iterator[str]:
    with running_simulator("--zero-delay") as url:
        yield url


def fetch(url: str, timeout: float = 10) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers.get("Content-Type", ""), error.read()


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    for name in list(env):
        if name in ("ADMIN_TOKEN", "STORE_URLS", "OLLAMA_HOST", "OLLAMA_UPSTREAMS"):
            del env[name]
    return env


def wait_until_serving(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"make run exited with {process.returncode}:\n{tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(1)
    pytest.fail(f"make run did not serve {url} within {START_TIMEOUT_S} s:\n{tail(log)}")


def tail(log: Path, chars: int = 6000) -> str:
    return log.read_text(errors="replace")[-chars:]


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """make, and the proxy it started, are one process group (start_new_session)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    try:  # the proxy may outlive make for a moment: nothing of the group stays behind
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_the_readme_quick_start_works_on_a_fresh_clone(upstream: str, tmp_path: Path) -> None:
    reason = node_missing()
    if reason:
        missing(
            reason, in_ci=f"{reason}: the quick start builds the dashboard, and CI must test it"
        )
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "OLLAMA_UPSTREAM=" in readme and "PROXY_LISTEN=" in readme

    clone = tmp_path / "ollama-local-serve"
    subprocess.run(
        # safe.directory: a CI checkout may belong to another user than the one testing.
        ["git", "-c", "safe.directory=*", "clone", "--quiet", "--no-hardlinks",
         str(ROOT), str(clone)],
        check=True, timeout=300, capture_output=True,
    )  # fmt: skip
    assert not (clone / "ollama_proxy" / "_dashboard").exists()  # fresh: nothing built

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "make-run.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["make", "run", f"PROXY_LISTEN=127.0.0.1:{port}", f"OLLAMA_UPSTREAM={upstream}"],
            cwd=clone, env=clean_env(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_until_serving(process, url, log)
        assert (clone / ".venv" / "bin" / "ollama-proxy").is_file()
        assert (clone / "ollama_proxy" / "_dashboard" / "index.html").is_file(), tail(log)

        # A request through the proxy with the real ollama client.
        with ollama.Client(host=url, timeout=60) as client:
            answer = client.generate(model="llama3.2", prompt="hi")
        assert answer.done and answer.response

        # curl http://127.0.0.1:11435/api/stats/ : the totals show that request.
        deadline = time.monotonic() + 30  # the recorder writes in batches
        while True:
            status, kind, body = fetch(f"{url}/api/stats/")
            assert status == 200 and kind.startswith("application/json"), body[:300]
            overview = json.loads(body)
            if overview["totals"]["requests"] >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert overview["totals"]["requests"] == 1, overview
        assert overview["totals"]["tokens"] > 0, overview

        # /dashboard/ answers the built bundle, and its script loads.
        status, kind, page = fetch(f"{url}/dashboard/")
        assert status == 200 and kind.startswith("text/html"), page[:300]
        script = re.search(rb'src="(/dashboard/assets/[^"]+\.js)"', page)
        assert script is not None, page[:1000]
        status, kind, _ = fetch(url + script.group(1).decode())
        assert status == 200 and "javascript" in kind
    finally:
        stop_group(process)
    assert "dashboard not built" not in tail(log, 10**6)
