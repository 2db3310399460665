"""ALERT_RULES: values on top of the defaults; every mistake names its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ollama_proxy.alerts.rules import DEFAULT_RULES
from ollama_proxy.alerts.rulesfile import RulesFileError, load_rules, parse_rules

GOOD = """\
rules:
  error_rate:
    threshold: 0.1
    window: 10m
    for: 30s
    resolve_after: 2m
    min_count: 50
    labels: {severity: critical, team: ml}
  ttft_p95: {threshold: 2000}
  vram_high:
    enabled: false
"""


def test_file_overrides_defaults() -> None:
    specs = parse_rules(GOOD, "r.yaml")
    e = specs["error_rate"]
    assert (e.threshold, e.window_s, e.for_s, e.resolve_after_s, e.min_count) == (
        0.1,
        600.0,
        30.0,
        120.0,
        50,
    )
    assert dict(e.labels) == {"severity": "critical", "team": "ml"}
    assert specs["ttft_p95"].active and specs["ttft_p95"].threshold == 2000
    assert not specs["vram_high"].active
    assert specs["queue_full"] == DEFAULT_RULES["queue_full"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules:\n  nope: {}\n", "r.yaml line 2: rules.nope: unknown rule; known: error_rate"),
        ("rules:\n  queue_full:\n    treshold: 1\n", "line 3: rules.queue_full.treshold: unknown"),
        ("rules:\n  queue_full:\n    threshold: lots\n", "line 3: rules.queue_full.threshold: "),
        ("rules:\n  queue_full:\n\n    window: 5 weeks\n", "line 4: rules.queue_full.window"),
        ("rules:\n  queue_full:\n    min_count: 2.5\n", "line 3: rules.queue_full.min_count"),
        ("rules:\n  queue_full:\n    enabled: maybe\n", "line 3: rules.queue_full.enabled"),
        ("rules:\n  queue_full:\n    threshold: -1\n", "line 3: rules.queue_full.threshold"),
        ("rules:\n  queue_full:\n    labels: [a]\n", "line 3: rules.queue_full.labels"),
        ("rulez: {}\n", "line 1: rulez: unknown key"),
        ("rules:\n  - error_rate\n", "line 2: rules: expected a mapping"),
        ("rules:\n  error_rate: {threshold: [1\n", "r.yaml line 3: not valid YAML"),
    ],
)
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(RulesFileError) as info:
        parse_rules(text, "r.yaml")
    assert message in str(info.value)


def test_load_rules(tmp_path: Path) -> None:
    assert load_rules("") == DEFAULT_RULES
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD)
    assert load_rules(str(path))["error_rate"].threshold == 0.1
    with pytest.raises(RulesFileError, match="cannot read"):
        load_rules(str(tmp_path / "missing.yaml"))
    path.write_text("")  # an empty file keeps the defaults
    assert load_rules(str(path)) == DEFAULT_RULES
