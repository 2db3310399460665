"""The live view's cost: proxy CPU with 128 streams in flight, without and with 10 subscribers
of /api/stats/live, side by side in interleaved rounds.

    python -m bench.bench_live            # ~1 minute
    python -m bench.bench_live --rounds 5 --window-s 8

The simulator streams at 20 tokens/s, so 128 streams run for the whole measurement; each
round measures the proxy's CPU over a window with no subscriber, then over one with ten. The
figure is the median of the per-round ratios (the pairs saw the same machine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.run import RESULTS, core_split, cpu_seconds, free_port, pin, tree_pids, wait_http

STREAMS = 128
SUBSCRIBERS = 10


def start_slow_simulator(port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "ollama_proxy", "simulate", "--listen", f"127.0.0.1:{port}"]
    cmd += ["--tokens-per-s", "20", "--ttft-s", "0.05", "--load-s", "0", "--num-parallel", "512"]
    proc = subprocess.Popen(cmd)
    wait_http(f"http://127.0.0.1:{port}/api/version")
    return proc


def start_metering_proxy(port: int, upstream: str, workdir: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "ollama_proxy", "serve", "--listen", f"127.0.0.1:{port}"]
    cmd += ["--upstream", upstream, "--profile", "prod"]
    cmd += ["--store", f"sqlite:///{workdir / 'bench.db'}"]
    env = dict(os.environ, JOURNAL_DIR=str(workdir / "journal"))
    proc = subprocess.Popen(cmd, cwd=workdir, env=env)
    wait_http(f"http://127.0.0.1:{port}/api/version")
    return proc


async def keep_streaming(http: aiohttp.ClientSession, url: str, stop: asyncio.Event) -> None:
    body = {"model": "llama3.2", "prompt": "bench", "options": {"num_predict": 400}}
    while not stop.is_set():
        async with http.post(f"{url}/api/generate", json=body) as response:
            async for _ in response.content.iter_any():
                if stop.is_set():
                    return


async def subscribe(http: aiohttp.ClientSession, url: str, counts: list[int]) -> None:
    async with http.get(f"{url}/api/stats/live") as response:
        async for chunk in response.content.iter_any():
            counts[0] += chunk.count(b"data: ")


async def window(pid: int, seconds: float) -> float:
    """Proxy CPU seconds per wall second over `seconds`."""
    before, started = sum(cpu_seconds(p) for p in tree_pids(pid)), time.monotonic()
    await asyncio.sleep(seconds)
    used = sum(cpu_seconds(p) for p in tree_pids(pid)) - before
    return used / (time.monotonic() - started)


async def measure(url: str, pid: int, rounds: int, window_s: float) -> dict[str, Any]:
    stop = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        streams = [asyncio.create_task(keep_streaming(http, url, stop)) for _ in range(STREAMS)]
        await asyncio.sleep(3)  # every stream past its first token
        pairs: list[tuple[float, float]] = []
        events = [0]
        for _ in range(rounds):
            idle = await window(pid, window_s)
            watchers = [asyncio.create_task(subscribe(http, url, events)) for _ in range(10)]
            await asyncio.sleep(0.5)
            watched = await window(pid, window_s)
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            await asyncio.sleep(0.5)
            pairs.append((idle, watched))
        stop.set()
        for task in streams:
            task.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
    ratios = [w / i for i, w in pairs]
    return {
        "streams": STREAMS,
        "subscribers": SUBSCRIBERS,
        "window_s": window_s,
        "rounds": [{"cpu_no_subscriber": i, "cpu_10_subscribers": w} for i, w in pairs],
        "ratio_median": statistics.median(ratios),
        "ratios": ratios,
        "snapshots_received": events[0],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window-s", type=float, default=5.0)
    args = parser.parse_args(argv)
    split = core_split()
    sim_port, proxy_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        sim = start_slow_simulator(sim_port)
        proxy = start_metering_proxy(proxy_port, f"http://127.0.0.1:{sim_port}", Path(tmp))
        try:
            if split:
                pin(proxy.pid, split[0])
                pin(sim.pid, split[1])
            url = f"http://127.0.0.1:{proxy_port}"
            result = asyncio.run(measure(url, proxy.pid, args.rounds, args.window_s))
        finally:
            for proc in (proxy, sim):
                proc.terminate()
                proc.wait(10)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime())
    (RESULTS / f"live-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
