"""The SOP (``sop/*.yaml``) as frozen models: agencies (queues, hours, bridge), incident categories
(priority, route, maximum wait, overflow chain, checklist), holidays, prank rules, neighbouring 112
centers. Each section may live in any file under ``sop/``.

The tables of fields (``QUEUE``, ``AGENCY``, ``CATEGORY``, ``SOP_FILE``...) are the one spec: the loader
reads through them, the dataclass defaults come from them and ``ivr schema`` is generated from them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr.config.nodes import Node
from ivr.config.roster import OPERATORS, SECRETS, Operator, RosterParts
from ivr.config.spec import (
    DATE,
    NAME,
    PLAIN_NAMES,
    Boolean,
    Choice,
    Date,
    Field,
    Found,
    Integer,
    Key,
    ListOf,
    MapOf,
    Obj,
    Ref,
    Text,
    text_schema,
)

QUEUE_NAME = NAME
# What Asterisk may dial for a bridge route: a technology and a plain resource, nothing to expand.
DIAL_TARGET = re.compile(r"(PJSIP|Local|IAX2|DAHDI)/[A-Za-z0-9@._+-]{1,80}")
STRATEGIES = ("ringall", "rrmemory", "leastrecent", "fewestcalls", "random", "linear")
ROUTES = ("queue", "bridge")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOURS_RANGE = re.compile(
    r"(?P<days>[a-z]{3}(?:-[a-z]{3})?(?:,[a-z]{3}(?:-[a-z]{3})?)*) "
    r"(?P<start>\d\d:\d\d)-(?P<end>\d\d:\d\d)"
)
HOURS_HELP = "expected '24/7' or ranges like 'mon-fri 08:00-16:00'"


@dataclass(frozen=True)
class Hours:
    """When an agency takes calls. Holidays close an agency that is not 24/7."""

    always: bool = True
    ranges: tuple[tuple[frozenset[int], time, time], ...] = ()
    text: str = "24/7"

    def as_yaml(self) -> str:
        return self.text

    def open_at(self, local: datetime, holiday: bool) -> bool:
        if self.always:
            return True
        if holiday:
            return False
        now = local.time()
        for days, start, end in self.ranges:
            if start <= end and local.weekday() in days and start <= now < end:
                return True
            if start > end:  # over midnight: 22:00-06:00 belongs to the day it starts on
                if local.weekday() in days and now >= start:
                    return True
                if (local.weekday() - 1) % 7 in days and now < end:
                    return True
        return False


class HoursKind:
    """'24/7', one range like 'mon-fri 08:00-16:00', or a list of ranges (over midnight: 22:00-06:00)."""

    def read(self, at: Node) -> Hours:
        return _hours(at)

    def schema(self) -> dict[str, Any]:
        day = f"(?:{'|'.join(DAYS)})"
        clock = "(?:[01][0-9]|2[0-3]):[0-5][0-9]"
        one = re.compile(f"{day}(?:-{day})?(?:,{day}(?:-{day})?)* {clock}-{clock}")
        return {
            "oneOf": [{"const": "24/7"}, text_schema(one), {"type": "array", "items": text_schema(one), "minItems": 1}]
        }


class TimeZoneKind:
    """A time zone of the tz database; '' when unknown (reported)."""

    def read(self, at: Node) -> str:
        zone = at.text()
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            at.error(f"unknown time zone '{zone}' (e.g. Asia/Jakarta)")
            return ""
        return zone

    def schema(self) -> dict[str, Any]:
        return {"type": "string"}


RING = "seconds a call rings before the next step"
QUEUE = Obj(
    (
        Field("strategy", Choice(STRATEGIES), "how the queue rings its call-takers", default="ringall"),
        Field("ring_seconds", Integer(5, 120), RING, default=15),
    ),
    nullable=True,
)
BRIDGE = Obj(
    (
        Field(
            "target",
            Text(DIAL_TARGET, "expected a dial target like 'PJSIP/damkar-posko' or 'Local/x@context'"),
            "what Asterisk dials for a 'bridge' route",
            required=True,
        ),
        Field("ring_seconds", Integer(5, 120), RING, default=20),
    )
)
AGENCY = Obj(
    (
        Field("name", Text(), "the agency's name, for people", required=True),
        Field(
            "queues",
            MapOf(QUEUE, Key(NAME, f"queue names are {PLAIN_NAMES}")),
            "its queues by name (the first takes its calls)",
            required=True,
        ),
        Field("central", Boolean(), "the 24/7 central call-takers (exactly one agency)", default=False),
        Field("hours", HoursKind(), "when it takes calls; closed on holidays unless 24/7", default=Hours()),
        Field(
            "after_hours",
            Ref(NAME),
            "the queue that takes its calls when it is closed ('': the central one)",
            default="",
        ),
        Field("bridge", BRIDGE, "a direct line for categories with 'route: bridge'"),
    )
)
CATEGORY = Obj(
    (
        Field("label", Text(), "the category's name, for people", required=True),
        Field("emergency", Boolean(), "whether it is an emergency (the emergency budget applies)", required=True),
        Field("priority", Integer(0, 100), "queue priority (higher is answered first)", required=True),
        Field("queue", Ref(NAME), "the queue its calls go to", required=True),
        Field("checklist", ListOf(Text()), "what the call-taker asks", default=()),
        Field("route", Choice(ROUTES), "'queue', or 'bridge' (the agency's direct line first)", default="queue"),
        Field("max_wait", Integer(0, 3600), "seconds in the first queue before the overflow (0: no limit)", default=0),
        Field("overflow", ListOf(Ref(NAME)), "queues tried next, in order", default=()),
        Field(
            "skip_busy",
            Boolean(),
            "pass over an agency queue at once when all its ready operators are on a call (false: wait there "
            "up to max_wait); the central queue is never passed over",
            default=True,
        ),
        Field(
            "wrapup_seconds",
            Integer(0, 600),
            "seconds the call-taker has after such a call before the next one rings (a junk outcome ends it)",
            default=30,
        ),
    )
)
PRANK = Obj(
    (
        Field("window_days", Integer(1, 365), "days over which calls of one number are counted", default=30),
        Field("prank_threshold", Integer(1, 100), "prank calls in the window that flag a number", default=3),
        Field("silent_threshold", Integer(1, 100), "silent calls in the window that flag a number", default=5),
        Field(
            "flag_hours",
            ListOf(Integer(1, 24 * 365)),
            "hours a flag lasts: the first, the second, and every later flag",
            default=(24, 72, 720),
        ),
        Field("priority", Integer(0, 100), "queue priority of a flagged number (never a block)", default=0),
        Field("warning_prompt", Text(), "a prompt played to a flagged number ('': none)", default=""),
        Field("whitelist", ListOf(Text()), "numbers never flagged", default=()),
    )
)
NEIGHBOUR = Obj(
    (
        Field("name", Text(), "the center's name, for people", required=True),
        Field(
            "target",
            Text(DIAL_TARGET, "expected a dial target like 'PJSIP/112-kota-tangerang'"),
            "what Asterisk dials to reach it",
            required=True,
        ),
    )
)
_SECTIONS = (
    Field("timezone", TimeZoneKind(), "the time zone of the hours", default="Asia/Jakarta"),
    Field(
        "recording_retention_days",
        Integer(1, 3650),
        "days a call's recording is kept; then it is deleted (and the deletion audited)",
        default=90,
    ),
    Field("agencies", MapOf(AGENCY), "agencies by name"),
    Field(
        "categories",
        MapOf(CATEGORY, Key(NAME, f"category names are {PLAIN_NAMES}")),
        "incident categories by name (the flows route to them)",
    ),
    Field(
        "holidays",
        MapOf(Text(), Key(DATE, "'{key}' is not a date like 2026-08-17", date=True)),
        "national holidays: date → name",
    ),
    Field(
        "holidays_until",
        Date("expected the last day the holidays were checked through, like 2026-12-31"),
        "the last day the holiday list was checked through (default: the last holiday listed)",
    ),
    Field("prank", PRANK, "triage of numbers that keep pranking"),
    Field("neighbours", MapOf(NEIGHBOUR), "neighbouring 112 centers by name"),
    Field("operators", OPERATORS, "the operator roster by id: name, role, agency, queues (passwords: `ivr passwd`)"),
)
SOP_SECTIONS = tuple(section.name for section in _SECTIONS)
SOP_FILE = Obj(
    _SECTIONS,
    title="Siaga 112 SOP file (sop/*.yaml): any of these sections, in any file",
    not_empty=f"expected one of: {', '.join(SOP_SECTIONS)}",
    refuse=SECRETS,
)


def queue_position(queue: str) -> str:
    """The key under which ``Sop.positions`` holds where a queue is defined."""
    return f"queues.{queue}"


@dataclass(frozen=True)
class Queue:
    name: str
    agency: str
    strategy: str = QUEUE.default("strategy")
    ring_seconds: int = QUEUE.default("ring_seconds")


@dataclass(frozen=True)
class Bridge:
    target: str
    ring_seconds: int = BRIDGE.default("ring_seconds")


@dataclass(frozen=True)
class Agency:
    name: str
    label: str
    queues: tuple[Queue, ...]
    central: bool = AGENCY.default("central")
    hours: Hours = AGENCY.default("hours")  # noqa: RUF009 -- a frozen Hours, shared safely
    after_hours: str = AGENCY.default("after_hours")
    bridge: Bridge | None = None


@dataclass(frozen=True)
class Category:
    name: str
    label: str
    emergency: bool
    priority: int
    queue: str
    checklist: tuple[str, ...] = CATEGORY.default("checklist")
    route: str = CATEGORY.default("route")
    max_wait: int = CATEGORY.default("max_wait")
    overflow: tuple[str, ...] = CATEGORY.default("overflow")
    wrapup_seconds: int = CATEGORY.default("wrapup_seconds")
    skip_busy: bool = CATEGORY.default("skip_busy")


@dataclass(frozen=True)
class PrankRules:
    """Triage of numbers that keep pranking: never a block, a lower place in the queue for a while."""

    window_days: int = PRANK.default("window_days")
    prank_threshold: int = PRANK.default("prank_threshold")
    silent_threshold: int = PRANK.default("silent_threshold")
    flag_hours: tuple[int, ...] = PRANK.default("flag_hours")
    priority: int = PRANK.default("priority")
    warning_prompt: str = PRANK.default("warning_prompt")
    whitelist: tuple[str, ...] = PRANK.default("whitelist")


@dataclass(frozen=True)
class Neighbour:
    name: str
    label: str
    target: str


@dataclass(frozen=True)
class Sop:
    agencies: dict[str, Agency]
    categories: dict[str, Category]
    positions: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    # Where the agencies section is, for errors about the set of agencies as a whole.
    agencies_at: tuple[str, int, int] = ("sop", 1, 1)
    holidays: dict[date, str] = field(default_factory=dict)
    prank: PrankRules = field(default_factory=PrankRules)
    neighbours: dict[str, Neighbour] = field(default_factory=dict)
    timezone: str = SOP_FILE.default("timezone")
    # The last day the holiday list was checked through (None: the last holiday listed); see config/calendar.py.
    holidays_until: date | None = None
    operators: dict[str, Operator] = field(default_factory=dict)
    recording_retention_days: int = SOP_FILE.default("recording_retention_days")

    @property
    def queues(self) -> dict[str, Queue]:
        return {queue.name: queue for agency in self.agencies.values() for queue in agency.queues}

    @property
    def central_queue(self) -> Queue:
        """The 24/7 call-takers: where every fallback ends."""
        for agency in self.agencies.values():
            if agency.central and agency.queues:
                return agency.queues[0]
        raise LookupError("no central agency")

    def agency_of(self, queue: str) -> Agency | None:
        for agency in self.agencies.values():
            if any(q.name == queue for q in agency.queues):
                return agency
        return None

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass
class SopParts:
    """What the sop/ files say, collected across files before the cross-checks."""

    agencies: dict[str, Agency] = field(default_factory=dict)
    categories: dict[str, Category] = field(default_factory=dict)
    positions: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    agencies_at: tuple[str, int, int] = ("sop", 1, 1)
    holidays: dict[date, str] = field(default_factory=dict)
    prank: PrankRules = field(default_factory=PrankRules)
    neighbours: dict[str, Neighbour] = field(default_factory=dict)
    timezone: str = SOP_FILE.default("timezone")
    holidays_until: date | None = None
    refs: list[tuple[Node, str]] = field(default_factory=list)  # (where, queue name) to check
    roster: RosterParts = field(default_factory=RosterParts)
    recording_retention_days: int = SOP_FILE.default("recording_retention_days")

    def build(self) -> Sop:
        return Sop(
            self.agencies,
            self.categories,
            self.positions,
            self.agencies_at,
            self.holidays,
            self.prank,
            self.neighbours,
            self.timezone,
            self.holidays_until,
            self.roster.operators,
            self.recording_retention_days,
        )


def parse_sop_file(top: Node, parts: SopParts) -> None:
    found = SOP_FILE.read(top)
    if found["timezone"] and "timezone" in found:  # an unknown zone was reported
        parts.timezone = found["timezone"]
    if "recording_retention_days" in found:
        parts.recording_retention_days = found["recording_retention_days"]
    if "agencies" in found:
        section = found.node("agencies")
        parts.agencies_at = (section.file, section.line, section.col)
        for name, agency in found["agencies"].items():
            parts.agencies[name] = _agency(name, agency, parts)
    if "categories" in found:
        for name, category in found["categories"].items():
            if category.complete:
                parts.categories[name] = _category(name, category, parts)
    if "holidays" in found:
        section = found.node("holidays")
        for day, holiday in found["holidays"].items():
            parts.holidays[date.fromisoformat(day)] = holiday
            at = section.get(day)
            if at is not None:
                parts.positions[at.path] = (at.file, at.line, at.col)
    if "holidays_until" in found and found["holidays_until"] is not None:
        until = found.node("holidays_until")
        parts.holidays_until = found["holidays_until"]
        parts.positions["holidays_until"] = (until.file, until.line, until.col)
    if "prank" in found:
        parts.prank = _prank(found["prank"])
    if "neighbours" in found:
        for name, neighbour in found["neighbours"].items():
            label = neighbour["name"] if "name" in neighbour else name
            parts.neighbours[name] = Neighbour(name, label, neighbour["target"] if "target" in neighbour else "")
    if "operators" in found:
        parts.roster.read(found["operators"])


def _hours(spec: Node) -> Hours:
    if not spec.is_mapping() and spec.node.tag != "tag:yaml.org,2002:seq":
        text = spec.text()
        if text == "24/7":
            return Hours()
        items = [spec]
    else:
        items = spec.sequence()
        if spec.is_sequence() and not items:
            spec.error(f"{HOURS_HELP}, got an empty list")  # no range at all would close the agency for good
    ranges = []
    for item in items:
        text = item.text()
        match = HOURS_RANGE.fullmatch(text)
        if match is None:
            item.error(f"{HOURS_HELP}, got {text!r}")
            continue
        days: set[int] = set()
        for part in match["days"].split(","):
            first, _, last = part.partition("-")
            if first not in DAYS or (last and last not in DAYS):
                item.error(f"days are {', '.join(DAYS)}, got '{part}'")
                continue
            start, end = DAYS.index(first), DAYS.index(last or first)
            days.update(range(start, end + 1) if start <= end else [*range(start, 7), *range(0, end + 1)])
        try:
            ranges.append((frozenset(days), time.fromisoformat(match["start"]), time.fromisoformat(match["end"])))
        except ValueError:
            item.error(f"{HOURS_HELP}, got {text!r}")
    text = "; ".join(item.text() for item in items)
    return Hours(False, tuple(ranges), text)


def _agency(name: str, found: Found, parts: SopParts) -> Agency:
    queues = tuple(
        Queue(queue_name, name, queue["strategy"], queue["ring_seconds"])
        for queue_name, queue in (found["queues"] if "queues" in found else {}).items()
    )
    for queue in queues:  # where each queue's name is written, for ivr check's warning about a queue nobody staffs
        at = found.node("queues").key(queue.name)
        parts.positions[queue_position(queue.name)] = (at.file, at.line, at.col)
    hours: Hours = found["hours"]
    if found["central"] and not hours.always and "hours" in found:
        found.node("hours").error("the central call-takers answer 24/7: remove 'hours' or set '24/7'")
    if "after_hours" in found:
        at = found.node("after_hours")
        parts.refs.append((at, found["after_hours"]))
        parts.positions[f"agencies.{name}.after_hours"] = (at.file, at.line, at.col)  # for loops (config/chains.py)
    bridge = None
    if "bridge" in found:
        spec: Found = found["bridge"]
        bridge = Bridge(spec["target"] if "target" in spec else "", spec["ring_seconds"])
    label = found["name"] if "name" in found else name
    return Agency(name, label, queues, found["central"], hours, found["after_hours"], bridge)


def _category(name: str, found: Found, parts: SopParts) -> Category:
    for index, item in enumerate(found.node("overflow").elements() if "overflow" in found else []):
        parts.refs.append((item, found["overflow"][index]))
        parts.positions[f"categories.{name}.overflow[{index}]"] = (item.file, item.line, item.col)
    queue = found.node("queue")
    parts.positions[name] = (queue.file, queue.line, queue.col)
    parts.refs.append((queue, found["queue"]))
    if found["route"] == "bridge":
        route = found.node("route")
        parts.positions[f"{name}.route"] = (route.file, route.line, route.col)
    return Category(
        name,
        found["label"],
        found["emergency"],
        found["priority"],
        found["queue"],
        found["checklist"],
        found["route"],
        found["max_wait"],
        found["overflow"],
        found["wrapup_seconds"],
        found["skip_busy"],
    )


def _prank(found: Found) -> PrankRules:
    values = {spec.name: found[spec.name] for spec in PRANK.fields}
    values["flag_hours"] = values["flag_hours"] or PRANK.default("flag_hours")  # an empty list: the default
    return PrankRules(**values)
