"""``ivr check`` refuses after-hours loops and overflow chains that loop back, where they are written."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.check import check
from tests.unit.test_config_errors import edit

AGENCIES, CATEGORIES = "sop/agencies.yaml", "sop/categories.yaml"
REGU = "    name: Regu Api\n"
MEDIK = "    name: Tim Medis\n"
OFFICE = "    hours: mon-fri 08:00-16:00\n"
FIX = "point one of them at the central queue 'jaga-pusat' or at a 24/7 agency's queue"

# (id, edits [(file, old, new)], exact messages)
CASES: list[tuple[str, list[tuple[str, str, str]], list[str]]] = [
    (
        "after-hours-cycle-of-two",
        [
            (AGENCIES, REGU, REGU + OFFICE + "    after_hours: ambulans-x\n"),
            (AGENCIES, MEDIK, MEDIK + OFFICE + "    after_hours: regu-api-1\n"),
        ],
        [
            "sop/agencies.yaml:16:18: agencies.medik.after_hours: after-hours loop regu → medik → regu: when all of "
            f"them are closed, no one in the loop takes the call; {FIX}"
        ],
    ),
    (
        "after-hours-cycle-entered-from-a-tail",  # named from its member listed first, wherever the walk enters
        [
            (
                AGENCIES,
                "  regu:\n",
                "  lampu:\n    name: Lampu\n" + OFFICE + "    after_hours: ambulans-x\n"
                "    queues: {lampu-1: }\n  regu:\n",
            ),
            (AGENCIES, REGU, REGU + OFFICE + "    after_hours: ambulans-x\n"),
            (AGENCIES, MEDIK, MEDIK + OFFICE + "    after_hours: regu-api-1\n"),
        ],
        [
            "sop/agencies.yaml:21:18: agencies.medik.after_hours: after-hours loop regu → medik → regu: when all of "
            f"them are closed, no one in the loop takes the call; {FIX}"
        ],
    ),
    (
        "after-hours-self-loop",
        [(AGENCIES, REGU, REGU + OFFICE + "    after_hours: regu-api-1\n")],
        [
            "sop/agencies.yaml:10:18: agencies.regu.after_hours: after-hours loop regu → regu: when all of them are "
            f"closed, no one in the loop takes the call; {FIX}"
        ],
    ),
    (
        "overflow-loops-back-through-after-hours",
        [
            (AGENCIES, MEDIK, MEDIK + OFFICE + "    after_hours: regu-api-1\n"),
            (CATEGORIES, "queue: regu-api-1}", "queue: regu-api-1, overflow: [ambulans-x]}"),
        ],
        [
            "sop/categories.yaml:2:81: categories.api.overflow[0]: overflow loops back through after_hours: "
            "regu-api-1 → ambulans-x → regu-api-1; when medik is closed, the call returns to a queue this category "
            "has already tried: point medik's after_hours at the central queue 'jaga-pusat' or at a 24/7 agency's "
            "queue, or remove ambulans-x from this overflow"
        ],
    ),
]


@pytest.mark.parametrize(("edits", "expected"), [pytest.param(e, x, id=i) for i, e, x in CASES])
def test_loop_is_reported_exactly(alt_root: Path, edits: list[tuple[str, str, str]], expected: list[str]) -> None:
    """One loop in the SOP gives exactly this message at the after_hours (or overflow item) closing it."""
    for relative, old, new in edits:
        edit(alt_root, relative, old, new)
    result = check(alt_root, None)
    assert result.config is None
    assert [str(problem) for problem in result.problems] == expected


def test_issue_8_reproduction_is_refused(shipped_root: Path) -> None:
    """Dishub → q-dinsos and Dinsos → q-dishub (issue 8) no longer pass ivr check."""
    edit(
        shipped_root,
        AGENCIES,
        "    hours: mon-fri 08:00-16:00\n    queues:\n      q-dishub",
        "    hours: mon-fri 08:00-16:00\n    after_hours: q-dinsos\n    queues:\n      q-dishub",
    )
    edit(shipped_root, AGENCIES, "after_hours: q-satpolpp", "after_hours: q-dishub")
    assert [str(problem) for problem in check(shipped_root, None).problems] == [
        "sop/agencies.yaml:45:18: agencies.dinsos.after_hours: after-hours loop dishub → dinsos → dishub: when all "
        "of them are closed, no one in the loop takes the call; point one of them at the central queue 'q112' or "
        "at a 24/7 agency's queue"
    ]


ACCEPTED: list[tuple[str, list[tuple[str, str, str]]]] = [
    (
        "loop-through-a-24/7-agency",  # medik is never closed, so its after_hours never moves a call
        [
            (AGENCIES, REGU, REGU + OFFICE + "    after_hours: ambulans-x\n"),
            (AGENCIES, MEDIK, MEDIK + "    after_hours: regu-api-1\n"),
        ],
    ),
    (
        "overflow-back-to-the-central-queue",  # every chain ends there: not a loop
        [
            (AGENCIES, REGU, REGU + OFFICE + "    after_hours: jaga-pusat\n"),
            (CATEGORIES, "queue: jaga-pusat}", "queue: jaga-pusat, overflow: [regu-api-1]}"),
        ],
    ),
]


@pytest.mark.parametrize("edits", [pytest.param(e, id=i) for i, e in ACCEPTED])
def test_redirections_that_cannot_loop_are_accepted(alt_root: Path, edits: list[tuple[str, str, str]]) -> None:
    """Redirections that look circular but never move a call in a circle pass ivr check."""
    for relative, old, new in edits:
        edit(alt_root, relative, old, new)
    assert check(alt_root, None).problems == []
