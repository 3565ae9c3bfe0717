"""Live queue and member state from AMI events, resynced with QueueStatus at every (re)login, and who
is on a call audited against QueueStatus every AUDIT_EVERY seconds (Asterisk's word wins where the
events left the picture wrong: each such correction is logged).

Routing reads ``snapshot()``; while AMI is down it returns None and routing relies on the queues'
own joinempty/leavewhenempty rules in Asterisk, which overflow the caller the same way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from ivr.ami.client import AmiClient, AmiError
from ivr.ami.operators import is_simulated
from ivr.ami.service_events import LIVE_QUEUE_EVENTS
from ivr.operators.states import DEVICE_NOT_INUSE, DEVICE_ON_CALL
from ivr.routing.decide import QueueState

log = structlog.get_logger("ivr.ami")

# AST_DEVICE_* values a member can have and still take calls (unknown: Local channels report it).
READY_STATUSES = {"0", "1", "2", "3", "6", "7", "8"}
# How often the picture of who is on a call is held against Asterisk's own (QueueStatus), and how long
# the picture must have heard nothing of a member before Asterisk's word overrules it: QueueStatus is
# read a moment after we ask, and app_queue records a call just after it announces AgentConnect.
AUDIT_EVERY = 30.0
AUDIT_MARGIN = 2.0


@dataclass
class Member:
    interface: str
    name: str = ""
    paused: bool = False
    status: str = "0"
    paused_reason: str = ""
    in_call: bool = False
    # This member's legs on a call, from app_queue's AgentConnect until AgentComplete/AgentDump: each by
    # the leg's own uniqueid (DestUniqueid), which those events always carry, where the caller's fields
    # are missing when the caller's channel was gone before app_queue built the event.
    connected_to: set[str] = field(default_factory=set)
    # When an event last told us about this member (time.monotonic): the audit leaves recent news alone.
    heard_at: float = 0.0

    @classmethod
    def from_status(cls, message: Mapping[str, Any]) -> Member:
        """A member as QueueStatus reports it (its QueueMember message)."""
        paused = str(message.get("Paused", "0")) == "1"
        return cls(
            str(message.get("Location", "") or message.get("StateInterface", "")),
            str(message.get("Name", "")),
            paused,
            str(message.get("Status", "0")),
            str(message.get("PausedReason", "")) if paused else "",
            str(message.get("InCall", "0")) == "1",
        )

    @property
    def ready(self) -> bool:
        return not self.paused and self.status in READY_STATUSES

    @property
    def on_call(self) -> bool:
        """On a call, of this queue or any other: the phone's device state (in use, busy, on hold) is what
        Asterisk 22 announces when a queue call connects (measured with Local members: no event carries
        InCall then); app_queue's InCall, from QueueStatus or a later event, covers an untracked device.

        Except for a Local channel member (the simulated operators): its device state says "in use" from
        the moment app_queue rings it, and says "not in use" again only after the ring has ended, when
        the next caller may already be routed: ringall would make a whole queue look busy for one caller
        (the standby test's burst sent a kejahatan caller to q112 so). For it, app_queue's own events
        say when it is on a call of this queue."""
        if self.interface.startswith("Local/"):
            return self.in_call or bool(self.connected_to)
        return self.in_call or self.status in DEVICE_ON_CALL


@dataclass
class QueueView:
    members: dict[str, Member] = field(default_factory=dict)
    waiting: int = 0
    # Callers waiting now: uniqueid -> when they joined (monotonic seconds), for the longest wait.
    callers: dict[str, float] = field(default_factory=dict)

    def state(self, name: str) -> QueueState:
        """What routing reads of this queue."""
        ready = [member for member in self.members.values() if member.ready]
        return QueueState(name, len(self.members), len(ready), self.waiting, sum(m.on_call for m in ready))

    def longest_wait(self, now: float) -> float:
        return max((now - joined for joined in self.callers.values()), default=0.0)


class LiveQueues:
    def __init__(self, client: AmiClient) -> None:
        self.client = client
        self.queues: dict[str, QueueView] = {}
        self.synced = False
        self._resync_task: asyncio.Task[None] | None = None
        # Called after every change (an event or a resync): the console pushes the new picture.
        self.listeners: list[Callable[[], None]] = []
        # Called after each full resync (a restarted Asterisk has forgotten its dynamic members).
        self.resynced: list[Callable[[], None]] = []
        # What routing reads, per queue, built again only for a queue that changed: at a surge every
        # caller's route asked for it, each time walking every member of every queue (0.8 ms of the event
        # loop a call, on the way from the caller's key to the route; py-spy, bench/results/surge.md).
        # None: all of it is to be built (a resync replaced every queue).
        self._states: dict[str, QueueState] | None = None
        for event in LIVE_QUEUE_EVENTS:
            client.on(event, self._on_event)
        client.on_ready(self._schedule_resync)

    def snapshot(self) -> dict[str, QueueState] | None:
        if not (self.synced and self.client.ready):
            return None
        states = self._states if self._states is not None else {}
        if len(states) != len(self.queues):
            for name, view in self.queues.items():
                if name not in states:
                    states[name] = view.state(name)
        self._states = states
        return dict(states)  # QueueState is frozen; the dict is the caller's own

    def _on_event(self, fields: dict[str, str]) -> None:
        queue = fields.get("Queue", "")
        if not queue:
            return
        self._apply(self.queues.setdefault(queue, QueueView()), fields)
        if self._states is not None:
            self._states.pop(queue, None)
        self._changed()

    @staticmethod
    def _apply(view: QueueView, fields: dict[str, str]) -> None:
        name = fields.get("Event", "")
        if name.startswith("QueueCaller"):
            if "Count" in fields:
                view.waiting = int(fields["Count"] or 0)
            uniqueid = fields.get("Uniqueid", "")
            if name == "QueueCallerJoin":
                view.callers[uniqueid] = time.monotonic()
            else:
                view.callers.pop(uniqueid, None)
            return
        interface = fields.get("Interface", "")
        if name.startswith("Agent"):
            if (talking := view.members.get(interface)) is not None:
                talking.heard_at = time.monotonic()
                leg = fields.get("DestUniqueid") or fields.get("Uniqueid", "")
                if name == "AgentConnect":
                    talking.connected_to.add(leg)
                else:
                    talking.connected_to.discard(leg)
            return
        if name == "QueueMemberRemoved":
            view.members.pop(interface, None)
            return
        member = view.members.setdefault(interface, Member(interface))
        member.heard_at = time.monotonic()
        member.name = fields.get("MemberName", member.name)
        member.paused = fields.get("Paused", "1" if member.paused else "0") == "1"
        member.status = fields.get("Status", member.status)
        member.paused_reason = fields.get("PausedReason", member.paused_reason) if member.paused else ""
        member.in_call = fields.get("InCall", "1" if member.in_call else "0") == "1"
        if name == "QueueMemberStatus" and member.status == DEVICE_NOT_INUSE:
            # The seat's device is idle: no call of this seat is up, whatever app_queue did not say. A call
            # can end without AgentComplete (app_queue hears only hangups made after it subscribed to the
            # call, just after AgentConnect; a caller gone while the operator's leg ran the membergosub is
            # bridged dead and torn down unheard), and this event is then Asterisk's only word on its end.
            # It cannot belong to a call before the next: with ringinuse = no, app_queue rings the seat
            # again only once it has taken (and announced) this idle state.
            member.connected_to.clear()

    def memberships(self, interface: str) -> list[tuple[str, Member]]:
        """Where ``interface`` is a member now: (queue, member) pairs."""
        return [
            (name, view.members[interface]) for name, view in sorted(self.queues.items()) if interface in view.members
        ]

    def _changed(self) -> None:
        for listener in list(self.listeners):
            listener()

    def _schedule_resync(self) -> None:
        if self._resync_task is None or self._resync_task.done():
            self._resync_task = asyncio.get_running_loop().create_task(self.resync())

    async def resync(self) -> None:
        """Rebuild everything from QueueStatus (after a login: Asterisk may have restarted)."""
        try:
            replies = await self.client.action({"Action": "QueueStatus"}, timeout=10.0, as_list=True)
        except AmiError as error:
            log.warning("ami_queue_resync_failed", error=str(error))
            return
        fresh: dict[str, QueueView] = {}
        now = time.monotonic()
        for message in replies:
            event = str(message.get("Event", ""))
            queue = str(message.get("Queue", ""))
            if event == "QueueParams":
                fresh.setdefault(queue, QueueView()).waiting = int(message.get("Calls", 0) or 0)
            elif event == "QueueEntry":
                wait = float(message.get("Wait", 0) or 0)
                fresh.setdefault(queue, QueueView()).callers[str(message.get("Uniqueid", ""))] = now - wait
            elif event == "QueueMember":
                member = Member.from_status(message)
                fresh.setdefault(queue, QueueView()).members[member.interface] = member
        self.queues = fresh
        self._states = None
        self.synced = True
        log.info("ami_queues_resynced", queues=len(fresh), members=sum(len(v.members) for v in fresh.values()))
        self.log_staffing()
        self._changed()
        for hook in list(self.resynced):
            hook()

    async def audit(self) -> int:
        """Hold who is on a call against Asterisk's QueueStatus, and take Asterisk's word for a member the
        picture has heard nothing of for AUDIT_MARGIN s: a call that ended without the events that say so
        (one app_queue never completed is mended in ``_apply``; this catches what is not known yet) would
        otherwise make its agency look busy, and pass its callers on, until the next login. Each
        correction is a warning with both sides: the evidence. Returns how many members it corrected."""
        if not (self.synced and self.client.ready):
            return 0
        asked = time.monotonic()
        try:
            replies = await self.client.action({"Action": "QueueStatus"}, timeout=10.0, as_list=True)
        except AmiError as error:
            log.warning("ami_queue_audit_failed", error=str(error))
            return 0
        corrected = 0
        for message in replies:
            if str(message.get("Event", "")) != "QueueMember":
                continue
            queue, asterisk = str(message.get("Queue", "")), Member.from_status(message)
            view = self.queues.get(queue)
            ours = view.members.get(asterisk.interface) if view is not None else None
            if ours is None or ours.heard_at > asked - AUDIT_MARGIN or ours.on_call == asterisk.on_call:
                continue
            log.warning(
                "ami_live_member_corrected",
                queue=queue,
                member=asterisk.interface,
                on_call=ours.on_call,
                in_call=ours.in_call,
                connected_to=sorted(ours.connected_to),
                status=ours.status,
                asterisk_in_call=asterisk.in_call,
                asterisk_status=asterisk.status,
                unheard_s=round(asked - ours.heard_at, 1),
            )
            ours.in_call, ours.status, ours.connected_to = asterisk.in_call, asterisk.status, set()
            if self._states is not None:
                self._states.pop(queue, None)
            corrected += 1
        if corrected:
            self._changed()
        return corrected

    async def audit_forever(self, every: float = AUDIT_EVERY) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.audit()
            except Exception:
                # An unexpected reply must not end the audits for the life of the service.
                log.exception("ami_queue_audit_crashed")

    def log_staffing(self) -> None:
        """Per queue, who could answer: a queue with no real member is said loudly, at every resync."""
        for name, view in sorted(self.queues.items()):
            simulated = sum(is_simulated(interface) for interface in view.members)
            real = len(view.members) - simulated
            ready = sum(member.ready for member in view.members.values() if not is_simulated(member.interface))
            if real == 0:
                log.warning(
                    "queue_unstaffed",
                    queue=name,
                    real_members=0,
                    simulated_members=simulated,
                    note="no real operator logged in: callers routed here overflow or wait",
                )
            else:
                log.info("queue_staffing", queue=name, real_members=real, ready=ready, simulated_members=simulated)

    async def close(self) -> None:
        if self._resync_task is not None:
            self._resync_task.cancel()
            await asyncio.gather(self._resync_task, return_exceptions=True)
