"""Settings: env names, validation messages, profiles, the loop guard, the README table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from ollama_proxy.config import Settings, format_validation_error, loop_error, normalise_upstream
from ollama_proxy.settings_doc import BEGIN, END, settings_table

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("OLLAMA_HOST", "OLLAMA_UPSTREAM", "PROXY_LISTEN", "STORE_URLS", "EXPORTER_TYPE"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_match_the_cli_contract() -> None:
    settings = Settings()
    assert settings.listen == "127.0.0.1:11435"
    assert settings.upstream == "http://127.0.0.1:11434"
    assert settings.effective_store_urls() == ["sqlite:///./ollama-proxy.db"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("127.0.0.1:11434", "http://127.0.0.1:11434"),
        ("0.0.0.0:11434", "http://127.0.0.1:11434"),
        ("ollama", "http://ollama:11434"),
        ("http://ollama:11434/", "http://ollama:11434"),
        ("https://gpu.example/ollama", "https://gpu.example/ollama"),
    ],
)
def test_upstream_accepts_what_ollama_host_accepts(raw: str, expected: str) -> None:
    assert normalise_upstream(raw) == expected


def test_ollama_upstream_wins_over_ollama_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:11435")
    monkeypatch.setenv("OLLAMA_UPSTREAM", "http://127.0.0.1:11434")
    assert Settings().upstream == "http://127.0.0.1:11434"


def test_loop_to_itself_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # The user exported OLLAMA_HOST for their clients, pointing at the proxy.
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:11435")
    problem = loop_error(Settings())
    assert problem is not None and "OLLAMA_UPSTREAM" in problem
    assert loop_error(Settings(listen="0.0.0.0:11435", upstream="localhost:11435")) is not None
    assert loop_error(Settings(upstream="http://127.0.0.1:11434")) is None
    assert loop_error(Settings(listen="127.0.0.1:0", upstream="http://127.0.0.1:0")) is None


def test_invalid_setting_names_variable_and_accepted_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EXPORTER_TYPE", "mysql")
    with pytest.raises(ValidationError) as info:
        Settings()
    message = format_validation_error(info.value)
    assert "EXPORTER_TYPE" in message
    for accepted in ("sqlite", "clickhouse", "postgres", "both"):
        assert accepted in message


def test_bad_store_url_lists_schemes() -> None:
    with pytest.raises(ValidationError) as info:
        Settings(store_urls=["mysql://x/y"])
    assert "chdb:///PATH" in str(info.value)


def test_store_urls_from_env_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORE_URLS", "sqlite:///a.db, chdb:///tmp/ch")
    assert Settings().effective_store_urls() == ["sqlite:///a.db", "chdb:///tmp/ch"]


def test_profiles_set_defaults_but_explicit_values_win() -> None:
    assert Settings(profile="prod").log_format == "json"
    assert Settings(profile="prod").api_log_level == "WARNING"
    assert Settings(profile="prod", api_log_level="debug").api_log_level == "DEBUG"
    assert Settings(profile="dev").log_format == "console"


def test_every_setting_is_documented_in_the_readme() -> None:
    missing = [name for name, f in Settings.model_fields.items() if not f.description]
    assert not missing, f"settings without a description: {missing}"
    text = README.read_text()
    table = text.split(BEGIN)[1].split(END)[0].strip()
    assert table == settings_table(), "README settings table is stale: run `make docs`"


def test_env_example_lists_every_variable() -> None:
    example = (README.parent / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.M))
    table = settings_table()
    primary = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)`", table, re.M))
    assert primary - listed == set()
