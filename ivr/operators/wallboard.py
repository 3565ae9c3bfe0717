"""The supervisor's wallboard: the floor's picture, from live state and today's calls. Pure: every
input is passed in, the clock too; ``ivr.web.wallboard`` gathers the inputs and pushes the result.

Today's figures follow the NENA call answering standard (90% of calls answered within 15 s, 95%
within 20 s), measured on each call's queue visit as Asterisk's queue_log recorded it (the store's
``queue_outcome`` and ``queue_wait``): the shares are of the calls an operator answered today. The
seconds in the menu before the queue are not in ``queue_wait`` and so not in these shares. Abandoned
calls are counted where the caller gave up (waiting in a queue, or still in the menu); prank and ghost
are what the operators classified (dispositions ``prank`` and ``silent``), out of all calls today.

How long an operator has been in their state is known from the state changes the service saw. A state
that was already in force when the service first looked (at its start, or after AMI came back) has no
known beginning: it counts from that first look and is marked ``since_exact: false`` (the page shows
"≥"). So after a restart of our service every "since" starts again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

from ivr.operators.states import AVAILABLE, LOGGED_OUT, ON_CALL, PAUSED, PHONE_OFFLINE, RINGING, WRAP_UP
from ivr.reports.aggregate import AnswerTimes, CallRow, Counts, answer_times

# Rows of the wallboard: who needs a look first (on a call, ringing), then who could take the next call.
STATE_ORDER = (ON_CALL, RINGING, AVAILABLE, WRAP_UP, PAUSED, PHONE_OFFLINE, LOGGED_OUT)


@dataclass(frozen=True)
class DayFigures:
    """Today's numbers, counted exactly as the period report counts them (ivr.reports.aggregate)."""

    times: AnswerTimes = field(default_factory=lambda: answer_times(()))
    counts: Counts = field(default_factory=Counts)

    def as_json(self) -> dict[str, Any]:
        times, counts = self.times, self.counts
        return {
            "calls": counts.total,
            "answered": times.answered,
            "answered_15": times.within_15,
            "answered_20": times.within_20,
            "nena": [
                {"seconds": int(target.seconds), "target": target.share, "share": _rounded(share), "met": met}
                for target, share, met in times.nena()
            ],
            "abandoned_queue": times.abandoned,
            "abandoned_ivr": times.abandoned_in_ivr,
            "prank": counts.prank,
            "prank_share": _share(counts.prank, counts.total),
            "ghost": counts.ghost,
            "ghost_share": _share(counts.ghost, counts.total),
        }


def _rounded(share: float | None) -> float | None:
    return None if share is None else round(share, 4)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def day_figures(rows: Iterable[CallRow]) -> DayFigures:
    calls = list(rows)
    return DayFigures(answer_times(calls), Counts.of(calls))


def day_bounds(now: datetime, zone: tzinfo) -> tuple[datetime, datetime]:
    """The center's calendar day around ``now`` (its own time zone, WIB), as UTC instants [start, end)."""
    day = now.astimezone(zone).date()
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass(frozen=True)
class Since:
    state: str
    reason: str | None
    at: float  # Unix seconds
    exact: bool  # False: the state was in force already when we first looked


class StateClock:
    """When each operator entered the state they are in, from the changes observed."""

    def __init__(self) -> None:
        self._since: dict[str, Since] = {}

    def observe(self, operator_id: str, state: str, reason: str | None, now: float, fresh_look: bool) -> Since:
        """``fresh_look``: the state was just read anew (first look, or a resync after AMI came back): a
        change seen now may have happened any time while we were not looking."""
        known = self._since.get(operator_id)
        if known is not None and (known.state, known.reason) == (state, reason):
            return known
        since = Since(state, reason, now, exact=known is not None and not fresh_look)
        self._since[operator_id] = since
        return since

    def get(self, operator_id: str) -> Since | None:
        return self._since.get(operator_id)

    def keep_only(self, operator_ids: Iterable[str]) -> None:
        """Forget operators who left the roster."""
        keep = set(operator_ids)
        for operator_id in [known for known in self._since if known not in keep]:
            del self._since[operator_id]


@dataclass(frozen=True)
class QueueNow:
    name: str
    label: str
    waiting: int
    longest_wait: float  # seconds, at the picture's time
    members: int  # logged in
    free: int  # could take a call now: not paused, not on a call, phone registered and idle
    paused: int


@dataclass(frozen=True)
class CallNow:
    """What the wallboard shows of an operator's call: the kind of call, not the caller."""

    uniqueid: str
    phase: str
    category_label: str
    emergency: bool
    queue: str


@dataclass(frozen=True)
class OperatorNow:
    id: str
    name: str
    role: str
    agency: str
    queues: tuple[str, ...]
    state: str
    reason: str | None
    since: float
    since_exact: bool
    call: CallNow | None = None


def floor_picture(
    now: float,
    live: bool,
    ivr_calls: int,
    queues: Sequence[QueueNow],
    operators: Sequence[OperatorNow],
    today: DayFigures,
) -> dict[str, Any]:
    """The wallboard message: the whole picture (sent on connect and on every change).

    ``now``: Unix seconds (the page counts waits and durations on from it); ``live``: the queue state
    is Asterisk's current one (False while AMI is down: the numbers are the last known)."""
    order = {state: position for position, state in enumerate(STATE_ORDER)}
    rows = sorted(operators, key=lambda op: (order.get(op.state, len(order)), op.name, op.id))
    by_state = {state: 0 for state in STATE_ORDER}
    for operator in operators:
        by_state[operator.state] = by_state.get(operator.state, 0) + 1
    return {
        "type": "floor",
        "at": round(now, 1),
        "live": live,
        "ivr_calls": ivr_calls,
        "waiting": sum(queue.waiting for queue in queues),
        "longest_wait": round(max((queue.longest_wait for queue in queues), default=0.0), 1),
        "queues": [
            {
                "name": queue.name,
                "label": queue.label,
                "waiting": queue.waiting,
                "longest_wait": round(queue.longest_wait, 1),
                "members": queue.members,
                "free": queue.free,
                "paused": queue.paused,
            }
            for queue in queues
        ],
        "by_state": by_state,
        "operators": [
            {
                "id": op.id,
                "name": op.name,
                "role": op.role,
                "agency": op.agency,
                "queues": list(op.queues),
                "state": op.state,
                "reason": op.reason,
                "since": round(op.since, 1),
                "since_exact": op.since_exact,
                "call": None
                if op.call is None
                else {
                    "uniqueid": op.call.uniqueid,
                    "phase": op.call.phase,
                    "category_label": op.call.category_label,
                    "emergency": op.call.emergency,
                    "queue": op.call.queue,
                },
            }
            for op in rows
        ],
        "today": today.as_json(),
    }
