"""The screen pop: what an operator sees about a call while it rings, before they answer.

Pure: built from the call's record (what the caller pressed, the route and why), the caller's last
calls and standing, and the SOP (category label, checklist). Every value that came from the caller
stays data: the page writes it as text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from ivr.config.sop import Sop
from ivr.routing.decide import Standing

# The channel variable an operator's consultation call carries (extensions_transfer.conf sets it from
# the phone's X-Siaga-For header, manager.conf's channelvars puts it into every event of the channel):
# the uniqueid of the citizen's call the consultation is about.
CONSULT_VARIABLE = "SIAGA_CONSULT_FOR"
# An Asterisk uniqueid ([systemname-]epoch.sequence) or our test calls' ChannelId: what the dialplan's
# FILTER lets through, bounded.
UNIQUEID = re.compile(r"[A-Za-z0-9.-]{1,64}")


def consult_for(fields: Mapping[str, str]) -> str | None:
    """The citizen's call that the queue caller of an agent event consults about (its ChanVariable),
    or None for an ordinary caller."""
    name, _, value = fields.get("ChanVariable", "").partition("=")
    return value if name == CONSULT_VARIABLE and UNIQUEID.fullmatch(value) else None


def routed_by_asterisk(category: str, action: str, target: str) -> dict[str, str]:
    """The record of a call as far as the dialplan's route event (SiagaRoute) tells it, for a call our
    service has no record of though the caller went through the menu: the service stopped while
    Asterisk read the last menu's key, or the last line routed it. The category the caller chose is
    the event's (an SOP name), so the operator still sees its label and checklist."""
    return {
        "category": category,
        "reason": f"menu chosen, routed by Asterisk ({action} {target}): the IVR service has no record of this call",
        "reason_id": f"menu dipilih, dirutekan oleh Asterisk ({action} {target}): "
        "layanan IVR tidak mencatat panggilan ini",
    }


@dataclass(frozen=True)
class Ringing:
    """What AMI says when app_queue rings an operator for a caller (AgentCalled).

    For a consultation (another operator's phone in the queue, about a citizen on hold) ``uniqueid``
    is the citizen's call and ``consult_leg`` the consulting phone's channel, which app_queue names."""

    uniqueid: str
    queue: str
    caller_number: str
    caller_name: str
    rang_at: float  # Unix seconds
    waited_seconds: float  # in the queue so far
    consult_leg: str = ""
    consult_from: str = ""  # the consulting operator's name
    # Asterisk's channels of this call as AgentCalled names them: the queue caller's (the citizen's, or
    # the consulting phone's) and the operator's phone's leg. A warm transfer bridges them (AMI Bridge).
    channel: str = ""
    phone_channel: str = ""


@dataclass
class CallInHand:
    uniqueid: str
    phase: str  # ringing | on_call | wrap_up | ended
    caller: str
    caller_name: str
    keys: str
    category: str
    category_label: str
    emergency: bool
    queue: str
    route_reason: str  # English, as in the records
    waited_seconds: float
    rang_at: float
    # The same in Indonesian, what the console shows in Bahasa Indonesia (English for older calls).
    route_reason_id: str = ""
    # Whether ``keys`` is what the caller pressed: only our service's record knows (its flow ran the
    # menu); a call rebuilt from Asterisk's records, or with none, has no keys: unknown, not "none".
    # A call in hand saved before this field existed is restored as before (keys taken as known).
    keys_known: bool = True
    history: list[dict[str, Any]] = field(default_factory=list)
    standing: dict[str, Any] | None = None
    checklist: list[str] = field(default_factory=list)
    outcome: str | None = None
    caller_hung_up: bool = False
    # Incidents this call is linked to (a transferred call arrives with the incident opened for it).
    incidents: list[dict[str, Any]] = field(default_factory=list)
    # A consultation: the consulting operator's channel while it lasts (app_queue's events name it,
    # not the citizen's call), empty once the citizen was transferred to this operator.
    consult_leg: str = ""
    # Who consulted (an operator's name): the call came by a warm transfer.
    consult_from: str = ""
    channel: str = ""  # the queue caller's channel (Ringing.channel)
    phone_channel: str = ""  # this operator's phone's leg of it

    @property
    def leg(self) -> str:
        """The queue caller app_queue's events name for this call."""
        return self.consult_leg or self.uniqueid

    @property
    def transferred_in(self) -> bool:
        """Warm-transferred to this operator: app_queue reported the end of the queue call it came by
        already (the consultation's), so its end here is the phone going idle."""
        return bool(self.consult_from) and not self.consult_leg

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def build_pop(
    ringing: Ringing,
    record: dict[str, Any] | None,
    recent: list[dict[str, Any]],
    standing: Standing | None,
    sop: Sop,
) -> CallInHand:
    """``record``: our row of the call (None when the call never reached our service: the dialplan's
    own fallback); ``recent``: the caller's earlier calls, newest first."""
    record = record or {}
    category_name = str(record.get("category", ""))
    category = sop.categories.get(category_name)
    if category is None:
        # The dialplan's own fallback (our service was down or slow): an emergency until told otherwise.
        label, emergency, checklist = "Belum diketahui (tanpa menu)", True, []
    else:
        label, emergency, checklist = category.label, category.emergency, list(category.checklist)
    return CallInHand(
        uniqueid=ringing.uniqueid,
        phase="ringing",
        caller=str(record.get("caller_raw") or record.get("caller") or ringing.caller_number),
        caller_name=str(record.get("caller_name_raw") or record.get("caller_name") or ringing.caller_name),
        keys=str(record.get("keys", "")),
        keys_known=bool(record.get("flow")),
        category=category_name,
        category_label=label,
        emergency=emergency,
        queue=ringing.queue,
        route_reason=str(record.get("reason", "")) or "no menu: central queue (the IVR service did not answer)",
        route_reason_id=str(record.get("reason_id") or record.get("reason") or "")
        or "tanpa menu: antrean pusat (layanan IVR tidak menjawab)",
        waited_seconds=round(ringing.waited_seconds, 1),
        rang_at=ringing.rang_at,
        history=recent,
        standing=_standing(standing),
        checklist=checklist,
        consult_leg=ringing.consult_leg,
        consult_from=ringing.consult_from,
        channel=ringing.channel,
        phone_channel=ringing.phone_channel,
    )


def _standing(standing: Standing | None) -> dict[str, Any] | None:
    if standing is None:
        return None
    until = standing.until.isoformat() if isinstance(standing.until, datetime) else None
    return {
        # What the flag is for, in the page's words; a flag found active carries no counts: prank.
        "flag": ("silent" if standing.silent > standing.pranks else "prank") if standing.flagged else None,
        "flagged": standing.flagged,
        "level": standing.level,
        "until": until,
        "whitelisted": standing.whitelisted,
        "pranks": standing.pranks,
        "silent": standing.silent,
    }
