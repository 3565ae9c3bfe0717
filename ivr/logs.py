"""structlog set-up: one JSON event per line (a console renderer on a terminal), context bound per call.

Caller-controlled text is data: the JSON renderer escapes control characters, and on a terminal
they are escaped by ``_escape_controls`` before rendering, so a caller name cannot forge a log line.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import threading
import traceback
from typing import Any

import structlog

_CONTROL = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F)}


def escape_controls(text: str) -> str:
    """Control characters as visible escapes (``\\x0a``): caller text can then not forge a line."""
    return text.translate(_CONTROL)


# The FastAGI call's identity (uniqueid, caller, script), bound by the AGI server once per call into
# one ContextVar rather than three of structlog's: each ContextVar.set copies part of the task's
# context, and the three were ~1% of the server's time per call. Merged as structlog's own are.
_CALL: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("siaga_call", default=None)


def bind_call(**identity: str) -> None:
    """Every log line from here on in this task, and in tasks it starts, carries ``identity``."""
    _CALL.set(identity)


def merge_call(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """``bind_call``'s processor: a key the event names itself wins, as with merge_contextvars."""
    identity = _CALL.get()
    if identity:
        for key, value in identity.items():
            event.setdefault(key, value)
    return event


# What every configured pipeline starts with; tests capturing logs with their context pass these.
CONTEXT_PROCESSORS = (structlog.contextvars.merge_contextvars, merge_call)


def _escape_controls(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    return {key: escape_controls(value) if isinstance(value, str) else value for key, value in event.items()}


def configure(level: str = "info", json: bool | None = None, stream: Any = None) -> None:
    stream = stream or sys.stderr
    if json is None:
        json = not stream.isatty()
    renderer: Any
    processors: list[Any] = [
        *CONTEXT_PROCESSORS,
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


def report_slow_shutdown(after: float = 10.0) -> threading.Timer:
    """If the process is still stopping ``after`` seconds from now, one event with every thread's stack.

    A stop that hangs (a worker thread in a blocking call, a part that does not close) leaves a
    supervisor waiting or killing us; this says where it hung. A daemon timer: a process that exits
    first takes it along unfired."""

    def report() -> None:
        frames = sys._current_frames()
        stacks = {
            f"{thread.name} ({thread.ident})": "".join(traceback.format_stack(frames[thread.ident])[-6:])
            for thread in threading.enumerate()
            if thread.ident in frames and thread is not threading.current_thread()
        }
        structlog.get_logger("ivr").warning("shutdown_slow", seconds=after, threads=stacks)

    timer = threading.Timer(after, report)
    timer.daemon = True
    timer.start()
    return timer
