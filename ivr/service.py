"""What our service does for a call: run its flow and choose a route (script ``112``), or choose the
next step when a step could not take the call (script ``overflow``).

One call gives one typed ``CallOutcome``; the store record and the summary log line are both derived
from it, nothing is written on the side. The route goes back to the dialplan in one channel variable
(IVR_ROUTE, split there by ARRAY()), set in one command: a session that dies before it leaves it empty
and the dialplan queues the caller centrally on its own. A flow's last menu (every way out a category)
is handed to Asterisk instead, with a route for each outcome decided before it plays: Asterisk reads
the key and routes it itself, so no round trip through this service stands between the caller's last
key and the queue, and a service that dies while the menu plays costs the caller nothing. A failing
store costs the caller's history and (for a while) the record, never the menu or the route.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import structlog

from ivr.agi import commands
from ivr.agi.channel import REPLY_MARGIN, AgiChannel
from ivr.agi.protocol import Reply
from ivr.agi.server import AgiEnvironment, ChannelHungUp, ConnectionLost
from ivr.ami.dtmf import KeyLedger
from ivr.config import Config
from ivr.config.flow import MenuNode, Target
from ivr.flow.engine import ALL_KEYS, FlowEngine, FlowResult
from ivr.routing.callerid import CallerId, decode_raw, history_key
from ivr.routing.decide import Decision, QueueState, Standing, decide, fallback_decision
from ivr.routing.route_variable import FAILED_ROUTE_VARIABLE, route_value, route_variables, split_route
from ivr.routing.triage import CallerHistory, Flag, assess
from ivr.store.calls import IvrRecord

log = structlog.get_logger("ivr.service")

OVERFLOW_SCRIPT = "overflow"
# The caller's history is looked up while the greeting plays; past this, route without it.
HISTORY_DEADLINE = 2.0
# A routing decision is pure and takes microseconds: it runs on the event loop, between the caller's
# last key and the route, with no thread of its own. It used to run in a worker thread under a
# deadline, a guard against a decision that spins; that guard cost every call two thread hops through
# the GIL at the moment of its route, and it is no longer needed: ``decide`` ends by construction
# (each queue of the SOP is considered at most once, the central queue ends the chain), which
# tests/unit/test_routing_properties.py checks on random SOP graphs, after-hours cycles included,
# under a line budget. A decision that raises still sends the caller to the central queue.
# Slower than this is logged: every other call on the loop waited as long.
SLOW_DECISION_MS = 5.0


class CallSession(Protocol):
    """The part of a FastAGI session the service uses (``ivr.agi.server.AgiSession`` in production)."""

    env: AgiEnvironment
    summary: dict[str, Any]
    sent_at: float  # time.monotonic() of the last command's writing

    @property
    def hung_up(self) -> bool: ...

    def command(self, line: str, timeout: float = 30.0, last: bool = False) -> Awaitable[Reply]: ...

    async def last_batch(
        self, lines: Sequence[str], timeout: float = 30.0, proceed: Callable[[], bool] | None = None
    ) -> list[Reply] | None: ...


class CallRecords(Protocol):
    """The store as the service sees it (``ivr.store``): history in, one record out."""

    async def record(self, record: IvrRecord) -> None: ...

    def history(self, caller: str, since: datetime) -> CallerHistory: ...

    def add_flag(self, caller: str, flag: Flag) -> None: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CallOutcome:
    """Everything one call through the menu came to; the record and the log line derive from it."""

    uniqueid: str
    started_at: datetime
    caller: str  # the history key (normalised number)
    caller_name: str
    caller_raw: CallerId | None  # what the trunk sent, before the dialplan cleaned it
    flow: str
    result: FlowResult
    outcome: str  # routed | abandoned_in_ivr | failed
    ivr_seconds: float
    decision: Decision | None = None
    failed_prompts: tuple[str, ...] = ()
    standing: Standing = field(default_factory=Standing)
    # What went wrong on our side without costing the caller the route (history_unavailable, ...).
    degraded: tuple[str, ...] = ()
    # Keys Asterisk saw (AMI), and how many of the flow's keys came only from there (pressed while
    # none of our commands ran, which AGI alone would have lost).
    keys_asterisk: str = ""
    keys_recovered: int = 0

    def record(self) -> IvrRecord:
        decision = self.decision
        return IvrRecord(
            uniqueid=self.uniqueid,
            started_at=self.started_at.isoformat(timespec="seconds"),
            caller=self.caller,
            caller_name=self.caller_name,
            flow=self.flow,
            keys=self.result.keys,
            language=self.result.language,
            exit=self.result.exit,
            category=decision.category if decision else self.result.category,
            queue=decision.target if decision else "",
            priority=decision.priority if decision else 0,
            outcome=self.outcome,
            ivr_seconds=self.ivr_seconds,
            reason=decision.reason if decision else "",
            reason_id=decision.reason_id if decision else "",
            nodes=list(self.result.nodes),
            flags=list(self.result.flags),
            keys_asterisk=self.keys_asterisk,
            caller_raw=self.caller_raw.number_text if self.caller_raw else "",
            caller_name_raw=self.caller_raw.name_text if self.caller_raw else "",
        )

    def log_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = dict(
            flow=self.flow,
            keys=self.result.keys,
            nodes=self.result.nodes,
            language=self.result.language,
            exit=self.result.exit,
            flags=self.result.flags,
            failed_prompts=list(self.failed_prompts),
            ivr_outcome=self.outcome,
            flagged=self.standing.flagged,
            ivr_seconds=self.ivr_seconds,
            keys_asterisk=self.keys_asterisk,
            keys_recovered=self.keys_recovered,
        )
        if self.degraded:
            fields["degraded"] = list(self.degraded)
        if self.decision is not None:
            fields.update(
                category=self.decision.category,
                queue=self.decision.target,
                action=self.decision.action,
                priority=self.decision.priority,
                reason=self.decision.reason,
            )
        return fields


@dataclass
class CallService:
    config: Callable[[], Config]
    sounds_dir: Path
    store: CallRecords | None = None
    live: Callable[[], Mapping[str, QueueState] | None] = field(default=lambda: None)
    clock: Callable[[], datetime] = field(default=_utc_now)
    keys: KeyLedger | None = None

    async def handle(self, session: CallSession) -> None:
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
        raw = decode_raw(session.env.get("agi_arg_1"))
        caller = history_key(session.env.caller_number, raw)
        # The history lookup runs while the greeting plays: nothing slow stands between the answer
        # and the first prompt, or between a prompt and the wait for its key.
        standing_task = asyncio.ensure_future(self._standing(config, caller, now))
        channel = AgiChannel(session, self.sounds_dir, flow.default_language, self.keys, session.env.uniqueid)
        # The routes the dialplan was given for a last menu, by category: the caller's key chose one.
        handed: dict[str, Decision] = {}

        async def last_menu(menu: MenuNode, result: FlowResult) -> str | None:
            standing, _note = await standing_task
            routes = _last_menu_routes(config, menu, result, now, self.live(), standing)
            if routes is None:
                return None
            value, decisions = routes
            keys = await channel.last_menu(menu.prompt, result.language, menu.timeout, value)
            if keys is not None:
                handed.update(decisions)
                session.summary["last_menu"] = menu.name
            return keys

        engine = FlowEngine(flow, last_menu)
        decision: Decision | None = None
        standing = Standing()
        degraded: list[str] = []
        status = "failed"
        try:
            result = await engine.run(channel)
            standing, history_note = await standing_task
            if history_note:
                degraded.append(history_note)
            if handed:
                # Asterisk has routed the key itself; the session is over.
                decision = handed[result.category]
            else:
                decision = _decide_or_central(config, result.category, now, self.live(), standing)
                if decision.warn:
                    await channel.play(config.sop.prank.warning_prompt, result.language, ALL_KEYS)
                await _publish(session, decision, result.flags)
            status = "routed"
        except (ChannelHungUp, ConnectionLost):
            # With AGIEXITONHANGUP Asterisk may close the socket instead of answering 511: the
            # HANGUP notice before it tells a caller's hang-up from a failure of ours.
            status = "abandoned_in_ivr" if session.hung_up else "failed"
            raise
        finally:
            if not standing_task.done():
                standing_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await standing_task
            outcome = CallOutcome(
                uniqueid=session.env.uniqueid,
                started_at=now,
                caller=caller,
                caller_name=session.env.caller_name,
                caller_raw=raw,
                flow=flow.name,
                result=engine.result,
                outcome=status,
                ivr_seconds=round(time.monotonic() - started, 3),
                decision=decision,
                failed_prompts=tuple(channel.failed_prompts),
                standing=standing,
                degraded=tuple(degraded),
                keys_asterisk=channel.keys_seen,
                keys_recovered=channel.recovered,
            )
            if self.keys is not None:
                self.keys.close(session.env.uniqueid)
            session.summary.update(outcome.log_fields())
            await self._record(outcome)

    async def _record(self, outcome: CallOutcome) -> None:
        if self.store is None:
            return
        try:
            await self.store.record(outcome.record())
        except Exception as error:
            # The spooling store keeps records through an outage; a bare store that fails loses
            # this one, and says so (the caller was routed all the same).
            log.error("call_record_lost", error=repr(error))

    async def _standing(self, config: Config, caller: str, now: datetime) -> tuple[Standing, str]:
        """The caller's standing, or none with a note when the store cannot say in time."""
        if self.store is None or not caller:
            return Standing(), ""
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._assess, config, caller, now), HISTORY_DEADLINE), ""
        except Exception as error:  # TimeoutError included: history is worth less than the route
            log.warning("caller_history_unavailable", error=repr(error))
            return Standing(), "history_unavailable"

    def _assess(self, config: Config, caller: str, now: datetime) -> Standing:
        assert self.store is not None
        rules = config.sop.prank
        history = self.store.history(caller, now - timedelta(days=max(rules.window_days, 365)))
        standing, new_flag = assess(history, rules, now)
        if new_flag is not None:
            self.store.add_flag(caller, new_flag)
            log.info("caller_flagged", level=new_flag.level, until=new_flag.until.isoformat(), reason=new_flag.reason)
        return standing

    async def _overflow(self, session: CallSession, config: Config) -> None:
        """A step could not take the call: choose the next one with fresh live state."""
        # The dialplan keeps the route that failed in IVR_FROM_ROUTE and clears IVR_ROUTE before
        # this session, so a session that dies here leaves no route and the caller goes central.
        reply = await session.command(commands.get_variable(FAILED_ROUTE_VARIABLE), REPLY_MARGIN)
        values = split_route(reply.data if reply.result == "1" else "")
        tried = tuple(values["IVR_TRIED"].split())
        decision = _decide_or_central(config, values["IVR_CATEGORY"], self.clock(), self.live(), tried=tried)
        if values["IVR_PRIORITY"].isdigit():
            # The priority chosen for this caller (prank triage included) holds along the whole chain.
            decision = replace(decision, priority=int(values["IVR_PRIORITY"]))
        await _publish(session, decision, values["IVR_FLAGS"].split())
        session.summary.update(
            overflow_from=tried[-1] if tried else "",
            action=decision.action,
            queue=decision.target,
            reason=decision.reason,
        )


async def _publish(session: CallSession, decision: Decision, flags: Iterable[str]) -> None:
    """The route is the session's last command: Asterisk leaves AGI() as soon as it has set it, not
    after our reading of its reply and our close (a round trip through a loop busy with every other
    call: up to a tenth of a second at 200 callers)."""
    # Built before anything is sent: a token that would not split cleanly raises and sets nothing.
    variables = route_variables(decision, flags)
    for number, (name, value) in enumerate(variables, start=1):
        await session.command(commands.set_variable(name, value), REPLY_MARGIN, last=number == len(variables))


def _last_menu_routes(
    config: Config,
    menu: MenuNode,
    result: FlowResult,
    now: datetime,
    live: Mapping[str, QueueState] | None,
    standing: Standing,
) -> tuple[str, dict[str, Decision]] | None:
    """What [siaga-last-menu] reads (IVR_MENU_ROUTES): the route on silence, on a wrong key, then on
    each key 0-9 ('' where the menu has no such option), '|'-separated, each as IVR_ROUTE carries it;
    and the decisions by category. Decided before the menu plays, with the live state of that moment:
    a queue that refuses the caller later sends them down the overflow chain, decided afresh.
    None when a route would play the prank warning first, which only our session can."""
    decisions: dict[str, Decision] = {}

    def route(target: Target) -> str:
        decision = decisions.get(target.category)
        if decision is None:
            decision = decisions[target.category] = _decide_or_central(config, target.category, now, live, standing)
        flags = [*result.flags, *(flag for flag in target.flags if flag not in result.flags)]
        return route_value(decision, flags)

    routes = [route(menu.on_silence), route(menu.on_invalid)]
    routes += [route(menu.options[key]) if key in menu.options else "" for key in "0123456789"]
    if any(decision.warn for decision in decisions.values()):
        return None
    return "|".join(routes), decisions


def _decide_or_central(
    config: Config,
    category: str,
    now: datetime,
    live: Mapping[str, QueueState] | None,
    standing: Standing | None = None,
    tried: tuple[str, ...] = (),
) -> Decision:
    """``decide``, or the central call-takers when it raises: a routing bug costs the caller the
    category, never the route."""
    started = time.perf_counter()
    try:
        decision = decide(category, config.sop, now, live, standing, tried)
    except Exception as error:
        log.error("routing_failed_central_fallback", error=repr(error), category=category)
        failure = type(error).__name__
        return fallback_decision(
            config.sop,
            category,
            f"routing failed ({failure}): central fallback",
            f"perutean gagal ({failure}): langsung ke petugas pusat",
        )
    elapsed_ms = (time.perf_counter() - started) * 1000
    if elapsed_ms > SLOW_DECISION_MS:
        log.warning("routing_decision_slow", ms=round(elapsed_ms, 1), category=category, limit_ms=SLOW_DECISION_MS)
    return decision
