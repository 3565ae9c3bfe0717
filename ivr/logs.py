"""structlog set-up: one JSON event per line (a console renderer on a terminal), context bound per call.

Caller-controlled text is data: the JSON renderer escapes control characters, and on a terminal
they are escaped by ``_escape_controls`` before rendering, so a caller name cannot forge a log line.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

_CONTROL = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F)}


def escape_controls(text: str) -> str:
    """Control characters as visible escapes (``\\x0a``): caller text can then not forge a line."""
    return text.translate(_CONTROL)


def _escape_controls(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    return {key: escape_controls(value) if isinstance(value, str) else value for key, value in event.items()}


def configure(level: str = "info", json: bool | None = None, stream: Any = None) -> None:
    stream = stream or sys.stderr
    if json is None:
        json = not stream.isatty()
    renderer: Any
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    if json:
        renderer = structlog.processors.JSONRenderer()
    else:
        processors.append(_escape_controls)
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    # panoramisk logs each failed reconnect attempt and lost connection in its own format; our AMI
    # client reports connection state itself, as structured events.
    logging.getLogger("panoramisk").setLevel(logging.CRITICAL)
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
