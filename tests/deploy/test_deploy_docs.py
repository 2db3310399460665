"""docs/deployment.md and docs/scenarios.md stay in step with the compose files and the API."""

from __future__ import annotations

import re
from pathlib import Path

from tests.deploy.test_compose_config import unknown_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT = (ROOT / "docs/deployment.md").read_text()
SCENARIOS = (ROOT / "docs/scenarios.md").read_text()
COMPOSE_FILES = sorted(ROOT.glob("docker-compose*.yml"))


def compose_variables() -> set[str]:
    names: set[str] = set()
    for file in COMPOSE_FILES:
        names.update(re.findall(r"\$\{(\w+)", file.read_text()))
    return names


def test_every_compose_variable_is_documented() -> None:
    """Each ${VAR} is a proxy setting (README table) or listed in docs/deployment.md."""
    variables = compose_variables()
    assert {"CLICKHOUSE_PASSWORD", "EXPORTER_TYPE", "BIND_ADDRESS"} <= variables
    compose_only = unknown_settings({name: "" for name in variables})
    undocumented = {name for name in compose_only if f"`{name}`" not in DEPLOYMENT}
    assert undocumented == set()


def test_scenarios_cover_the_four_cases_with_endpoints_and_pages() -> None:
    for heading in ("cold-load spike", "hammering one model", "slow model swap", "store goes down"):
        assert re.search(rf"^## \d\. .*{heading}", SCENARIOS, re.M | re.I), heading
    for endpoint in (
        "/api/stats/current", "/api/stats/history", "/api/stats/logs", "/api/models",
        "/api/stats/clients", "/api/health", "/api/stats/models/timeline",
    ):  # fmt: skip
        assert endpoint in SCENARIOS, endpoint
    for page in ("Overview", "Performance", "Logs", "Models", "Clients"):
        assert f"*{page}*" in SCENARIOS, page


def test_deployment_guide_points_every_client() -> None:
    for client in ("Ollama CLI", "Python", "JavaScript", "OpenAI SDK", "Open WebUI"):
        assert f"**{client}" in DEPLOYMENT, client
    assert "OLLAMA_HOST=127.0.0.1:11435" in DEPLOYMENT
    assert 'base_url="http://127.0.0.1:11435/v1"' in DEPLOYMENT
