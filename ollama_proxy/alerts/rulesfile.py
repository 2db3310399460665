"""Pure: an ALERT_RULES YAML file -> rule specs on top of the defaults, or an error naming the line.

```yaml
rules:
  error_rate: {threshold: 0.1, window: 10m, min_count: 50}
  ttft_p95: {threshold: 2000, for: 2m, labels: {team: ml}}
  vram_high: {enabled: false}
```

>>> specs = parse_rules("rules:\\n  queue_full:\\n    for: 1m\\n", "r.yaml")
>>> specs["queue_full"].for_s
60.0
>>> try:
...     parse_rules("rules:\\n  queue_full:\\n    for: soon\\n", "r.yaml")
... except RulesFileError as error:
...     print(error)
r.yaml line 3: rules.queue_full.for: expected a duration like 30s, 5m, 1h or 7d, got 'soon'
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NoReturn

import yaml

from ollama_proxy.alerts.rules import DEFAULT_RULES, RuleSpec

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
MAX_LABELS = 20
MAX_LABEL_CHARS = 200

# YAML key -> (RuleSpec field, kind)
KEYS: dict[str, tuple[str, str]] = {
    "enabled": ("enabled", "bool"),
    "threshold": ("threshold", "number"),
    "window": ("window_s", "duration"),
    "for": ("for_s", "duration"),
    "resolve_after": ("resolve_after_s", "duration"),
    "min_count": ("min_count", "count"),
    "labels": ("labels", "labels"),
    "min_load_ms": ("min_load_ms", "number"),
}


class RulesFileError(ValueError):
    pass


def load_rules(path: str) -> dict[str, RuleSpec]:
    """The defaults, overridden by the file at `path` (if any)."""
    if not path:
        return dict(DEFAULT_RULES)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesFileError(f"ALERT_RULES={path}: cannot read the file ({exc})") from None
    return parse_rules(text, path)


def parse_rules(text: str, source: str) -> dict[str, RuleSpec]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise RulesFileError(f"{source}{where}: not valid YAML ({exc})") from None
    specs = dict(DEFAULT_RULES)
    if root is None:
        return specs
    top = _mapping(root, source, "the file")
    for key_node, value_node in top:
        if key_node.value != "rules":
            _fail(source, key_node, key_node.value, "unknown key; the file has one key, rules")
        for name_node, body in _mapping(value_node, source, "rules"):
            name = name_node.value
            if name not in DEFAULT_RULES:
                known = ", ".join(DEFAULT_RULES)
                _fail(source, name_node, f"rules.{name}", f"unknown rule; known: {known}")
            specs[name] = specs[name].with_values(_rule_values(body, source, f"rules.{name}"))
    return specs


def _rule_values(node: yaml.Node, source: str, where: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key_node, value_node in _mapping(node, source, where):
        key = key_node.value
        if key not in KEYS:
            known = ", ".join(KEYS)
            _fail(source, key_node, f"{where}.{key}", f"unknown setting; known: {known}")
        field, kind = KEYS[key]
        values[field] = _convert(value_node, kind, source, f"{where}.{key}")
    return values


def _convert(node: yaml.Node, kind: str, source: str, where: str) -> Any:
    if kind == "labels":
        return _labels(node, source, where)
    if not isinstance(node, yaml.ScalarNode):
        _fail(source, node, where, f"expected a {kind}, got a {node.id}")
    text = str(node.value)
    if kind == "bool":
        if node.tag.endswith(":bool"):
            return text.lower() in ("true", "yes", "on")
        _fail(source, node, where, f"expected true or false, got {text!r}")
    if kind == "duration":
        match = _DURATION.match(text)
        if match is None:
            _fail(source, node, where, f"expected a duration like 30s, 5m, 1h or 7d, got {text!r}")
        return float(match.group(1)) * _UNITS[match.group(2)]
    try:
        number = float(text)
    except ValueError:
        _fail(source, node, where, f"expected a number, got {text!r}")
    if number < 0 or number != number:
        _fail(source, node, where, f"expected a number >= 0, got {text!r}")
    if kind == "count":
        if number != int(number):
            _fail(source, node, where, f"expected a whole number, got {text!r}")
        return int(number)
    return number


def _labels(node: yaml.Node, source: str, where: str) -> tuple[tuple[str, str], ...]:
    pairs = _mapping(node, source, where)
    if len(pairs) > MAX_LABELS:
        _fail(source, node, where, f"at most {MAX_LABELS} labels")
    out: dict[str, str] = {}
    for key_node, value_node in pairs:
        if not isinstance(value_node, yaml.ScalarNode) or not re.fullmatch(
            r"[A-Za-z_][A-Za-z0-9_]{0,63}", str(key_node.value)
        ):
            _fail(source, key_node, where, "labels are name: value, names like severity or team")
        out[str(key_node.value)] = str(value_node.value)[:MAX_LABEL_CHARS]
    return tuple(sorted(out.items()))


def _mapping(node: yaml.Node, source: str, where: str) -> list[tuple[Any, Any]]:
    if not isinstance(node, yaml.MappingNode):
        _fail(source, node, where, "expected a mapping (key: value lines)")
    return list(node.value)


def _fail(source: str, node: yaml.Node, where: str, message: str) -> NoReturn:
    raise RulesFileError(f"{source} line {node.start_mark.line + 1}: {where}: {message}")
