"""The fleet, measured side by side in one run.

    python -m bench.bench_fleet            # ~2 minutes
    python -m bench.bench_fleet --decisions-only

1. A routing decision (`choose.rank`) at 3 and 64 nodes, and the body parse that feeds it
   (`facts`): microseconds, p50/p99, in process.
2. One upstream, today's path against the code before the fleet existed (BASE, a git revision,
   exported to a temporary directory): proxy CPU per request, interleaved rounds, the ratio of
   each round's pair (the machine is shared: ratios, not absolute times).
3. Requests per second through one proxy in front of three simulated nodes, against the same
   proxy in front of one of them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench.run import ROOT, cpu_seconds, free_port, load, pct, wait_http
from ollama_proxy.fleet.choose import rank
from ollama_proxy.fleet.facts import facts
from ollama_proxy.fleet.nodes import GIB, Fleet
from ollama_proxy.fleet.spec import NodeSpec

BASE = "be8bb5b~1"  # main just before the fleet's forwarding: the single-upstream path as it was
MODELS = [f"model{i}:latest" for i in range(12)]
CHAT = orjson.dumps(
    {
        "model": "model3",
        "messages": [
            {"role": "system", "content": "You are terse." * 20},
            {"role": "user", "content": "Tell me about routing " * 30},
            {"role": "assistant", "content": "Routing is choosing " * 40},
            {"role": "user", "content": "and then?"},
        ],
        "stream": True,
    }
)


def fleet_of(size: int, rng: random.Random) -> Fleet:
    specs = [NodeSpec(f"n{i}", f"http://10.0.{i // 250}.{i % 250 + 1}:11434") for i in range(size)]
    fleet = Fleet(specs)
    for node in fleet.nodes:
        on_disk = rng.sample(MODELS, 6)
        fleet.apply_tags(node, {"models": [{"name": m, "size": 2 * GIB} for m in on_disk]})
        loaded = rng.sample(on_disk, 2)
        fleet.apply_ps(node, {"models": [{"name": m, "size_vram": 2 * GIB} for m in loaded]})
        for _ in range(rng.randrange(4)):
            fleet.dispatch(node, rng.choice(loaded))
    return fleet


def time_calls(call: Any, n: int) -> dict[str, float]:
    samples = []
    clock = time.perf_counter_ns
    for _ in range(n):
        start = clock()
        call()
        samples.append((clock() - start) / 1000)
    return {"p50_us": pct(samples, 0.5), "p99_us": pct(samples, 0.99)}


def decisions(n: int = 20_000) -> dict[str, Any]:
    rng = random.Random(7)
    out: dict[str, Any] = {}
    found = facts(CHAT)
    for size in (3, 64):
        fleet = fleet_of(size, rng)
        fleet.remember(found.affinity or 0, fleet.nodes[-1])
        out[f"rank_{size}_nodes"] = time_calls(lambda f=fleet: rank(f, found, None, 3), n)
    out["facts_chat_body"] = time_calls(lambda: facts(CHAT), n)
    out["chat_body_bytes"] = len(CHAT)
    return out


def simulator(host: str, port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "ollama_proxy", "simulate", "--listen", f"{host}:{port}"]
    proc = subprocess.Popen([*cmd, "--zero-delay", "--num-parallel", "512"], cwd=ROOT)
    wait_http(f"http://{host}:{port}/api/version")
    return proc


def proxy(port: int, upstreams: list[str], workdir: Path, code: Path | None) -> Any:
    cmd = [sys.executable, "-m", "ollama_proxy", "serve", "--listen", f"127.0.0.1:{port}"]
    for upstream in upstreams:
        cmd += ["--upstream", upstream]
    cmd += ["--profile", "prod", "--store", f"sqlite:///{workdir / 'bench.db'}"]
    env = dict(os.environ, JOURNAL_DIR=str(workdir / "journal"), OTEL_SDK_DISABLED="true")
    if code is not None:
        env["PYTHONPATH"] = str(code)  # ahead of the editable install: the old package
    proc = subprocess.Popen(cmd, cwd=workdir, env=env)
    wait_http(f"http://127.0.0.1:{port}/api/version", timeout=60)
    return proc


def export_base(revision: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "archive", revision, "ollama_proxy", "schemas"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def cpu_per_request(pid: int, url: str, workload: str, conc: int, n: int) -> tuple[float, float]:
    before = cpu_seconds(pid)
    result = load(url, workload, conc, n)
    return (cpu_seconds(pid) - before) / (n + 1) * 1e6, n / result["wall_s"]


def processes(quick: bool, base: str) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="olp-fleet-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        nodes = []
        for host in ("127.0.19.2", "127.0.19.3", "127.0.19.4"):
            port = free_port()
            procs.append(simulator(host, port))
            nodes.append(f"http://{host}:{port}")
        targets: dict[str, tuple[int, str]] = {}
        plans = {
            "one_today": ([nodes[0]], None),
            "one_base": ([nodes[0]], export_base(base, work / "base")),
            "three_nodes": ([f"n{i}={u}" for i, u in enumerate(nodes)], None),
        }
        for name, (upstreams, code) in plans.items():
            (work / name).mkdir(parents=True, exist_ok=True)
            port = free_port()
            proc = proxy(port, upstreams, work / name, code)
            procs.append(proc)
            targets[name] = (proc.pid, f"http://127.0.0.1:{port}")
        rounds, n = (3, 200) if quick else (7, 400)
        samples: dict[str, dict[str, list[float]]] = {}
        for workload, conc in (("chat_stream", 16), ("generate", 16)):
            for _ in range(rounds):
                for name, (pid, url) in targets.items():  # interleaved
                    cpu, rps = cpu_per_request(pid, url, workload, conc, n)
                    entry = samples.setdefault(f"{workload}@c{conc}:{name}", {"cpu": [], "rps": []})
                    entry["cpu"].append(cpu)
                    entry["rps"].append(rps)
        return summarise(samples)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


def summarise(samples: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, values in samples.items():
        out[key] = {
            "cpu_us_per_request": statistics.median(values["cpu"]),
            "rps": statistics.median(values["rps"]),
        }
    for workload in {key.split(":")[0] for key in samples}:
        today = samples[f"{workload}:one_today"]["cpu"]
        base = samples[f"{workload}:one_base"]["cpu"]
        ratios = [t / b for t, b in zip(today, base, strict=True)]
        out[f"{workload}:one_today_over_base_cpu"] = statistics.median(ratios)
        three = samples[f"{workload}:three_nodes"]["rps"]
        one = samples[f"{workload}:one_today"]["rps"]
        out[f"{workload}:three_over_one_rps"] = statistics.median(
            [a / b for a, b in zip(three, one, strict=True)]
        )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--decisions-only", action="store_true")
    parser.add_argument("--base", default=BASE, help="git revision of the 'before' code")
    args = parser.parse_args(argv)
    data: dict[str, Any] = {"decisions": decisions()}
    if not args.decisions_only:
        data["processes"] = processes(not args.full, args.base)
    data["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    data["loadavg"] = os.getloadavg()  # the machine is shared: how busy it was
    text = json.dumps(data, indent=2)
    print(text)
    if not args.decisions_only:
        out = ROOT / "bench" / "results" / f"fleet-{data['timestamp'].replace(':', '')}.json"
        out.write_text(text + "\n")


if __name__ == "__main__":
    main()
