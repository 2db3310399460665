"""Wheel build hook: the dashboard goes into the wheel, so `pip install .` and
`pip install git+URL` give a proxy whose /dashboard/ works.

When the bundle (ollama_proxy/_dashboard/index.html) is missing and Node 20+ is on PATH, the
hook builds it (`dashboard/install-deps.sh`, then `npm run build`). Without Node it says so
and the wheel is built without the dashboard (the proxy then answers /dashboard/ with a page
that explains how to build it). Editable installs are left alone: developers run
`make dashboard`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

NODE_MAJOR = 20
BUNDLE = Path("ollama_proxy") / "_dashboard" / "index.html"


def node_major(node: str) -> int | None:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.match(r"v(\d+)\.", out.stdout.strip())
    return int(match.group(1)) if match else None


def missing_node_reason() -> str | None:
    """Why the dashboard cannot be built here, or None."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "Node.js is not on PATH"
    major = node_major(node)
    if major is None or major < NODE_MAJOR:
        found = "an unknown version" if major is None else f"version {major}"
        return f"Node.js {NODE_MAJOR}+ is needed, found {found}"
    return None


class DashboardBuildHook(BuildHookInterface):
    PLUGIN_NAME = "dashboard"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        if version == "editable" or (root / BUNDLE).is_file():
            return
        if not (root / "dashboard" / "package.json").is_file():
            return  # building from a tree without the dashboard's sources
        reason = missing_node_reason()
        if reason:
            self.app.display_warning(
                f"dashboard not built: {reason}. The wheel works without it (/dashboard/ "
                "explains how to build it); install Node.js 20+ and rebuild to include it."
            )
            return
        self.app.display_info("building the dashboard (npm) for the wheel ...")
        dashboard = root / "dashboard"
        subprocess.run(["sh", "install-deps.sh"], cwd=dashboard, check=True)
        subprocess.run(["npm", "run", "build"], cwd=dashboard, check=True)
