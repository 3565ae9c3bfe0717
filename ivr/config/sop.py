"""The SOP (``sop/*.yaml``): agencies with their queues, and incident categories, as frozen models."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ivr.config.nodes import Node

QUEUE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
STRATEGIES = ("ringall", "rrmemory", "leastrecent", "fewestcalls", "random", "linear")


@dataclass(frozen=True)
class Queue:
    name: str
    agency: str
    strategy: str = "ringall"
    ring_seconds: int = 15


@dataclass(frozen=True)
class Agency:
    name: str
    label: str
    queues: tuple[Queue, ...]
    central: bool = False


@dataclass(frozen=True)
class Category:
    name: str
    label: str
    emergency: bool
    priority: int
    queue: str
    checklist: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sop:
    agencies: dict[str, Agency]
    categories: dict[str, Category]
    positions: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    # Where the agencies section is, for errors about the set of agencies as a whole.
    agencies_at: tuple[str, int, int] = ("sop", 1, 1)

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


def parse_agencies(section: Node, agencies: dict[str, Agency]) -> None:
    for name, spec in section.items():
        fields = spec.fields(("name", "queues"), ("central",))
        queues: list[Queue] = []
        if "queues" in fields:
            for queue_name, queue_spec in fields["queues"].items():
                if not QUEUE_NAME.match(queue_name):
                    queue_spec.error("queue names are lower-case letters, digits, '-' and '_'")
                    continue
                queues.append(_parse_queue(queue_name, name, queue_spec))
        central = fields["central"].boolean() if "central" in fields else False
        label = fields["name"].text() if "name" in fields else name
        agencies[name] = Agency(name, label, tuple(queues), central)


def _parse_queue(name: str, agency: str, spec: Node) -> Queue:
    if not spec.is_mapping() and spec.kind() == "nothing":
        return Queue(name, agency)
    fields = spec.fields((), ("strategy", "ring_seconds"))
    strategy = fields["strategy"].choice(STRATEGIES) if "strategy" in fields else "ringall"
    ring = fields["ring_seconds"].integer(5, 120) if "ring_seconds" in fields else 15
    return Queue(name, agency, strategy, ring)


def parse_categories(section: Node, categories: dict[str, Category],
                     positions: dict[str, tuple[str, int, int]]) -> None:
    for name, spec in section.items():
        fields = spec.fields(("label", "emergency", "priority", "queue"), ("checklist",))
        if len(fields) < 4 and not all(k in fields for k in ("label", "emergency", "priority", "queue")):
            continue
        checklist: tuple[str, ...] = ()
        if "checklist" in fields:
            checklist = tuple(item.text() for item in fields["checklist"].sequence())
        categories[name] = Category(
            name, fields["label"].text(), fields["emergency"].boolean(),
            fields["priority"].integer(0, 100), fields["queue"].text(), checklist,
        )
        queue = fields["queue"]
        positions[name] = (queue.file, queue.line, queue.col)
