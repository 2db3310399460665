"""deploy/prometheus/alerts.yml: valid (promtool check), its unit tests pass (promtool test),
and every metric it reads is one the proxy's /metrics really exposes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ollama_proxy import appkeys
from ollama_proxy.alerts.rules import DEFAULT_RULES
from ollama_proxy.system.samplers import GpuSample, SystemSample
from tests.alerts.conftest import AlertStack

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/prometheus/alerts.yml"
RULE_TESTS = (
    ROOT / "deploy/prometheus/alerts.test.yml",
    ROOT / "deploy/prometheus/alerts.decode.test.yml",
)
# Series Prometheus makes itself, not the proxy.
NOT_OURS = {"up"}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing (Debian package `prometheus`; scripts/test.sh)")
        pytest.skip("promtool is not installed (Debian package `prometheus`)")
    return path


def run(*args: str) -> str:
    done = subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_promtool_check_rules() -> None:
    assert "SUCCESS: 9 rules found" in run("check", "rules", str(RULES))


def test_promtool_unit_tests() -> None:
    assert run("test", "rules", *map(str, RULE_TESTS)).count("SUCCESS") == len(RULE_TESTS)


def test_every_builtin_rule_has_a_promql_twin() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    twins = {r["labels"]["rule"] for g in groups for r in g["rules"]}
    assert set(DEFAULT_RULES) <= twins


def referenced_metrics() -> set[str]:
    names: set[str] = set()
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            expr = re.sub(r"\{[^}]*\}|\[[^]]*\]|\"[^\"]*\"|\bby \([^)]*\)", "", rule["expr"])
            names.update(re.findall(r"\b((?:ollama|gen_ai)_[a-z0-9_]+|up)\b", expr))
    return names


async def test_rules_read_metrics_the_proxy_exposes(
    stack: AlertStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    await stack.fault(queue_full=True, count=1)
    await stack.chat(1)  # an http_503 error
    await stack.chat(1, stream=True, keep_alive=0)  # TTFT, decode speed, a load
    monitor = stack.app[appkeys.SYSTEM]
    monitor.last = SystemSample(1, 1, 1, 1, 1, gpus=[GpuSample(0, "g", 1.0, 1, 2, 1.0)])
    await monitor.check_upstream()
    recorder = stack.app[appkeys.RECORDER]
    health = recorder.health
    if not any("backlog_age_s" in entry for entry in health()):  # stores that do not say yet
        monkeypatch.setattr(
            recorder, "health", lambda: [{**e, "backlog_age_s": 1.0} for e in health()]
        )
    async with stack.http.get(f"{stack.proxy_url}/metrics") as response:
        text = await response.text()
    exposed = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
    base = {re.sub(r"_(bucket|count|sum)$", "", name) for name in exposed}
    wanted = referenced_metrics() - NOT_OURS
    missing = {n for n in wanted if n not in exposed and n not in base}
    assert not missing, f"alerts.yml reads metrics /metrics does not have: {missing}"
    assert 'error_type="503"' in text and 'gen_ai_request_model="llama3.2:latest"' in text
    assert re.search(r'ollama_upstream_up\{node="[^"]+"\} 1.0', text)
    assert re.search(r'ollama_gpu_memory_utilization_percent\{gpu="0"\} 50.0', text)
