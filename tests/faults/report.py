"""Renders docs/reliability.md's figures from the rows the fault tests append.

export FAULTS_REPORT=/tmp/faults.jsonl FAULTS_SCALE=12
pytest tests/faults tests/store -k "outage or sig or concurrent"
python -m tests.faults.report /tmp/faults.jsonl
"""

from __future__ import annotations

import json
import sys


def table(path: str) -> str:
    rows = [json.loads(line) for line in open(path) if line.strip()]
    lines = [
        "| fault injected | requests sent | records expected | records stored | duplicates | 5xx |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['fault']} | {r['requests_sent']} | {r['records_expected']} | "
            f"{r['records_stored']} | {r['duplicates']} | {r['5xx']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(sys.argv[1]))
