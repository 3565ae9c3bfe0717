"""The last line: a classic AGI script (a process per call, started by Asterisk itself) that plays the
menu and routes by the SOP when every FastAGI service has failed.

It runs the same flow engine (``ivr.flow``) over the same ``dialplan/`` and ``sop/`` files, read fresh
for every call, and hands the route back the way our service does: ONE variable, IVR_ROUTE
(``ivr.routing.route_variable``). What it does not have, by design: no network, no store, so no live
queue state (a queue with nobody ready is found out by Asterisk's joinempty and the overflow step)
and no caller history (no prank standing, no record of the call beyond its log line and Asterisk's
own CDR and queue_log). Any failure of its own sets no route, and the dialplan queues the caller
centrally.

Asterisk talks to it over stdin/stdout; pyst2's ``asterisk.agi.AGI`` reads the environment and the
result lines. Command lines are ours (``ivr.agi.commands``, quoted so a path or value stays one
argument), sent through pyst2's ``execute``. pyst2's own chatter (every environment line, command
and result) goes nowhere: stderr is for our structlog lines, one JSON event per line, uniqueid bound.

Run as ``python -m ivr.agi.lastline --root ROOT [FLOW]``; ``ivr render`` writes the launcher
(``ivr.asterisk.lastline``). Imports nothing beyond the standard library, PyYAML, structlog and
pyst2: a Debian python3 with python3-yaml runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import structlog
from asterisk.agi import AGI, AGIAppError, AGIHangup

from ivr import logs
from ivr.agi import commands
from ivr.agi.channel import dtmf_key, prompt_path
from ivr.config import load_config
from ivr.flow.engine import FlowEngine, FlowResult
from ivr.routing.decide import Decision, decide, fallback_decision
from ivr.routing.route_variable import ROUTE_VARIABLE, route_value
from ivr.settings import Settings

log = structlog.get_logger("ivr.lastline")

DEFAULT_FLOW = "112"


class ClassicAgi(Protocol):
    """What the channel needs of pyst2's ``AGI``: its environment and one command, parsed result."""

    env: dict[str, str]

    def execute(self, command: str) -> dict[str, tuple[str, str]]: ...


class ClassicChannel:
    """The flow engine's ``Channel`` over a classic AGI script's stdin/stdout.

    The methods are async only because the engine's protocol is; each command blocks this process,
    which serves exactly one call. No AMI key ledger here: a key pressed while no command runs is
    lost (Asterisk discards it), and the menu waits for the next, as a menu does.
    """

    def __init__(self, agi: ClassicAgi, sounds_dir: Path, default_language: str) -> None:
        self.agi = agi
        self.sounds_dir = sounds_dir
        self.default_language = default_language
        self.failed_prompts: list[str] = []

    async def play(self, prompt: str, language: str, escape_keys: str) -> str:
        path = prompt_path(self.sounds_dir, prompt, language, self.default_language)
        if path is None:
            # As the FastAGI channel does: a missing file would leave AGISTATUS=FAILURE; skip it, loudly.
            log.warning("prompt_missing", prompt=prompt, language=language, sounds_dir=str(self.sounds_dir))
            self.failed_prompts.append(prompt)
            return ""
        try:
            reply = self.agi.execute(commands.stream_file(path, escape_keys))
        except AGIHangup:
            raise
        except AGIAppError:
            # result=-1: unreadable. If the caller hung up, the next command says so.
            log.warning("prompt_unplayable", prompt=prompt, language=language, path=path)
            self.failed_prompts.append(prompt)
            return ""
        return dtmf_key(reply["result"][0]) if escape_keys else ""

    async def wait_key(self, seconds: float) -> str:
        reply = self.agi.execute(commands.wait_for_digit(int(seconds * 1000)))
        return dtmf_key(reply["result"][0])


def route_call(agi: ClassicAgi, root: Path, flow_name: str, now: datetime) -> tuple[FlowResult, Decision]:
    """Play the menu, decide, set IVR_ROUTE: the whole call. Raises on anything that sets no route."""
    config = load_config(root)  # fresh for every call: the files the admins last saved
    flow = config.flow_for(flow_name)
    if flow is None:
        raise LookupError(f"no flow {flow_name!r} in {root / 'dialplan'} (known: {', '.join(sorted(config.flows))})")
    channel = ClassicChannel(agi, Settings(root=root).sounds_dir, flow.default_language)
    result = asyncio.run(FlowEngine(flow).run(channel))
    try:
        decision = decide(result.category, config.sop, now)
    except Exception as error:  # a routing bug must cost the caller the category, not the route
        log.error("routing_failed_central_fallback", error=repr(error), category=result.category)
        failure = type(error).__name__
        decision = fallback_decision(
            config.sop, result.category, f"routing failed ({failure})", f"perutean gagal ({failure})"
        )
    agi.execute(commands.set_variable(ROUTE_VARIABLE, route_value(decision, result.flags)))
    if channel.failed_prompts:
        log.warning("prompts_failed", prompts=channel.failed_prompts)
    return result, decision


class _Discard(io.StringIO):
    """Where pyst2's debugging output goes (it echoes every environment line, the caller's too)."""

    def write(self, text: str) -> int:
        return len(text)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ivr.agi.lastline", description=__doc__)
    parser.add_argument("--root", type=Path, required=True, help="where dialplan/, sop/ and var/ are")
    parser.add_argument("flow", nargs="?", default=DEFAULT_FLOW, help="the flow to run (dialplan/FLOW.yaml)")
    parser.add_argument(
        "--probe", action="store_true", help="no call: load the configuration and the flow, exit 0 if both load"
    )
    return parser.parse_args(argv)


def probe(root: Path, flow_name: str) -> int:
    """What `ivr check` asks of the launcher: everything a call needs but Asterisk (imports, files, flow)."""
    try:
        flow = load_config(root).flow_for(flow_name)
    except Exception as error:
        log.error("lastline_probe_failed", error=repr(error))
        return 1
    if flow is None:
        log.error("lastline_probe_failed", error=f"no flow {flow_name!r}")
        return 1
    log.info("lastline_probe_ok", python=sys.version.split()[0], flow=flow_name)
    return 0


def main(argv: list[str] | None = None, stdin: Any = None, stdout: Any = None) -> int:
    """One call. Exit 0 with a route set, 1 without (the dialplan then queues the caller centrally)."""
    args = _arguments(argv)
    logs.configure("info", json=True, stream=sys.stderr)
    if args.probe:
        return probe(args.root.resolve(), args.flow)
    started = time.monotonic()
    try:
        agi = AGI(stdin=stdin or _text(sys.stdin), stdout=stdout or sys.stdout, stderr=_Discard())
    except Exception as error:
        log.error("lastline_no_agi_environment", error=repr(error))
        return 1
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(
        uniqueid=agi.env.get("agi_uniqueid", ""), caller=agi.env.get("agi_callerid", ""), flow=args.flow
    )
    try:
        result, decision = route_call(agi, args.root.resolve(), args.flow, datetime.now(UTC))
    except Exception as error:  # config error, Asterisk gone, a bug: no route, the dialplan goes central
        if _hung_up(agi, error):
            log.info("lastline_caller_hung_up", **_costs(started))
        else:
            log.error("lastline_no_route", error=repr(error), **_costs(started))
        return 1
    log.info(
        "lastline_call_end",
        keys=result.keys,
        nodes=result.nodes,
        language=result.language,
        exit=result.exit,
        flags=result.flags,
        category=decision.category,
        action=decision.action,
        queue=decision.target,
        priority=decision.priority,
        reason=decision.reason + "; no live queue state, no caller history (last line)",
        **_costs(started),
    )
    return 0


def _hung_up(agi: AGI, error: Exception) -> bool:
    """The caller hung up: pyst2 said so, or Asterisk signalled it (SIGHUP) before closing our stdin."""
    if isinstance(error, AGIHangup):
        return True
    try:
        agi.test_hangup()
    except AGIHangup:
        return True
    return False


def _costs(started: float) -> dict[str, float]:
    """Seconds since ``main`` began, and the CPU seconds of the whole process (interpreter start-up and
    imports included): what one call cost."""
    return {"call_seconds": round(time.monotonic() - started, 3), "cpu_seconds": round(time.process_time(), 3)}


def _text(stream: Any) -> Any:
    """stdin as text that never raises on a byte that is not UTF-8 (Asterisk's environment is ours to
    read, not to trust)."""
    buffer = getattr(stream, "buffer", None)
    return io.TextIOWrapper(buffer, encoding="utf-8", errors="replace") if buffer is not None else stream


if __name__ == "__main__":
    sys.exit(main())
