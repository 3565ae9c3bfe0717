"""Asterisk's own records of a call, parsed without I/O: ``queue_log`` lines and ``cdr-csv`` rows.

Our service sees a call only while it runs the menu. What happens after (answered, abandoned in the
queue) and calls it never saw (our service down, killed or frozen: the dialplan's fallback) are in
Asterisk's records; ``ivr.store.reconcile`` folds them into our store.

queue_log: ``time|callid|queue|agent|event|data…`` (app_queue), and our dialplan's own lines: REQUEUE
(``…|NONE|REQUEUE|cause|requeue number|pause status|member interface``, [siaga-operator-left]): the
operator's phone was lost mid-call and the citizen went back to the central queue; SIAGAROUTE
(``…|NONE|NONE|SIAGAROUTE|action|target|category|hop``, [siaga-112]'s route labels): the route
taken, whoever chose it. cdr-csv with ``loguniqueid`` and ``loguserfield`` (asterisk-config/cdr.conf):
accountcode, src, dst, dcontext, clid, channel, dstchannel, lastapp, lastdata, start, answer, end,
duration, billsec, disposition, amaflags, uniqueid, userfield.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

# Marks a CDR as a 112 call (the dialplan sets CDR(userfield) at answer).
USERFIELD = "siaga112"
CDR_FIELDS = (
    "accountcode",
    "src",
    "dst",
    "dcontext",
    "clid",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
    "uniqueid",
    "userfield",
)
# Our dialplan's queue_log event: an answered citizen put back in the central queue (lost phone).
REQUEUE = "REQUEUE"
# Our dialplan's queue_log event: the route it took (``action|target|category|hop``), written as it
# takes it, whoever chose it (a FastAGI service, the last menu Asterisk read, the last line).
ROUTED = "SIAGAROUTE"
# How a queue visit ended, by queue_log event.
QUEUE_ENDINGS = {
    "CONNECT": "answered",
    "ABANDON": "abandoned",
    "EXITWITHTIMEOUT": "timeout",
    "EXITEMPTY": "empty",
    "EXITWITHKEY": "left_with_key",
}


@dataclass(frozen=True)
class QueueVisit:
    """A call's last queue visit so far, from queue_log."""

    uniqueid: str
    queue: str
    entered_at: datetime
    outcome: str = "waiting"  # answered | abandoned | timeout | empty | waiting
    wait_seconds: float = 0.0
    answered_by: str = ""
    visits: int = 1
    # The member interfaces whose phone was lost mid-call, each followed by a requeue, in order.
    lost_phones: tuple[str, ...] = ()


@dataclass(frozen=True)
class Routed:
    """The last route our dialplan took for a call, from its SIAGAROUTE line in queue_log."""

    uniqueid: str
    action: str  # queue | bridge
    target: str
    category: str
    hop: int
    at: datetime


@dataclass(frozen=True)
class CdrRow:
    uniqueid: str
    caller: str
    started_at: datetime
    duration: int
    disposition: str
    last_app: str


def fold_queue_log(lines: Iterable[str], visits: dict[str, QueueVisit] | None = None) -> dict[str, QueueVisit]:
    """Each call's latest queue visit, updated with ``lines`` (new lines of the file, in order)."""
    visits = {} if visits is None else visits
    for line in lines:
        parts = line.rstrip("\r\n").split("|")
        if len(parts) < 5:
            continue
        stamp, callid, queue, agent, event, data = parts[0], parts[1], parts[2], parts[3], parts[4], parts[5:]
        if callid in ("NONE", "MANAGER", "") or not stamp.isdigit():
            continue
        at = datetime.fromtimestamp(int(stamp), UTC)
        known = visits.get(callid)
        if known is not None and event == REQUEUE:
            lost = data[3] if len(data) > 3 and data[3] else "unknown"
            visits[callid] = replace(known, lost_phones=(*known.lost_phones, lost))
            continue
        if known is not None and known.outcome == "answered":
            # A human took the call; a transfer onwards (a later visit) does not undo that, nor its wait.
            if event == "ENTERQUEUE":
                visits[callid] = replace(known, visits=known.visits + 1)
            continue
        if event == "ENTERQUEUE":
            count = known.visits + 1 if known else 1
            visits[callid] = QueueVisit(callid, queue, at, visits=count)
            continue
        if known is None or event not in QUEUE_ENDINGS:
            continue
        outcome = QUEUE_ENDINGS[event]
        # CONNECT: holdtime|…; ABANDON: position|origposition|waittime; EXITWITHTIMEOUT: position|…
        wait = _number(data[0] if event == "CONNECT" else (data[2] if event == "ABANDON" and len(data) > 2 else ""))
        if not wait:
            wait = (at - known.entered_at).total_seconds()
        visits[callid] = replace(
            known, outcome=outcome, wait_seconds=wait, answered_by=agent if event == "CONNECT" else ""
        )
    return visits


def fold_routes(lines: Iterable[str], routes: dict[str, Routed] | None = None) -> dict[str, Routed]:
    """Each call's last route taken by the dialplan, updated with ``lines`` (new lines, in order)."""
    routes = {} if routes is None else routes
    marker = f"|{ROUTED}|"
    for line in lines:
        if marker not in line:
            continue  # most lines are app_queue's, already split by fold_queue_log
        parts = line.rstrip("\r\n").split("|")
        if len(parts) < 9 or parts[4] != ROUTED or not parts[0].isdigit() or parts[1] in ("NONE", ""):
            continue
        stamp, callid, (action, target, category, hop) = parts[0], parts[1], parts[5:9]
        at = datetime.fromtimestamp(int(stamp), UTC)
        routes[callid] = Routed(callid, action, target, category, int(_number(hop)), at)
    return routes


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def parse_cdr_rows(lines: Iterable[str]) -> list[CdrRow]:
    """The 112 calls among cdr-csv rows (``userfield`` siaga112); other rows and broken ones are skipped."""
    rows: list[CdrRow] = []
    for values in csv.reader(lines):
        if len(values) != len(CDR_FIELDS):
            continue
        row = dict(zip(CDR_FIELDS, values, strict=True))
        if row["userfield"] != USERFIELD or not row["uniqueid"]:
            continue
        try:
            started = datetime.fromisoformat(row["start"]).replace(tzinfo=UTC)
        except ValueError:
            continue
        rows.append(
            CdrRow(
                row["uniqueid"], row["src"], started, int(_number(row["duration"])), row["disposition"], row["lastapp"]
            )
        )
    return rows
