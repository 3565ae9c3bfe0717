"""Call records → the center's figures for a period: pure counting, no I/O.

The period table has the columns Diskominfo publishes (total, prank, ghost, genuine, informasi) plus
what the published figures leave out so every call is counted once: misdial, transferred and
unclassified (no outcome given: abandoned calls, or an operator who closed none). Days, months and
hours of day are the SOP's time zone (Asia/Jakarta has no daylight saving time, so every local day
has 24 hours). Answer time is the seconds a caller waited in the queue before an operator answered
(``queue_wait`` from Asterisk's queue_log): the menu's seconds before it are not in it, so the NENA
shares here are those of the queue, the part the center's staffing decides.

Rows never carry a caller number (see ``CallRow``): nothing built from them can leak one.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from ivr.config.roster import Operator
from ivr.config.sop import Sop

# The operator's outcome (ivr.routing.triage.DISPOSITIONS) → the column it is counted in.
COLUMN_OF = {
    "prank": "prank",
    "silent": "ghost",
    "genuine": "genuine",
    "info": "informasi",
    "misdial": "misdial",
    "transferred": "transferred",
}


@dataclass(frozen=True)
class NenaTarget:
    seconds: float
    share: float  # of the answered calls, answered within ``seconds``


# NENA call answering standard (NENA-STA-020): 90% answered within 15 s, 95% within 20 s.
NENA_TARGETS = (NenaTarget(15.0, 0.90), NenaTarget(20.0, 0.95))
ANSWER_BIN_SECONDS = 5.0
ANSWER_BINS_UP_TO = 60.0  # longer waits share one last bin
# Queue outcomes in the order a report lists them (ivr.store.asterisk_records.QUEUE_ENDINGS, and '').
QUEUE_OUTCOMES = ("answered", "abandoned", "timeout", "empty", "left_with_key", "waiting", "none")
MAX_PERIOD_DAYS = 366
NONE_KEY = ""  # a call with no category, queue or agency (hung up in the menu before a route)


class InvalidPeriod(ValueError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


@dataclass(frozen=True)
class CallRow:
    """What a report needs of one call; deliberately without the caller's number or name."""

    uniqueid: str
    started_at: datetime  # aware
    category: str = ""
    queue: str = ""
    disposition: str = ""
    queue_outcome: str = ""
    queue_wait: float = 0.0
    answered_by: str = ""
    ivr_outcome: str = ""  # routed | abandoned_in_ivr | failed | fallback
    # Operators' phones lost mid-call (member interfaces), each followed by a requeue of the citizen.
    lost_phones: tuple[str, ...] = ()

    @classmethod
    def from_store(cls, row: Mapping[str, Any]) -> CallRow:
        """A row of ``CallStore.calls_between``; raises ValueError on a start time that is not ISO 8601."""
        started = datetime.fromisoformat(str(row["started_at"]))
        if started.tzinfo is None:  # both writers store UTC with an offset; an older row may lack it
            started = started.replace(tzinfo=UTC)
        return cls(
            uniqueid=str(row["uniqueid"]),
            started_at=started,
            category=str(row.get("category") or ""),
            queue=str(row.get("queue") or ""),
            disposition=str(row.get("disposition") or ""),
            queue_outcome=str(row.get("queue_outcome") or ""),
            queue_wait=float(row.get("queue_wait") or 0.0),
            answered_by=str(row.get("answered_by") or ""),
            ivr_outcome=str(row.get("outcome") or ""),
            lost_phones=tuple(str(row.get("lost_phones") or "").split()),
        )


@dataclass(frozen=True)
class Counts:
    """One line of the period table."""

    total: int = 0
    prank: int = 0
    ghost: int = 0
    genuine: int = 0
    informasi: int = 0
    misdial: int = 0
    transferred: int = 0
    unclassified: int = 0

    @classmethod
    def of(cls, rows: Iterable[CallRow]) -> Counts:
        tally = Counter(COLUMN_OF.get(row.disposition, "unclassified") for row in rows)
        return cls(total=sum(tally.values()), **tally)

    def as_dict(self) -> dict[str, int]:
        return {column.name: getattr(self, column.name) for column in fields(self)}


COLUMNS = tuple(column.name for column in fields(Counts))


@dataclass(frozen=True)
class Line:
    """A row of a breakdown: a stable key (a category, agency, operator id...), words for people, counts."""

    key: str
    label: str
    counts: Counts


@dataclass(frozen=True)
class AnswerTimes:
    answered: int
    within_15: int
    within_20: int
    abandoned: int  # hung up while queued
    abandoned_in_ivr: int  # hung up in the menu, before any queue
    bins: tuple[int, ...]  # answered calls per ANSWER_BIN_SECONDS slot, (low, high]; the last: over ANSWER_BINS_UP_TO
    longest: float

    @property
    def share_15(self) -> float | None:
        return self.within_15 / self.answered if self.answered else None

    @property
    def share_20(self) -> float | None:
        return self.within_20 / self.answered if self.answered else None

    def nena(self) -> tuple[tuple[NenaTarget, float | None, bool], ...]:
        """Each target with its share and whether it is met; with no answered call, nothing missed it."""
        within = (self.within_15, self.within_20)
        return tuple(
            (target, count / self.answered if self.answered else None, count >= target.share * self.answered)
            for target, count in zip(NENA_TARGETS, within, strict=True)
        )

    @property
    def meets_nena(self) -> bool | None:
        if not self.answered:
            return None
        return all(met for _target, _share, met in self.nena())


@dataclass(frozen=True)
class Period:
    """Days ``start`` to ``end`` inclusive, in ``zone``."""

    start: date
    end: date
    zone: tzinfo

    def bounds(self) -> tuple[datetime, datetime]:
        """The period as UTC instants: [start's midnight, the midnight after end)."""
        first = datetime.combine(self.start, time(0), self.zone).astimezone(UTC)
        after = datetime.combine(self.end + timedelta(days=1), time(0), self.zone).astimezone(UTC)
        return first, after

    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def months(self) -> list[str]:
        return sorted({day.strftime("%Y-%m") for day in self.days()})


def parse_period(start: str | None, end: str | None, today: date, zone: tzinfo) -> Period:
    """``from``/``to`` as YYYY-MM-DD; missing ``from``: the first of ``to``'s month; missing ``to``: today."""
    end_day = _day(end, "to") if end else today
    start_day = _day(start, "from") if start else end_day.replace(day=1)
    if start_day > end_day:
        raise InvalidPeriod("period_reversed", f"'from' ({start_day}) is after 'to' ({end_day})")
    if (end_day - start_day).days + 1 > MAX_PERIOD_DAYS:
        raise InvalidPeriod("period_too_long", f"a report covers at most {MAX_PERIOD_DAYS} days")
    return Period(start_day, end_day, zone)


def _day(text: str, name: str) -> date:
    # fromisoformat alone would also take '20250101' and '2025-W01-1'
    if len(text) != 10 or text[4] != "-" or text[7] != "-" or not (text[:4] + text[5:7] + text[8:]).isdigit():
        raise InvalidPeriod("invalid_date", f"'{name}' must be a date like 2025-01-31, got {text[:40]!r}")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidPeriod("invalid_date", f"'{name}' is not a date in the calendar: {text!r}") from None


@dataclass(frozen=True)
class Report:
    period: Period
    totals: Counts
    days: tuple[Line, ...]
    months: tuple[Line, ...]
    categories: tuple[Line, ...]
    agencies: tuple[Line, ...]
    hours: tuple[Line, ...]  # 24 lines, 00 to 23, local time
    operators: tuple[Line, ...]  # who answered (answered_by), their calls' outcomes
    queue_outcomes: tuple[tuple[str, int], ...]
    answer_times: AnswerTimes
    requeued: int = 0  # calls put back in the central queue because the answering phone was lost
    skipped: int = 0  # rows outside the period (the store's query and ours disagree: none expected)


def build_report(rows: Iterable[CallRow], period: Period, sop: Sop) -> Report:
    first, after = period.bounds()
    inside: list[tuple[datetime, CallRow]] = []
    skipped = 0
    for row in rows:
        if first <= row.started_at < after:
            inside.append((row.started_at.astimezone(period.zone), row))
        else:
            skipped += 1
    calls = [row for _local, row in inside]
    by_day = _group((local.date().isoformat(), row) for local, row in inside)
    by_month = _group((local.strftime("%Y-%m"), row) for local, row in inside)
    by_hour = _group((f"{local.hour:02d}", row) for local, row in inside)
    return Report(
        period=period,
        totals=Counts.of(calls),
        days=tuple(_line(day.isoformat(), day.isoformat(), by_day) for day in period.days()),
        months=tuple(_line(month, month, by_month) for month in period.months()),
        categories=_breakdown(((row.category, row) for row in calls), _category_label(sop)),
        agencies=_breakdown(((_agency(sop, row.queue), row) for row in calls), _agency_label(sop)),
        hours=tuple(_line(f"{hour:02d}", f"{hour:02d}:00", by_hour) for hour in range(24)),
        operators=_breakdown(
            ((_operator_key(sop.operators, row.answered_by), row) for row in calls if row.answered_by),
            _operator_label(sop.operators),
        ),
        queue_outcomes=_queue_outcomes(calls),
        answer_times=answer_times(calls),
        requeued=sum(bool(row.lost_phones) for row in calls),
        skipped=skipped,
    )


def answer_times(calls: Iterable[CallRow]) -> AnswerTimes:
    rows = list(calls)
    waits = [max(0.0, row.queue_wait) for row in rows if row.queue_outcome == "answered"]
    slots = int(ANSWER_BINS_UP_TO / ANSWER_BIN_SECONDS) + 1
    bins = [0] * slots
    for wait in waits:
        # (low, high]: a wait of exactly 15 s is left of the 15 s line, as it counts as within 15 s
        slot = min(slots - 1, max(0, math.ceil(wait / ANSWER_BIN_SECONDS) - 1))
        bins[slot] += 1
    return AnswerTimes(
        answered=len(waits),
        within_15=sum(wait <= NENA_TARGETS[0].seconds for wait in waits),
        within_20=sum(wait <= NENA_TARGETS[1].seconds for wait in waits),
        abandoned=sum(row.queue_outcome == "abandoned" for row in rows),
        abandoned_in_ivr=sum(row.ivr_outcome == "abandoned_in_ivr" for row in rows),
        bins=tuple(bins),
        longest=max(waits, default=0.0),
    )


def _group(pairs: Iterable[tuple[str, CallRow]]) -> dict[str, list[CallRow]]:
    groups: dict[str, list[CallRow]] = {}
    for key, row in pairs:
        groups.setdefault(key, []).append(row)
    return groups


def _line(key: str, label: str, groups: Mapping[str, list[CallRow]]) -> Line:
    return Line(key, label, Counts.of(groups.get(key, ())))


def _breakdown(pairs: Iterable[tuple[str, CallRow]], label: Mapping[str, str]) -> tuple[Line, ...]:
    """Lines with at least one call, most calls first (ties by key), the calls without a key last."""
    groups = _group(pairs)
    lines = [Line(key, label.get(key, key), Counts.of(rows)) for key, rows in groups.items()]
    return tuple(sorted(lines, key=lambda line: (line.key == NONE_KEY, -line.counts.total, line.key)))


def _queue_outcomes(calls: list[CallRow]) -> tuple[tuple[str, int], ...]:
    tally = Counter(row.queue_outcome or "none" for row in calls)
    known = [(outcome, tally.pop(outcome, 0)) for outcome in QUEUE_OUTCOMES]
    return tuple(known + sorted(tally.items()))


def _agency(sop: Sop, queue: str) -> str:
    agency = next((name for name, agency in sop.agencies.items() if any(q.name == queue for q in agency.queues)), None)
    # A queue the SOP no longer has (renamed since the call) is shown as itself, not folded into another.
    return agency if agency is not None else (f"queue:{queue}" if queue else NONE_KEY)


def _category_label(sop: Sop) -> dict[str, str]:
    return {name: category.label for name, category in sop.categories.items()}


def _agency_label(sop: Sop) -> dict[str, str]:
    return {name: agency.label for name, agency in sop.agencies.items()}


def _operator_key(roster: Mapping[str, Operator], answered_by: str) -> str:
    """queue_log names the member as Asterisk knows it: the MemberName we gave (the operator's name),
    or the interface. Either is traced back to the roster's id; anyone else (a simulated operator, a
    desk added by hand) keeps the name Asterisk logged."""
    for operator in roster.values():
        if answered_by in (operator.name, operator.interface, operator.id):
            return operator.id
    return answered_by


def _operator_label(roster: Mapping[str, Operator]) -> dict[str, str]:
    return {operator.id: operator.name for operator in roster.values()}
