"""Incidents: what a genuine call is about, where, who was sent, and when it was over.

Pure: the record's shape, the regency's kecamatan, the allowed status changes and the checks on what
an operator typed. Persistence is ``ivr.store.incidents``; HTTP is ``ivr.web.incidents``.

An incident is opened from a call in hand (open), marked dispatched once agencies are sent
(dispatched), and closed when the agency reports back (closed), as the written 112 SOPs of
neighbouring centers have it. One incident holds every call about it: the same fire reported by
five callers is one incident with five calls.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

# Kabupaten Tangerang's 29 kecamatan (Perda on its districts; BPS Kabupaten Tangerang).
KECAMATAN = (
    "Balaraja",
    "Cikupa",
    "Cisauk",
    "Cisoka",
    "Curug",
    "Gunung Kaler",
    "Jambe",
    "Jayanti",
    "Kelapa Dua",
    "Kemiri",
    "Kosambi",
    "Kresek",
    "Kronjo",
    "Legok",
    "Mauk",
    "Mekar Baru",
    "Pagedangan",
    "Pakuhaji",
    "Panongan",
    "Pasar Kemis",
    "Rajeg",
    "Sepatan",
    "Sepatan Timur",
    "Sindang Jaya",
    "Solear",
    "Sukadiri",
    "Sukamulya",
    "Teluknaga",
    "Tigaraksa",
)
OPEN, DISPATCHED, CLOSED = "open", "dispatched", "closed"
STATUSES = (OPEN, DISPATCHED, CLOSED)
# Closed straight from open: a genuine call that needed no one sent (advice given, the caller safe).
NEXT_STATUS = {OPEN: (DISPATCHED, CLOSED), DISPATCHED: (CLOSED,), CLOSED: ()}
TEXT_LIMITS = {"address": 300, "landmark": 200, "what": 2000, "closing_note": 1000}
MAX_VICTIMS = 10_000


class IncidentInvalid(ValueError):
    """What was sent cannot be stored; the message says which field and why."""

    code = "invalid_incident"


class IncidentConflict(IncidentInvalid):
    """The change does not fit the incident's status (closed, or a step not allowed from here)."""

    code = "incident_conflict"


@dataclass(frozen=True)
class Incident:
    id: int
    status: str
    opened_at: str
    opened_by: str
    kecamatan: str = ""
    address: str = ""
    landmark: str = ""
    what: str = ""
    victims: int | None = None
    category: str = ""
    agencies: tuple[str, ...] = ()
    checklist: tuple[str, ...] = ()
    closing_note: str = ""
    closed_at: str = ""
    closed_by: str = ""
    calls: tuple[str, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "opened_at": self.opened_at,
            "opened_by": self.opened_by,
            "kecamatan": self.kecamatan,
            "address": self.address,
            "landmark": self.landmark,
            "what": self.what,
            "victims": self.victims,
            "category": self.category,
            "agencies": list(self.agencies),
            "checklist": list(self.checklist),
            "closing_note": self.closing_note,
            "closed_at": self.closed_at,
            "closed_by": self.closed_by,
            "calls": list(self.calls),
        }


def clean_fields(body: Mapping[str, Any], agencies: Collection[str], categories: Collection[str]) -> dict[str, Any]:
    """The incident fields in ``body`` that may be stored, checked; raises IncidentInvalid.

    Only fields present are returned (an update changes what it names). Text stays the operator's
    words (shown as text, stored as parameters); lists only name agencies and categories of the SOP.
    """
    fields: dict[str, Any] = {}
    for name, limit in TEXT_LIMITS.items():
        if name in body:
            value = body[name]
            if not isinstance(value, str) or len(value) > limit:
                raise IncidentInvalid(f"{name}: text of at most {limit} characters")
            fields[name] = value.strip()
    if "kecamatan" in body:
        if body["kecamatan"] not in ("", *KECAMATAN):
            raise IncidentInvalid(f"kecamatan: one of Kabupaten Tangerang's 29 kecamatan, not {body['kecamatan']!r}")
        fields["kecamatan"] = body["kecamatan"]
    if "victims" in body:
        victims = body["victims"]
        if victims is not None and (isinstance(victims, bool) or not isinstance(victims, int)):
            raise IncidentInvalid("victims: a whole number, or null when not known")
        if victims is not None and not 0 <= victims <= MAX_VICTIMS:
            raise IncidentInvalid(f"victims: between 0 and {MAX_VICTIMS}")
        fields["victims"] = victims
    if "category" in body:
        if body["category"] not in ("", *categories):
            raise IncidentInvalid(f"category: one of the SOP's categories, not {body['category']!r}")
        fields["category"] = body["category"]
    if "agencies" in body:
        fields["agencies"] = _names(body["agencies"], "agencies", agencies)
    if "checklist" in body:
        checklist = body["checklist"]
        if not isinstance(checklist, list) or not all(isinstance(item, str) and len(item) <= 300 for item in checklist):
            raise IncidentInvalid("checklist: a list of the checklist lines ticked")
        fields["checklist"] = tuple(checklist[:50])
    return fields


def _names(value: Any, what: str, known: Collection[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise IncidentInvalid(f"{what}: a list of names")
    unknown = [item for item in value if item not in known]
    if unknown:
        names = ", ".join(sorted(unknown))
        raise IncidentInvalid(f"{what}: not in the SOP: {names} (known: {', '.join(sorted(known))})")
    return tuple(dict.fromkeys(value))


def check_transition(current: str, wanted: str) -> None:
    if wanted not in STATUSES:
        raise IncidentInvalid(f"status: one of {', '.join(STATUSES)}")
    if wanted != current and wanted not in NEXT_STATUS[current]:
        allowed = ", ".join(NEXT_STATUS[current]) or "none: it is closed"
        raise IncidentConflict(f"status: {current} → {wanted} is not allowed (next: {allowed})")
