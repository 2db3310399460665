"""The repository is for whoever picks it up: no paths of one particular machine in it."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Home and work folders of a particular machine; generic ones (/tmp, /usr/bin, /data inside a
# container) are fine.
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|home/[a-z][\w-]*|Users/[A-Za-z][\w-]*)/")


def tracked_text_files() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    files = [ROOT / name.decode() for name in names if name]
    return [f for f in files if f.is_file() and f.suffix not in (".png", ".jpg", ".ico", ".woff2")]


def test_the_machine_path_pattern_tells_them_apart() -> None:
    home, work = "/".join(("", "home", "alice", "x.py")), "/".join(("", "work", "x"))
    assert MACHINE_PATH.search(f"see {home}") and MACHINE_PATH.search(work)  # (split: not found)
    relative = "a" + work  # a folder named work inside another: not this machine's
    assert not MACHINE_PATH.search(f"/tmp/x /usr/bin/x /data/x {relative}")


def test_no_machine_paths_in_the_repository() -> None:
    found = []
    files = tracked_text_files()
    assert any(f.name == "README.md" for f in files), "no tracked files: not a git checkout?"
    for path in files:
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if MACHINE_PATH.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:80]}")
    assert not found, "\n".join(found)


def test_contributing_replaces_the_team_notes() -> None:
    assert (ROOT / "CONTRIBUTING.md").is_file()
    assert not (ROOT / "docs" / "TEAM.md").exists()
    assert not (ROOT / "docs" / "HELPER_PREAMBLE.md").exists()


# What runs for every proxied request: python -O strips asserts, so a check there must be code.
REQUEST_PATH = ("ollama_proxy/proxy", "ollama_proxy/meter", "ollama_proxy/live")


def test_no_assert_on_the_request_path() -> None:
    found = []
    for folder in REQUEST_PATH:
        paths = sorted((ROOT / folder).rglob("*.py"))
        assert paths, f"{folder}: no Python files (moved? update REQUEST_PATH)"
        for path in paths:
            tree = ast.parse(path.read_text(), filename=str(path))
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno}"
                for node in ast.walk(tree)
                if isinstance(node, ast.Assert)
            ]
    assert found == []
