"""The README's settings table, generated from Settings so the two cannot drift."""

from __future__ import annotations

from pydantic.fields import FieldInfo

from ollama_proxy.config import Settings

BEGIN = "<!-- settings:begin -->"
END = "<!-- settings:end -->"


def env_names(field: FieldInfo, name: str) -> list[str]:
    alias = field.validation_alias
    choices = getattr(alias, "choices", None)
    names = [c for c in (choices or []) if isinstance(c, str) and c.isupper()]
    return names or [name.upper()]


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return "(computed)" if field.default_factory.__name__ != "list" else "(empty)"
    value = field.default
    if value is None:
        return "(profile)"
    if hasattr(value, "value"):
        value = value.value
    return f"`{value}`" if value != "" else "(empty)"


def settings_rows() -> list[tuple[str, str, str]]:
    rows = []
    for name, field in Settings.model_fields.items():
        names = " / ".join(f"`{env}`" for env in env_names(field, name))
        rows.append((names, _default(field), (field.description or "").replace("|", "\\|")))
    return rows


def settings_table() -> str:
    lines = ["| Variable | Default | Meaning |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in settings_rows()]
    return "\n".join(lines)


def replace_in_readme(text: str) -> str:
    """Put the current table between the README's settings markers."""
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{settings_table()}\n{END}{tail}"
