"""A stand-in for `nvidia-smi`: one simulated GPU whose power draw the test sets.

Answers the two queries the proxy makes (`--query-gpu=index,name,...` for the system samples
and `--query-gpu=power.draw` for energy), CSV without header or units. The power is
FAKE_GPU_POWER_W watts (default 150). Run through tests/simulator/bin/nvidia-smi.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

FIELDS = {
    "index": "0",
    "name": "Simulated GPU",
    "utilization.gpu": "50",
    "memory.used": "2048",
    "memory.total": "24576",
    "temperature.gpu": "55",
}


def answer(argv: Sequence[str], env: Mapping[str, str]) -> str | None:
    """The CSV line for `--query-gpu=a,b,...`, or None for an unsupported command line.

    >>> answer(["--query-gpu=power.draw", "--format=csv,noheader,nounits"], {})
    '150.0'
    """
    query = next((a.split("=", 1)[1] for a in argv if a.startswith("--query-gpu=")), None)
    if query is None:
        return None
    values = dict(FIELDS, **{"power.draw": str(float(env.get("FAKE_GPU_POWER_W", "150")))})
    return ", ".join(values.get(name, "[N/A]") for name in query.split(","))


def main() -> None:
    line = answer(sys.argv[1:], os.environ)
    if line is None:
        print("fake nvidia-smi: only --query-gpu=... is supported", file=sys.stderr)
        sys.exit(2)
    print(line)


if __name__ == "__main__":
    main()
