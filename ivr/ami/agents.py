"""Operators' ACD actions through AMI: log in to their queues, pause with a reason, wrap-up, log out.

Asterisk holds the state (``ivr.ami.live`` mirrors it; ``ivr.operators.states`` reads it). What each
operator asked for is also kept (``Positions``) for one reason: a restarted Asterisk has forgotten
its dynamic members, and an operator who was taking calls must be taking calls again without
noticing — never silently logged out. Members are added with their phone as the state interface,
so app_queue rings only a registered, idle phone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Protocol

import structlog

from ivr.ami.client import AmiClient, AmiError
from ivr.ami.live import LiveQueues
from ivr.config.roster import Operator
from ivr.operators.states import NO_ANSWER_REASON, PAUSE_REASONS, PAUSED, WRAPUP_REASON, AgentState, agent_state
from ivr.store.console import Position

log = structlog.get_logger("ivr.ami")


class Positions(Protocol):
    def set_position(self, position: Position, now: float) -> None: ...

    def positions(self) -> dict[str, Position]: ...


class AgentActionFailed(Exception):
    code = "asterisk_refused"


class Agents:
    def __init__(
        self,
        client: AmiClient,
        live: LiveQueues,
        roster: Callable[[], Mapping[str, Operator]],
        positions: Positions,
    ) -> None:
        self.client = client
        self.live = live
        self.roster = roster
        self.positions = positions
        self._wrapups: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        live.resynced.append(self._after_resync)

    def state(self, operator: Operator) -> AgentState:
        return agent_state(self.live.memberships(operator.interface))

    def operator_for(self, interface: str) -> Operator | None:
        return next((op for op in self.roster().values() if op.interface == interface), None)

    async def available(self, operator: Operator) -> None:
        """In all my queues and not paused (also: ends a pause or a wrap-up early)."""
        self._cancel_wrapup(operator.id)
        await self._join(operator, paused_reason="")
        await self._pause(operator, paused=False)
        self._remember(operator, True, "")

    async def pause(self, operator: Operator, reason: str) -> None:
        if reason not in (*PAUSE_REASONS, WRAPUP_REASON, NO_ANSWER_REASON):
            raise ValueError(f"unknown pause reason {reason!r} (known: {', '.join(PAUSE_REASONS)})")
        self._cancel_wrapup(operator.id)
        await self._join(operator, paused_reason=reason)
        await self._pause(operator, paused=True, reason=reason)
        self._remember(operator, True, reason)

    async def pause_in_place(self, operator: Operator, reason: str) -> None:
        """Pause only where the operator is a member now (joins nothing): for a pause the service
        decides, which must never put someone back in a queue they left."""
        self._cancel_wrapup(operator.id)
        await self._pause(operator, paused=True, reason=reason)
        self._remember(operator, True, reason)

    async def logout(self, operator: Operator) -> None:
        self._cancel_wrapup(operator.id)
        for queue, _member in self.live.memberships(operator.interface):
            await self._act({"Action": "QueueRemove", "Queue": queue, "Interface": operator.interface})
        self._remember(operator, False, "")

    async def start_wrapup(self, operator: Operator, seconds: float) -> None:
        """After a call: paused as ``Wrap-up`` for ``seconds``, then available by itself."""
        memberships = self.live.memberships(operator.interface)
        # Logged out, or paused during the call (Sholat...): that pause starts now, not a wrap-up ending in available.
        if not memberships or any(m.paused and m.paused_reason != WRAPUP_REASON for _queue, m in memberships):
            return
        await self._pause(operator, paused=True, reason=WRAPUP_REASON)
        self._schedule_wrapup_end(operator, seconds)
        # Kept like a pause: if our service and Asterisk restart together (a reboot), the timer is gone
        # and only this says she is still writing up the last call.
        self._remember(operator, True, WRAPUP_REASON)

    async def end_wrapup(self, operator: Operator) -> None:
        """Wrap-up over (its time, or the operator's key): available again, unless they paused meanwhile."""
        # Only a wrap-up we started (its timer is the record: a pause through us cancels it, while
        # Asterisk's event may still show the wrap-up), and not one a pause made in Asterisk replaced.
        handle = self._wrapups.pop(operator.id, None)
        if handle is None:
            return
        handle.cancel()
        state = self.state(operator)
        if state.state == PAUSED and state.reason != WRAPUP_REASON:
            return
        await self._pause(operator, paused=False)
        self._remember(operator, True, "")

    def wrapup_ends_at(self, operator_id: str) -> float | None:
        """When the running wrap-up ends, as Unix seconds (what the console counts down to)."""
        handle = self._wrapups.get(operator_id)
        if handle is None:
            return None
        return time.time() + max(0.0, handle.when() - asyncio.get_running_loop().time())

    async def _join(self, operator: Operator, paused_reason: str) -> None:
        present = {queue for queue, _member in self.live.memberships(operator.interface)}
        for queue in operator.queues:
            if queue in present:
                continue
            fields = {
                "Action": "QueueAdd",
                "Queue": queue,
                "Interface": operator.interface,
                "StateInterface": operator.interface,
                "MemberName": operator.name,
                "Paused": "true" if paused_reason else "false",
            }
            if paused_reason:
                fields["Reason"] = paused_reason
            await self._act(fields)

    async def _pause(self, operator: Operator, paused: bool, reason: str = "") -> None:
        # Without a Queue: every queue this interface is a member of, in one action.
        fields = {"Action": "QueuePause", "Interface": operator.interface, "Paused": "true" if paused else "false"}
        if reason:
            fields["Reason"] = reason
        await self._act(fields)

    async def _act(self, fields: dict[str, str]) -> None:
        try:
            reply = await self.client.action(fields)
        except AmiError as error:
            raise AgentActionFailed(f"{fields['Action']}: {error}") from error
        response = str(reply.get("Response", ""))
        message = str(reply.get("Message", ""))
        # Adding a member that is already there is what we wanted.
        if response != "Success" and "Already there" not in message:
            raise AgentActionFailed(f"{fields['Action']}: {message or response}")
        log.info("agent_action", action=fields["Action"], interface=fields["Interface"], reason=fields.get("Reason"))

    def _remember(self, operator: Operator, logged_in: bool, reason: str) -> None:
        self.positions.set_position(Position(operator.id, logged_in, reason), time.time())

    def _schedule_wrapup_end(self, operator: Operator, seconds: float) -> None:
        self._cancel_wrapup(operator.id)
        loop = asyncio.get_running_loop()
        self._wrapups[operator.id] = loop.call_later(seconds, lambda: self._spawn(self._wrapup_over(operator)))

    async def _wrapup_over(self, operator: Operator) -> None:
        try:
            await self.end_wrapup(operator)
            log.info("wrapup_ended", operator=operator.id, by="timer")
        except AgentActionFailed as error:
            log.error("wrapup_end_failed", operator=operator.id, error=str(error))

    def _cancel_wrapup(self, operator_id: str) -> None:
        handle = self._wrapups.pop(operator_id, None)
        if handle is not None:
            handle.cancel()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("agent_task_failed", error=repr(task.exception()))

    def _after_resync(self) -> None:
        self._spawn(self.restore())

    async def restore(self, default_wrapup: float = 30.0) -> None:
        """Make Asterisk hold what operators asked for, where it has forgotten it (it restarted).

        Memberships Asterisk still has are left as they are: it is the truth about them. An operator
        in wrap-up comes back paused for it, not available (her stored position says so, as does a
        timer still running when only Asterisk restarted): no call rings an operator writing up the
        last. A wrap-up found without its timer (our service restarted) gets a fresh one.
        """
        roster = self.roster()
        for operator_id, position in sorted(self.positions.positions().items()):
            operator = roster.get(operator_id)
            if operator is None or not position.logged_in:
                continue
            try:
                if self.live.memberships(operator.interface):
                    in_wrapup = self.state(operator).reason == WRAPUP_REASON
                else:
                    reason = position.paused_reason  # a running wrap-up is stored as one (start_wrapup)
                    await self._join(operator, paused_reason=reason)
                    log.warning("operator_restored_to_queues", operator=operator.id, paused=reason)
                    # From what we asked, not the mirror: Asterisk's events of the join may come after its reply.
                    in_wrapup = reason == WRAPUP_REASON
                if in_wrapup and operator.id not in self._wrapups:
                    self._schedule_wrapup_end(operator, default_wrapup)
            except AgentActionFailed as error:
                log.error("operator_restore_failed", operator=operator.id, error=str(error))

    async def close(self) -> None:
        # Closed is deaf: a resync after this restores nothing on our behalf.
        if self._after_resync in self.live.resynced:
            self.live.resynced.remove(self._after_resync)
        for handle in self._wrapups.values():
            handle.cancel()
        self._wrapups.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
