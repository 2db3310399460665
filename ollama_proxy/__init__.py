"""ollama-local-serve: a transparent, metering reverse proxy for Ollama."""

__version__ = "0.1.0"
