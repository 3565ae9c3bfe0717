"""A protocol fake of Asterisk 22's app_queue as one AMI connection sees it (``ivr.ami.client.AmiClient``'s surface).

What it models, from Asterisk's documentation of the actions and events (docs.asterisk.org, Asterisk 20
and Certified 22.8 API pages) and app_queue.c's manager handlers:

- the AmiClient surface our code uses: ``on(event, cb)`` (or ``"*"``), ``on_ready(hook)`` (called at
  once when already booted, and after each FullyBooted), ``ready``, ``await action(fields, timeout,
  as_list)``; an action while not booted waits for the boot and times out with ``AmiTimeout``;
- queues (fixed, from the rendered queues.conf) and dynamic members (``persistentmembers = no``);
- QueueAdd (Queue, Interface, StateInterface, MemberName, Paused true/false/1/0, Reason), QueueRemove,
  QueuePause (with or without Queue: without it, every queue the interface is in; a pause without a
  Reason clears the old one, as ``set_queue_member_pause`` does), QueueStatus (optional Queue/Member
  filter; ``as_list`` gives the Response, QueueParams, QueueMember and QueueEntry messages and
  QueueStatusComplete, as panoramisk returns them), each answering ``Response: Success|Error`` with
  Asterisk's own ``Message`` texts ("Added interface to queue", "Unable to add interface: Already
  there", "Unable to add interface to queue: No such queue", "Unable to remove interface: Not there",
  "Interface paused successfully", "Interface not found", ...); replies are Mappings that are not
  dicts (``AmiReply``), as panoramisk's ``Message`` is;
- member events with the fields Asterisk 22 sends (QueueMemberAdded/Pause/Status/Removed: Queue,
  MemberName, Interface, StateInterface, Membership, Penalty, CallsTaken, LastCall, LastPause,
  LoginTime, InCall, Status, Paused, PausedReason, Ringinuse, Wrapuptime);
- the device state of each state interface (AST_DEVICE_* numbers; default "1", a registered idle
  phone): a change emits QueueMemberStatus for every membership with that state interface;
- a call through a queue, driven by the test: ``join`` (QueueCallerJoin with the caller's channel
  snapshot, Position, Count), ``ring`` (AgentCalled with the caller's Uniqueid/CallerIDNum/
  CallerIDName and the member's Dest* snapshot, then Status 6; the member's channel keeps its name,
  e.g. ``PJSIP/op-budi-00000003``, in every Agent* event of that call), ``connect`` (QueueCallerLeave,
  AgentConnect, Status 2 with InCall 1 in the call's queue), ``complete`` (AgentComplete with Reason,
  then Status 1, InCall 0), ``end_unheard`` (no AgentComplete: Status 1 with InCall 0 is all that
  says the call ended), ``operator_phone_lost`` (that, then the dialplan's pause and requeue
  event, see there), ``ring_no_answer`` (AgentRingNoAnswer, Status 1), ``abandon``
  (QueueCallerAbandon, QueueCallerLeave, ringing members back to Status 1);
- Bridge (a warm transfer's completion): refused as features.c's action_bridge refuses a missing or
  unknown channel; what Asterisk does next (both app_queue calls end) the test drives with ``complete``;
- ``restart()``: Shutdown, every member and waiting caller forgotten, then FullyBooted and the ready
  hooks (what our client sees across an Asterisk restart and AMI re-login);
- Originate with an Application (a supervisor's ChanSpy call), checked as manager.c checks it: the
  account needs the ``originate`` write class, and also ``system`` when the application's name holds one
  of ``ORIGINATE_SYSTEM_APPS`` (any case) or its data one of ``ORIGINATE_SYSTEM_DATA`` (exact case)
  (``is_originate_app_permitted`` in Asterisk 22's main/manager.c); ``write`` gives the account's classes.
  The call itself is not placed: ``sent("Originate")`` says what was asked.

What it does not model: ring strategies, penalties, timeouts and retries (the test says whom to ring;
ringing a member app_queue would skip — paused, busy, not in the queue — is an AssertionError, so a
test cannot pass on a call Asterisk would never make); static or realtime members; ActionID
correlation; the exact interleaving of device-state events with the Agent* events (real Asterisk
publishes them from different threads: here the order is fixed and listed above). By default the
events an action causes reach listeners before its response; with ``events_first=False`` they come
after it, on a later loop iteration, as a real connection often shows them, and events of a call
driven meanwhile queue behind them (AMI is one ordered stream). Tests run both ways.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ivr.ami.client import AmiTimeout

EventCallback = Callable[[dict[str, str]], None]
T = TypeVar("T")

# AST_DEVICE_* as app_queue reports them in Status.
NOT_INUSE, INUSE, RINGING, UNAVAILABLE = "1", "2", "6", "5"
_RINGABLE = {"0", NOT_INUSE}  # ringinuse = no: app_queue rings only an idle (or unknown) device
# Asterisk 22 main/manager.c, originate_app_permissions: what makes an Originate need `system`.
ORIGINATE_SYSTEM_APPS = ("agi", "dbdeltree", "exec", "externalivr", "mixmonitor", "originate", "reload", "system")
ORIGINATE_SYSTEM_DATA = ("CURL", "DB", "EVAL", "FILE", "ODBC", "REALTIME", "SHELL")


def ast_true(value: str) -> bool:
    """Asterisk's ``ast_true``: how QueueAdd/QueuePause read ``Paused``."""
    return value.strip().lower() in {"yes", "true", "y", "t", "1", "on"}


@dataclass
class FakeMember:
    queue: str
    interface: str
    state_interface: str
    name: str
    paused: bool = False
    paused_reason: str = ""
    in_call: bool = False
    calls_taken: int = 0
    last_call: int = 0
    last_pause: int = 0
    login_time: int = 0


@dataclass
class FakeCaller:
    uniqueid: str
    queue: str
    number: str
    name: str
    joined: float
    ringing: set[str] = field(default_factory=set)
    rang_at: dict[str, float] = field(default_factory=dict)
    channel: str = ""  # default: a trunk channel named after the uniqueid
    variable: str = ""  # one of manager.conf's channelvars, "NAME=value" (AMI's ChanVariable)


@dataclass
class FakeQueue:
    name: str
    members: dict[str, FakeMember] = field(default_factory=dict)
    callers: list[FakeCaller] = field(default_factory=list)
    completed: int = 0
    abandoned: int = 0


class FakeAppQueue:
    """Asterisk 22's app_queue behind one AMI connection (see the module docstring for the scope)."""

    def __init__(
        self,
        queues: Iterable[str],
        *,
        events_first: bool = True,
        ready: bool = True,
        write: Iterable[str] = ("agent", "originate"),
    ) -> None:
        self.queues: dict[str, FakeQueue] = {name: FakeQueue(name) for name in queues}
        self.write = frozenset(write)
        self.devices: dict[str, str] = {}
        self.events_first = events_first
        self.actions: list[dict[str, str]] = []
        # Channel variables set over AMI (Setvar): (channel, variable) -> value.
        self.variables: dict[tuple[str, str], str] = {}
        self.events: list[dict[str, str]] = []
        self.listener_errors: list[Exception] = []
        self._listeners: list[tuple[str, EventCallback]] = []
        self._ready_hooks: list[Callable[[], None]] = []
        self._booted = asyncio.Event()
        if ready:
            self._booted.set()
        self._refusals: dict[str, str] = {}
        # Events not yet delivered (events_first=False): one ordered stream, as AMI is.
        self._pending: list[dict[str, str]] = []
        self._connected: dict[str, tuple[str, str, float]] = {}  # uniqueid -> (queue, interface, answered)
        self._talking: dict[str, FakeCaller] = {}  # answered callers, by uniqueid
        self._channel_seq = 0
        # The member's channel of each (call, member) pair, from the ring to the end: one name throughout,
        # as app_queue's outgoing channel has (AgentCalled, AgentConnect and AgentComplete all name it).
        self._legs: dict[tuple[str, str], int] = {}

    # The AmiClient surface
    def on(self, event: str, callback: EventCallback) -> Callable[[], None]:
        entry = (event, callback)
        self._listeners.append(entry)
        return lambda: self._listeners.remove(entry) if entry in self._listeners else None

    def on_ready(self, hook: Callable[[], None]) -> None:
        self._ready_hooks.append(hook)
        if self.ready:
            hook()

    @property
    def ready(self) -> bool:
        return self._booted.is_set()

    async def action(self, fields: dict[str, Any], timeout: float = 5.0, as_list: bool = False) -> Any:
        if not self.ready:
            try:
                await asyncio.wait_for(self._booted.wait(), timeout)
            except TimeoutError as error:
                raise AmiTimeout(f"AMI not connected for {fields.get('Action')}") from error
        request = {str(key): str(value) for key, value in fields.items()}
        self.actions.append(request)
        name = request.get("Action", "")
        events: list[dict[str, str]] = []
        refusal = self._refusals.pop(name, None)
        if refusal is not None:
            reply: Any = _error(refusal)
        elif name == "QueueAdd":
            reply = self._queue_add(request, events)
        elif name == "QueueRemove":
            reply = self._queue_remove(request, events)
        elif name == "QueuePause":
            reply = self._queue_pause(request, events)
        elif name == "QueueStatus":
            replies = self._queue_status(request)
            reply = replies if as_list else replies[0]
        elif name == "Originate":
            reply = self._originate(request)
        elif name == "Bridge":
            reply = self._bridge(request)
        elif name == "Setvar":
            reply = self._setvar(request)
        else:
            reply = _error(f"Invalid/unknown command: {name}. Use Action: ListCommands to show available commands.")
        self._deliver(events, later=not self.events_first)
        return [AmiReply(part) for part in reply] if isinstance(reply, list) else AmiReply(reply)

    # What a test reads
    def sent(self, action: str) -> list[dict[str, str]]:
        """The actions of that name received so far, in order."""
        return [request for request in self.actions if request.get("Action") == action]

    def emitted(self, event: str) -> list[dict[str, str]]:
        return [fields for fields in self.events if fields.get("Event") == event]

    def memberships(self, interface: str) -> dict[str, FakeMember]:
        """Where ``interface`` is a member in Asterisk now: queue name -> member."""
        return {name: q.members[interface] for name, q in sorted(self.queues.items()) if interface in q.members}

    def device(self, state_interface: str) -> str:
        return self.devices.get(state_interface, NOT_INUSE)

    def refuse_next(self, action: str, message: str) -> None:
        """The next ``action`` answers ``Response: Error`` with ``message`` (a fault Asterisk can report)."""
        self._refusals[action] = message

    # Driving a call
    def set_device(self, state_interface: str, status: str) -> None:
        """The phone's device state changed (registered, unregistered, ringing, in use). app_queue's
        update_status announces a member only when its status changes (no InCall news otherwise)."""
        if self.devices.get(state_interface) == status:
            return
        self.devices[state_interface] = status
        for queue in sorted(self.queues.values(), key=lambda q: q.name):
            for member in queue.members.values():
                if member.state_interface == state_interface:
                    if status == NOT_INUSE:
                        member.in_call = False  # update_status: an idle device's call is over (InCall 0)
                    self._emit("QueueMemberStatus", self._member_fields(member))

    def join(
        self, uniqueid: str, queue: str, number: str, name: str = "", channel: str = "", variable: str = ""
    ) -> None:
        """A caller enters ``queue`` (Queue() in the dialplan); ``channel`` and ``variable`` as FakeCaller's."""
        target = self.queues[queue]
        caller = FakeCaller(uniqueid, queue, number, name, time.time(), channel=channel, variable=variable)
        target.callers.append(caller)
        position = len(target.callers)
        self._emit(
            "QueueCallerJoin",
            {**self._caller_channel(caller), "Queue": queue, "Position": str(position), "Count": str(position)},
        )

    def ring(self, uniqueid: str, interface: str, device_while_ringing: str = RINGING) -> None:
        """app_queue rings ``interface`` for the caller (AgentCalled, then the phone rings). A PJSIP
        phone's device state says ringing; a Local channel member's says in use (``INUSE``)."""
        caller = self._caller(uniqueid)
        member = self.queues[caller.queue].members.get(interface)
        assert member is not None, f"app_queue cannot ring {interface}: not a member of {caller.queue}"
        assert not member.paused, f"app_queue never rings a paused member ({interface}: {member.paused_reason!r})"
        status = self.device(member.state_interface)
        assert status in _RINGABLE, f"app_queue (ringinuse=no) does not ring {interface} in device state {status}"
        caller.ringing.add(interface)
        caller.rang_at[interface] = time.time()
        self._emit(
            "AgentCalled",
            {
                **self._caller_channel(caller),
                **self._dest_channel(member, "0", uniqueid),
                "Queue": caller.queue,
                "MemberName": member.name,
                "Interface": interface,
            },
        )
        self.set_device(member.state_interface, device_while_ringing)

    def connect(self, uniqueid: str, interface: str) -> None:
        """The operator answers: the caller leaves the queue and is bridged to them."""
        caller = self._caller(uniqueid)
        assert interface in caller.ringing, f"{interface} is not ringing for {uniqueid}"
        queue = self.queues[caller.queue]
        position = queue.callers.index(caller) + 1
        queue.callers.remove(caller)
        member = queue.members[interface]
        now = time.time()
        ring_time = now - caller.rang_at[interface]
        self._connected[uniqueid] = (caller.queue, interface, now)
        self._talking[uniqueid] = caller
        self._emit(
            "QueueCallerLeave",
            {
                **self._caller_channel(caller),
                "Queue": caller.queue,
                "Count": str(len(queue.callers)),
                "Position": str(position),
            },
        )
        self._emit(
            "AgentConnect",
            {
                **self._caller_channel(caller),
                **self._dest_channel(member, "6", uniqueid),
                "Queue": caller.queue,
                "MemberName": member.name,
                "Interface": interface,
                "RingTime": str(round(ring_time)),
                "HoldTime": str(round(now - caller.joined)),
            },
        )
        member.in_call = True
        for other in list(caller.ringing - {interface}):
            # ringall: the other phones stop ringing
            self._legs.pop((uniqueid, other), None)
            self.set_device(queue.members[other].state_interface, NOT_INUSE)
        caller.ringing.clear()
        self.set_device(member.state_interface, INUSE)

    def complete(
        self,
        uniqueid: str,
        interface: str,
        reason: str = "caller",
        leg_moved: bool = False,
        caller_gone: bool = False,
        idle_first: bool = False,
    ) -> None:
        """The call ends (Reason: caller | agent | transfer). ``leg_moved``: the member's leg lives on in
        another bridge (AMI Bridge moved it there before the queue call's caller hung up): its phone
        stays in use, and no device state event comes. ``caller_gone``: the caller's channel was
        destroyed before app_queue built the event, which then has none of the caller's fields
        (send_agent_complete with a NULL caller snapshot; seen on 22.10.1 when a consultation ended).
        ``idle_first``: the phone's device state (QueueMemberStatus) is reported before AgentComplete;
        Asterisk publishes them from different threads, so on a busy machine they may come in this order
        (what best explains a cancelled consultation's wrap-up seen once in the e2e test under load)."""
        queue_name, connected_to, answered = self._connected.pop(uniqueid)
        assert connected_to == interface, f"{uniqueid} is connected to {connected_to}, not {interface}"
        queue = self.queues[queue_name]
        member = queue.members[interface]
        now = time.time()
        caller = self._talking.pop(uniqueid)
        if idle_first and not leg_moved:
            self.set_device(member.state_interface, NOT_INUSE)
        self._emit(
            "AgentComplete",
            {
                **({} if caller_gone else self._caller_channel(caller)),
                **self._dest_channel(member, "6", uniqueid),
                "Queue": queue_name,
                "MemberName": member.name,
                "Interface": interface,
                "HoldTime": "0",
                "TalkTime": str(round(now - answered)),
                "Reason": reason,
            },
        )
        self._legs.pop((uniqueid, interface), None)
        member.in_call = False
        member.calls_taken += 1
        member.last_call = int(now)
        queue.completed += 1
        if not leg_moved and not idle_first:
            self.set_device(member.state_interface, NOT_INUSE)

    def end_unheard(self, uniqueid: str, interface: str) -> None:
        """The call ends and app_queue never says so: no AgentComplete. Its handle_hangup hears only hangup
        requests made after try_calling subscribed to the call, right after AgentConnect; a caller who
        hung up before (while the operator's leg ran the queue's membergosub) is bridged dead and torn
        down unheard (apps/app_queue.c, Asterisk 22). Only the seat's device going idle ends the call
        there: update_status clears it (InCall 0) and announces Status 1."""
        queue_name, connected_to, _answered = self._connected.pop(uniqueid)
        assert connected_to == interface, f"{uniqueid} is connected to {connected_to}, not {interface}"
        member = self.queues[queue_name].members[interface]
        self._talking.pop(uniqueid)
        self._legs.pop((uniqueid, interface), None)
        member.calls_taken += 1
        member.last_call = int(time.time())
        self.set_device(member.state_interface, NOT_INUSE)

    def ring_no_answer(self, uniqueid: str, interface: str, ring_ms: int | None = None) -> None:
        """The operator let it ring out (the queue's timeout; ``ring_ms``: how long, as app_queue says
        it in milliseconds, by default the time since it rang) or refused it: the caller stays queued."""
        caller = self._caller(uniqueid)
        assert interface in caller.ringing, f"{interface} is not ringing for {uniqueid}"
        member = self.queues[caller.queue].members[interface]
        caller.ringing.discard(interface)
        if ring_ms is None:
            ring_ms = round((time.time() - caller.rang_at[interface]) * 1000)
        self._emit(
            "AgentRingNoAnswer",
            {
                **self._caller_channel(caller),
                **self._dest_channel(member, "0", uniqueid),
                "Queue": caller.queue,
                "MemberName": member.name,
                "Interface": interface,
                "RingTime": str(
                    ring_ms if ring_ms is not None else round((time.time() - caller.rang_at[interface]) * 1000)
                ),
            },
        )
        self._legs.pop((uniqueid, interface), None)
        self.set_device(member.state_interface, NOT_INUSE)

    def operator_phone_lost(self, uniqueid: str, interface: str, reason: str) -> None:
        """What [siaga-operator-left] makes of an answered call whose operator's phone died (rtp_timeout):
        app_queue's AgentComplete (Reason agent), PauseQueueMember of that interface in every queue with
        ``reason``, then the SiagaRoute requeue event saying it paused. The pause is applied at once but
        its events reach the client a loop iteration later, behind anything our own actions cause
        meanwhile: the dialplan's pause races the wrap-up our service starts on the AgentComplete."""
        self.complete(uniqueid, interface, reason="agent")
        events = []
        for queue in sorted(self.queues.values(), key=lambda q: q.name):
            member = queue.members.get(interface)
            if member is not None:
                member.paused, member.paused_reason, member.last_pause = True, reason, int(time.time())
                events.append({"Event": "QueueMemberPause", **self._member_fields(member)})
        requeue = {"Action": "requeue", "From": interface, "Status": "44", "Hop": "1"}
        events.append(self._user_event("SiagaRoute", {**requeue, "Paused": "PAUSED" if events else "NOTFOUND"}))
        self._deliver(events, later=True)

    def user_event(self, name: str, **fields: str) -> None:
        """UserEvent(name,Key: value,...) from the dialplan."""
        self._deliver([self._user_event(name, fields)], later=False)

    @staticmethod
    def _user_event(name: str, fields: Mapping[str, str]) -> dict[str, str]:
        return {"Event": "UserEvent", "Privilege": "user,all", "UserEvent": name, **fields}

    def abandon(self, uniqueid: str) -> None:
        """The caller hangs up while waiting (or while an operator's phone rings)."""
        caller = self._caller(uniqueid)
        queue = self.queues[caller.queue]
        position = queue.callers.index(caller) + 1
        queue.callers.remove(caller)
        queue.abandoned += 1
        snapshot = self._caller_channel(caller)
        self._emit(
            "QueueCallerAbandon",
            {
                **snapshot,
                "Queue": caller.queue,
                "Position": str(position),
                "OriginalPosition": str(position),
                "HoldTime": str(round(time.time() - caller.joined)),
            },
        )
        self._emit(
            "QueueCallerLeave",
            {**snapshot, "Queue": caller.queue, "Count": str(len(queue.callers)), "Position": str(position)},
        )
        for interface in sorted(caller.ringing):
            self._legs.pop((uniqueid, interface), None)
            self.set_device(queue.members[interface].state_interface, NOT_INUSE)

    def restart(self) -> None:
        """Asterisk restarts: dynamic members and waiting callers are gone; AMI logs in again (FullyBooted)."""
        self._booted.clear()
        self._emit("Shutdown", {"Shutdown": "Cleanly", "Restart": "True"})
        for queue in self.queues.values():
            queue.members.clear()
            queue.callers.clear()
        self._connected.clear()
        self._talking.clear()
        self._legs.clear()
        self._booted.set()
        for hook in list(self._ready_hooks):
            hook()
        self._emit("FullyBooted", {"Status": "Fully Booted", "Uptime": "0", "LastReload": "0"})

    # app_queue's manager actions
    def _queue_add(self, request: dict[str, str], events: list[dict[str, str]]) -> dict[str, str]:
        queue_name, interface = request.get("Queue", ""), request.get("Interface", "")
        if not queue_name:
            return _error("'Queue' not specified.")
        if not interface:
            return _error("'Interface' not specified.")
        queue = self.queues.get(queue_name)
        if queue is None:
            return _error("Unable to add interface to queue: No such queue")
        if interface in queue.members:
            return _error("Unable to add interface: Already there")
        paused = ast_true(request.get("Paused", ""))
        now = int(time.time())
        member = FakeMember(
            queue_name,
            interface,
            request.get("StateInterface") or interface,
            request.get("MemberName") or interface,
            paused=paused,
            paused_reason=request.get("Reason", "") if paused else "",
            last_pause=now if paused else 0,
            login_time=now,
        )
        queue.members[interface] = member
        events.append({"Event": "QueueMemberAdded", **self._member_fields(member)})
        return _success("Added interface to queue")

    def _queue_remove(self, request: dict[str, str], events: list[dict[str, str]]) -> dict[str, str]:
        queue_name, interface = request.get("Queue", ""), request.get("Interface", "")
        if not queue_name or not interface:
            return _error("Need 'Queue' and 'Interface' parameters.")
        queue = self.queues.get(queue_name)
        if queue is None:
            return _error("Unable to remove interface from queue: No such queue")
        member = queue.members.pop(interface, None)
        if member is None:
            return _error("Unable to remove interface: Not there")
        events.append({"Event": "QueueMemberRemoved", **self._member_fields(member)})
        return _success("Removed interface from queue")

    def _queue_pause(self, request: dict[str, str], events: list[dict[str, str]]) -> dict[str, str]:
        interface, paused_value = request.get("Interface", ""), request.get("Paused", "")
        if not interface or not paused_value:
            return _error("Need 'Interface' and 'Paused' parameters.")
        paused, reason = ast_true(paused_value), request.get("Reason", "")
        queue_name = request.get("Queue", "")
        targets = [
            q.members[interface]
            for name, q in sorted(self.queues.items())
            if interface in q.members and (not queue_name or name == queue_name)
        ]
        if not targets:
            return _error("Interface not found")
        for member in targets:
            member.paused = paused
            member.paused_reason = reason if paused else ""
            if paused:
                member.last_pause = int(time.time())
            events.append({"Event": "QueueMemberPause", **self._member_fields(member)})
        return _success("Interface paused successfully" if paused else "Interface unpaused successfully")

    def _queue_status(self, request: dict[str, str]) -> list[dict[str, str]]:
        only_queue, only_member = request.get("Queue", ""), request.get("Member", "")
        replies: list[dict[str, str]] = [
            {"Response": "Success", "EventList": "start", "Message": "Queue status will follow"}
        ]
        now = time.time()
        for queue in sorted(self.queues.values(), key=lambda q: q.name):
            if only_queue and queue.name != only_queue:
                continue
            replies.append(
                {
                    "Event": "QueueParams",
                    "Queue": queue.name,
                    "Max": "0",
                    "Strategy": "ringall",
                    "Calls": str(len(queue.callers)),
                    "Holdtime": "0",
                    "TalkTime": "0",
                    "Completed": str(queue.completed),
                    "Abandoned": str(queue.abandoned),
                    "ServiceLevel": "0",
                    "ServicelevelPerf": "0.0",
                    "ServicelevelPerf2": "0.0",
                    "Weight": "0",
                }
            )
            for member in queue.members.values():
                if only_member and member.interface != only_member:
                    continue
                replies.append(
                    {
                        "Event": "QueueMember",
                        "Queue": queue.name,
                        "Name": member.name,
                        "Location": member.interface,
                        "StateInterface": member.state_interface,
                        "Membership": "dynamic",
                        "Penalty": "0",
                        "CallsTaken": str(member.calls_taken),
                        "LastCall": str(member.last_call),
                        "LastPause": str(member.last_pause),
                        "LoginTime": str(member.login_time),
                        "InCall": "1" if member.in_call else "0",
                        "Status": self.device(member.state_interface),
                        "Paused": "1" if member.paused else "0",
                        "PausedReason": member.paused_reason,
                        "Wrapuptime": "0",
                    }
                )
            for position, caller in enumerate(queue.callers, start=1):
                snapshot = self._caller_channel(caller)
                replies.append(
                    {
                        "Event": "QueueEntry",
                        "Queue": queue.name,
                        "Position": str(position),
                        "Channel": snapshot["Channel"],
                        "Uniqueid": caller.uniqueid,
                        "CallerIDNum": caller.number,
                        "CallerIDName": caller.name,
                        "ConnectedLineNum": "<unknown>",
                        "ConnectedLineName": "<unknown>",
                        "Wait": str(int(now - caller.joined)),
                        "Priority": "0",
                    }
                )
        replies.append({"Event": "QueueStatusComplete", "EventList": "Complete", "ListItems": str(len(replies) - 1)})
        return replies

    def _channels_up(self) -> set[str]:
        """Every channel the fake has up: a caller talking to an operator, an operator's leg of a call."""
        up = {self._caller_channel(caller)["Channel"] for caller in self._talking.values()}
        for (uniqueid, interface), seq in self._legs.items():
            queue = self._talking.get(uniqueid)
            member = self.queues[queue.queue].members.get(interface) if queue else None
            if member is not None:
                up.add(f"{member.state_interface}-{seq:08x}")
        return up

    def _bridge(self, request: dict[str, str]) -> dict[str, str]:
        """features.c's action_bridge: both channels must exist; the bridging itself is not modelled
        (the test drives what follows)."""
        first, second = request.get("Channel1", ""), request.get("Channel2", "")
        if not first or not second:
            return _error("Missing channel parameter in request")
        up = self._channels_up()
        for label, channel in (("Channel1", first), ("Channel2", second)):
            if channel not in up:
                return _error(f"{label} does not exist: {channel}")
        return _success("Channels have been bridged")

    def _setvar(self, request: dict[str, str]) -> dict[str, str]:
        """manager.c's action_setvar on a channel: it must exist; the value is kept in ``variables``."""
        channel, variable = request.get("Channel", ""), request.get("Variable", "")
        if not variable:
            return _error("No variable specified")
        if channel not in self._channels_up():
            return _error("Channel not found")
        self.variables[(channel, variable)] = request.get("Value", "")
        return _success("Variable Set")

    def _originate(self, request: dict[str, str]) -> dict[str, str]:
        if "originate" not in self.write:
            return _error("Permission denied")
        app, data = request.get("Application", ""), request.get("Data", "")
        if not request.get("Channel"):
            return _error("Channel not specified")
        if not app:
            return _error("Originate with 'Exten' requires 'Context' and 'Priority'")  # the fake places no Exten calls
        needs_system = any(word in app.lower() for word in ORIGINATE_SYSTEM_APPS) or any(
            word in data for word in ORIGINATE_SYSTEM_DATA
        )
        if needs_system and "system" not in self.write:
            return _error("Originate Access Forbidden: app or data blacklisted")  # Asterisk 22.10.1, measured
        return _success("Originate successfully queued")

    # Event plumbing
    def _member_fields(self, member: FakeMember) -> dict[str, str]:
        return {
            "Queue": member.queue,
            "MemberName": member.name,
            "Interface": member.interface,
            "StateInterface": member.state_interface,
            "Membership": "dynamic",
            "Penalty": "0",
            "CallsTaken": str(member.calls_taken),
            "LastCall": str(member.last_call),
            "LastPause": str(member.last_pause),
            "LoginTime": str(member.login_time),
            "InCall": "1" if member.in_call else "0",
            "Status": self.device(member.state_interface),
            "Paused": "1" if member.paused else "0",
            "PausedReason": member.paused_reason,
            "Ringinuse": "0",
            "Wrapuptime": "0",
        }

    def _caller(self, uniqueid: str) -> FakeCaller:
        for queue in self.queues.values():
            for caller in queue.callers:
                if caller.uniqueid == uniqueid:
                    return caller
        raise AssertionError(f"no caller {uniqueid} waits in any queue")

    @staticmethod
    def _caller_channel(caller: FakeCaller) -> dict[str, str]:
        return {
            "Channel": caller.channel or f"PJSIP/trunk112-{caller.uniqueid.replace('.', '')[-8:]:0>8}",
            "ChannelState": "6",
            "ChannelStateDesc": "Up",
            "CallerIDNum": caller.number,
            "CallerIDName": caller.name,
            "ConnectedLineNum": "<unknown>",
            "ConnectedLineName": "<unknown>",
            "Language": "id",
            "AccountCode": "",
            "Context": "siaga-112",
            "Exten": "112",
            "Priority": "1",
            "Uniqueid": caller.uniqueid,
            "Linkedid": caller.uniqueid,
            **({"ChanVariable": caller.variable} if caller.variable else {}),
        }

    def _dest_channel(self, member: FakeMember, state: str, uniqueid: str) -> dict[str, str]:
        seq = self._legs.get((uniqueid, member.interface))
        if seq is None:
            self._channel_seq += 1
            seq = self._legs[(uniqueid, member.interface)] = self._channel_seq
        return {
            "DestChannel": f"{member.state_interface}-{seq:08x}",
            "DestChannelState": state,
            "DestChannelStateDesc": "Up" if state == "6" else "Down",
            "DestCallerIDNum": "",
            "DestCallerIDName": "",
            "DestConnectedLineNum": "",
            "DestConnectedLineName": "",
            "DestLanguage": "id",
            "DestAccountCode": "",
            "DestContext": "from-operator",
            "DestExten": "",
            "DestPriority": "1",
            "DestUniqueid": f"1800000000.{seq}",
            "DestLinkedid": f"1800000000.{seq}",
        }

    def _emit(self, name: str, fields: dict[str, str]) -> None:
        self._deliver([{"Event": name, "Privilege": "agent,all", **fields}], later=False)

    def _deliver(self, events: list[dict[str, str]], later: bool) -> None:
        """Deliver now, or on the next loop iteration; never out of order (AMI is one stream)."""
        if not later and not self._pending:
            self._dispatch(events)
            return
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.extend(events)

    def _flush(self) -> None:
        events, self._pending = self._pending, []
        self._dispatch(events)

    def _dispatch(self, events: list[dict[str, str]]) -> None:
        for fields in events:
            fields.setdefault("Privilege", "agent,all")
            self.events.append(fields)
            for pattern, callback in list(self._listeners):
                if pattern in ("*", fields["Event"]):
                    try:
                        callback(dict(fields))
                    except Exception as error:  # the real client logs and carries on; tests assert none
                        self.listener_errors.append(error)


class AmiReply(Mapping[str, str]):
    """A reply as panoramisk hands it over: a Mapping (its ``Message``), not a ``dict``. Equal to a dict
    with the same items, so tests compare it with plain dicts."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        self._fields = dict(fields)

    def __getitem__(self, key: str) -> str:
        return self._fields[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"AmiReply({self._fields!r})"


def _success(message: str) -> dict[str, str]:
    return {"Response": "Success", "Message": message}


def _error(message: str) -> dict[str, str]:
    return {"Response": "Error", "Message": message}


async def until(check: Callable[[], T | None], timeout: float = 3.0, what: str = "condition") -> T:
    """Poll ``check`` (every 10 ms) until it returns something truthy; fail at the deadline, never sleep blind."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s (last value: {value!r})")
        await asyncio.sleep(0.01)


async def settled(*tasks: Awaitable[Any]) -> None:
    """Let the loop run the work a handler spawned (an event's task, a call_soon) before asserting."""
    for task in tasks:
        await task
    for _ in range(5):
        await asyncio.sleep(0)
