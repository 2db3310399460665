"""The examples in the package's docstrings run: every module's `>>>` lines, as written."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import ollama_proxy

PACKAGE = Path(ollama_proxy.__file__).parent


def _source(name: str) -> Path:
    """The file of a module of the package, found without importing it."""
    relative = Path(*name.split(".")[1:])
    package_init = PACKAGE / relative / "__init__.py"
    return package_init if package_init.exists() else PACKAGE / relative.with_suffix(".py")


# The modules whose source holds an example (`__main__` runs the command line when imported
# and has none); a module without one would pass here without running anything.
MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(ollama_proxy.__path__, "ollama_proxy.")
    if not info.name.endswith("__main__") and ">>> " in _source(info.name).read_text()
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    failed, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=False)
    assert attempted > 0, f"{name} has '>>> ' in its source but doctest found no example"
    assert failed == 0, f"{failed} docstring examples of {name} fail (python -m doctest -v)"


def test_the_modules_with_examples_are_found() -> None:
    assert {"ollama_proxy.live.rates", "ollama_proxy.quota", "ollama_proxy.store.sketch"} <= set(
        MODULES
    )
