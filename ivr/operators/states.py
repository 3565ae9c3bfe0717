"""An operator's ACD state, read from what Asterisk says about their queue memberships.

Asterisk is the truth: membership (logged in or not), pause and its reason, and the device state of
the operator's phone (the member's state interface). This module only reads that picture; the
actions that change it are in ``ivr.ami.agents``. Wrap-up is a pause with the reason
``WRAPUP_REASON``, so it survives a restart of our service and shows in ``queue show``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

# What a supervisor reads in the wallboard and in `queue show`: Bahasa Indonesia, as the floor speaks.
PAUSE_REASONS = ("Istirahat", "Sholat", "Administrasi", "Pelatihan")
WRAPUP_REASON = "Wrap-up"
# An operator at a console who let a call ring out (away from the desk, a tab left open).
NO_ANSWER_REASON = "Tidak menjawab"
# An operator whose phone was lost mid-call (browser crashed, lid shut, network gone): the dialplan
# pauses the seat as it requeues the citizen ([siaga-operator-left]), so nobody is offered to it.
PHONE_LOST_REASON = "Telepon terputus"

# AST_DEVICE_* values of the member's state interface (app_queue's Status field).
DEVICE_NOT_INUSE = "1"  # idle: no call of this device is up
DEVICE_RINGING = {"6", "7"}  # RINGING, RINGINUSE
DEVICE_ON_CALL = {"2", "3", "8"}  # INUSE, BUSY, ONHOLD
DEVICE_OFFLINE = {"4", "5"}  # INVALID, UNAVAILABLE (the browser's phone is not registered)

LOGGED_OUT = "logged_out"
AVAILABLE = "available"
RINGING = "ringing"
ON_CALL = "on_call"
WRAP_UP = "wrap_up"
PAUSED = "paused"
PHONE_OFFLINE = "phone_offline"


class Membership(Protocol):
    """One queue membership as Asterisk reports it (``ivr.ami.live.Member``)."""

    @property
    def paused(self) -> bool: ...

    @property
    def paused_reason(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def in_call(self) -> bool: ...


@dataclass(frozen=True)
class AgentState:
    state: str
    reason: str | None = None
    queues: tuple[str, ...] = ()

    @property
    def logged_in(self) -> bool:
        return self.state != LOGGED_OUT


def agent_state(memberships: Iterable[tuple[str, Membership]]) -> AgentState:
    """The one state an operator is in, from their memberships (queue name, member) in Asterisk.

    A call in hand or ringing wins over a pause (a pause taken during a call starts after it);
    then wrap-up, then a pause; a phone that is not registered cannot take calls whatever else holds.
    """
    members = list(memberships)
    if not members:
        return AgentState(LOGGED_OUT)
    queues = tuple(sorted(queue for queue, _member in members))
    statuses = {member.status for _queue, member in members}
    if statuses & DEVICE_RINGING:
        return AgentState(RINGING, queues=queues)
    if statuses & DEVICE_ON_CALL or any(member.in_call for _queue, member in members):
        return AgentState(ON_CALL, queues=queues)
    reasons = [member.paused_reason for _queue, member in members if member.paused]
    if WRAPUP_REASON in reasons:
        return AgentState(WRAP_UP, WRAPUP_REASON, queues)
    if reasons and len(reasons) == len(members):
        return AgentState(PAUSED, next((reason for reason in reasons if reason), None), queues)
    if statuses <= DEVICE_OFFLINE:
        return AgentState(PHONE_OFFLINE, queues=queues)
    return AgentState(AVAILABLE, queues=queues)
