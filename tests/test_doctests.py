"""The examples in the package's docstrings run: every module's `>>>` lines, as written."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import ollama_proxy

# `__main__` runs the command line when imported; it has no examples.
MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(ollama_proxy.__path__, "ollama_proxy.")
    if not info.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    failed, _attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=False)
    assert failed == 0, f"{failed} docstring examples of {name} fail (python -m doctest -v)"


def test_the_examples_are_found() -> None:
    """The live view and quota modules have examples; a discovery that finds none is broken."""
    attempted = sum(
        doctest.testmod(importlib.import_module(name), report=False).attempted
        for name in ("ollama_proxy.live.rates", "ollama_proxy.quota", "ollama_proxy.store.sketch")
    )
    assert attempted > 5
