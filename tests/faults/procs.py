"""The simulator and the proxy as real processes (`python -m ollama_proxy ...`), for faults that
need a process boundary: SIGTERM, SIGKILL, memory of the process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.run import free_port, wait_http

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Proc:
    process: subprocess.Popen[bytes]
    url: str

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def signal(self, sig: int) -> int:
        self.process.send_signal(sig)
        return self.process.wait(60)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def simulator(*args: str) -> Proc:
    port = free_port()
    cmd = [sys.executable, "-m", "ollama_proxy", "simulate", "--listen", f"127.0.0.1:{port}"]
    process = subprocess.Popen([*cmd, *args], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/api/version")
    return Proc(process, url)


@contextlib.contextmanager
def running_simulator(*args: str) -> Iterator[str]:
    """A simulator process while the block runs: its URL."""
    sim = simulator(*args)
    try:
        yield sim.url
    finally:
        sim.stop()


def proxy(
    upstream: str,
    workdir: Path,
    *extra: str,
    port: int | None = None,
    env: dict[str, str | None] | None = None,
    log: Path | None = None,
) -> Proc:
    """`ollama-proxy serve` over SQLite in `workdir`. `env`: settings over these defaults (None
    removes one); `log`: a file for its output (never a pipe nobody reads: a full pipe would
    block the server)."""
    port = port or free_port()
    merged = dict(
        os.environ,
        JOURNAL_DIR=str(workdir / "journal"),
        METRICS_EXPORT_INTERVAL="2",
        SHUTDOWN_GRACE_S="30",
        INSTANCE_NAME="faults",
        APP_PROFILE="prod",
    )
    for name, value in (env or {}).items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    cmd = [
        sys.executable,
        "-m",
        "ollama_proxy",
        "serve",
        "--listen",
        f"127.0.0.1:{port}",
        "--upstream",
        upstream,
        "--store",
        f"sqlite:///{workdir / 'faults.db'}",
        *extra,
    ]
    with open(log, "wb") if log else contextlib.nullcontext() as out:
        process = subprocess.Popen(cmd, cwd=workdir, env=merged, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/api/health", timeout=30)
    except RuntimeError:
        Proc(process, url).stop()
        raise
    return Proc(process, url)


def stored_ids(workdir: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(workdir / "faults.db") as conn:
        return [row[0] for row in conn.execute("SELECT request_id FROM request_logs")]


def record_figure(
    fault: str, sent: int, expected: int, stored: int, duplicates: int, server_errors: int
) -> None:
    """Append one row of docs/reliability.md's table when FAULTS_REPORT names a file."""
    import json

    target = os.environ.get("FAULTS_REPORT")
    if target:
        row = {
            "fault": fault,
            "requests_sent": sent,
            "records_expected": expected,
            "records_stored": stored,
            "duplicates": duplicates,
            "5xx": server_errors,
        }
        with open(target, "a") as handle:
            handle.write(json.dumps(row) + "\n")
