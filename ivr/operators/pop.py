"""The screen pop: what an operator sees about a call while it rings, before they answer.

Pure: built from the call's record (what the caller pressed, the route and why), the caller's last
calls and standing, and the SOP (category label, checklist). Every value that came from the caller
stays data: the page writes it as text.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from ivr.config.sop import Sop
from ivr.routing.decide import Standing


@dataclass(frozen=True)
class Ringing:
    """What AMI says when app_queue rings an operator for a caller (AgentCalled)."""

    uniqueid: str
    queue: str
    caller_number: str
    caller_name: str
    rang_at: float  # Unix seconds
    waited_seconds: float  # in the queue so far


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
    route_reason: str
    waited_seconds: float
    rang_at: float
    history: list[dict[str, Any]] = field(default_factory=list)
    standing: dict[str, Any] | None = None
    checklist: list[str] = field(default_factory=list)
    outcome: str | None = None
    caller_hung_up: bool = False
    # Incidents this call is linked to (a transferred call arrives with the incident opened for it).
    incidents: list[dict[str, Any]] = field(default_factory=list)

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
        category=category_name,
        category_label=label,
        emergency=emergency,
        queue=ringing.queue,
        route_reason=str(record.get("reason", "")) or "tanpa menu: antrean pusat (layanan IVR tidak menjawab)",
        waited_seconds=round(ringing.waited_seconds, 1),
        rang_at=ringing.rang_at,
        history=recent,
        standing=_standing(standing),
        checklist=checklist,
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
