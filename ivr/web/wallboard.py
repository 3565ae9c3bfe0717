"""The supervisor's wallboard over HTTP: the page, the live picture on a WebSocket, and a supervisor's
actions on operators (pause, take out of the queues, listen / whisper / barge).

Auth is the console's (``ivr.web.console``): its guard middleware checks the session, the CSRF token,
the origin and the JSON body of every /api/* request and of every /ws/* handshake; this module adds
the rule of who may: supervisors and admins watch and act on operators, only supervisors listen in.
The figures are ``ivr.operators.wallboard``'s (pure); Asterisk is reached through ``ivr.ami.agents``
and ``ivr.ami.spy`` only. Every action is in the audit log with who did it and to whom.
The contract with the page (ivr/web/static/wallboard.*) is docs/wallboard-api.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from aiohttp import WSMsgType, web

from ivr.ami.agents import AgentActionFailed
from ivr.ami.client import AmiError
from ivr.ami.spy import SPY_OPTIONS, CallLegs, SpyRefused, spy_target, start_spy
from ivr.config.roster import Operator
from ivr.config.spec import NAME
from ivr.operators.auth import SESSION_IDLE
from ivr.operators.states import ON_CALL, PAUSE_REASONS
from ivr.operators.wallboard import (
    CallNow,
    DayFigures,
    OperatorNow,
    QueueNow,
    StateClock,
    day_bounds,
    day_figures,
    floor_picture,
)
from ivr.reports.aggregate import CallRow
from ivr.store.db import StoreError
from ivr.web.console import COOKIE, WS_TOUCH_INTERVAL, Console
from ivr.web.http import error, json_object

log = structlog.get_logger("ivr.web")

WATCHERS = ("supervisor", "admin")
LISTENERS = ("supervisor",)
# At most four pictures a second go out, however busy AMI is.
PUSH_INTERVAL = 0.25
# What has no event of its own (calls in the menu, a screen pop built after a store read) is looked at this often.
TICK = 1.0
# Today's figures are read from the store this often (queue_log is folded into it every 2 s).
FIGURES_INTERVAL = 5.0
# At most one look at the operators' states per this many seconds of live changes, dated by the first
# change (a picture looks at once). At a surge AMI's events came a few per turn of the event loop, and a
# look each time took it for ~2 ms apiece from the callers' menus and routes (py-spy, bench/results/surge.md).
LOOK_WINDOW = 0.25
# A free member: logged in, not paused, phone registered and idle (AST_DEVICE_UNKNOWN or NOT_INUSE).
FREE_STATUSES = ("0", "1")


class SessionCount(Protocol):
    """The FastAGI server (``AgiServer``): how many callers are in the menu now."""

    @property
    def active_sessions(self) -> int: ...


class DayCalls(Protocol):
    """The call store (``CallStore``)."""

    def calls_between(self, since: datetime, until: datetime) -> list[dict[str, Any]]: ...


@dataclass
class Viewer:
    token: str
    # The last picture this socket got, without what drifts by itself (for "send only what changed").
    last: dict[str, Any] | None = None


class Wallboard:
    def __init__(
        self,
        console: Console,
        agi: SessionCount,
        calls: DayCalls,
        clock: Callable[[], float] = time.time,
        push_interval: float = PUSH_INTERVAL,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.console = console
        self.floor = console.floor
        self.agents = console.floor.agents
        self.live = console.floor.live
        self.agi = agi
        self.calls = calls
        self.clock = clock
        self.push_interval = push_interval
        self.sleep = sleep
        self.legs = CallLegs(self.agents.client, self.agents.operator_for)
        self.since = StateClock()
        self.today = DayFigures()
        self.viewers: dict[web.WebSocketResponse, Viewer] = {}
        self._looked_at: object | None = None
        self._changed_at: float | None = None  # the first live change not yet observed
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.live.listeners.append(self._changed)

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/wallboard", self.console.page("wallboard.html"))
        app.router.add_get("/ws/wallboard", self.websocket)
        app.router.add_post("/api/operators/{operator}/pause", self.force_pause)
        app.router.add_post("/api/operators/{operator}/logout", self.force_logout)
        app.router.add_post("/api/operators/{operator}/spy", self.spy)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)

    async def _start(self, _app: web.Application) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _stop(self, _app: web.Application) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    # What the wallboard shows
    def _changed(self) -> None:
        # One look per LOOK_WINDOW of live events (AMI delivers a queue step as several: the caller's
        # join, a member's status in each of its queues), at the time of the first.
        if self._changed_at is None:
            self._changed_at = self.clock()
            asyncio.get_running_loop().call_later(LOOK_WINDOW, self._observe_changes)
        self._wake.set()

    def _observe_changes(self) -> None:
        """The look at the changes since the first one not yet looked at, dated by it (if a picture has
        not looked at them already)."""
        changed_at, self._changed_at = self._changed_at, None
        if changed_at is not None:
            self._observe(changed_at)

    def _observe(self, now: float | None = None) -> None:
        """Note each operator's state change, with its time (``now``: the moment of the events that
        showed it), as soon as Asterisk's events show it."""
        if not (self.live.synced and self.agents.client.ready):
            return  # a stale picture: changes seen in it would get the wrong time
        # LiveQueues builds a new dict at every resync: a new one means a fresh look after a gap.
        fresh = self._looked_at is not self.live.queues
        self._looked_at = self.live.queues
        now = self.clock() if now is None else now
        roster = self.floor.roster()
        for operator in roster.values():
            state = self.agents.state(operator)
            self.since.observe(operator.id, state.state, state.reason, now, fresh)
        self.since.keep_only(roster)

    def picture(self) -> dict[str, Any]:
        self._observe_changes()  # changes not looked at yet: at their own time, not the picture's
        self._observe()
        now, monotonic = self.clock(), time.monotonic()
        sop = self.floor.config().sop
        queues = []
        for name in sorted(sop.queues):
            view = self.live.queues.get(name)
            agency = sop.agency_of(name)
            members = list(view.members.values()) if view else []
            queues.append(
                QueueNow(
                    name,
                    agency.label if agency else name,
                    view.waiting if view else 0,
                    view.longest_wait(monotonic) if view else 0.0,
                    members=len(members),
                    free=sum(not m.paused and not m.in_call and m.status in FREE_STATUSES for m in members),
                    paused=sum(m.paused for m in members),
                )
            )
        operators = []
        for operator in self.floor.roster().values():
            state = self.agents.state(operator)
            since = self.since.get(operator.id)
            call = self.floor.calls.get(operator.id)
            operators.append(
                OperatorNow(
                    operator.id,
                    operator.name,
                    operator.role,
                    operator.agency,
                    operator.queues,
                    state.state,
                    state.reason,
                    since.at if since else now,
                    since.exact if since else False,
                    None
                    if call is None
                    else CallNow(call.uniqueid, call.phase, call.category_label, call.emergency, call.queue),
                )
            )
        live = self.live.synced and self.agents.client.ready
        return floor_picture(now, live, self.agi.active_sessions, queues, operators, self.today)

    async def _refresh_figures(self) -> None:
        sop = self.floor.config().sop
        since, until = day_bounds(datetime.fromtimestamp(self.clock(), UTC), sop.zone())
        try:
            rows = await asyncio.to_thread(self.calls.calls_between, since, until)
        except StoreError as failure:
            log.error("wallboard_figures_failed", error=str(failure))  # the last figures stay up
            return
        self.today = day_figures(CallRow.from_store(row) for row in rows)

    async def _run(self) -> None:
        """The one sender: a picture to each socket whose last one differs, at most every push_interval."""
        next_figures = 0.0
        next_touch = time.monotonic() + WS_TOUCH_INTERVAL
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK)
            self._wake.clear()
            try:
                if time.monotonic() >= next_figures:
                    next_figures = time.monotonic() + FIGURES_INTERVAL
                    await self._refresh_figures()
                if time.monotonic() >= next_touch:
                    next_touch = time.monotonic() + WS_TOUCH_INTERVAL
                    await self._check_viewers()
                if self.viewers and await self._push():
                    await self.sleep(self.push_interval)
            except Exception:
                # One bad picture must not freeze every wallboard for the rest of the shift.
                log.exception("wallboard_push_failed")
                await asyncio.sleep(TICK)

    async def _push(self) -> bool:
        """Send the picture where it differs from the last one sent; True if anything went out."""
        picture = self.picture()
        stable = _without_drift(picture)
        due = [(socket, viewer) for socket, viewer in self.viewers.items() if viewer.last != stable]
        for _socket, viewer in due:
            viewer.last = stable
        await asyncio.gather(*(socket.send_json(picture) for socket, _viewer in due), return_exceptions=True)
        return bool(due)

    async def _check_viewers(self) -> None:
        """Sockets outlive neither their session nor the viewer's supervising role."""
        roster = self.floor.roster()
        for socket, viewer in list(self.viewers.items()):
            session = self.console.sessions.session(viewer.token, self.console.clock(), SESSION_IDLE)
            if session is None:
                await socket.close(code=4401, message=b"session ended")
            elif (operator := roster.get(session.operator)) is None or operator.role not in WATCHERS:
                await socket.close(code=4403, message=b"not a supervisor")

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        viewer = self.console.operator_of(request)
        if viewer.role not in WATCHERS:
            return error(403, "forbidden", "the wallboard is for supervisors and admins")
        socket = web.WebSocketResponse(heartbeat=20.0)
        await socket.prepare(request)
        # The console closes every socket in its set with 1001 when the service stops.
        self.console.sockets.add(socket)
        # The sender task sends the first picture at once: one sender, so no message overtakes another.
        self.viewers[socket] = Viewer(request.cookies.get(COOKIE, ""))
        self._wake.set()
        try:
            async for message in socket:
                if message.type == WSMsgType.ERROR:
                    break
        finally:
            self.viewers.pop(socket, None)
            self.console.sockets.discard(socket)
        return socket

    # A supervisor's actions on an operator
    def _target(self, request: web.Request) -> Operator | None:
        operator_id = request.match_info["operator"]
        if not NAME.fullmatch(operator_id):
            return None
        return self.floor.roster().get(operator_id)

    def _allowed(self, request: web.Request, roles: tuple[str, ...]) -> tuple[Operator, Operator] | web.Response:
        """(who asks, whom it is about), or the refusal."""
        actor = self.console.operator_of(request)
        if actor.role not in roles:
            return error(403, "forbidden", f"only for: {', '.join(roles)}")
        target = self._target(request)
        if target is None:
            return error(404, "unknown_operator", "no operator with this id in the roster")
        return actor, target

    def _state(self, operator: Operator) -> dict[str, Any]:
        state = self.agents.state(operator)
        return {"state": state.state, "reason": state.reason, "queues": list(state.queues)}

    async def force_pause(self, request: web.Request) -> web.Response:
        """``{"reason": "Istirahat"}``: the operator stays in their queues but gets no call."""
        allowed = self._allowed(request, WATCHERS)
        if isinstance(allowed, web.Response):
            return allowed
        actor, target = allowed
        body = await json_object(request)
        reason = body.get("reason") if body else None
        if reason not in PAUSE_REASONS:
            return error(400, "invalid_reason", f"reason must be one of: {', '.join(PAUSE_REASONS)}")
        if not self.agents.state(target).logged_in:
            # A pause would log them in to their queues (paused): not what a supervisor asked.
            return error(409, "not_logged_in", f"{target.id} is in no queue")
        try:
            await self.agents.pause(target, str(reason))
        except (AgentActionFailed, AmiError) as failure:
            return error(503, "asterisk_refused", f"Asterisk did not take it: {failure}")
        self.console.sessions.audit(actor.id, "force_pause", {"target": target.id, "reason": reason})
        log.info("operator_force_paused", actor=actor.id, target=target.id, reason=reason)
        self._acted(target)
        return web.json_response({"ok": True, "state": self._state(target)})

    async def force_logout(self, request: web.Request) -> web.Response:
        """Out of every queue (the operator's console stays open; they may log in again when back)."""
        allowed = self._allowed(request, WATCHERS)
        if isinstance(allowed, web.Response):
            return allowed
        actor, target = allowed
        try:
            await self.agents.logout(target)
        except (AgentActionFailed, AmiError) as failure:
            return error(503, "asterisk_refused", f"Asterisk did not take it: {failure}")
        self.console.sessions.audit(actor.id, "force_logout", {"target": target.id})
        log.info("operator_force_logged_out", actor=actor.id, target=target.id)
        self._acted(target)
        return web.json_response({"ok": True, "state": self._state(target)})

    def _acted(self, target: Operator) -> None:
        self.floor.push(target.id)  # the operator's own console shows it at once
        self._wake.set()

    async def spy(self, request: web.Request) -> web.Response:
        """``{"mode": "listen" | "whisper" | "barge"}``: Asterisk rings the supervisor's browser phone."""
        allowed = self._allowed(request, LISTENERS)
        if isinstance(allowed, web.Response):
            return allowed
        actor, target = allowed
        body = await json_object(request)
        mode = body.get("mode") if body else None
        if not isinstance(mode, str) or mode not in SPY_OPTIONS:
            return error(400, "invalid_mode", f"mode must be one of: {', '.join(SPY_OPTIONS)}")
        if target.id == actor.id:
            return error(400, "own_call", "you cannot listen to your own call")
        if self.agents.state(target).state != ON_CALL:
            return error(409, "not_on_call", f"{target.id} has no call in progress")
        channel = spy_target(target, self.legs.leg(target), self.floor.roster())
        if channel is None:
            return error(409, "call_unknown", f"the channel of {target.id}'s call is not known: try on the next call")
        if self.console.phones.current(actor) is None:
            return error(409, "no_phone", "your browser phone is not signed in: keep the console (/) open in a tab")
        try:
            await start_spy(self.agents.client, actor, target, channel, mode)
        except SpyRefused as failure:
            return error(503, "asterisk_refused", f"Asterisk did not take it: {failure}")
        self.console.sessions.audit(actor.id, "spy", {"target": target.id, "mode": mode, "channel": channel})
        return web.json_response({"ok": True, "mode": mode, "target": target.id, "phone": actor.sip_user})


def _without_drift(picture: dict[str, Any]) -> dict[str, Any]:
    """The picture without what changes by itself (its time, waits growing): the page counts those on.
    Who waits longest is kept (as when they came, to the second): a new longest waiter is a change."""
    at = picture["at"]
    stable = {key: value for key, value in picture.items() if key not in ("at", "longest_wait")}
    stable["queues"] = [
        {**{k: v for k, v in queue.items() if k != "longest_wait"}, "oldest": round(at - queue["longest_wait"])}
        for queue in picture["queues"]
    ]
    return stable
