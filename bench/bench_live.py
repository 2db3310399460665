"""The live view's cost: proxy CPU with 128 streams in flight, without and with 10 subscribers
of /api/stats/live, side by side in interleaved rounds.

    python -m bench.bench_live            # ~1.5 minutes
    python -m bench.bench_live --rounds 8 --window-s 5

The simulator streams at 20 tokens/s and each request asks for ANSWER_TOKENS, so a stream lasts
10 s; the 128 clients start spread over those 10 s and each sends its next request when one
ends, so requests arrive, get their first byte and leave all the time (about 13 of each per
second), as on a busy box, rather than all together. Each round measures the proxy's CPU over
a window with no subscriber and over one with ten, in alternating order (the first window of a
round is not always the same condition). The figure is the median of the per-round ratios (the
pairs saw the same machine); the load average is recorded with it.
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
TOKENS_PER_S = 20
ANSWER_TOKENS = 200  # 10 s per request at TOKENS_PER_S


def start_slow_simulator(port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "ollama_proxy", "simulate", "--listen", f"127.0.0.1:{port}"]
    cmd += ["--tokens-per-s", str(TOKENS_PER_S), "--ttft-s", "0.05", "--load-s", "0"]
    cmd += ["--num-parallel", "512"]
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


async def keep_streaming(
    http: aiohttp.ClientSession, url: str, stop: asyncio.Event, delay_s: float
) -> None:
    body = {"model": "llama3.2", "prompt": "bench", "options": {"num_predict": ANSWER_TOKENS}}
    await asyncio.sleep(delay_s)
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


async def watched_window(
    http: aiohttp.ClientSession, url: str, pid: int, seconds: float, events: list[int]
) -> float:
    watchers = [asyncio.create_task(subscribe(http, url, events)) for _ in range(SUBSCRIBERS)]
    await asyncio.sleep(0.5)  # every subscriber connected and past its first snapshot
    try:
        return await window(pid, seconds)
    finally:
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        await asyncio.sleep(0.5)


async def measure(url: str, pid: int, rounds: int, window_s: float) -> dict[str, Any]:
    stop = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None)
    lasts_s = ANSWER_TOKENS / TOKENS_PER_S
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        streams = [
            asyncio.create_task(keep_streaming(http, url, stop, i * lasts_s / STREAMS))
            for i in range(STREAMS)
        ]
        await asyncio.sleep(lasts_s + 2)  # every client started, arrivals steady
        pairs: list[tuple[float, float]] = []
        events = [0]
        for n in range(rounds):
            if n % 2 == 0:
                idle = await window(pid, window_s)
                watched = await watched_window(http, url, pid, window_s, events)
            else:
                watched = await watched_window(http, url, pid, window_s, events)
                idle = await window(pid, window_s)
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
        "snapshots_per_s_per_subscriber": events[0] / (rounds * SUBSCRIBERS * (window_s + 0.5)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
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
            load_before = os.getloadavg()
            result = asyncio.run(measure(url, proxy.pid, args.rounds, args.window_s))
            result["loadavg_before"], result["loadavg_after"] = load_before, os.getloadavg()
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
