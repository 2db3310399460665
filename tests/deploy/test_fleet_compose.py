"""deploy/fleet: two proxies behind HAProxy, two Ollama nodes, one ClickHouse, as the Compose
client resolves it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from ollama_proxy.config import Settings
from tests.deploy.compose import (
    ROOT,
    SECRETS,
    clean_env,
    depends_on,
    empty_env_file,
    environment,
    parse_mount,
    require_compose,
)

FLEET = ROOT / "deploy" / "fleet"


def fleet_config() -> dict[str, Any]:
    argv = [*require_compose(), "-f", str(FLEET / "docker-compose.yml")]
    argv += ["--env-file", str(empty_env_file()), "config"]
    result = subprocess.run(
        argv,
        cwd=FLEET,
        env=clean_env(SECRETS),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    parsed = yaml.safe_load(result.stdout)
    assert isinstance(parsed, dict)
    return parsed


def test_fleet_stack_resolves_with_every_mount_present() -> None:
    services = fleet_config()["services"]
    assert set(services) == {"ollama-1", "ollama-2", "clickhouse", "proxy-1", "proxy-2", "lb"}
    for name, service in services.items():
        for entry in service.get("volumes") or []:
            mount = parse_mount(entry)
            if mount.kind == "bind":
                assert Path(mount.source).exists(), f"{name}: {mount.source} missing"
    assert set(depends_on(services["lb"])) == {"proxy-1", "proxy-2"}


def test_both_proxies_share_nodes_and_store_under_their_own_names() -> None:
    services = fleet_config()["services"]
    envs = [environment(services[name]) for name in ("proxy-1", "proxy-2")]
    assert [env["INSTANCE_NAME"] for env in envs] == ["proxy-1", "proxy-2"]
    assert envs[0]["OLLAMA_UPSTREAMS"] == envs[1]["OLLAMA_UPSTREAMS"]
    assert envs[0]["CLICKHOUSE_HOST"] == envs[1]["CLICKHOUSE_HOST"] == "clickhouse"
    settings = Settings(upstreams=envs[0]["OLLAMA_UPSTREAMS"])
    assert [(n.name, n.url) for n in settings.nodes] == [
        ("gpu1", "http://ollama-1:11434"),
        ("gpu2", "http://ollama-2:11434"),
    ]


def test_haproxy_balances_both_proxies() -> None:
    text = (FLEET / "haproxy.cfg").read_text()
    assert "server proxy-1 proxy-1:11435" in text and "server proxy-2 proxy-2:11435" in text
