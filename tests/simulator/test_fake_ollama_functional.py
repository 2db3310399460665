"""The fake `ollama` executable behaves like `ollama serve` for spawned-process tests."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path

import aiohttp

from ollama_proxy.simulator.fake_binary import config_from_env

FAKE = Path(__file__).parent / "bin" / "ollama"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_until_up(url: str, proc: asyncio.subprocess.Process) -> None:
    # A spawned server has no readiness signal but its port: poll it (bounded).
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            assert proc.returncode is None, "the fake ollama exited early"
            try:
                async with session.get(url + "/api/version") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("the fake ollama never answered")


async def test_fake_ollama_serves_on_ollama_host_and_stops_on_sigterm() -> None:
    port = _free_port()
    env = {**os.environ, "OLLAMA_HOST": f"127.0.0.1:{port}"}
    proc = await asyncio.create_subprocess_exec(
        str(FAKE), "serve", env=env, stderr=asyncio.subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_until_up(url, proc)
        async with aiohttp.ClientSession() as session:
            async with session.get(url + "/") as response:
                assert await response.read() == b"Ollama is running"
            payload = {"model": "llama3.2", "prompt": "hi", "stream": False}
            async with session.post(url + "/api/generate", json=payload) as response:
                assert (await response.json())["done"] is True
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 10)
    assert code == 0
    assert proc.stderr is not None
    assert f"127.0.0.1:{port}" in (await proc.stderr.read()).decode()


async def test_fake_ollama_version_and_unknown_commands() -> None:
    version = await asyncio.create_subprocess_exec(
        str(FAKE), "--version", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await version.communicate()
    assert version.returncode == 0 and out.startswith(b"ollama version is ")
    other = await asyncio.create_subprocess_exec(
        str(FAKE), "run", "llama3.2", stderr=asyncio.subprocess.PIPE
    )
    await other.communicate()
    assert other.returncode == 2


def test_fake_ollama_reads_ollama_settings_from_the_environment() -> None:
    config = config_from_env(
        {
            "OLLAMA_KEEP_ALIVE": "-1",
            "OLLAMA_NUM_PARALLEL": "4",
            "OLLAMA_MAX_QUEUE": "7",
            "FAKE_OLLAMA_LOAD_S": "0.5",
        }
    )
    assert config.default_keep_alive_s == float("inf")
    assert (config.num_parallel, config.max_queue, config.load_s) == (4, 7, 0.5)
    assert config.tokens_per_s == 0
