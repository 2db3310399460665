"""Keeps node state fresh: /api/ps every FLEET_PS_INTERVAL_S (and right after a request
loaded a model), /api/tags and /api/version every FLEET_TAGS_INTERVAL_S and on readmission.

A failed probe counts like a failed connection (enough of them eject the node); an answer
readmits it. The request path never waits on any of this.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
import structlog

from ollama_proxy.fleet.nodes import Fleet, Node
from ollama_proxy.tasks import cancel_and_wait

log = structlog.get_logger("ollama_proxy.fleet")
PROBE_ERRORS = (aiohttp.ClientError, TimeoutError, OSError, ValueError)


class Poller:
    """One task per node; `kick(node)` polls its /api/ps now."""

    def __init__(
        self,
        fleet: Fleet,
        session: Callable[[], aiohttp.ClientSession],
        *,
        ps_interval_s: float = 2.0,
        tags_interval_s: float = 30.0,
        probe_timeout_s: float = 2.0,
    ) -> None:
        self.fleet = fleet
        self._session = session
        self._ps_interval_s = ps_interval_s
        self._tags_interval_s = tags_interval_s
        self._timeout = aiohttp.ClientTimeout(total=probe_timeout_s)
        self._kicks = [asyncio.Event() for _ in fleet.nodes]
        self._tags_due = [False for _ in fleet.nodes]
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.fleet.on_loaded = self.kick
        self.fleet.on_changed = self.retag
        # The first look at every node before serving: routing starts informed.
        await asyncio.gather(*(self._refresh(node) for node in self.fleet.nodes))
        self._tasks = [asyncio.create_task(self._run(node)) for node in self.fleet.nodes]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)

    def kick(self, node: Node) -> None:
        self._kicks[node.index].set()

    def retag(self, node: Node) -> None:
        """Poll that node's /api/tags (and /api/ps) now: its models on disk changed."""
        self._tags_due[node.index] = True
        self._kicks[node.index].set()

    async def _run(self, node: Node) -> None:
        loop = asyncio.get_running_loop()
        next_tags = loop.time() + self._tags_interval_s
        kick = self._kicks[node.index]
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._ps_interval_s):
                    await kick.wait()
            kick.clear()
            was_healthy = node.healthy
            try:
                if loop.time() >= next_tags or not was_healthy or self._tags_due[node.index]:
                    self._tags_due[node.index] = False
                    await self._refresh(node)
                    next_tags = loop.time() + self._tags_interval_s
                else:
                    await self._poll(node, "/api/ps", self.fleet.apply_ps)
            except Exception:  # a bug here must not end the node's polling for good
                log.exception("node_poll_failed", node=node.name)
            if was_healthy != node.healthy:
                log.warning("node_health", node=node.name, healthy=node.healthy)

    async def _refresh(self, node: Node) -> None:
        """ps first: it decides health; tags and version only from a node that answers."""
        if await self._poll(node, "/api/ps", self.fleet.apply_ps):
            await self._poll(node, "/api/tags", self.fleet.apply_tags)
            await self._poll(node, "/api/version", self.fleet.apply_version)

    async def _poll(self, node: Node, path: str, apply: Callable[[Node, Any], None]) -> bool:
        try:
            async with self._session().get(node.url + path, timeout=self._timeout) as response:
                body = await response.read()
                if response.status != 200:
                    raise ValueError(f"HTTP {response.status}")
                apply(node, orjson.loads(body))
                return True
        except PROBE_ERRORS as exc:
            if path == "/api/ps":
                self.fleet.probe_failed(node)
            log.debug("node_probe_failed", node=node.name, path=path, error=repr(exc))
            return False
