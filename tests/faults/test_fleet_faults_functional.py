"""A fleet losing a node: SIGKILLed under 20 concurrent streams; gone silent (packets
swallowed, no reset) and back."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import ollama
import pytest

from bench.run import free_port, wait_http
from tests.ci import missing
from tests.faults.procs import ROOT, Proc
from tests.fleet.harness import fleet_proxy, load, three_nodes

STREAM = {"options": {"num_predict": 160}}  # 160 tokens at 40/s: 4 s a stream
HI = [{"role": "user", "content": "hi"}]


def node_processes(*hosts: str) -> list[Proc]:
    """Simulators as processes (SIGKILL needs one), started side by side."""
    procs = []
    for host in hosts:
        port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "ollama_proxy",
            "simulate",
            "--listen",
            f"{host}:{port}",
            "--tokens-per-s",
            "40",
            "--ttft-s",
            "0",
            "--load-s",
            "0",
            "--num-parallel",
            "16",
        ]
        procs.append(Proc(subprocess.Popen(cmd, cwd=ROOT), f"http://{host}:{port}"))
    for proc in procs:
        wait_http(f"{proc.url}/api/version")
    return procs


async def _stream(
    client: ollama.AsyncClient, outcomes: list[str], started: asyncio.Queue[None] | None = None
) -> None:
    try:
        async for _ in await client.chat(model="llama3.2", messages=HI, stream=True, **STREAM):
            if started is not None:
                started.put_nowait(None)
                started = None
        outcomes.append("ok")
    except Exception as exc:  # any failure counts, whatever the client raises
        outcomes.append(type(exc).__name__)


async def test_sigkilled_node_under_20_streams(tmp_path: object) -> None:
    from tests.fleet.harness import SimNode

    procs = node_processes("127.0.19.5", "127.0.19.6")
    try:
        nodes = [SimNode(name, p.url, None) for name, p in zip("xy", procs, strict=True)]  # type: ignore[arg-type]
        for node in nodes:
            await load(node, "llama3.2")  # warm on both: the streams spread by in-flight
        # Probes patient enough for a busy machine: x must not look sick before the kill.
        async with fleet_proxy(
            nodes, route_node_slots="x=16,y=16", fleet_ps_interval_s=5, connect_timeout_s=5
        ) as proxy:
            client = proxy.client()
            before: list[str] = []
            started: asyncio.Queue[None] = asyncio.Queue()
            streams = [asyncio.create_task(_stream(client, before, started)) for _ in range(20)]
            for _ in streams:  # every stream has its first chunk: none can be retried now
                await asyncio.wait_for(started.get(), 30)
            on_x = proxy.fleet.by_name["x"].inflight
            assert on_x > 0 and proxy.fleet.by_name["y"].inflight > 0
            procs[0].process.kill()
            procs[0].process.wait(10)
            killed_at = datetime.now(UTC)
            after: list[str] = []
            await asyncio.gather(*(_stream(client, after) for _ in range(10)))
            await asyncio.gather(*streams)
            assert after == ["ok"] * 10, "every request started after the kill succeeded"
            records = await proxy.records.await_for(30)
            late = [r for r in records if r.timestamp > killed_at]
            assert len(late) == 10 and {r.node for r in late} == {"y"}
            assert all(r.status == "success" for r in late)
            dead = [r for r in records if r.node == "x"]
            assert len(dead) == on_x and all(r.status == "error" for r in dead)
            assert before.count("ok") == 20 - on_x
            print(  # the figures of docs/reliability.md (run with -s)
                f"\nsigkill: {on_x} of 20 streams on the killed node ended as errors "
                f"({len(dead)} error records); 10 of 10 requests after the kill served by y, "
                f"attempts {sorted(r.attempts for r in late)}"
            )
    finally:
        for proc in procs:
            proc.stop()


def _iptables(*args: str) -> None:
    subprocess.run(["iptables", "-w", "5", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def silence() -> Iterator[Callable[[str, bool], None]]:
    """`silence(url, True)` swallows every packet sent to that address and port (no reset:
    connects hang) until `silence(url, False)` or the end of the test."""
    if os.geteuid() != 0 or shutil.which("iptables") is None:
        missing(
            "needs root and iptables to swallow packets",
            in_ci="the silent-node test needs root and iptables in CI",
        )
    rules: set[tuple[str, ...]] = set()

    def toggle(url: str, on: bool) -> None:
        host, port = url.removeprefix("http://").split(":")
        rule = ("OUTPUT", "-d", host, "-p", "tcp", "--dport", port, "-j", "DROP")
        if on and rule not in rules:
            _iptables("-I", *rule)
            rules.add(rule)
        elif not on and rule in rules:
            _iptables("-D", *rule)
            rules.discard(rule)

    yield toggle
    for rule in list(rules):
        _iptables("-D", *rule)


async def test_a_silent_node_is_ejected_within_the_connect_timeout_and_readmitted(
    silence: Callable[[str, bool], None],
) -> None:
    connect_timeout_s = 2.0
    async with (
        three_nodes() as nodes,
        fleet_proxy(nodes, connect_timeout_s=connect_timeout_s, fleet_ps_interval_s=0.5) as proxy,
    ):
        client = proxy.client()
        await client.chat(model="llama3.2", messages=HI)  # a pooled connection to a
        assert (await proxy.records.await_for(1))[0].node == "a"
        silence(nodes[0].url, True)
        started = time.monotonic()

        async def timed() -> float:
            t0 = time.monotonic()
            await client.chat(model="llama3.2", messages=HI)
            return time.monotonic() - t0

        waits = await asyncio.gather(*(timed() for _ in range(10)))
        assert max(waits) < connect_timeout_s + 1.0, waits
        ejected_after = time.monotonic() - started
        assert not proxy.fleet.by_name["a"].healthy
        assert time.monotonic() - started < connect_timeout_s + 1.0
        records = proxy.records.wait_for(11)[1:]
        assert all(r.status == "success" and r.node == "c" for r in records)
        silence(nodes[0].url, False)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not proxy.fleet.by_name["a"].healthy:
            assert loop.time() < deadline, "not readmitted"
            await asyncio.sleep(0.05)
        readmitted_after = loop.time() - (deadline - 10)
        await client.chat(model="llama3.2", messages=[{"role": "user", "content": "back"}])
        assert proxy.records.wait_for(12)[11].node == "a"
        print(
            f"\nsilent: 10 clients, waits {min(waits):.2f}-{max(waits):.2f} s "
            f"(CONNECT_TIMEOUT_S={connect_timeout_s}), all served by c; ejected within "
            f"{ejected_after:.2f} s after going silent; readmitted {readmitted_after:.2f} s "
            "after packets flowed again"
        )
