"""The examples in the live package's docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["rates", "snapshot", "gputime", "accounting", "feed", "energy", "quota"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(
        "ollama_proxy.quota" if name == "quota" else f"ollama_proxy.live.{name}"
    )
    failed, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert attempted > 0 and failed == 0
