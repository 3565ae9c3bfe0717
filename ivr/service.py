"""What our service does for a call: run its flow and choose a route (script ``112``), or choose the
next step when a step could not take the call (script ``overflow``).

The route goes back to the dialplan as channel variables; IVR_ACTION is set last, so a session that
dies half way leaves it empty and the dialplan queues the caller centrally on its own. Every call
is recorded, including one whose caller hung up during the menu.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from ivr.agi import commands
from ivr.agi.channel import REPLY_MARGIN, AgiChannel
from ivr.agi.server import AgiSession, ChannelHungUp, ConnectionLost
from ivr.config import Config
from ivr.flow.engine import ALL_KEYS, FlowEngine
from ivr.routing.decide import Decision, QueueState, Standing, decide
from ivr.routing.triage import assess, normalise_number
from ivr.store.calls import CallStore, IvrRecord

log = structlog.get_logger("ivr.service")

OVERFLOW_SCRIPT = "overflow"


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class CallService:
    config: Callable[[], Config]
    sounds_dir: Path
    store: CallStore | None = None
    live: Callable[[], Mapping[str, QueueState] | None] = field(default=lambda: None)
    clock: Callable[[], datetime] = field(default=_utc_now)

    async def handle(self, session: AgiSession) -> None:
        config = self.config()  # one snapshot for the whole call, even if a reload happens
        if session.env.script == OVERFLOW_SCRIPT:
            await self._overflow(session, config)
            return
        flow = config.flow_for(session.env.script)
        if flow is None:
            log.warning("agi_unknown_script", known=sorted(config.flows))
            session.summary["route"] = "none (unknown script): dialplan falls back"
            return
        now = self.clock()
        started = time.monotonic()
        caller = normalise_number(session.env.caller_number)
        standing = await asyncio.to_thread(self._standing, config, caller, now)
        channel = AgiChannel(session, self.sounds_dir, flow.default_language)
        engine = FlowEngine(flow)
        decision: Decision | None = None
        outcome = "failed"
        try:
            result = await engine.run(channel)
            decision = decide(result.category, config.sop, now, self.live(), standing)
            if decision.warn:
                await channel.play(config.sop.prank.warning_prompt, result.language, ALL_KEYS)
            await _publish(session, decision, result.flags)
            outcome = "routed"
        except (ChannelHungUp, ConnectionLost):
            # With AGIEXITONHANGUP Asterisk may close the socket instead of answering 511: the
            # HANGUP notice before it tells a caller's hang-up from a failure of ours.
            outcome = "abandoned_in_ivr" if session.hung_up else "failed"
            raise
        finally:
            partial = engine.result
            session.summary.update(
                flow=flow.name, keys=partial.keys, nodes=partial.nodes, language=partial.language,
                exit=partial.exit, flags=partial.flags, failed_prompts=channel.failed_prompts,
                ivr_outcome=outcome, flagged=standing.flagged,
            )
            if decision is not None:
                session.summary.update(category=decision.category, queue=decision.target, action=decision.action,
                                       priority=decision.priority, reason=decision.reason)
            if self.store is not None:
                await self.store.record(IvrRecord(
                    uniqueid=session.env.uniqueid, started_at=now.isoformat(timespec="seconds"),
                    caller=caller, caller_name=session.env.caller_name, flow=flow.name, keys=partial.keys,
                    language=partial.language, exit=partial.exit,
                    category=decision.category if decision else partial.category,
                    queue=decision.target if decision else "", priority=decision.priority if decision else 0,
                    outcome=outcome, ivr_seconds=round(time.monotonic() - started, 3),
                    reason=decision.reason if decision else "", nodes=partial.nodes, flags=partial.flags,
                ))

    def _standing(self, config: Config, caller: str, now: datetime) -> Standing:
        if self.store is None or not caller:
            return Standing()
        rules = config.sop.prank
        history = self.store.history(caller, now - timedelta(days=max(rules.window_days, 365)))
        standing, new_flag = assess(history, rules, now)
        if new_flag is not None:
            self.store.add_flag(caller, new_flag)
            log.info("caller_flagged", level=new_flag.level, until=new_flag.until.isoformat(), reason=new_flag.reason)
        return standing

    async def _overflow(self, session: AgiSession, config: Config) -> None:
        """A step could not take the call: choose the next one with fresh live state."""
        values = {}
        for name in ("IVR_CATEGORY", "IVR_TRIED", "IVR_PRIORITY", "IVR_FLAGS"):
            reply = await session.command(commands.get_variable(name), REPLY_MARGIN)
            values[name] = reply.data if reply.result == "1" else ""
        tried = tuple(values["IVR_TRIED"].split())
        decision = decide(values["IVR_CATEGORY"], config.sop, self.clock(), self.live(), tried=tried)
        if values["IVR_PRIORITY"].isdigit():
            # The priority chosen for this caller (prank triage included) holds along the whole chain.
            decision = replace(decision, priority=int(values["IVR_PRIORITY"]))
        await _publish(session, decision, values["IVR_FLAGS"].split())
        session.summary.update(overflow_from=tried[-1] if tried else "", action=decision.action,
                               queue=decision.target, reason=decision.reason)


def route_variables(decision: Decision, flags: list[str]) -> list[tuple[str, str]]:
    """The channel variables that carry a route to the dialplan, IVR_ACTION last."""
    return [
        ("IVR_TARGET", decision.target),
        ("IVR_PRIORITY", str(decision.priority)),
        ("IVR_CATEGORY", decision.category),
        ("IVR_TIMEOUT", str(decision.timeout) if decision.timeout else ""),
        ("IVR_TRIED", " ".join(decision.tried)),
        ("IVR_FLAGS", " ".join(flags)),
        ("IVR_ACTION", decision.action),
    ]


async def _publish(session: AgiSession, decision: Decision, flags: list[str]) -> None:
    for name, value in route_variables(decision, flags):
        await session.command(commands.set_variable(name, value), REPLY_MARGIN)
