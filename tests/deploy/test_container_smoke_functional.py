"""The image's command without the image: `ollama-proxy serve` with the container's environment.

No Docker engine runs here, so this starts what the container would start (ENTRYPOINT + CMD of
the Dockerfile, its ENV, the compose service's environment with the hosts pointed at local
stand-ins), then probes it with the image's own health check and stops it with SIGTERM, as
`docker stop` does.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import yaml

from ollama_proxy.simulator import SimulatorConfig, create_simulator_app
from tests.deploy.test_dockerfile import FINAL
from tests.servers import start_app

ROOT = Path(__file__).resolve().parents[2]
PROBE = ROOT / "deploy/docker/healthcheck.py"


def dockerfile_env() -> dict[str, str]:
    """ENV of the final stage (`KEY=VALUE` pairs; PATH left out)."""
    text = " ".join(i.args for i in FINAL if i.keyword == "ENV")
    pairs = dict(re.findall(r"(\w+)=(\S+)", text))
    pairs.pop("PATH", None)
    return pairs


def compose_env() -> dict[str, str]:
    """The ollama-monitor service's environment as written (defaults of ${VAR:-default})."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env: dict[str, str] = {}
    for key, value in compose["services"]["ollama-monitor"]["environment"].items():
        match = re.fullmatch(r"\$\{\w+(?::-([^}]*))?(?::\?[^}]*)?\}", str(value))
        env[key] = (match.group(1) or "") if match else str(value)
    return env


def entrypoint() -> list[str]:
    entry = json.loads(next(i.args for i in reversed(FINAL) if i.keyword == "ENTRYPOINT"))
    cmd = json.loads(next(i.args for i in reversed(FINAL) if i.keyword == "CMD"))
    script = Path(sys.executable).with_name(entry[0])
    head = [str(script)] if script.exists() else [sys.executable, "-m", "ollama_proxy"]
    return [*head, *entry[1:], *cmd]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_listening(port: int, process: asyncio.subprocess.Process) -> None:
    for _ in range(300):  # the process has to import and bind; nothing to await but the socket
        if process.returncode is not None:
            raise AssertionError(f"exited early with {process.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise AssertionError("the proxy did not start listening within 15 s")


@pytest.fixture
async def container(tmp_path: Path) -> AsyncIterator[tuple[int, asyncio.subprocess.Process]]:
    sim_runner, sim_url = await start_app(
        create_simulator_app(SimulatorConfig(tokens_per_s=0, ttft_s=0, load_s=0))
    )
    port = free_port()
    secrets = {}  # what secrets-init writes into the secrets volume
    for key, value in compose_env().items():
        if key.endswith("_FILE") and value.startswith("/secrets/"):
            (tmp_path / Path(value).name).write_text("generated-secret")
            secrets[key] = str(tmp_path / Path(value).name)
    env = {
        **dockerfile_env(),
        **compose_env(),
        **secrets,
        # What differs outside the container: local stand-ins instead of service names.
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "PROXY_LISTEN": f"127.0.0.1:{port}",
        "OLLAMA_UPSTREAM": sim_url,
        "EXPORTER_TYPE": "sqlite",
        "SQLITE_PATH": str(tmp_path / "ollama-proxy.db"),
        "JOURNAL_DIR": str(tmp_path / "journal"),
        "HOME": str(tmp_path),
    }
    process = await asyncio.create_subprocess_exec(
        *entrypoint(), env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await wait_listening(port, process)
        yield port, process
    finally:
        if process.returncode is None:
            process.kill()
        await process.communicate()
        await sim_runner.cleanup()


async def test_the_containers_command_serves_and_passes_its_health_check(
    container: tuple[int, asyncio.subprocess.Process],
) -> None:
    port, process = container
    probe = await asyncio.create_subprocess_exec(
        sys.executable, str(PROBE), env={"PROXY_LISTEN": f"0.0.0.0:{port}"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(probe.communicate(), 30)
    assert probe.returncode == 0, (out + err).decode()
    assert json.loads(out)["status"] in {"healthy", "degraded"}

    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/api/tags") as response:
            assert response.status == 200
            assert "models" in await response.json()

    # `docker stop`: SIGTERM, then the process must exit by itself within the grace period.
    process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(process.wait(), 35)
    assert process.returncode == 0
