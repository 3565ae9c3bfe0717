"""Cross-checks of where a call goes when an agency is closed: no after-hours loop, no overflow that loops back.

``ivr.routing.decide`` ends on any SOP (each queue is considered once), so a loop cannot freeze a call;
it is still a mistake in the SOP (the admin wrote that a closed agency's calls go round in a circle,
or back to a queue the caller just left), and ``ivr check`` refuses it where it is written.

Only agencies that can close take part: the central agency is never skipped and an agency open 24/7 is
never closed, so their ``after_hours`` never moves a call.
"""

from __future__ import annotations

from ivr.config.errors import Problem
from ivr.config.sop import Agency, Sop

_UNKNOWN = ("sop", 1, 1)


def _closable(agency: Agency | None) -> Agency | None:
    return agency if agency is not None and not agency.central and not agency.hours.always else None


def _redirect(sop: Sop, agency: Agency) -> Agency | None:
    """The agency whose queue takes ``agency``'s calls when it is closed, if that one can close too."""
    return _closable(sop.agency_of(agency.after_hours)) if agency.after_hours else None


def _fix(central: str) -> str:
    return f"point one of them at the central queue '{central}' or at a 24/7 agency's queue"


def after_hours_loops(sop: Sop, central: str) -> list[Problem]:
    """Each cycle of after_hours redirections, once, at the ``after_hours`` that closes it.

    The cycle is named from its member listed first in the file, so the report does not depend on
    where a walk happened to start.
    """
    order = {name: index for index, name in enumerate(sop.agencies)}
    done: set[str] = set()
    problems: list[Problem] = []
    for agency in sop.agencies.values():
        path: list[Agency] = []
        where: dict[str, int] = {}
        current = _closable(agency)
        while current is not None and current.name not in where and current.name not in done:
            where[current.name] = len(path)
            path.append(current)
            current = _redirect(sop, current)
        done.update(where)
        if current is None or current.name not in where:
            continue
        cycle = path[where[current.name] :]
        first = min(range(len(cycle)), key=lambda i: order[cycle[i].name])
        cycle = cycle[first:] + cycle[:first]
        closing = cycle[-1].name
        names = " → ".join([*(member.name for member in cycle), cycle[0].name])
        key = f"agencies.{closing}.after_hours"
        problems.append(
            Problem(
                *sop.positions.get(key, _UNKNOWN),
                key,
                f"after-hours loop {names}: when all of them are closed, no one in the loop takes "
                f"the call; {_fix(central)}",
            )
        )
    return problems


def overflow_loops(sop: Sop, central: str) -> list[Problem]:
    """An overflow queue whose agency, when closed, sends calls back to a queue earlier in the same chain."""
    problems: list[Problem] = []
    for category in sop.categories.values():
        earlier = [category.queue]
        for index, queue in enumerate(category.overflow):
            back = _back_to(sop, queue, earlier, central)
            if back:
                key = f"categories.{category.name}.overflow[{index}]"
                start = earlier.index(back[-1])
                names = " → ".join([*earlier[start:], *back])
                owner = sop.agency_of(queue)
                label = owner.name if owner else queue
                problems.append(
                    Problem(
                        *sop.positions.get(key, _UNKNOWN),
                        key,
                        f"overflow loops back through after_hours: {names}; when {label} is closed, the call returns "
                        f"to a queue this category has already tried: point {label}'s after_hours at the central "
                        f"queue '{central}' or at a 24/7 agency's queue, or remove {queue} from "
                        f"this overflow",
                    )
                )
            earlier.append(queue)
    return problems


def _back_to(sop: Sop, queue: str, earlier: list[str], central: str) -> list[str]:
    """The after-hours redirections from ``queue`` up to a queue in ``earlier`` ([] if they never get there)."""
    walked = [queue]
    seen: set[str] = set()
    agency = _closable(sop.agency_of(queue))
    while agency is not None and agency.name not in seen:
        seen.add(agency.name)
        walked.append(agency.after_hours)
        # Back to the central queue is where every chain ends anyway, not a loop.
        if agency.after_hours in earlier and agency.after_hours != central:
            return walked
        agency = _redirect(sop, agency)
    return []


def chain_problems(sop: Sop) -> list[Problem]:
    try:
        central = sop.central_queue.name
    except LookupError:
        return []  # the missing central agency is reported by itself; every fix names the central queue
    return [*after_hours_loops(sop, central), *overflow_loops(sop, central)]
