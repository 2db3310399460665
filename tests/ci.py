"""The one rule for a test whose tool or service is missing here: it fails when CI=true (CI must
run it) and skips with the reason elsewhere."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(reason: str, in_ci: str | None = None) -> NoReturn:
    """Fail in CI (with `in_ci`, when it says more than `reason`), skip with `reason` elsewhere."""
    __tracebackhide__ = True  # reports name the caller's line, not this one
    if os.environ.get("CI") == "true":
        pytest.fail(in_ci or reason)
    pytest.skip(reason)
