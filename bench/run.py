"""Proxy overhead, side by side in one run: direct, proxy (metering off), proxy (metering and
the default SQLite store on, on uvloop and on asyncio), a bare aiohttp passthrough (the
calibration: what any Python proxy costs here today) and nginx (when installed).

    python -m bench.run --quick      # < 2 minutes
    python -m bench.run --full

Targets are measured in interleaved rounds so machine noise hits them alike; figures are
medians. CPU comes from /proc/<pid>/stat (utime + stime), which is stabler than wall time on
a shared machine. Writes bench/results/<stamp>.json and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answered (a 503 from /api/health is an answer)
        except Exception:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of `pid`, in ns precision (/proc/PID/task/*/schedstat).

    /proc/PID/stat counts in clock ticks (10 ms), too coarse for a few hundred µs a request.
    Threads matter: aiosqlite and the default executor run work off the main thread.
    """
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1e9


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tree_pids(pid: int) -> list[int]:
    """The process and its children (nginx workers)."""
    out = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        for child in children.read_text().split():
            out += tree_pids(int(child))
    return out


def core_split() -> tuple[set[int], set[int]] | None:
    """(cores for the measured proxy, cores for the simulator and load generator), or None.

    The measured process gets a core of its own, the rest share the others: on a small shared
    machine this removes most of the noise of migrations and of the load generator and the
    simulator stealing the proxy's core. Every target is measured the same way.
    """
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None
    return {cores[-1]}, set(cores[:-1])


def pin(pid: int, cores: set[int] | None) -> None:
    """Pin every thread of `pid` and its children; threads started later inherit it."""
    if not cores:
        return
    for process in tree_pids(pid):
        for task in Path(f"/proc/{process}/task").iterdir():
            try:
                os.sched_setaffinity(int(task.name), cores)
            except (ProcessLookupError, OSError):
                continue


@dataclass
class Target:
    name: str
    url: str
    process: subprocess.Popen[bytes] | None = None
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def cpu(self) -> float:
        if self.process is None:
            return 0.0
        return sum(cpu_seconds(p) for p in tree_pids(self.process.pid))

    def rss(self) -> float:
        if self.process is None:
            return 0.0
        return sum(rss_mb(p) for p in tree_pids(self.process.pid))


def start_simulator(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ollama_proxy",
            "simulate",
            "--listen",
            f"127.0.0.1:{port}",
            "--zero-delay",
            "--num-parallel",
            "512",
        ],
        cwd=ROOT,
    )
    wait_http(f"http://127.0.0.1:{port}/api/version")
    return proc


def start_proxy(
    port: int, upstream: str, metering: bool, workdir: Path, uvloop: bool = True
) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "ollama_proxy",
        "serve",
        "--listen",
        f"127.0.0.1:{port}",
        "--upstream",
        upstream,
        "--profile",
        "prod",
    ]
    if metering:
        cmd += ["--store", f"sqlite:///{workdir / 'bench.db'}"]
    else:
        cmd += ["--no-instrumentation"]
    env = dict(os.environ, JOURNAL_DIR=str(workdir / "journal"), USE_UVLOOP=str(uvloop))
    proc = subprocess.Popen(cmd, cwd=workdir, env=env)
    wait_http(f"http://127.0.0.1:{port}/api/version")
    return proc


def start_bare(port: int, upstream: str) -> subprocess.Popen[bytes]:
    """The calibration target: bench/bare_proxy.py, aiohttp with nothing of ours."""
    cmd = [sys.executable, "-m", "bench.bare_proxy", "--listen", f"127.0.0.1:{port}"]
    proc = subprocess.Popen([*cmd, "--upstream", upstream], cwd=ROOT)
    wait_http(f"http://127.0.0.1:{port}/api/version")
    return proc


NGINX_CONF = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  upstream ollama {{ server 127.0.0.1:{upstream}; keepalive 256; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://ollama;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host localhost:11434;
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 1h;
    }}
  }}
}}
"""


def start_nginx(port: int, upstream_port: int, workdir: Path) -> subprocess.Popen[bytes] | None:
    binary = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if binary is None:
        return None
    conf = workdir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=workdir, upstream=upstream_port, port=port))
    proc = subprocess.Popen([binary, "-c", str(conf), "-g", "daemon off;"])
    wait_http(f"http://127.0.0.1:{port}/api/version")
    return proc


def load(url: str, workload: str, concurrency: int, requests: int) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.loadgen",
            "--url",
            url,
            "--workload",
            workload,
            "--concurrency",
            str(concurrency),
            "--requests",
            str(requests),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return json.loads(out.stdout)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def measure(target: Target, workload: str, concurrency: int, requests: int) -> dict[str, Any]:
    cpu_before = target.cpu()
    result = load(target.url, workload, concurrency, requests)
    cpu = target.cpu() - cpu_before
    warm = 1  # the loadgen's warm-up request also went through the target
    return {
        "ttfb_p50": pct(result["ttfb_ms"], 0.5),
        "ttfb_p95": pct(result["ttfb_ms"], 0.95),
        "ttfb_p99": pct(result["ttfb_ms"], 0.99),
        "total_p50": pct(result["total_ms"], 0.5),
        "total_p95": pct(result["total_ms"], 0.95),
        "total_p99": pct(result["total_ms"], 0.99),
        "rps": requests / result["wall_s"],
        "chunks_per_s": result["chunks"] / result["wall_s"],
        "chunks": result["chunks"],
        "errors": result["errors"],
        "cpu_us_per_request": cpu / (requests + warm) * 1e6,
        "cpu_us_per_chunk": cpu / max(1, result["chunks"]) * 1e6,
        "rss_mb": target.rss(),
    }


def median_of(rounds: list[dict[str, Any]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}


def run(quick: bool, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="olp-bench-"))
    sim_port = free_port()
    processes: list[subprocess.Popen[bytes]] = []
    split = core_split()
    measured_cores, load_cores = split if split else (None, None)
    if load_cores:
        os.sched_setaffinity(0, load_cores)  # the load generators are our children
    try:
        sim = start_simulator(sim_port)
        processes.append(sim)
        upstream = f"http://127.0.0.1:{sim_port}"
        targets = [Target("direct", upstream)]
        variants = (
            ("proxy_off", False, True),
            ("proxy_on", True, True),
            ("proxy_on_asyncio", True, False),  # is uvloop worth keeping?
        )
        for name, metering, uvloop in variants:
            if name in skip:
                continue
            port = free_port()
            sub = workdir / name
            sub.mkdir()
            proc = start_proxy(port, upstream, metering, sub, uvloop)
            pin(proc.pid, measured_cores)
            processes.append(proc)
            targets.append(Target(name, f"http://127.0.0.1:{port}", proc))
        if "aiohttp_bare" not in skip:
            port = free_port()
            bare = start_bare(port, upstream)
            pin(bare.pid, measured_cores)
            processes.append(bare)
            targets.append(Target("aiohttp_bare", f"http://127.0.0.1:{port}", bare))
        nginx_port = free_port()
        nginx = start_nginx(nginx_port, sim_port, workdir)
        if nginx is not None:
            pin(nginx.pid, measured_cores)
            processes.append(nginx)
            targets.append(Target("nginx", f"http://127.0.0.1:{nginx_port}", nginx))
        idle_rss = {t.name: t.rss() for t in targets if t.process is not None}

        plan = plan_for(quick)
        results: dict[str, Any] = {}
        for workload, concurrency, requests, rounds in plan:
            key = f"{workload}@c{concurrency}"
            per_target: dict[str, list[dict[str, Any]]] = {t.name: [] for t in targets}
            for _ in range(rounds):
                for target in targets:  # interleaved: noise hits every target alike
                    per_target[target.name].append(measure(target, workload, concurrency, requests))
            results[key] = {name: median_of(r) for name, r in per_target.items()}
            for name, rounds_of in per_target.items():  # for ratios paired round by round
                for unit in ("cpu_us_per_request", "cpu_us_per_chunk"):
                    results[key][name][f"{unit}_rounds"] = [r[unit] for r in rounds_of]
            print(
                f"{key}: "
                + ", ".join(
                    f"{n} ttfb50={v['ttfb_p50']:.2f}ms cpu/chunk={v['cpu_us_per_chunk']:.1f}us"
                    for n, v in results[key].items()
                ),
                file=sys.stderr,
            )
        return {
            "machine": machine(),
            "pinning": {"measured": sorted(measured_cores or ()), "load": sorted(load_cores or ())},
            "idle_rss_mb": idle_rss,
            "results": results,
            "quick": quick,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    finally:
        for proc in reversed(processes):
            proc.terminate()
        for proc in processes:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def plan_for(quick: bool) -> list[tuple[str, int, int, int]]:
    """(workload, concurrency, requests per round, rounds)."""
    if quick:
        return [
            ("chat_stream", 1, 200, 3),
            ("chat_stream", 16, 160, 3),
            ("chat_stream", 128, 256, 1),
            ("generate", 1, 400, 3),
            ("openai_stream", 16, 160, 2),
        ]
    # About a second a round: periodic work (journal fsync each second, store flushes, system
    # samples) then lands in every round instead of in some, and medians stop jumping.
    per_round = {"chat_stream": 300, "generate": 2000, "openai_stream": 1000}
    return [
        (workload, concurrency, max(requests, concurrency * 8), 7)
        for workload, requests in per_round.items()
        for concurrency in (1, 16, 128)
    ]


def machine() -> dict[str, Any]:
    cpu_model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    import aiohttp

    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model,
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
        "kernel": platform.release(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true")
    mode.add_argument("--full", action="store_true")
    parser.add_argument("--skip", action="append", default=[], help="target to leave out")
    args = parser.parse_args(argv)
    data = run(quick=not args.full, skip=tuple(args.skip))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"proxy-{data['timestamp'].replace(':', '')}.json"
    out.write_text(json.dumps(data, indent=2))
    from bench.report import write_report

    write_report(data, ROOT / "docs" / "benchmarks.md")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
