"""structlog set-up: one call at start, from Settings.

The proxy's own events (the `ollama_proxy` loggers) log at the configured level; third-party
libraries at their own, WARNING by default, so DEBUG on the proxy does not bring every SQL
statement of a database driver with it.
"""

from __future__ import annotations

import logging
import sys

import structlog

OWN_LOGGER = "ollama_proxy"


def configure_logging(
    level: str = "INFO", fmt: str = "console", libraries: str = "WARNING"
) -> None:
    """Route structlog and stdlib logging to stderr as console lines or JSON."""
    numeric = logging.getLevelName(level.upper())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    library_level = logging.getLevelName(libraries.upper())
    # basicConfig adds the stderr handler only once; the levels are set on every call, so a
    # level changed at run time (POST /api/config) applies.
    logging.basicConfig(level=library_level, stream=sys.stderr, format="%(name)s %(message)s")
    logging.getLogger().setLevel(library_level)
    logging.getLogger(OWN_LOGGER).setLevel(numeric)
    logging.getLogger("aiohttp.access").setLevel(max(logging.WARNING, library_level))
