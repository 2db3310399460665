"""deploy/: ClickHouse settings, the OTel collector, Prometheus, Grafana, systemd, init-env.sh."""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import stat
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import CollectorRegistry, generate_latest

from ollama_proxy.telemetry import names
from tests.deploy.compose import (
    ROOT,
    SECRETS,
    compose_command,
    environment,
    load_config,
    require_compose,
    run_compose,
)

DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana/dashboards/ollama-proxy.json"


# --- ClickHouse ------------------------------------------------------------------------------
def xml_root(relative: str) -> ET.Element:
    root = ET.parse(DEPLOY / "clickhouse" / relative).getroot()
    assert root.tag == "clickhouse"
    return root


def test_clickhouse_memory_settings_are_below_the_defaults() -> None:
    root = xml_root("config.d/low-memory.xml")
    assert 0 < float(root.findtext("max_server_memory_usage_to_ram_ratio", "1")) < 0.9
    assert int(root.findtext("mark_cache_size", "0")) <= 512 * 2**20
    assert int(root.findtext("max_thread_pool_size", "10000")) < 10000
    # A pool below MergeTree's sanity thresholds stops the server from starting: leave it alone.
    assert root.find("background_pool_size") is None


def test_clickhouse_system_logs_expire_or_are_off() -> None:
    root = xml_root("config.d/system-logs.xml")
    kept = {child.tag: child.findtext("ttl") for child in root if child.get("remove") is None}
    assert {"query_log", "part_log", "metric_log", "asynchronous_metric_log"} <= set(kept)
    for table, ttl in kept.items():
        assert ttl and re.fullmatch(r"event_date \+ INTERVAL \d+ DAY DELETE", ttl), table
    removed = {child.tag for child in root if child.get("remove")}
    assert {"trace_log", "text_log", "query_thread_log"} <= removed


def test_clickhouse_query_limits_for_the_default_profile() -> None:
    profile = xml_root("users.d/low-memory.xml").find("profiles/default")
    assert profile is not None
    max_memory = int(profile.findtext("max_memory_usage", "0"))
    assert 0 < int(profile.findtext("max_bytes_before_external_group_by", "0")) < max_memory


# --- OTel collector --------------------------------------------------------------------------
def collector_config() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "otel-collector/config.yaml").read_text())


def test_collector_pipelines_use_only_defined_components() -> None:
    config = collector_config()
    for name, pipeline in config["service"]["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in config[kind], f"{name}: {kind} {component} undefined"
        assert pipeline["processors"][0] == "memory_limiter", name  # must run first
    assert set(config["service"]["extensions"]) <= set(config["extensions"])


def test_collector_exports_raw_otlp_to_the_compose_clickhouse() -> None:
    config = collector_config()
    exporter = config["exporters"]["clickhouse"]
    assert exporter["endpoint"].startswith("tcp://clickhouse:9000")
    for kind in ("traces", "metrics", "logs"):
        assert "clickhouse" in config["service"]["pipelines"][kind]["exporters"]
    assert config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].endswith(":4317")
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")


def test_collector_environment_references_are_set_by_compose() -> None:
    text = (DEPLOY / "otel-collector/config.yaml").read_text()
    used = set(re.findall(r"\$\{env:(\w+)\}", text))
    assert used, "expected ${env:...} references"
    if compose_command() is None:
        compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
        provided = set(compose["services"]["otel-collector"]["environment"])
    else:
        services = load_config(profiles=("observability",))["services"]
        provided = set(environment(services["otel-collector"]))
    assert used <= provided, used - provided


# --- Prometheus and Grafana ------------------------------------------------------------------
def prometheus_names() -> set[str]:
    """The names /metrics exposes for telemetry/names.py's metrics (same reader as the proxy)."""
    registry = CollectorRegistry(auto_describe=False)
    reader = PrometheusMetricReader(registry=registry, scope_info_enabled=False)  # type: ignore[call-arg]
    provider = MeterProvider(metric_readers=[reader])
    meter = provider.get_meter("deploy-test")
    for spec in names.ALL_METRICS:
        if spec.kind == "histogram":
            meter.create_histogram(spec.name, unit=spec.unit).record(1)
        elif spec.kind == "counter":
            meter.create_counter(spec.name, unit=spec.unit).add(1)
        else:
            meter.create_up_down_counter(spec.name, unit=spec.unit).add(1)
    text = generate_latest(registry).decode()
    provider.shutdown()
    return {
        line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and line[0] != "#"
    }


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_grafana_dashboard_queries_metrics_the_proxy_exposes() -> None:
    exposed = prometheus_names()
    assert "ollama_requests_total" in exposed  # the translation really ran
    gauges = {
        name.replace(".", "_")
        for name in (
            names.SYSTEM_CPU_PERCENT,
            names.SYSTEM_MEMORY_PERCENT,
            names.SYSTEM_UPTIME,
            names.SYSTEM_LOADED_MODELS,
            names.SYSTEM_VRAM,
        )
    }
    referenced: set[str] = set()
    regexes: set[str] = set()
    labels: set[str] = set()
    for expr in dashboard_expressions():
        regexes.update(re.findall(r'__name__=~"(\w+)\.\*"', expr))
        for group in re.findall(r"\bby \(([^)]*)\)", expr):
            labels.update(label.strip() for label in group.split(","))
        labels.update(re.findall(r"(\w+)=~?\"", expr))
        stripped = re.sub(r"\bby \([^)]*\)|\{[^}]*\}|\[[^]]*\]|\"[^\"]*\"", "", expr)
        referenced.update(
            word
            for word in re.findall(r"[a-z_][a-z0-9_]*", stripped)
            if word.startswith(("ollama_", "gen_ai_"))
        )
    assert referenced and referenced <= exposed, referenced - exposed
    assert regexes and regexes <= gauges, regexes - gauges
    attributes = {
        value.replace(".", "_")
        for value in vars(names).values()
        if isinstance(value, str) and re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", value)
    }
    assert labels - {"le", "job", "__name__"} <= attributes, labels - attributes


def test_grafana_dashboard_is_well_formed_and_provisioned() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] and dashboard["title"]
    datasources = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/datasources.yml").read_text()
    )
    uids = {ds["uid"] for ds in datasources["datasources"]}
    variable = next(v for v in dashboard["templating"]["list"] if v["name"] == "datasource")
    assert variable["current"]["value"] in uids
    providers = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/dashboards.yml").read_text()
    )
    path = providers["providers"][0]["options"]["path"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{path}:ro" in mounts
    home = compose["services"]["grafana"]["environment"][
        "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"
    ]
    assert home == f"{path}/{DASHBOARD.name}"


# --- systemd ---------------------------------------------------------------------------------
def test_systemd_unit_runs_the_proxy_unprivileged() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "systemd/ollama-proxy.service")
    service = unit["Service"]
    assert service["ExecStart"].split()[1:] == ["serve"]
    assert service["ExecStart"].split()[0].endswith("/ollama-proxy")
    assert service["User"] not in {"root", "0"}
    assert service["Restart"] in {"on-failure", "always"}
    assert service["EnvironmentFile"].lstrip("-") == "/etc/ollama-proxy.env"
    assert "ollama.service" in unit["Unit"]["After"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    # The env file beside it names only real settings.
    from tests.deploy.test_compose_config import unknown_settings

    env_lines = (DEPLOY / "systemd/ollama-proxy.env").read_text().splitlines()
    pairs = [
        line.lstrip("# ").split("=", 1) for line in env_lines if re.match(r"#? ?[A-Z_]+=", line)
    ]
    assert pairs and unknown_settings({key: value for key, value in pairs}) == set()


def test_systemd_unit_verifies_when_systemd_analyze_exists(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    unit = tmp_path / "ollama-proxy.service"
    unit.write_text((DEPLOY / "systemd/ollama-proxy.service").read_text())
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, check=False
    )
    # The ExecStart binary does not exist here; any other complaint is a real one.
    problems = [
        line
        for line in result.stderr.splitlines()
        if line.strip()
        and "/opt/ollama-proxy/bin/ollama-proxy" not in line
        and "ollama.service" not in line
    ]
    assert problems == [], result.stderr


# --- init-env.sh -----------------------------------------------------------------------------
def run_init_env(workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(workdir / "deploy/init-env.sh")], capture_output=True, text=True, check=True
    )


def test_init_env_writes_every_required_secret_once(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    shutil.copy(DEPLOY / "init-env.sh", tmp_path / "deploy/init-env.sh")
    (tmp_path / ".env").write_text("POSTGRES_PASSWORD=mine\n")
    run_init_env(tmp_path)
    first = (tmp_path / ".env").read_text()
    values = dict(line.split("=", 1) for line in first.splitlines())
    assert set(values) == set(SECRETS)
    assert values["POSTGRES_PASSWORD"] == "mine"  # kept
    assert all(re.fullmatch(r"[0-9a-f]{48}", values[k]) for k in values if k != "POSTGRES_PASSWORD")
    assert stat.S_IMODE(os.stat(tmp_path / ".env").st_mode) == 0o600
    run_init_env(tmp_path)
    assert (tmp_path / ".env").read_text() == first  # idempotent


def test_init_env_output_satisfies_compose(tmp_path: Path) -> None:
    require_compose()  # fails in CI, skips elsewhere
    (tmp_path / "deploy").mkdir()
    shutil.copy(DEPLOY / "init-env.sh", tmp_path / "deploy/init-env.sh")
    run_init_env(tmp_path)
    result = run_compose("config", "-q", env={}, env_file=tmp_path / ".env")
    assert result.returncode == 0, result.stderr
