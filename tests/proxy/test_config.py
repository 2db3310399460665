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


def concern_classes() -> list[type]:
    return [base for base in Settings.__mro__[1:] if base.__module__.startswith(CONFIG_PACKAGE)]


CONFIG_PACKAGE = "ollama_proxy.config."


def test_every_concern_validator_reaches_settings() -> None:
    # Bug this prevents: two concern modules each defining `_split_commas`; pydantic keeps one
    # validator per name, so the other module's comma-separated setting silently stopped
    # splitting.
    kept = Settings.__pydantic_decorators__
    for concern in concern_classes():
        own = concern.__pydantic_decorators__
        assert set(own.field_validators) <= set(kept.field_validators), concern.__name__
        assert set(own.model_validators) <= set(kept.model_validators), concern.__name__
    names = [
        name for concern in concern_classes() for name in concern.__dict__ if name.startswith("_")
    ]
    validators = [n for n in names if n in kept.field_validators or n in kept.model_validators]
    assert len(validators) == len(set(validators)), "validator names must be unique"


def test_each_concern_module_stays_small() -> None:
    package = Path(__file__).resolve().parents[2] / "ollama_proxy" / "config"
    sizes = {path.name: len(path.read_text().splitlines()) for path in package.glob("*.py")}
    assert sizes and max(sizes.values()) <= 300, sizes


def test_list_settings_parse_in_every_concern() -> None:
    settings = Settings(
        store_urls="sqlite:///a.db,chdb:///b",
        proxy_api_keys="a:1, b:2",
        cors_origins="http://x,http://y",
        capture_redact_patterns='["a{16,}", "b+"]',
    )
    assert settings.store_urls == ["sqlite:///a.db", "chdb:///b"]
    assert settings.proxy_api_keys == ["a:1", "b:2"]
    assert settings.cors_origins == ["http://x", "http://y"]
    assert settings.capture_redact_patterns == ["a{16,}", "b+"]  # a JSON list, commas kept


def test_libraries_log_at_warning_unless_asked() -> None:
    settings = Settings()
    assert settings.log_level == "INFO"  # the dev profile: the proxy's own events
    assert settings.log_libraries == "WARNING"
    assert Settings(api_log_level="DEBUG").log_libraries == "WARNING"
    assert Settings(log_libraries="debug").log_libraries == "DEBUG"


def test_secret_files_fill_empty_secrets(tmp_path: Path) -> None:
    (tmp_path / "ch").write_text("ch-secret\n")
    (tmp_path / "token").write_text("t0ken")
    settings = Settings(clickhouse_password_file=str(tmp_path / "ch"), admin_token_file="token")
    assert settings.clickhouse_password == "ch-secret" and settings.admin_token == "t0ken"
    explicit = Settings(admin_token="from-env", admin_token_file="token")
    assert explicit.admin_token == "from-env"  # the plain variable wins
    with pytest.raises(ValidationError, match="POSTGRES_PASSWORD_FILE"):
        Settings(postgres_password_file=str(tmp_path / "missing"))
