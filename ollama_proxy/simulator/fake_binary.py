"""A stand-in for the `ollama` executable, for tests that spawn `ollama serve`.

`ollama serve` reads its listen address from OLLAMA_HOST (default 127.0.0.1:11434) and logs
to stderr; `ollama --version` prints the version. Timings come from FAKE_OLLAMA_* variables so
a test can make the fake slow or instant:

    FAKE_OLLAMA_LOAD_S, FAKE_OLLAMA_TOKENS_PER_S, FAKE_OLLAMA_TTFT_S (defaults: zero delay)

Run as `python -m ollama_proxy.simulator.fake_binary serve` (tests/simulator/fake_ollama wraps it).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from ollama_proxy.simulator.cli import serve
from ollama_proxy.simulator.config import SimulatorConfig, parse_listen


def config_from_env(env: Mapping[str, str]) -> SimulatorConfig:
    config = SimulatorConfig.zero_delay()
    config.load_s = float(env.get("FAKE_OLLAMA_LOAD_S", "0"))
    config.tokens_per_s = float(env.get("FAKE_OLLAMA_TOKENS_PER_S", "0"))
    config.ttft_s = float(env.get("FAKE_OLLAMA_TTFT_S", "0"))
    keep_alive = env.get("OLLAMA_KEEP_ALIVE", "")
    if keep_alive:  # a duration string or integer seconds, as Ollama's envconfig reads it
        config.keep_alive = float(keep_alive) if _is_number(keep_alive) else keep_alive
    if env.get("OLLAMA_NUM_PARALLEL"):
        config.num_parallel = max(1, int(env["OLLAMA_NUM_PARALLEL"]))
    if env.get("OLLAMA_MAX_QUEUE"):
        config.max_queue = int(env["OLLAMA_MAX_QUEUE"])
    return config


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def main(argv: Sequence[str], env: Mapping[str, str]) -> int:
    command = argv[0] if argv else "help"
    if command in ("-v", "--version", "version"):
        print(f"ollama version is {SimulatorConfig().version}")
        return 0
    if command != "serve":
        print(f"fake ollama: unsupported command {command!r} (only 'serve')", file=sys.stderr)
        return 2
    host, port = parse_listen(env.get("OLLAMA_HOST") or "127.0.0.1:11434")
    print(
        f'time=startup level=INFO msg="Listening on {host}:{port} (simulator)"',
        file=sys.stderr,
        flush=True,
    )
    serve(config_from_env(env), host, port)
    return 0


def entrypoint() -> None:
    sys.exit(main(sys.argv[1:], os.environ))


if __name__ == "__main__":
    entrypoint()
