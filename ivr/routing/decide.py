"""Pure routing: (category, SOP, clock, live queue state, caller standing) → where the call goes, and why.

Called once when the menu ends, and again each time a step of the chain cannot take the call
(a queue's wait ran out, it emptied, a bridge was not answered) with the steps already tried.
The chain is: the category's bridge (if its route is 'bridge'), its queue, its overflow queues,
and always, last, the central call-takers, who are never skipped and never time out. An agency queue
is passed over at once when nobody there is ready, and (the category's ``skip_busy``) when everyone
ready is on a call or already spoken for by a caller waiting there: a caller would wait out max_wait
behind them while the next step may have someone free.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ivr.config.sop import Sop

BRIDGE_STEP = "bridge"


@dataclass(frozen=True)
class QueueState:
    """What AMI says about a queue right now."""

    name: str
    members: int = 0
    # Logged in, not paused, device not unavailable: could take a call now or after the current one.
    ready: int = 0
    waiting: int = 0
    # Of the ready, those on a call now (a ringing one is not: it is about to take a waiting caller).
    on_call: int = 0

    @property
    def free(self) -> int:
        """Ready operators not on a call (idle, or ringing for a caller already waiting)."""
        return max(0, self.ready - self.on_call)

    @property
    def busy(self) -> bool:
        """Someone is ready, but a new caller would wait: every one of them is on a call or is the
        next for a caller already waiting here (priorities aside)."""
        return self.ready > 0 and self.free <= self.waiting


@dataclass(frozen=True)
class Standing:
    """A caller number's standing from its history (see ivr.store)."""

    flagged: bool = False
    level: int = 0
    until: datetime | None = None
    whitelisted: bool = False
    pranks: int = 0
    silent: int = 0

    @property
    def for_silence(self) -> bool:
        """Flagged for silent calls alone: in the window, calls closed as silent and none as prank."""
        return self.flagged and self.silent > 0 and self.pranks == 0


@dataclass(frozen=True)
class Decision:
    action: str  # 'queue' or 'bridge'
    target: str  # a queue name or a dial target, both from the SOP, never caller input
    priority: int
    category: str
    timeout: int  # seconds in this step before the next one (0: no limit)
    reason: str  # in English: the records, the logs, the admins
    warn: bool = False  # play the prank warning before queueing
    tried: tuple[str, ...] = field(default_factory=tuple)
    reason_id: str = ""  # the same in Indonesian: the call-taker's screen


@dataclass(frozen=True)
class Said:
    """One part of a routing explanation, in both languages it is read in."""

    en: str
    id: str


def _joined(parts: list[Said], sep: str = "; ") -> tuple[str, str]:
    return sep.join(part.en for part in parts), sep.join(part.id for part in parts)


def _busy(queue: str, state: QueueState) -> Said:
    """Why a queue counts as busy, in the words the console shows."""
    if state.free == 0 and state.ready == 1:
        on_call = Said("its one ready operator on a call", "satu-satunya petugas siapnya sedang menerima panggilan")
    elif state.free == 0:
        on_call = Said(
            f"all {state.ready} ready operators on a call",
            f"semua {state.ready} petugas siap sedang menerima panggilan",
        )
    else:
        on_call = Said(
            f"{state.on_call} of {state.ready} ready operators on a call",
            f"{state.on_call} dari {state.ready} petugas siap sedang menerima panggilan",
        )
    if state.waiting:
        on_call = Said(
            f"{on_call.en}, {state.waiting} already waiting", f"{on_call.id}, {state.waiting} penelepon sudah menunggu"
        )
    return Said(f"{queue}: busy, {on_call.en}", f"{queue}: sibuk, {on_call.id}")


def _prefix(category: str, sop: Sop) -> Said:
    chosen = sop.categories.get(category)
    if chosen is None:
        if not category:
            return Said("no category chosen", "tanpa kategori")
        return Said(f"category '{category}' not in the SOP", f"kategori '{category}' tidak ada di SOP")
    return Said(f"{chosen.name} ({chosen.label})", f"{chosen.name} ({chosen.label})")


def _central(central: str) -> Said:
    return Said(
        f"queue {central}: the central call-takers, 24/7, no time limit",
        f"antrean {central}: petugas pusat, 24 jam, tanpa batas waktu",
    )


def fallback_priority(sop: Sop) -> int:
    """The priority of a call whose category is unknown: the highest of the darurat categories."""
    return max((c.priority for c in sop.categories.values() if c.emergency), default=10)


def fallback_decision(sop: Sop, category: str, reason: str, reason_id: str = "") -> Decision:
    """The central call-takers at the emergency priority, for when routing itself failed or overran.
    ``reason``: what failed, in English; ``reason_id``: in Indonesian, when it differs.

    Needs nothing of the SOP but its central queue, so it holds when ``decide`` raised on the same SOP.
    """
    central = sop.central_queue.name
    name = category if category in sop.categories else ""
    english, indonesian = _joined([Said(reason, reason_id or reason), _central(central)])
    return Decision("queue", central, fallback_priority(sop), name, 0, english, tried=(central,), reason_id=indonesian)


def decide(
    category: str,
    sop: Sop,
    now: datetime,
    live: Mapping[str, QueueState] | None = None,
    standing: Standing | None = None,
    tried: tuple[str, ...] = (),
) -> Decision:
    """Where the call goes next. Terminates on any SOP, also one ``ivr check`` refuses (after-hours
    cycles, unknown queues): each queue is considered at most once, and the central queue ends the chain.
    """
    central = sop.central_queue.name
    chosen = sop.categories.get(category)
    reasons: list[Said] = [_prefix(category, sop)]
    priority = chosen.priority if chosen else fallback_priority(sop)
    warn = False
    if standing is not None and standing.flagged and not standing.whitelisted:
        priority = min(priority, sop.prank.priority)
        # Not for silent calls alone: on a pocket dial nobody hears the warning, and the one call from
        # that phone with somebody on it, maybe an emergency, would lose its seconds to a prank warning.
        warn = bool(sop.prank.warning_prompt) and not standing.for_silence
        until = standing.until.isoformat(timespec="minutes") if standing.until else "?"
        why = "silent calls, no warning" if standing.for_silence else "pranks"
        why_id = "panggilan diam, tanpa peringatan" if standing.for_silence else "iseng"
        reasons.append(
            Said(
                f"number flagged for {why} (level {standing.level}, until {until}): "
                f"priority {priority}, still queued for a human",
                f"nomor ditandai {why_id} (tingkat {standing.level}, sampai {until}): "
                f"prioritas {priority}, tetap diantrekan ke petugas",
            )
        )
    local = now.astimezone(sop.zone())
    holiday = sop.holidays.get(local.date())

    def result(action: str, target: str, timeout: int, why: Said) -> Decision:
        english, indonesian = _joined([*reasons, why])
        return Decision(
            action,
            target,
            priority,
            chosen.name if chosen else "",
            timeout,
            english,
            warn,
            (*tried, BRIDGE_STEP if action == "bridge" else target),
            indonesian,
        )

    if chosen is not None and chosen.route == "bridge" and BRIDGE_STEP not in tried:
        agency = sop.agency_of(chosen.queue)
        if agency is not None and agency.bridge is not None:
            if agency.hours.open_at(local, holiday is not None):
                bridge = agency.bridge
                return result(
                    "bridge",
                    bridge.target,
                    bridge.ring_seconds,
                    Said(
                        f"dial {agency.label} at {bridge.target}, ring {bridge.ring_seconds} s",
                        f"panggil {agency.label} di {bridge.target}, berdering {bridge.ring_seconds} detik",
                    ),
                )
            reasons.append(Said(f"{agency.label} closed, no bridge", f"{agency.label} tutup, tanpa sambungan langsung"))
    if tried:
        reasons.append(Said(f"after {', '.join(tried)}", f"setelah {', '.join(tried)}"))

    # The chain is consumed from the front; a closed agency puts its after-hours queue next. A queue
    # enters `seen` when first considered and is never considered again, and only a first
    # consideration can add to the chain, so the loop runs at most len(start) + len(sop.queues) times.
    chain = deque([*(([chosen.queue, *chosen.overflow]) if chosen else []), central])
    seen: set[str] = set()
    while chain:
        queue = chain.popleft()
        if queue == central:
            break
        if queue in seen or queue in tried:
            continue
        seen.add(queue)
        agency = sop.agency_of(queue)
        if agency is None:
            reasons.append(Said(f"{queue}: not a queue of the SOP, skipped", f"{queue}: bukan antrean SOP, dilewati"))
            continue
        if not agency.hours.open_at(local, holiday is not None):
            instead = agency.after_hours or central
            closed = (
                Said(f"holiday: {holiday}", f"hari libur: {holiday}")
                if holiday
                else Said(f"hours {agency.hours.text}", f"jam {agency.hours.text}")
            )
            again = Said(", already considered", ", sudah dipertimbangkan") if instead in seen else Said("", "")
            reasons.append(
                Said(
                    f"{agency.label} closed now ({closed.en}): its calls go to {instead}{again.en}",
                    f"{agency.label} tutup sekarang ({closed.id}): panggilannya ke {instead}{again.id}",
                )
            )
            chain.appendleft(instead)
            continue
        state = live.get(queue) if live is not None else None
        if state is not None and state.ready == 0:
            reasons.append(
                Said(
                    f"{queue}: no operator ready ({state.members} logged in, none available)",
                    f"{queue}: tidak ada petugas siap ({state.members} masuk, tak satu pun tersedia)",
                )
            )
            continue
        busy = _busy(queue, state) if state is not None and state.busy else None
        if busy and (chosen is None or chosen.skip_busy):
            reasons.append(Said(f"{busy.en}: next step at once", f"{busy.id}: langsung ke langkah berikutnya"))
            continue
        wait = chosen.max_wait if chosen else 0
        limit = (
            Said(
                f"wait at most {wait} s, then the next step",
                f"tunggu paling lama {wait} detik, lalu langkah berikutnya",
            )
            if wait
            else Said("no time limit", "tanpa batas waktu")
        )
        held = (
            Said(f"{busy.en}, waiting anyway (skip_busy: false); ", f"{busy.id}, tetap menunggu (skip_busy: false); ")
            if busy
            else Said("", "")
        )
        return result(
            "queue",
            queue,
            wait,
            Said(
                f"{held.en}queue {queue} ({agency.label}): {limit.en}",
                f"{held.id}antrean {queue} ({agency.label}): {limit.id}",
            ),
        )
    # Reached by the central queue in the chain (always there, last if nowhere earlier).
    return result("queue", central, 0, _central(central))
