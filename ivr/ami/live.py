"""Live queue and member state from AMI events, resynced with QueueStatus at every (re)login.

Routing reads ``snapshot()``; while AMI is down it returns None and routing relies on the queues'
own joinempty/leavewhenempty rules in Asterisk, which overflow the caller the same way.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import structlog

from ivr.ami.client import AmiClient, AmiError
from ivr.ami.operators import is_simulated
from ivr.routing.decide import QueueState

log = structlog.get_logger("ivr.ami")

# AST_DEVICE_* values a member can have and still take calls (unknown: Local channels report it).
READY_STATUSES = {"0", "1", "2", "3", "6", "7", "8"}


@dataclass
class Member:
    interface: str
    name: str = ""
    paused: bool = False
    status: str = "0"

    @property
    def ready(self) -> bool:
        return not self.paused and self.status in READY_STATUSES


@dataclass
class QueueView:
    members: dict[str, Member] = field(default_factory=dict)
    waiting: int = 0


class LiveQueues:
    def __init__(self, client: AmiClient) -> None:
        self.client = client
        self.queues: dict[str, QueueView] = {}
        self.synced = False
        self._resync_task: asyncio.Task[None] | None = None
        for event in (
            "QueueMemberAdded",
            "QueueMemberStatus",
            "QueueMemberPause",
            "QueueMemberRemoved",
            "QueueCallerJoin",
            "QueueCallerLeave",
            "QueueCallerAbandon",
        ):
            client.on(event, self._on_event)
        client.on_ready(self._schedule_resync)

    def snapshot(self) -> dict[str, QueueState] | None:
        if not (self.synced and self.client.ready):
            return None
        return {
            name: QueueState(name, len(view.members), sum(m.ready for m in view.members.values()), view.waiting)
            for name, view in self.queues.items()
        }

    def _on_event(self, fields: dict[str, str]) -> None:
        queue = fields.get("Queue", "")
        if not queue:
            return
        view = self.queues.setdefault(queue, QueueView())
        name = fields.get("Event", "")
        if name.startswith("QueueCaller"):
            if "Count" in fields:
                view.waiting = int(fields["Count"] or 0)
            return
        interface = fields.get("Interface", "")
        if name == "QueueMemberRemoved":
            view.members.pop(interface, None)
            return
        member = view.members.setdefault(interface, Member(interface))
        member.name = fields.get("MemberName", member.name)
        member.paused = fields.get("Paused", "1" if member.paused else "0") == "1"
        member.status = fields.get("Status", member.status)

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
        for message in replies:
            event = str(message.get("Event", ""))
            queue = str(message.get("Queue", ""))
            if event == "QueueParams":
                fresh.setdefault(queue, QueueView()).waiting = int(message.get("Calls", 0) or 0)
            elif event == "QueueMember":
                interface = str(message.get("Location", "") or message.get("StateInterface", ""))
                fresh.setdefault(queue, QueueView()).members[interface] = Member(
                    interface,
                    str(message.get("Name", "")),
                    str(message.get("Paused", "0")) == "1",
                    str(message.get("Status", "0")),
                )
        self.queues = fresh
        self.synced = True
        log.info("ami_queues_resynced", queues=len(fresh), members=sum(len(v.members) for v in fresh.values()))
        self.log_staffing()

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
