"""The floor: each operator's call in hand and state, kept from AMI queue events, pushed to consoles.

AgentCalled (app_queue rings an operator's phone) → the screen pop, built at once from the call's
record and the caller's history; AgentConnect → on call; AgentComplete → wrap-up for the seconds
the SOP gives the category, unless the operator already closed the call as junk; a caller who hangs
up while it rings is shown as such. An outcome is written to the call's record (it feeds prank triage
at the caller's next call) and a junk outcome ends the wrap-up: back to available in one key.

A warm transfer: the operator's phone holds the citizen and calls the agency's queue itself, the
consulting channel naming the citizen's call (``consult_for``). The agency operator's pop is then the
citizen's call, not the consulting phone's; it gives no outcome while it is a consultation. The
operator completes it from the console (``complete_transfer``): Asterisk moves the citizen and the
agency operator's leg into one bridge (AMI Bridge); app_queue's two bridges dissolve and end the
consulting operator's legs: their part of the citizen's call ends (wrap-up at once, as after any
call: app_queue's AgentComplete for it comes only when the citizen's call ends, and is ignored),
the consultation's end is not the agency operator's (no wrap-up), and the citizen's call is
the agency operator's now, who goes on talking: its end is then their phone going idle
(QueueMemberStatus). A phone's own attended transfer (REFER/Replaces, a desk phone) still works:
Asterisk links the bridges with a Local pair and reports the citizen's call as ended by "transfer".
Their phone going idle while it is still a consultation (cancelled, or never transferred) leaves
nothing on their screen and no wrap-up.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import asdict, replace
from dataclasses import fields as dataclass_fields
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from ivr.ami.agents import Agents
from ivr.ami.client import AmiError
from ivr.ami.live import LiveQueues
from ivr.config import Config
from ivr.config.roster import Operator
from ivr.operators.pop import CallInHand, Ringing, build_pop, consult_for, routed_by_asterisk
from ivr.operators.states import NO_ANSWER_REASON, PHONE_LOST_REASON, WRAPUP_REASON
from ivr.routing.decide import Standing
from ivr.routing.triage import CallerHistory, assess
from ivr.store.calls import IvrRecord
from ivr.store.db import StoreError

log = structlog.get_logger("ivr.operators")

# Outcomes that close a call for good: no wrap-up, the operator is available again at once.
JUNK_OUTCOMES = ("prank", "silent", "misdial")
OUTCOME_KEYS = (("genuine", "1"), ("info", "2"), ("prank", "3"), ("silent", "4"), ("misdial", "5"))
DEFAULT_WRAPUP_SECONDS = 30.0
# Calls an operator handled lately: they may still give (or correct) the outcome of these.
HANDLED_MEMORY = 20
# A saved call in hand older than this is over, whatever the last word on it was.
CALL_MEMORY = 3600.0
# The dialplan's latest routes (SiagaRoute events) kept for a call's pop when its record is missing.
ROUTE_MEMORY = 500
# AST_DEVICE_* of a phone with no call: NOT_INUSE, INVALID, UNAVAILABLE.
PHONE_IDLE = ("1", "4", "5")

Message = dict[str, Any]


class CallRecords(Protocol):
    """Where a call's record and the caller's history are read and the outcome written (``CallStore``)."""

    def get(self, uniqueid: str) -> dict[str, Any] | None: ...

    def recent_calls(self, caller: str, before: str, limit: int = 5) -> list[dict[str, Any]]: ...

    def history(self, caller: str, since: datetime) -> CallerHistory: ...

    def set_disposition(self, uniqueid: str, disposition: str) -> bool: ...


class SavedCalls(Protocol):
    """Where calls in hand outlive a restart of the service (``ConsoleStore``)."""

    def save_call(self, operator: str, call: Mapping[str, Any] | None, now: float) -> None: ...

    def calls_in_hand(self, since: float) -> dict[str, dict[str, Any]]: ...


class Bridger(Protocol):
    """The AMI session a warm transfer's Bridge goes through (``AmiClient``; its account has `call`)."""

    async def action(self, fields: dict[str, Any], timeout: float = 5.0, as_list: bool = False) -> Any: ...


class NotYourCall(Exception):
    code = "not_your_call"


class NoConsultation(Exception):
    """A warm transfer's completion asked for with no answered consultation about the call."""

    code = "no_consultation"


class TransferFailed(Exception):
    """Asterisk refused to bridge the citizen to the agency operator: both calls are as they were."""

    code = "transfer_failed"


class Floor:
    def __init__(
        self,
        agents: Agents,
        live: LiveQueues,
        config: Callable[[], Config],
        store: CallRecords,
        recent_record: Callable[[str], IvrRecord | None],
        saved: SavedCalls,
        incidents_of: Callable[[str], list[dict[str, Any]]] = lambda _uniqueid: [],
        pauses_ring_outs: Callable[[], bool] = lambda: True,
        transfers: Bridger | None = None,
    ) -> None:
        """``pauses_ring_outs``: whether this instance is the one that pauses an operator who let a
        call ring out (two instances see the same AMI events; one of them acts, ``ivr.store.lease``).
        ``transfers``: the AMI session allowed to bridge channels (None: warm transfers fail)."""
        self.agents = agents
        self.live = live
        self.config = config
        self.store = store
        self.recent_record = recent_record
        self.saved = saved
        self.incidents_of = incidents_of
        self.pauses_ring_outs = pauses_ring_outs
        self.transfers = transfers
        # A call that outlived a restart of the service (the operator may still be talking).
        self.calls: dict[str, CallInHand] = _restored(saved.calls_in_hand(time.time() - CALL_MEMORY))
        self.handled: dict[str, deque[str]] = {}
        # Consultations over before app_queue's AgentComplete for them came (the phone's idle state
        # may come first): that AgentComplete must not start a wrap-up.
        self._consultations_over: deque[str] = deque(maxlen=HANDLED_MEMORY)
        # (the agency operator's phone leg, the consulting leg) of consultations whose phone went idle
        # before their AgentComplete came: one built after the consulting channel was destroyed names
        # only the phone leg, which says which consultation it was (``_leg_by_phone``).
        self._consultation_phones: deque[tuple[str, str]] = deque(maxlen=HANDLED_MEMORY)
        # (call, operator) for calls an operator handed over by a warm transfer: app_queue reports the
        # end of their part only when the citizen's call ends, maybe during their next call.
        self._handed_over: deque[tuple[str, str]] = deque(maxlen=HANDLED_MEMORY)
        # The route each recent call took, as the dialplan announced it (its service's record may be
        # missing: ``routed_by_asterisk``). Oldest first, bounded.
        self._routes: dict[str, dict[str, str]] = {}
        self._subscribers: dict[str, list[Callable[[Message], None]]] = {}
        self._last_sent: dict[int, Message] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        live.listeners.append(self.push_all)
        client = agents.client
        client.on("AgentCalled", self._on_agent_called)
        client.on("AgentConnect", self._on_agent_connect)
        client.on("AgentComplete", self._on_agent_complete)
        client.on("AgentRingNoAnswer", self._on_ring_no_answer)
        client.on("QueueCallerAbandon", self._on_caller_abandon)
        client.on("QueueMemberStatus", self._on_member_status)
        client.on("UserEvent", self._on_user_event)

    # What a console sees
    def roster(self) -> Mapping[str, Operator]:
        return self.config().sop.operators

    def picture(self, operator: Operator) -> list[Message]:
        """The whole current picture: sent on connect and after changes, so a reconnect resumes."""
        state = self.agents.state(operator)
        now = time.monotonic()
        queues = []
        sop = self.config().sop
        for name in operator.queues:
            view = self.live.queues.get(name)
            agency = sop.agency_of(name)
            queues.append(
                {
                    "name": name,
                    "label": agency.label if agency else name,
                    "waiting": view.waiting if view else 0,
                    "longest_wait": round(view.longest_wait(now), 1) if view else 0.0,
                    "available": sum(member.ready for member in view.members.values()) if view else 0,
                }
            )
        call = self.calls.get(operator.id)
        return [
            {
                "type": "state",
                "state": {
                    "state": state.state,
                    "reason": state.reason,
                    "queues": list(state.queues),
                    "wrapup_until": self.agents.wrapup_ends_at(operator.id) if state.reason == WRAPUP_REASON else None,
                },
            },
            {"type": "queues", "queues": queues},
            {"type": "call", "call": call.as_json() if call else None},
        ]

    def subscribe(self, operator: Operator, send: Callable[[Message], None]) -> Callable[[], None]:
        self._subscribers.setdefault(operator.id, []).append(send)
        for message in self.picture(operator):
            self._send(send, message)

        def unsubscribe() -> None:
            listeners = self._subscribers.get(operator.id, [])
            if send in listeners:
                listeners.remove(send)
            for message_type in ("state", "queues", "call"):
                self._last_sent.pop(hash((id(send), message_type)), None)

        return unsubscribe

    def _call_changed(self, operator_id: str) -> None:
        """Save the operator's call in hand (it must outlive a restart of ours), then show it."""
        call = self.calls.get(operator_id)
        try:
            self.saved.save_call(operator_id, call.as_json() if call else None, time.time())
        except StoreError as error:  # a full disk costs the restart memory, never the live console
            log.error("call_in_hand_not_saved", operator=operator_id, error=str(error))
        self.push(operator_id)

    def push(self, operator_id: str) -> None:
        """Send the operator's consoles what changed."""
        operator = self.roster().get(operator_id)
        if operator is None:
            return
        messages = self.picture(operator)
        for send in list(self._subscribers.get(operator_id, [])):
            for message in messages:
                self._send(send, message)

    def push_all(self) -> None:
        for operator_id in list(self._subscribers):
            self.push(operator_id)

    def _send(self, send: Callable[[Message], None], message: Message) -> None:
        # Only what changed goes out: live events come in bursts (a member's status in each queue).
        key = hash((id(send), message["type"]))
        if self._last_sent.get(key) == message:
            return
        self._last_sent[key] = message
        send(message)

    # Operators' actions
    async def outcome(self, operator: Operator, uniqueid: str, outcome: str) -> bool:
        """Record ``outcome``; False when no such call. Raises NotYourCall, UnknownDisposition."""
        call = self.calls.get(operator.id)
        # Answered by this operator: a call that only rang them (a ringall queue rings several) is not.
        in_hand = (
            call is not None
            and call.uniqueid == uniqueid
            and call.phase in ("on_call", "wrap_up")
            and not call.consult_leg  # a consultation about another operator's call
        )
        mine = in_hand or uniqueid in self.handled.get(operator.id, ())
        if not mine and operator.role == "operator":
            raise NotYourCall(f"call {uniqueid} was not answered by {operator.id}")
        found = await asyncio.to_thread(self.store.set_disposition, uniqueid, outcome)
        if not found:
            return False
        log.info("call_outcome", uniqueid=uniqueid, operator=operator.id, outcome=outcome)
        if call is not None and call.uniqueid == uniqueid:
            # Seen by a wrap-up that is about to start for this call (the page hangs up, then posts).
            call.outcome = outcome
            # Only while it is still the call in hand: the next call may have rung (and been answered)
            # while the store was written, and that one stays on the screen.
            if outcome in JUNK_OUTCOMES and call.phase in ("wrap_up", "ended") and self.calls.get(operator.id) is call:
                del self.calls[operator.id]
        if outcome in JUNK_OUTCOMES and mine:
            # Their own call closed as junk: no wrap-up (a supervisor correcting another's call keeps theirs).
            async with self._lock(operator.id):
                await self.agents.end_wrapup(operator)
        self._call_changed(operator.id)
        return True

    async def complete_transfer(self, operator: Operator, uniqueid: str) -> str:
        """Selesaikan: the citizen of ``operator``'s call ``uniqueid`` (on hold) and the agency operator
        who answered ``operator``'s consultation about it are put into one bridge by Asterisk (AMI
        Bridge: each channel is moved out of its app_queue bridge, which then dissolves, ending both of
        ``operator``'s legs). Returns the agency operator's id. Raises NotYourCall, NoConsultation,
        TransferFailed (nothing changed: the operator still has both calls and may cancel).

        Why not the phone's REFER/Replaces: app_queue's bridges refuse merges, so Asterisk links them
        with a Local channel pair, and through that pair the agency operator's phone sometimes got no
        audio at all (measured: 1 in 10 transfers with G.711, 8 in 19 with Opus)."""
        call = self.calls.get(operator.id)
        if call is None or call.uniqueid != uniqueid or call.phase != "on_call" or call.consult_leg:
            raise NotYourCall(f"call {uniqueid} is not in {operator.id}'s hands")
        found = self._answered_consultation(uniqueid)
        if found is None or not call.channel or not found[1].phone_channel:
            raise NoConsultation(f"nobody has answered {operator.id}'s consultation about call {uniqueid}")
        agency_operator, consultation = found
        leg = consultation.consult_leg
        # What app_queue says next about the two queue calls (AgentComplete, maybe before Asterisk's
        # reply): the consultation's end starts no wrap-up, nor the end of this operator's part, which
        # starts here.
        self._consultations_over.append(leg)
        self._handed_over.append((uniqueid, operator.id))
        fields = {"Action": "Bridge", "Channel1": call.channel, "Channel2": consultation.phone_channel, "Tone": "no"}
        try:
            if self.transfers is None:
                raise AmiError("no AMI session for transfers")
            # Before the Bridge, so that the transferring operator's legs, which end with it, are no
            # longer the citizen's: when a leg of the citizen ends, the dialplan decides by that leg's
            # own cause and pauses that leg's seat (extensions.conf, [siaga-operator-left]).
            await self._hand_legs(call.channel, consultation.phone_channel, agency_operator.interface)
            reply = await self.transfers.action(fields)
        except AmiError as error:
            reply = {"Response": "Error", "Message": str(error)}
        if str(reply.get("Response", "")) != "Success":
            await self._give_legs_back(call.channel, call.phone_channel, operator.interface)
            self._consultations_over.remove(leg)
            self._handed_over.remove((uniqueid, operator.id))
            log.error("warm_transfer_failed", uniqueid=uniqueid, operator=operator.id, message=reply.get("Message"))
            raise TransferFailed(f"Asterisk did not bridge the call: {reply.get('Message', '')}")
        consultation.consult_leg = ""
        self._handled_by(agency_operator, consultation)
        log.info("warm_transfer_completed", uniqueid=uniqueid, operator=agency_operator.id, by=operator.id)
        self._call_changed(agency_operator.id)
        # The transferring operator's part is over now: wrap-up, as after any call they end.
        call.phase = "wrap_up"
        self._spawn(self._wrapup(operator, call))
        self._call_changed(operator.id)
        return agency_operator.id

    async def _hand_legs(self, citizen: str, leg: str, interface: str) -> None:
        """``citizen``'s leg is now ``leg`` (of the seat ``interface``): its end, not that of a leg
        the citizen has left, decides whether the citizen is requeued (extensions.conf,
        [siaga-operator-leg]). Raises AmiError."""
        await self._setvar(leg, "SIAGA_CITIZEN", citizen)
        await self._setvar(citizen, "SHARED(SIAGA_LEG)", leg)
        await self._setvar(citizen, "SHARED(SIAGA_LEG_CAUSE)", "")
        await self._setvar(citizen, "MEMBERINTERFACE", interface)

    async def _give_legs_back(self, citizen: str, leg: str, interface: str) -> None:
        """The Bridge failed: ``citizen``'s leg is the transferring operator's again, as far as Asterisk
        still has it (a channel gone meanwhile is no error: the citizen's call may be over)."""
        try:
            await self._setvar(citizen, "SHARED(SIAGA_LEG)", leg)
            await self._setvar(citizen, "SHARED(SIAGA_LEG_CAUSE)", "")
            await self._setvar(citizen, "MEMBERINTERFACE", interface)
        except AmiError as error:
            log.warning("warm_transfer_legs_not_restored", citizen=citizen, message=str(error))

    async def _setvar(self, channel: str, variable: str, value: str) -> None:
        """Setvar on ``channel``; values are Asterisk's own channel and interface names. Raises AmiError."""
        if self.transfers is None:
            raise AmiError("no AMI session for transfers")
        fields = {"Action": "Setvar", "Channel": channel, "Variable": variable, "Value": value}
        reply = await self.transfers.action(fields)
        if str(reply.get("Response", "")) != "Success":
            raise AmiError(f"Setvar {variable} on {channel}: {reply.get('Message', '')}")

    def _answered_consultation(self, uniqueid: str) -> tuple[Operator, CallInHand] | None:
        """(the agency operator, their call in hand) for an answered consultation about ``uniqueid``:
        only the operator with that call in hand can have placed it (``_consultation`` checked)."""
        for operator_id, call in self.calls.items():
            agency_operator = self.roster().get(operator_id)
            if (
                agency_operator is not None
                and call.uniqueid == uniqueid
                and call.consult_leg
                and call.phase == "on_call"
            ):
                return agency_operator, call
        return None

    def _lock(self, operator_id: str) -> asyncio.Lock:
        """One wrap-up decision at a time per operator: the call's end and its outcome race."""
        return self._locks.setdefault(operator_id, asyncio.Lock())

    # AMI events
    def _operator(self, fields: Mapping[str, str]) -> Operator | None:
        return self.agents.operator_for(fields.get("Interface", ""))

    def _on_agent_called(self, fields: dict[str, str]) -> None:
        operator = self._operator(fields)
        if operator is None:
            return
        queue = fields.get("Queue", "")
        view = self.live.queues.get(queue)
        leg = fields.get("Uniqueid", "")
        joined = view.callers.get(leg) if view else None
        ringing = Ringing(
            uniqueid=leg,
            queue=queue,
            caller_number=fields.get("CallerIDNum", ""),
            caller_name=fields.get("CallerIDName", ""),
            rang_at=time.time(),
            waited_seconds=time.monotonic() - joined if joined is not None else 0.0,
            channel=fields.get("Channel", ""),
            phone_channel=fields.get("DestChannel", ""),
        )
        consulting = self._consultation(fields)
        if consulting is not None:
            # The citizen's call, as the consulting operator has it (the caller ID the trunk gave).
            by, about = consulting
            ringing = replace(
                ringing,
                uniqueid=about.uniqueid,
                caller_number=about.caller,
                caller_name=about.caller_name,
                consult_leg=leg,
                consult_from=by.name,
            )
        # The pop goes out at once from what is in memory; the caller's history follows when read, so
        # a slow store delays only the history, and an answer or a hang-up is never overwritten.
        recent = self.recent_record(ringing.uniqueid)
        record = asdict(recent) if recent is not None else self._routes.get(ringing.uniqueid)
        call = build_pop(ringing, record, [], None, self.config().sop)
        self.calls[operator.id] = call
        self._call_changed(operator.id)
        self._spawn(self._complete_pop(operator, ringing, call))

    def _consultation(self, fields: Mapping[str, str]) -> tuple[Operator, CallInHand] | None:
        """(the consulting operator, the citizen's call they have in hand) when the queue caller is
        an operator's consultation about that call; None for any other caller."""
        uniqueid = consult_for(fields)
        if uniqueid is None:
            return None
        # The consulting phone's channel: its interface and a sequence (PJSIP/op-budi-0000001a).
        consulting = self.agents.operator_for(fields.get("Channel", "").rpartition("-")[0])
        their = self.calls.get(consulting.id) if consulting else None
        if consulting is None or their is None or their.uniqueid != uniqueid:
            log.warning("consultation_unlinked", uniqueid=fields.get("Uniqueid", ""), consult_for=uniqueid)
            return None
        return consulting, their

    async def _complete_pop(self, operator: Operator, ringing: Ringing, shown: CallInHand) -> None:
        started = time.perf_counter()
        recent = self.recent_record(ringing.uniqueid)
        record = asdict(recent) if recent is not None else await asyncio.to_thread(self.store.get, ringing.uniqueid)
        record = record or self._routes.get(ringing.uniqueid)
        sop = self.config().sop
        history: list[dict[str, Any]] = []
        standing: Standing | None = None
        caller = str(record.get("caller", "")) if record else ""
        if caller:
            before = str(record.get("started_at", "")) if record else ""
            now = datetime.now(sop.zone())
            history = await asyncio.to_thread(self.store.recent_calls, caller, before or now.isoformat())
            past = await asyncio.to_thread(self.store.history, caller, now - timedelta(days=sop.prank.window_days))
            standing, _new_flag = assess(past, sop.prank, now)
        if self.calls.get(operator.id) is not shown:
            return  # the operator has moved on to another call (or none) meanwhile
        incidents = await asyncio.to_thread(self.incidents_of, ringing.uniqueid)
        if self.calls.get(operator.id) is not shown:
            return
        full = build_pop(ringing, record, history, standing, sop)
        full.phase, full.outcome, full.caller_hung_up = shown.phase, shown.outcome, shown.caller_hung_up
        full.consult_leg = shown.consult_leg  # a transfer completed meanwhile
        full.incidents = incidents
        self.calls[operator.id] = full
        self._call_changed(operator.id)
        log.info(
            "screen_pop",
            uniqueid=ringing.uniqueid,
            operator=operator.id,
            queue=ringing.queue,
            build_ms=round((time.perf_counter() - started) * 1000, 1),
        )

    def _on_agent_connect(self, fields: dict[str, str]) -> None:
        operator = self._operator(fields)
        call = self.calls.get(operator.id) if operator else None
        if operator is None or call is None or call.leg != fields.get("Uniqueid"):
            return
        call.phase = "on_call"
        if not call.consult_leg:
            self._handled_by(operator, call)
        self._call_changed(operator.id)
        # A ringall queue rang others too; app_queue only cancels their legs (no event of the agent
        # class says so): their pop goes, so nobody else can close this call.
        for other, rang in list(self.calls.items()):
            if other != operator.id and rang.leg == call.leg and rang.phase == "ringing":
                del self.calls[other]
                self._call_changed(other)

    def _handled_by(self, operator: Operator, call: CallInHand) -> None:
        self.handled.setdefault(operator.id, deque(maxlen=HANDLED_MEMORY)).append(call.uniqueid)

    def _on_agent_complete(self, fields: dict[str, str]) -> None:
        operator = self._operator(fields)
        if operator is None:
            return
        call = self.calls.get(operator.id)
        leg = fields.get("Uniqueid") or self._leg_by_phone(call, fields)
        if leg in self._consultations_over or (leg, operator.id) in self._handed_over:
            return
        if call is not None and call.consult_leg and call.consult_leg == leg:
            # The consulting phone left the bridge: cancelled or swapped out by the transfer; which one,
            # the transferring operator's AgentComplete or this phone going idle says.
            return
        if fields.get("Reason") == "transfer":
            self._transferred_to_consultant(leg)
        if call is not None and call.uniqueid == leg:
            if call.outcome in JUNK_OUTCOMES:
                del self.calls[operator.id]
                self._call_changed(operator.id)
                return
            call.phase = "wrap_up"
        self._spawn(self._wrapup(operator, call))
        self._call_changed(operator.id)

    def _leg_by_phone(self, call: CallInHand | None, fields: Mapping[str, str]) -> str:
        """The queue call an AgentComplete without the caller's fields is about. app_queue sends none when
        the caller's channel is already gone (measured: a consultation the consulting phone ended), but it
        names the operator's own leg (DestChannel), which the call in hand keeps, or, when the phone's
        idle state came first and cleared it, the consultation it ended."""
        phone = fields.get("DestChannel", "")
        if not phone:
            return ""
        if call is not None and call.phone_channel == phone:
            return call.leg
        return next((leg for channel, leg in self._consultation_phones if channel == phone), "")

    def _transferred_to_consultant(self, uniqueid: str) -> None:
        """The citizen's call ``uniqueid`` left its operator by a transfer: an operator in a
        consultation about it (answered) has it in hand now, and is still talking."""
        for operator_id, call in list(self.calls.items()):
            if call.uniqueid == uniqueid and call.consult_leg and call.phase == "on_call":
                operator = self.roster().get(operator_id)
                if operator is None:
                    continue
                call.consult_leg = ""
                self._handled_by(operator, call)
                log.info("warm_transfer_completed", uniqueid=uniqueid, operator=operator_id)
                self._call_changed(operator_id)

    def _on_member_status(self, fields: dict[str, str]) -> None:
        """The phone went idle: a consultation still not transferred is over (nothing left on the
        screen, no wrap-up); a warm-transferred call has ended (app_queue said its last word at the
        transfer): wrap-up as after any call."""
        operator = self._operator(fields)
        call = self.calls.get(operator.id) if operator else None
        if operator is None or call is None or fields.get("Status") not in PHONE_IDLE:
            return
        if call.consult_leg and call.phase == "on_call":
            self._consultations_over.append(call.consult_leg)
            self._consultation_phones.append((call.phone_channel, call.consult_leg))
            del self.calls[operator.id]
        elif call.transferred_in and call.phase == "on_call":
            call.phase = "wrap_up"
            self._spawn(self._wrapup(operator, call))
        else:
            return
        self._call_changed(operator.id)

    async def _wrapup(self, operator: Operator, call: CallInHand | None) -> None:
        async with self._lock(operator.id):
            if call is not None and call.outcome in JUNK_OUTCOMES:
                return  # closed as junk while the call was ending: straight back to available
            await self.agents.start_wrapup(operator, self._wrapup_seconds(call))
        # The deadline exists only now; Asterisk's pause events may have been pushed before it.
        self.push(operator.id)

    def _wrapup_seconds(self, call: CallInHand | None) -> float:
        category = self.config().sop.categories.get(call.category) if call else None
        return float(category.wrapup_seconds if category else DEFAULT_WRAPUP_SECONDS)

    def _on_ring_no_answer(self, fields: dict[str, str]) -> None:
        operator = self._operator(fields)
        if operator is not None and self.pauses_ring_outs() and self._rang_out(fields):
            # Rung out: whoever is at that console is not answering; paused (they see why and press
            # Siap), so app_queue rings someone who is there instead of this phone for every caller.
            self._spawn(self._paused_for_no_answer(operator))
        call = self.calls.get(operator.id) if operator else None
        if operator is not None and call is not None and call.leg == fields.get("Uniqueid"):
            # Rung out to someone else (or back to the queue): not this operator's call any more.
            del self.calls[operator.id]
            self._call_changed(operator.id)

    def _rang_out(self, fields: Mapping[str, str]) -> bool:
        """The phone rang the queue's whole ring time (not: busy, refused, gone at once)."""
        queue = self.config().sop.queues.get(fields.get("Queue", ""))
        try:
            rang_ms = int(fields.get("RingTime", "0") or 0)
        except ValueError:
            return False
        return queue is not None and rang_ms >= (queue.ring_seconds - 1) * 1000

    async def _paused_for_no_answer(self, operator: Operator) -> None:
        memberships = self.live.memberships(operator.interface)
        if not memberships:
            return  # logged out meanwhile: a pause must not log them back in
        # Never the last one ready in a queue: a caller waiting there (the central queue keeps callers
        # for good) is better rung again at that phone than rung at nobody.
        for queue, _member in memberships:
            view = self.live.queues.get(queue)
            others = [m for interface, m in (view.members.items() if view else ()) if interface != operator.interface]
            if not any(member.ready for member in others):
                log.warning("operator_not_answering_last_ready", operator=operator.id, queue=queue)
                return
        await self.agents.pause_in_place(operator, NO_ANSWER_REASON)
        log.warning("operator_paused_no_answer", operator=operator.id)

    def _on_user_event(self, fields: dict[str, str]) -> None:
        """A route the dialplan took: kept for the pop of a call whose record is missing. And
        [siaga-operator-left] paused a lost phone's seat as it requeued the citizen: the pause must
        hold until the operator ends it. The wrap-up we start on the same call's AgentComplete may have
        reached Asterisk after the dialplan's pause (and replaced its reason, and would end it):
        paused again, through us, after that wrap-up (one decision at a time per operator)."""
        if fields.get("UserEvent") != "SiagaRoute":
            return
        action, category = fields.get("Action", ""), fields.get("Category", "")
        if action in ("queue", "bridge") and category:
            uniqueid = fields.get("Uniqueid", "")
            self._routes.pop(uniqueid, None)
            self._routes[uniqueid] = routed_by_asterisk(category, action, fields.get("Target", ""))
            if len(self._routes) > ROUTE_MEMORY:
                del self._routes[next(iter(self._routes))]
            return
        if (action, fields.get("Paused")) != ("requeue", "PAUSED"):
            return
        operator = self.agents.operator_for(fields.get("From", ""))
        if operator is not None:
            self._spawn(self._paused_for_lost_phone(operator))

    async def _paused_for_lost_phone(self, operator: Operator) -> None:
        async with self._lock(operator.id):
            await self.agents.pause_in_place(operator, PHONE_LOST_REASON)
        log.warning("operator_paused_phone_lost", operator=operator.id)
        self.push(operator.id)

    def _on_caller_abandon(self, fields: dict[str, str]) -> None:
        uniqueid = fields.get("Uniqueid", "")
        for operator_id, call in list(self.calls.items()):
            if call.leg != uniqueid or call.phase != "ringing":
                continue
            if call.consult_leg:
                del self.calls[operator_id]  # the consulting operator gave up: nobody to call back
            else:
                call.caller_hung_up = True
                call.phase = "ended"
            self._call_changed(operator_id)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("floor_task_failed", error=repr(task.exception()))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _restored(saved: Mapping[str, Mapping[str, Any]]) -> dict[str, CallInHand]:
    """Calls in hand from before a restart; one that was only ringing is over by now, and a row
    written by another version of the service is skipped rather than stopping it."""
    known = {spec.name for spec in dataclass_fields(CallInHand)}
    calls = {}
    for operator, row in saved.items():
        if row.get("phase") == "ringing":
            continue
        try:
            calls[operator] = CallInHand(**{key: value for key, value in row.items() if key in known})
        except TypeError as error:
            log.warning("saved_call_in_hand_skipped", operator=operator, error=str(error))
    return calls
