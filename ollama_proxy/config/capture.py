"""Capture settings: the opt-in storage of prompt and response text, and its redaction."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode

from ollama_proxy.config.fields import env


class CaptureSettings(BaseModel):
    capture_content: bool = Field(
        False,
        validation_alias=env("CAPTURE_CONTENT", "capture_content"),
        description="Opt-in: store prompt and response text (redacted) in `request_content`. "
        "Off by default: no text is stored anywhere.",
    )
    capture_redact_patterns: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            r"sk-[A-Za-z0-9_-]{16,}",
            r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+",
            r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
        ],
        validation_alias=env("CAPTURE_REDACT_PATTERNS", "capture_redact_patterns"),
        description="Regular expressions replaced by [REDACTED] in captured text: a JSON list "
        '(`["sk-[A-Za-z0-9_-]{16,}", "..."]`) or one pattern as a plain string (default: API '
        "keys, bearer tokens, e-mail addresses).",
    )
    capture_retention_days: int = Field(
        7,
        ge=1,
        validation_alias=env("CAPTURE_RETENTION_DAYS", "capture_retention_days"),
        description="Days captured text is kept (apart from RETENTION_DAYS of the logs).",
    )
    capture_max_bytes: int = Field(
        65536,
        ge=1024,
        validation_alias=env("CAPTURE_MAX_BYTES", "capture_max_bytes"),
        description="Bytes of prompt and of response text kept per request.",
    )

    @field_validator("capture_redact_patterns", mode="before")
    @classmethod
    def _pattern_list(cls, value: Any) -> Any:
        # Never split on commas: `{16,}` holds one, and the default patterns broke when set
        # from the environment (an API key was then stored unredacted).
        return parse_pattern_list(value) if isinstance(value, str) else value

    @field_validator("capture_redact_patterns")
    @classmethod
    def _check_patterns(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {pattern!r} ({exc})") from None
        return patterns


def parse_pattern_list(value: str) -> list[str]:
    """A JSON list of strings is a list of patterns; any other value is one pattern.

    >>> parse_pattern_list('["a{16,}", "b"]'), parse_pattern_list("[0-9]{4,}")
    (['a{16,}', 'b'], ['[0-9]{4,}'])
    """
    text = value.strip()
    if not text:
        return []
    try:
        parsed = json.loads(text)
    except ValueError:
        return [text]
    if isinstance(parsed, list) and all(isinstance(p, str) for p in parsed):
        return parsed
    return [text]
