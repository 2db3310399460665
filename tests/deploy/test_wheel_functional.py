"""`pip install .` carries the dashboard: the wheel build hook builds it when Node 20+ is on
PATH, and says why not (building the wheel anyway) when it is not."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.ci import missing

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = "ollama_proxy/_dashboard/index.html"


def fresh_tree(target: Path) -> Path:
    """The repository's tracked files only, as a clone has them (no built dashboard)."""
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, names):
        source = ROOT / name.decode()
        if source.is_file():
            (target / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name.decode())
    return target


def build_wheel(tree: Path, path: str) -> tuple[Path, str]:
    out = tree / "dist"
    result = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(out)],
        cwd=tree, env={**os.environ, "PATH": path}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    [wheel] = out.glob("*.whl")
    return wheel, result.stdout + result.stderr


def test_without_node_the_wheel_builds_and_says_why(tmp_path: Path) -> None:
    tree = fresh_tree(tmp_path)
    bare = str(Path(sys.executable).parent) + ":/nonexistent"  # python, no node
    wheel, output = build_wheel(tree, bare)
    assert "dashboard not built: Node.js is not on PATH" in output
    assert BUNDLE not in zipfile.ZipFile(wheel).namelist()


def test_with_node_the_wheel_carries_the_dashboard(tmp_path: Path) -> None:
    # Bug: `pip install .` with no separate Node step gave a 503 "Dashboard not built" page.
    if shutil.which("node") is None:
        missing("no Node.js on PATH", in_ci="Node.js 20+ is required in CI")
    tree = fresh_tree(tmp_path)
    wheel, _ = build_wheel(tree, os.environ["PATH"])
    names = zipfile.ZipFile(wheel).namelist()
    assert BUNDLE in names
    assert any(n.startswith("ollama_proxy/_dashboard/assets/") for n in names)
