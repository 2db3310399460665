"""Run the Compose client's `config` on the repository's compose files and normalise its output.

Only the client runs (no engine here). Docker Compose v2 (`docker compose`) is preferred when
installed; Debian's `docker-compose` 1.29 is the fallback. The two print `config` differently
(v1: short strings for ports and volumes; v2: long dicts), so `Port` and `Mount` normalise both.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ci import missing

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
OVERRIDES = {
    "gpu": ROOT / "docker-compose.gpu.yml",
    "rocm": ROOT / "docker-compose.rocm.yml",
    "db-ports": ROOT / "docker-compose.db-ports.yml",
}
PROFILES = ("dashboard-dev", "observability")

# What the secrets guard (${VAR:?...}) needs for `config` to succeed; values are throwaway.
SECRETS = {
    "CLICKHOUSE_PASSWORD": "test-clickhouse-secret",
    "POSTGRES_PASSWORD": "test-postgres-secret",
    "GRAFANA_ADMIN_PASSWORD": "test-grafana-secret",
}


@cache
def compose_command() -> tuple[str, ...] | None:
    """The Compose client's argv prefix, or None when neither v2 nor v1 is installed."""
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            return (docker, "compose")
    legacy = shutil.which("docker-compose")
    return (legacy,) if legacy else None


def require_compose() -> tuple[str, ...]:
    command = compose_command()
    if command is None:
        reason = (
            "no Compose client: install Debian's docker-compose "
            "(apt-get install -y docker-compose) or the docker compose plugin"
        )
        missing(reason)
    return command


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A minimal environment, so the developer's own variables cannot change the result."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    env.update(extra or {})
    return env


@cache
def empty_env_file() -> Path:
    """An empty --env-file, so a developer's .env cannot change what the tests see."""
    handle = tempfile.NamedTemporaryFile("w", prefix="compose-", suffix=".env", delete=False)
    handle.close()
    return Path(handle.name)


def run_compose(
    *args: str,
    files: tuple[Path, ...] = (COMPOSE_FILE,),
    profiles: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    env_file: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `compose -f ... [--profile ...] ARGS` from the root, with an empty env file."""
    argv = [*require_compose()]
    for file in files:
        argv += ["-f", str(file)]
    for profile in profiles:
        argv += ["--profile", profile]
    argv += ["--project-directory", str(ROOT), "--env-file", str(env_file or empty_env_file())]
    argv += list(args)
    return subprocess.run(
        argv, cwd=ROOT, env=clean_env(env), capture_output=True, text=True, timeout=60, check=False
    )


@cache
def _config_text(
    files: tuple[Path, ...], profiles: tuple[str, ...], env: tuple[tuple[str, str], ...]
) -> str:
    result = run_compose("config", files=files, profiles=profiles, env=dict(env))
    if result.returncode != 0:
        pytest.fail(f"compose config failed ({result.returncode}):\n{result.stderr}")
    return result.stdout


def load_config(
    files: tuple[Path, ...] = (COMPOSE_FILE,),
    profiles: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The resolved model printed by `compose config`, parsed (cached per arguments)."""
    merged = {**SECRETS, **(env or {})}
    text = _config_text(files, profiles, tuple(sorted(merged.items())))
    parsed = yaml.safe_load(text)
    assert isinstance(parsed, dict) and parsed.get("services"), text
    return parsed


def active_services(config: dict[str, Any], profiles: tuple[str, ...]) -> dict[str, Any]:
    """Services that `up` would start: no profile, or one of the enabled profiles.

    v1.29 prints every service whatever `--profile` says; v2 prints only the active ones.
    """
    return {
        name: service
        for name, service in config["services"].items()
        if not service.get("profiles") or set(service["profiles"]) & set(profiles)
    }


@dataclass(frozen=True)
class Port:
    host_ip: str
    published: int
    target: int


def parse_port(entry: Any) -> Port:
    """A published port from v1's 'IP:HOST:CONTAINER/tcp' or v2's long dict."""
    if isinstance(entry, dict):
        return Port(str(entry.get("host_ip", "")), int(entry["published"]), int(entry["target"]))
    text = str(entry).split("/", 1)[0]
    parts = text.split(":")
    if len(parts) == 3:
        return Port(parts[0], int(parts[1]), int(parts[2]))
    if len(parts) == 2:
        return Port("", int(parts[0]), int(parts[1]))
    raise AssertionError(f"unpublished or unparsable port entry: {entry!r}")


@dataclass(frozen=True)
class Mount:
    kind: str  # "volume" or "bind"
    source: str
    target: str
    read_only: bool


def parse_mount(entry: Any) -> Mount:
    """A mount from v1's 'SOURCE:TARGET:MODE' or v2's long dict."""
    if isinstance(entry, dict):
        kind = entry["type"]
        return Mount(
            kind, str(entry.get("source", "")), entry["target"], bool(entry.get("read_only"))
        )
    source, target, *mode = str(entry).split(":")
    kind = "bind" if source.startswith(("/", ".")) else "volume"
    return Mount(kind, source, target, bool(mode) and mode[0] == "ro")


def healthcheck_test(service: dict[str, Any]) -> list[str]:
    test = service.get("healthcheck", {}).get("test")
    if isinstance(test, str):
        return ["CMD-SHELL", test]
    return list(test or [])


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """{dependency: condition}; the short list form means service_started."""
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return {name: "service_started" for name in raw}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in raw.items()}


def network_names(service: dict[str, Any]) -> set[str]:
    networks = service.get("networks") or {}
    return set(networks) if isinstance(networks, dict) else set(networks)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}
