"""An Ollama simulator: the HTTP API of ollama-api.md with exact formats, for tests, the demo
and benchmarks.

>>> from ollama_proxy.simulator import SimulatorConfig, create_simulator_app
>>> app = create_simulator_app(SimulatorConfig(tokens_per_s=0, ttft_s=0, load_s=0))
"""

from ollama_proxy.simulator.app import create_simulator_app
from ollama_proxy.simulator.config import DEFAULT_MODELS, ModelSpec, SimulatorConfig
from ollama_proxy.simulator.faults import Cancellation, Faults, Stats
from ollama_proxy.simulator.state import SIMULATOR, Simulator

__all__ = [
    "DEFAULT_MODELS",
    "SIMULATOR",
    "Cancellation",
    "Faults",
    "ModelSpec",
    "Simulator",
    "SimulatorConfig",
    "Stats",
    "create_simulator_app",
]
