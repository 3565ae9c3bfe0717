"""The SOP (``sop/*.yaml``) as frozen models: agencies (queues, hours, bridge), incident categories
(priority, route, maximum wait, overflow chain, checklist), holidays, prank rules, neighbouring 112
centers. Each section may live in any file under ``sop/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr.config.nodes import Node

QUEUE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
# What Asterisk may dial for a bridge route: a technology and a plain resource, nothing to expand.
DIAL_TARGET = re.compile(r"(PJSIP|Local|IAX2|DAHDI)/[A-Za-z0-9@._+-]{1,80}")
STRATEGIES = ("ringall", "rrmemory", "leastrecent", "fewestcalls", "random", "linear")
ROUTES = ("queue", "bridge")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOURS_RANGE = re.compile(r"(?P<days>[a-z]{3}(?:-[a-z]{3})?(?:,[a-z]{3}(?:-[a-z]{3})?)*) "
                         r"(?P<start>\d\d:\d\d)-(?P<end>\d\d:\d\d)")
HOURS_HELP = "expected '24/7' or ranges like 'mon-fri 08:00-16:00'"
SOP_SECTIONS = ("timezone", "agencies", "categories", "holidays", "holidays_until", "prank", "neighbours")


@dataclass(frozen=True)
class Hours:
    """When an agency takes calls. Holidays close an agency that is not 24/7."""

    always: bool = True
    ranges: tuple[tuple[frozenset[int], time, time], ...] = ()
    text: str = "24/7"

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


@dataclass(frozen=True)
class Queue:
    name: str
    agency: str
    strategy: str = "ringall"
    ring_seconds: int = 15


@dataclass(frozen=True)
class Bridge:
    target: str
    ring_seconds: int = 20


@dataclass(frozen=True)
class Agency:
    name: str
    label: str
    queues: tuple[Queue, ...]
    central: bool = False
    hours: Hours = field(default_factory=Hours)
    # Where this agency's calls go when it is closed ('' = the central call-takers).
    after_hours: str = ""
    bridge: Bridge | None = None


@dataclass(frozen=True)
class Category:
    name: str
    label: str
    emergency: bool
    priority: int
    queue: str
    checklist: tuple[str, ...] = ()
    route: str = "queue"
    # Seconds a caller waits in the first queue before the next step of the overflow chain (0: no limit).
    max_wait: int = 0
    overflow: tuple[str, ...] = ()


@dataclass(frozen=True)
class PrankRules:
    """Triage of numbers that keep pranking: never a block, a lower place in the queue for a while."""

    window_days: int = 30
    prank_threshold: int = 3
    silent_threshold: int = 5
    # Hours a flag lasts: the first, the second, and every later flag of the same number.
    flag_hours: tuple[int, ...] = (24, 72, 720)
    priority: int = 0
    warning_prompt: str = ""
    whitelist: tuple[str, ...] = ()


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
    timezone: str = "Asia/Jakarta"
    # The last day the holiday list was checked through (None: the last holiday listed); see config/calendar.py.
    holidays_until: date | None = None

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
    timezone: str = "Asia/Jakarta"
    holidays_until: date | None = None
    refs: list[tuple[Node, str]] = field(default_factory=list)  # (where, queue name) to check

    def build(self) -> Sop:
        return Sop(self.agencies, self.categories, self.positions, self.agencies_at, self.holidays,
                   self.prank, self.neighbours, self.timezone, self.holidays_until)


def parse_sop_file(top: Node, parts: SopParts) -> None:
    sections = top.fields((), SOP_SECTIONS)
    if top.is_mapping() and not sections and not top.node.value:
        top.error(f"expected one of: {', '.join(SOP_SECTIONS)}")
    if "timezone" in sections:
        zone = sections["timezone"].text()
        try:
            ZoneInfo(zone)
            parts.timezone = zone
        except (ZoneInfoNotFoundError, ValueError):
            sections["timezone"].error(f"unknown time zone '{zone}' (e.g. Asia/Jakarta)")
    if "agencies" in sections:
        section = sections["agencies"]
        parts.agencies_at = (section.file, section.line, section.col)
        for name, spec in section.items():
            parts.agencies[name] = _agency(name, spec, parts)
    if "categories" in sections:
        for name, spec in sections["categories"].items():
            if not QUEUE_NAME.fullmatch(name):
                # The name travels into the dialplan (IVR_CATEGORY, events): plain names only.
                spec.error("category names are lower-case letters, digits, '-' and '_'")
                continue
            category = _category(name, spec, parts)
            if category is not None:
                parts.categories[name] = category
    if "holidays" in sections:
        for day, holiday in sections["holidays"].items():
            try:
                parts.holidays[date.fromisoformat(day)] = holiday.text()
                parts.positions[holiday.path] = (holiday.file, holiday.line, holiday.col)
            except ValueError:
                holiday.error(f"'{day}' is not a date like 2026-08-17")
    if "holidays_until" in sections:
        until = sections["holidays_until"]
        # Unquoted, YAML reads 2026-12-31 as a timestamp, which Node.text() refuses: take the scalar as written.
        written = until.node.value if isinstance(until.node.value, str) else ""  # a list or mapping: not a date
        try:
            parts.holidays_until = date.fromisoformat(written)
            parts.positions["holidays_until"] = (until.file, until.line, until.col)
        except ValueError:
            until.error(f"expected the last day the holidays were checked through, like 2026-12-31, got {until.kind()}")
    if "prank" in sections:
        parts.prank = _prank(sections["prank"])
    if "neighbours" in sections:
        for name, spec in sections["neighbours"].items():
            fields = spec.fields(("name", "target"))
            target = fields["target"].text() if "target" in fields else ""
            if target and not DIAL_TARGET.fullmatch(target):
                fields["target"].error("expected a dial target like 'PJSIP/112-kota-tangerang'")
            label = fields["name"].text() if "name" in fields else name
            parts.neighbours[name] = Neighbour(name, label, target)


def _hours(spec: Node) -> Hours:
    if not spec.is_mapping() and spec.node.tag != "tag:yaml.org,2002:seq":
        text = spec.text()
        if text == "24/7":
            return Hours()
        items = [spec]
    else:
        items = spec.sequence()
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


def _agency(name: str, spec: Node, parts: SopParts) -> Agency:
    fields = spec.fields(("name", "queues"), ("central", "hours", "after_hours", "bridge"))
    queues: list[Queue] = []
    if "queues" in fields:
        for queue_name, queue_spec in fields["queues"].items():
            if not QUEUE_NAME.fullmatch(queue_name):
                queue_spec.error("queue names are lower-case letters, digits, '-' and '_'")
                continue
            queues.append(_queue(queue_name, name, queue_spec))
    central = fields["central"].boolean() if "central" in fields else False
    label = fields["name"].text() if "name" in fields else name
    hours = _hours(fields["hours"]) if "hours" in fields else Hours()
    if central and not hours.always and "hours" in fields:
        fields["hours"].error("the central call-takers answer 24/7: remove 'hours' or set '24/7'")
    after = ""
    if "after_hours" in fields:
        after = fields["after_hours"].text()
        parts.refs.append((fields["after_hours"], after))
        at = fields["after_hours"]
        parts.positions[f"agencies.{name}.after_hours"] = (at.file, at.line, at.col)  # for loops (config/chains.py)
    bridge = None
    if "bridge" in fields:
        bridge_fields = fields["bridge"].fields(("target",), ("ring_seconds",))
        target = bridge_fields["target"].text() if "target" in bridge_fields else ""
        if target and not DIAL_TARGET.fullmatch(target):
            bridge_fields["target"].error("expected a dial target like 'PJSIP/damkar-posko' or 'Local/x@context'")
        ring = bridge_fields["ring_seconds"].integer(5, 120) if "ring_seconds" in bridge_fields else 20
        bridge = Bridge(target, ring)
    return Agency(name, label, tuple(queues), central, hours, after, bridge)


def _queue(name: str, agency: str, spec: Node) -> Queue:
    if not spec.is_mapping() and spec.kind() == "nothing":
        return Queue(name, agency)
    fields = spec.fields((), ("strategy", "ring_seconds"))
    strategy = fields["strategy"].choice(STRATEGIES) if "strategy" in fields else "ringall"
    ring = fields["ring_seconds"].integer(5, 120) if "ring_seconds" in fields else 15
    return Queue(name, agency, strategy, ring)


def _category(name: str, spec: Node, parts: SopParts) -> Category | None:
    required = ("label", "emergency", "priority", "queue")
    fields = spec.fields(required, ("checklist", "route", "max_wait", "overflow"))
    if not all(key in fields for key in required):
        return None
    checklist: tuple[str, ...] = ()
    if "checklist" in fields:
        checklist = tuple(item.text() for item in fields["checklist"].sequence())
    route = fields["route"].choice(ROUTES) if "route" in fields else "queue"
    max_wait = fields["max_wait"].integer(0, 3600) if "max_wait" in fields else 0
    overflow: list[str] = []
    if "overflow" in fields:
        for index, item in enumerate(fields["overflow"].sequence()):
            overflow.append(item.text())
            parts.refs.append((item, overflow[-1]))
            parts.positions[f"categories.{name}.overflow[{index}]"] = (item.file, item.line, item.col)
    queue = fields["queue"]
    parts.positions[name] = (queue.file, queue.line, queue.col)
    parts.refs.append((queue, queue.text()))
    if route == "bridge":
        parts.positions[f"{name}.route"] = (fields["route"].file, fields["route"].line, fields["route"].col)
    return Category(name, fields["label"].text(), fields["emergency"].boolean(), fields["priority"].integer(0, 100),
                    queue.text(), checklist, route, max_wait, tuple(overflow))


def _prank(spec: Node) -> PrankRules:
    keys = ("window_days", "prank_threshold", "silent_threshold", "flag_hours", "priority", "warning_prompt",
            "whitelist")
    fields = spec.fields((), keys)
    defaults = PrankRules()
    flag_hours = defaults.flag_hours
    if "flag_hours" in fields:
        flag_hours = tuple(item.integer(1, 24 * 365) for item in fields["flag_hours"].sequence()) or flag_hours
    return PrankRules(
        window_days=fields["window_days"].integer(1, 365) if "window_days" in fields else defaults.window_days,
        prank_threshold=(fields["prank_threshold"].integer(1, 100) if "prank_threshold" in fields
                         else defaults.prank_threshold),
        silent_threshold=(fields["silent_threshold"].integer(1, 100) if "silent_threshold" in fields
                          else defaults.silent_threshold),
        flag_hours=flag_hours,
        priority=fields["priority"].integer(0, 100) if "priority" in fields else defaults.priority,
        warning_prompt=fields["warning_prompt"].text() if "warning_prompt" in fields else "",
        whitelist=tuple(item.text() for item in fields["whitelist"].sequence()) if "whitelist" in fields else (),
    )
