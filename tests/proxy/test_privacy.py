"""Privacy settings: redaction patterns from the environment, the client-address salt, masking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from ollama_proxy.api.admin import masked_settings
from ollama_proxy.config import Settings
from ollama_proxy.meter.capture import REDACTED, compile_patterns
from ollama_proxy.privacy import SALT_FILE, client_ip_salt

API_KEY = "sk-proj-" + "A1b2C3d4" * 4


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.delenv("CAPTURE_REDACT_PATTERNS", raising=False)


def redact(settings: Settings, text: str) -> str:
    for pattern in compile_patterns(settings.capture_redact_patterns):
        text = pattern.sub(REDACTED, text)
    return text


def test_the_default_patterns_survive_being_set_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Reproduces: the value was split on commas, so `sk-[A-Za-z0-9_-]{16,}` became two broken
    # patterns and an API key was stored unredacted.
    defaults = Settings().capture_redact_patterns
    monkeypatch.setenv("CAPTURE_REDACT_PATTERNS", json.dumps(defaults))
    from_env = Settings()
    assert from_env.capture_redact_patterns == defaults
    text = f"key {API_KEY} from me@example.org"
    assert redact(from_env, text) == f"key {REDACTED} from {REDACTED}"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (r"sk-[A-Za-z0-9_-]{16,}", [r"sk-[A-Za-z0-9_-]{16,}"]),  # a plain string: one pattern
        ("[0-9]{4,}", ["[0-9]{4,}"]),  # a character class is not a JSON list
        ('["a{2,}", "b,c"]', ["a{2,}", "b,c"]),
        ("", []),
    ],
)
def test_a_json_list_or_one_pattern(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("CAPTURE_REDACT_PATTERNS", raw)
    assert Settings().capture_redact_patterns == expected


def test_a_broken_pattern_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAPTURE_REDACT_PATTERNS", '["ok", "(unclosed"]')
    with pytest.raises(ValidationError, match="not a regular expression"):
        Settings()


def test_the_salt_is_random_kept_beside_the_journal_and_private(tmp_path: Path) -> None:
    # Reproduces: the salt defaulted to the instance name, stored in every row beside the
    # hashes, so an IPv4 pseudonym was reversed in 2^32 tries.
    journal = tmp_path / "journal"
    salt = client_ip_salt("", str(journal))
    assert len(salt) == 64 and salt != "test"
    kept = journal / SALT_FILE
    assert kept.read_text().strip() == salt and kept.stat().st_mode & 0o077 == 0
    assert client_ip_salt("", str(journal)) == salt, "stable across restarts"
    assert client_ip_salt("mine", str(journal)) == "mine"
    assert client_ip_salt("", str(tmp_path / "other")) != salt


def test_an_unwritable_journal_still_gets_a_secret_salt(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    first, second = client_ip_salt("", str(blocker)), client_ip_salt("", str(blocker))
    assert len(first) == 64 and first != second


def test_config_never_shows_a_salt_key_token_password_or_secret() -> None:
    settings = Settings(
        client_ip_salt="pepper-123",
        proxy_api_keys=["ci:k-secret-1:inference"],
        admin_token="adm-1",
        postgres_password="pw-1",
        clickhouse_password="pw-2",
        otel_exporter_otlp_headers="api-key=hdr-1",
    )
    masked = masked_settings(settings)
    text = json.dumps(masked)
    for secret in ("pepper-123", "k-secret-1", "adm-1", "pw-1", "pw-2", "hdr-1"):
        assert secret not in text
    assert masked["client_ip_salt"] == "***" and masked["proxy_api_keys"] == "***"
    assert masked["hash_client_ips"] is False, "names without a secret word are shown"
