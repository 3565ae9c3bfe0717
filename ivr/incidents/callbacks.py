"""The callback worklist: callers who hung up before a human heard them, to be called back.

Pure. Built from our call records (which also hold what Asterisk's queue_log and CDR say about calls
our service never saw: ``ivr.store.reconcile``), so the list is complete even when our service was
down as the caller hung up. A call is on the list when the caller hung up in the menu, hung up or
timed out waiting in a queue, or was a silent call; it leaves the list once someone reached them on
a callback, an operator said no callback is needed, or the same number later got through to a human.
Emergencies first, then the longest waiting. A withheld or garbled number is listed (someone
called 112) but cannot be dialled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ivr.config.sop import Sop

# A number we may dial back: digits only (the history key is already normalised: 08..., no +62).
DIALABLE = re.compile(r"0[0-9]{4,14}|1[0-9]{2,5}")
RESULTS = ("reached", "no_answer", "busy", "wrong_number", "not_needed")
# Results that take a call off the list.
DONE = ("reached", "not_needed")


@dataclass(frozen=True)
class Attempt:
    at: str
    operator: str
    result: str
    note: str = ""


@dataclass(frozen=True)
class CallbackEntry:
    uniqueid: str
    started_at: str
    caller: str
    keys: str
    category: str
    category_label: str
    emergency: bool
    why: str  # abandoned_in_ivr | abandoned_in_queue | silent
    waited_seconds: float
    callable: bool
    attempts: tuple[Attempt, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        return {
            "uniqueid": self.uniqueid,
            "started_at": self.started_at,
            "caller": self.caller,
            "keys": self.keys,
            "category": self.category,
            "category_label": self.category_label,
            "emergency": self.emergency,
            "why": self.why,
            "waited_seconds": round(self.waited_seconds, 1),
            "callable": self.callable,
            "attempts": [vars(attempt) for attempt in self.attempts],
        }


def why_listed(row: Mapping[str, Any]) -> str | None:
    if row.get("disposition") == "silent":
        return "silent"
    if row.get("queue_outcome") in ("abandoned", "timeout"):
        return "abandoned_in_queue"
    if row.get("outcome") == "abandoned_in_ivr":
        return "abandoned_in_ivr"
    return None


def dialable(caller: str) -> bool:
    return DIALABLE.fullmatch(caller) is not None


def worklist(
    rows: Iterable[Mapping[str, Any]], attempts: Mapping[str, Sequence[Attempt]], sop: Sop
) -> list[CallbackEntry]:
    """``rows``: call records of the period (``CallStore.callback_candidates``), any order."""
    ordered = sorted(rows, key=lambda row: str(row["started_at"]))
    # When each number last got through to a human: a later answered call settles the earlier ones.
    answered: dict[str, str] = {}
    for row in ordered:
        # A withheld number ("") is nobody in particular: it settles no one else's call.
        if row.get("queue_outcome") == "answered" and row.get("disposition") != "silent" and row["caller"]:
            answered[str(row["caller"])] = str(row["started_at"])
    entries = []
    for row in ordered:
        why = why_listed(row)
        uniqueid = str(row["uniqueid"])
        tried = tuple(attempts.get(uniqueid, ()))
        caller = str(row["caller"])
        if why is None or any(attempt.result in DONE for attempt in tried):
            continue
        if answered.get(caller, "") > str(row["started_at"]):
            continue
        category = sop.categories.get(str(row.get("category", "")))
        entries.append(
            CallbackEntry(
                uniqueid=uniqueid,
                started_at=str(row["started_at"]),
                caller=str(row.get("caller_raw") or caller),
                keys=str(row.get("keys", "")),
                category=category.name if category else "",
                category_label=category.label if category else "",
                # Unknown (hung up before choosing): treated as an emergency, as the menu treats silence.
                emergency=category.emergency if category else True,
                why=why,
                waited_seconds=float(row.get("queue_wait") or 0) + float(row.get("ivr_seconds") or 0),
                callable=dialable(caller),
                attempts=tried,
            )
        )
    return sorted(entries, key=lambda entry: (not entry.emergency, entry.started_at))
