"""The compose stack as the Compose client resolves it, for every profile and override."""

from __future__ import annotations

import itertools
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ollama_proxy.config import Settings
from tests.deploy.compose import (
    COMPOSE_FILE,
    OVERRIDES,
    PROFILES,
    ROOT,
    active_services,
    depends_on,
    environment,
    healthcheck_test,
    load_config,
    network_names,
    parse_mount,
    parse_port,
    run_compose,
)

BASE = {"secrets-init", "ollama", "clickhouse", "postgres", "ollama-monitor"}
# Runs once before the others and exits: no healthcheck, no restart, no network.
ONE_SHOT = {"secrets-init"}
BY_PROFILE = {
    "dashboard-dev": {"dashboard-dev"},
    "observability": {"otel-collector", "prometheus", "grafana"},
}
PROFILE_SETS = [
    combo for n in range(len(PROFILES) + 1) for combo in itertools.combinations(PROFILES, n)
]
NETWORK = "ollama-net"

# service -> container ports that must be published
PUBLISHED = {
    "ollama": {11434},
    # The databases are published only with docker-compose.db-ports.yml.
    "secrets-init": set(),
    "clickhouse": set(),
    "postgres": set(),
    "ollama-monitor": {11435},
    "dashboard-dev": {3000},
    "otel-collector": {4317, 4318, 13133},
    "prometheus": {9090},
    "grafana": {3000},
}
# service -> (named volume, container path) holding its data
DATA_VOLUMES = {
    "ollama": ("ollama-data", "/root/.ollama"),
    "clickhouse": ("clickhouse-data", "/var/lib/clickhouse"),
    "postgres": ("postgres-data", "/var/lib/postgresql/data"),
    "ollama-monitor": ("proxy-data", "/data"),
    "prometheus": ("prometheus-data", "/prometheus"),
    "grafana": ("grafana-data", "/var/lib/grafana"),
}


def profile_id(profiles: tuple[str, ...]) -> str:
    return "+".join(profiles) or "default"


@pytest.fixture(params=PROFILE_SETS, ids=profile_id)
def profiled(request: pytest.FixtureRequest) -> tuple[tuple[str, ...], dict[str, Any]]:
    profiles: tuple[str, ...] = request.param
    config = load_config(profiles=profiles)
    return profiles, active_services(config, profiles)


def test_each_profile_starts_exactly_its_services(profiled: tuple[tuple[str, ...], Any]) -> None:
    profiles, services = profiled
    expected = set(BASE).union(*(BY_PROFILE[p] for p in profiles))
    assert set(services) == expected


def test_profiles_declared_are_the_documented_ones() -> None:
    result = run_compose(
        "config",
        "--profiles",
        env={"CLICKHOUSE_PASSWORD": "x", "POSTGRES_PASSWORD": "x", "GRAFANA_ADMIN_PASSWORD": "x"},
    )
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == set(PROFILES)


def test_every_service_has_a_healthcheck_restart_policy_and_the_network(
    profiled: tuple[tuple[str, ...], dict[str, Any]],
) -> None:
    _, services = profiled
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no" and service.get("network_mode") == "none"
            continue
        test = healthcheck_test(service)
        assert test and test[0] in {"CMD", "CMD-SHELL"} and len(test) > 1, name
        assert service.get("restart") == "unless-stopped", name
        assert network_names(service) == {NETWORK}, name


def test_dependencies_wait_for_health_and_are_started_by_the_same_profiles(
    profiled: tuple[tuple[str, ...], dict[str, Any]],
) -> None:
    _, services = profiled
    for name, service in services.items():
        for dependency, condition in depends_on(service).items():
            assert dependency in services, f"{name} needs {dependency}, not started by this profile"
            expected = (
                "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            )
            assert condition == expected, f"{name} -> {dependency}: {condition}"


def test_the_proxy_waits_for_ollama_and_both_stores() -> None:
    proxy = load_config()["services"]["ollama-monitor"]
    assert set(depends_on(proxy)) == {"secrets-init", "ollama", "clickhouse", "postgres"}


def test_published_ports(profiled: tuple[tuple[str, ...], dict[str, Any]]) -> None:
    _, services = profiled
    for name, service in services.items():
        ports = [parse_port(entry) for entry in service.get("ports", [])]
        assert {port.target for port in ports} == PUBLISHED[name], name
        # Loopback unless BIND_ADDRESS says otherwise: nothing is open to the LAN by accident.
        assert all(port.host_ip == "127.0.0.1" for port in ports), (name, ports)


def test_proxy_answers_on_11435_and_the_briefs_8000() -> None:
    proxy = load_config()["services"]["ollama-monitor"]
    published = {parse_port(entry).published: parse_port(entry).target for entry in proxy["ports"]}
    assert published == {11435: 11435, 8000: 11435}
    assert environment(proxy)["PROXY_LISTEN"].endswith(":11435")


def test_bind_address_and_ports_are_configurable() -> None:
    env = {"BIND_ADDRESS": "0.0.0.0", "PROXY_PORT": "21435", "API_PORT": "18000"}
    proxy = load_config(env=env)["services"]["ollama-monitor"]
    ports = {parse_port(entry) for entry in proxy["ports"]}
    assert {(p.host_ip, p.published, p.target) for p in ports} == {
        ("0.0.0.0", 21435, 11435),
        ("0.0.0.0", 18000, 11435),
    }


def test_named_volumes_hold_the_data() -> None:
    config = load_config(profiles=PROFILES)
    declared = set(config.get("volumes") or {})
    for name, (volume, path) in DATA_VOLUMES.items():
        mounts = [parse_mount(entry) for entry in config["services"][name].get("volumes", [])]
        assert any(
            m.kind == "volume" and m.source == volume and m.target == path for m in mounts
        ), (
            name,
            mounts,
        )
    used = {
        m.source
        for service in config["services"].values()
        for m in map(parse_mount, service.get("volumes", []))
        if m.kind == "volume"
    }
    assert used <= declared and used, (used, declared)


def test_every_bind_mount_is_a_read_only_file_of_this_repository() -> None:
    config = load_config(profiles=PROFILES)
    for name, service in config["services"].items():
        for mount in map(parse_mount, service.get("volumes", [])):
            if mount.kind != "bind":
                continue
            source = Path(mount.source).resolve()
            assert source.is_relative_to(ROOT), (name, mount)
            assert source.exists(), f"{name} mounts {source}, which is not in the repository"
            if source != ROOT / "dashboard":  # the dev server writes node_modules and caches
                assert mount.read_only, (name, mount)


@pytest.mark.parametrize(
    ("service", "schema"),
    [("clickhouse", "clickhouse.sql"), ("postgres", "postgres.sql")],
)
def test_stores_mount_the_repositorys_schema_files(service: str, schema: str) -> None:
    """The very files the proxy applies at start and tests/deploy applies to chDB and PostgreSQL."""
    mounts = [parse_mount(m) for m in load_config()["services"][service]["volumes"]]
    schema_mounts = [m for m in mounts if m.target.startswith("/schemas/")]
    assert [Path(m.source).resolve() for m in schema_mounts] == [ROOT / "schemas" / schema]
    assert (ROOT / "schemas" / schema).is_file()
    init = [m for m in mounts if m.target.startswith("/docker-entrypoint-initdb.d/")]
    assert len(init) == 1 and init[0].target.endswith(".sh")
    assert "/schemas/" + schema in Path(init[0].source).read_text()


def test_images_are_pinned(profiled: tuple[tuple[str, ...], dict[str, Any]]) -> None:
    _, services = profiled
    for name, service in services.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", f"{name}: {image} is not pinned"
        if name != "ollama-monitor":  # built here; the tag names the local build
            assert re.search(r"\d", tag), f"{name}: {image} has no version in its tag"


def test_postgres_image_carries_timescaledb_on_pg16_or_later() -> None:
    image = load_config()["services"]["postgres"]["image"]
    assert image.startswith("timescale/timescaledb")
    major = re.search(r"pg(\d+)", image)
    assert major and int(major.group(1)) >= 16, image


def test_clickhouse_small_box_settings_are_mounted() -> None:
    clickhouse = load_config()["services"]["clickhouse"]
    targets = {parse_mount(m).target for m in clickhouse["volumes"]}
    assert "/etc/clickhouse-server/config.d/low-memory.xml" in targets
    assert "/etc/clickhouse-server/config.d/system-logs.xml" in targets
    assert "/etc/clickhouse-server/users.d/low-memory.xml" in targets
    assert environment(clickhouse)["CLICKHOUSE_DB"] == "ollama_metrics"
    assert str(clickhouse.get("mem_limit", "")).lower() not in {"", "0"}


def with_secret_files(env: dict[str, str], folder: Path) -> dict[str, str]:
    """The proxy's environment with the /secrets/ files (filled by secrets-init) made here."""
    out = dict(env)
    for key, value in env.items():
        if key.endswith("_FILE") and value.startswith("/secrets/"):
            local = folder / Path(value).name
            local.write_text("from-the-secrets-volume")
            out[key] = str(local)
    return out


def test_the_proxy_is_built_here_and_its_environment_is_valid_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    proxy = load_config()["services"]["ollama-monitor"]
    build = proxy["build"]
    assert Path(build["context"]).resolve() == ROOT
    assert build.get("dockerfile", "Dockerfile") == "Dockerfile"
    env = environment(proxy)
    assert unknown_settings(env) == set()
    for key, value in with_secret_files(env, tmp_path).items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.clickhouse_password == settings.admin_token == "from-the-secrets-volume"
    assert settings.exporter_type == "clickhouse"
    assert str(settings.upstream_url) == "http://ollama:11434"
    assert settings.listen_port == 11435
    assert settings.effective_store_urls() == ["clickhouse://clickhouse:8123/ollama_metrics"]
    assert settings.otel_exporter_otlp_endpoint == ""


@pytest.mark.parametrize(
    ("exporter", "schemes"),
    [("postgres", ["postgresql"]), ("both", ["clickhouse", "postgresql"]), ("sqlite", ["sqlite"])],
)
def test_exporter_type_selects_the_stores(
    exporter: str, schemes: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    proxy = load_config(env={"EXPORTER_TYPE": exporter})["services"]["ollama-monitor"]
    for key, value in with_secret_files(environment(proxy), tmp_path).items():
        monkeypatch.setenv(key, value)
    urls = Settings(_env_file=None).effective_store_urls()  # type: ignore[call-arg]
    assert [url.split(":", 1)[0] for url in urls] == schemes
    if exporter == "sqlite":
        assert urls == ["sqlite:////data/ollama-proxy.db"]  # inside the proxy-data volume


def unknown_settings(env: dict[str, str]) -> set[str]:
    """Environment names that no Settings field reads (a typo would be silently ignored)."""
    known: set[str] = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        choices = getattr(alias, "choices", [alias])
        known.update(str(choice).upper() for choice in choices if isinstance(choice, str))
    return {key for key in env if key.upper() not in known}


def test_a_fresh_clone_needs_no_env_and_has_no_default_password() -> None:
    """`compose config` passes with an empty environment and no .env (a fresh clone's
    `docker compose up`), and no password or token has a literal value in the file: every
    service reads its secret from the volume secrets-init fills."""
    result = run_compose("config", "-q", env={})
    assert result.returncode == 0, result.stderr
    for line in COMPOSE_FILE.read_text().splitlines():
        if re.search(r"(PASSWORD|TOKEN|SECRET)\w*:", line) and not line.lstrip().startswith("#"):
            value = line.split(":", 1)[1].strip()
            assert value.startswith("/secrets/") or value.endswith(":-}"), line
    services = load_config(profiles=PROFILES, env={})["services"]
    for name, service in services.items():
        if name in ONE_SHOT:
            continue
        for key, value in environment(service).items():
            if re.search(r"PASSWORD|TOKEN|SECRET", key):
                assert key.endswith("FILE") and value.startswith("/secrets/"), (name, key)


def test_secrets_are_generated_once_and_env_wins(tmp_path: Path) -> None:
    script = ROOT / "deploy" / "init-secrets.sh"
    env = {"PATH": "/usr/bin:/bin", "SECRETS_DIR": str(tmp_path)}
    subprocess.run(["sh", str(script)], env=env, check=True, capture_output=True)
    first = {f.name: f.read_text() for f in tmp_path.iterdir()}
    assert set(first) == {
        "clickhouse_password",
        "postgres_password",
        "grafana_admin_password",
        "admin_token",
    }
    assert all(len(value) == 48 for value in first.values())
    subprocess.run(["sh", str(script)], env=env, check=True, capture_output=True)
    assert {f.name: f.read_text() for f in tmp_path.iterdir()} == first  # kept
    out = subprocess.run(
        ["sh", str(script)], env={**env, "ADMIN_TOKEN": "mine"}, check=True, capture_output=True
    )
    assert (tmp_path / "admin_token").read_text() == "mine"
    assert b"cat /secrets/admin_token" in out.stdout  # where to find it


def test_the_db_ports_override_publishes_the_databases_on_loopback() -> None:
    services = load_config(files=(COMPOSE_FILE, OVERRIDES["db-ports"]))["services"]
    for name, targets in (("clickhouse", {8123, 9000}), ("postgres", {5432})):
        ports = [parse_port(entry) for entry in services[name]["ports"]]
        assert {p.target for p in ports} == targets
        assert all(p.host_ip == "127.0.0.1" for p in ports)


def test_the_gpu_override_reserves_nvidia_gpus_for_ollama() -> None:
    config = load_config(files=(COMPOSE_FILE, OVERRIDES["gpu"]))
    devices = config["services"]["ollama"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices and devices[0]["driver"] == "nvidia"
    assert "gpu" in devices[0]["capabilities"]
    assert "deploy" not in load_config()["services"]["ollama"]  # opt-in only


def test_the_rocm_override_uses_the_rocm_image_and_devices() -> None:
    ollama = load_config(files=(COMPOSE_FILE, OVERRIDES["rocm"]))["services"]["ollama"]
    assert ollama["image"].endswith("-rocm")
    assert {"/dev/kfd", "/dev/dri"} <= {str(d).split(":")[0] for d in ollama["devices"]}


@pytest.mark.parametrize("override", sorted(OVERRIDES))
def test_overrides_combine_with_every_profile(override: str) -> None:
    config = load_config(files=(COMPOSE_FILE, OVERRIDES[override]), profiles=PROFILES)
    assert set(active_services(config, PROFILES)) == set(BASE).union(*BY_PROFILE.values())


def test_observability_is_wired_to_the_proxy() -> None:
    services = load_config(profiles=("observability",))["services"]
    prometheus_config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {
        target
        for job in prometheus_config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    assert "ollama-monitor:11435" in targets
    assert all(t.split(":")[0] in services or t.startswith("127.0.0.1") for t in targets), targets
    env = environment(services["ollama-monitor"])
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in env
    wired = load_config(
        profiles=("observability",),
        env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4317"},
    )
    assert (
        environment(wired["services"]["ollama-monitor"])["OTEL_EXPORTER_OTLP_ENDPOINT"]
        == "http://otel-collector:4317"
    )
