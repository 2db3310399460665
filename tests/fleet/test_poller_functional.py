"""The fleet's poller survives a bug in handling one answer: that node keeps being polled.

Regression: an exception other than a probe error (a bad answer shape the state code did not
expect) ended that node's task silently; its state froze until a restart.
"""

from __future__ import annotations

from typing import Any

import pytest

from ollama_proxy.fleet.nodes import Fleet, Node
from tests.fleet.harness import fleet_proxy, load, three_nodes
from tests.waiting import until


async def test_a_failing_apply_does_not_end_the_nodes_polling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with three_nodes() as nodes, fleet_proxy(nodes, fleet_ps_interval_s=0.05) as proxy:
        apply = Fleet.apply_ps
        failures = []

        def flaky(self: Fleet, node: Node, body: Any) -> None:
            if node.name == "b" and not failures:
                failures.append(node.name)
                raise RuntimeError("an answer the state code did not expect")
            apply(self, node, body)

        monkeypatch.setattr(Fleet, "apply_ps", flaky)
        await until(lambda: failures)
        await load(nodes[1], "qwen3:0.6b")  # seen only if b is still polled
        await until(lambda: "qwen3:0.6b" in proxy.fleet.by_name["b"].loaded)
