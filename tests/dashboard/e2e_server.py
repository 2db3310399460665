"""Launcher for the dashboard's browser tests: simulator + proxy + deterministic traffic.

Prints one JSON line {"url": ...} once the traffic is stored, then serves until killed.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import tempfile
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ollama_proxy import appkeys  # noqa: E402
from ollama_proxy.alerts.engine import AlertEngine  # noqa: E402
from ollama_proxy.app import create_app  # noqa: E402
from ollama_proxy.config import Settings  # noqa: E402
from ollama_proxy.demo import generate_traffic  # noqa: E402
from ollama_proxy.simulator import SimulatorConfig, create_simulator_app  # noqa: E402
from ollama_proxy.simulator.state import SIMULATOR  # noqa: E402
from tests.servers import start_app  # noqa: E402


async def fire_an_alert(sim_url: str, proxy_url: str, engine: AlertEngine) -> None:
    async with aiohttp.ClientSession() as http:
        await http.post(f"{sim_url}/_sim/faults", json={"queue_full": True, "count": 1})
        body = {"model": "llama3.2", "prompt": "hi", "stream": False}
        async with http.post(f"{proxy_url}/api/generate", json=body) as response:
            assert response.status == 503, response.status
            await response.read()
    async with asyncio.timeout(10):  # the record reaches the engine after the response
        while not engine.queued:
            await asyncio.sleep(0.01)


async def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="olp-e2e-"))
    sim_app = create_simulator_app(SimulatorConfig.zero_delay())
    sim_runner, sim_url = await start_app(sim_app)
    settings = Settings(
        upstream=sim_url,
        listen="127.0.0.1:0",
        store_urls=[f"sqlite:///{workdir / 'e2e.db'}"],
        journal_dir=str(workdir / "journal"),
        metrics_export_interval=3600,
        instance_name="e2e",
    )
    app = create_app(settings)
    runner, url = await start_app(app)
    await generate_traffic(url, requests=80, seed=11, concurrency=4)
    await app[appkeys.SYSTEM].poll_once()  # residency and system samples, without waiting
    await fire_an_alert(sim_url, url, app[appkeys.ALERTS])
    app[appkeys.ALERTS].evaluate_once()  # queue_full fires: the header badge and Alerts page
    await app[appkeys.RECORDER].flush()
    # The stored traffic is done: from now on answers stream at 10 tokens/s, so the Live
    # page can watch a request arrive, advance and leave.
    sim_app[SIMULATOR].config.tokens_per_s = 10
    print(json.dumps({"url": url}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    await sim_runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
