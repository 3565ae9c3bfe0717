"""Pure routing: (what the caller chose, the SOP) → where the call goes, and why."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.config.sop import Sop


@dataclass(frozen=True)
class Decision:
    action: str  # 'queue' (bridge comes with the SOP routes)
    target: str  # a queue name from the SOP, never caller input
    priority: int
    category: str
    reason: str


def decide(category: str, sop: Sop) -> Decision:
    central = sop.central_queue
    chosen = sop.categories.get(category)
    if chosen is None:
        reason = "no category chosen: central call-takers" if not category else (
            f"category '{category}' not in the SOP: central call-takers")
        return Decision("queue", central.name, 0, category or "", reason)
    return Decision(
        "queue", chosen.queue, chosen.priority, chosen.name,
        f"category '{chosen.name}' ({chosen.label}) is routed to queue {chosen.queue}",
    )
