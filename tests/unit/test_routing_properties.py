"""Routing over random SOP graphs: ``decide`` ends, never raises, and only ever names what the SOP names.

The SOPs here are built directly, not loaded, so they include what ``ivr check`` refuses: after-hours
cycles and self-loops, unknown queues, overflow lists with repeats and the central queue in the middle.

Mutation testing of ivr/routing (issue 8), by hand, in a scratch copy of the repository (mutmut writes
a mutants/ tree where it runs), with this setup.cfg:

    [mutmut]
    source_paths=ivr/
    only_mutate=ivr/routing/*
    pytest_add_cli_args_test_selection=tests/unit/
    also_copy=
        dialplan/
        sop/
        asterisk-config/
    pytest_add_cli_args=--deselect=tests/unit/test_config_reload_and_schema.py::test_ivr_schema_writes_one_file_per_kind

(that test calls ``ivr.cli.main``, which points structlog at pytest's captured stderr; in mutmut's
order, fastest first, later tests then log to a closed file), then ``mutmut run --max-children 1``
(about 15 minutes on one core) and ``mutmut results``.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time
from types import FrameType
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ivr.config.sop import Agency, Bridge, Category, Hours, Queue, Sop
from ivr.routing.decide import BRIDGE_STEP, Decision, QueueState, decide

WIB = ZoneInfo("Asia/Jakarta")
CENTRAL = "q0"
GHOST = "q-ghost"  # named by the SOP, owned by no agency
T = TypeVar("T")


class Overran(Exception):
    """The routing call ran more lines than any finite decision on these small SOPs needs."""


# The largest decision seen over 2,000 random SOPs traced 351 events; a spin passes this within milliseconds,
# which keeps shrinking a failing example quick.
BUDGET = 2_000


def bounded(call: Callable[[], T], budget: int = BUDGET) -> T:
    """Run ``call`` with a budget of traced lines: a call that would spin forever fails instead of hanging.

    A raise from a trace function propagates into the traced frame, so today's or tomorrow's code is
    stopped wherever it loops, without a thread left spinning. It raises only on a line event of a
    frame that is not a generator: an exception raised while a generator is closed (``any(...)``
    stopping early) is ignored by Python, which then removes the tracer and lets the spin go on.
    """
    count = 0

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
            if count > budget and not frame.f_code.co_flags & inspect.CO_GENERATOR:
                raise Overran(f"more than {budget} lines traced, now in {frame.f_code.co_name}")
        return local

    previous = sys.gettrace()
    sys.settrace(lambda frame, event, arg: local)
    try:
        return call()
    finally:
        sys.settrace(previous)


@dataclass(frozen=True)
class Case:
    sop: Sop
    category: str
    now: datetime
    live: dict[str, QueueState]
    tried: tuple[str, ...]


def _hours() -> st.SearchStrategy[Hours]:
    clock = st.builds(time, st.integers(0, 23), st.sampled_from([0, 30]))
    ranges = st.lists(st.tuples(st.frozensets(st.integers(0, 6), min_size=1), clock, clock), max_size=2)
    return st.one_of(st.just(Hours()), ranges.map(lambda r: Hours(False, tuple(r), "random hours")))


@st.composite
def cases(draw: st.DrawFn) -> Case:
    count = draw(st.integers(1, 6))
    names = [f"q{i}" for i in range(count + 1)]  # q0 is the central queue
    pointers = st.sampled_from(["", *names, GHOST])
    agencies = {
        "a0": Agency(
            "a0", "A0", (Queue(CENTRAL, "a0"),), central=True, hours=draw(_hours()), after_hours=draw(pointers)
        )
    }
    for i in range(1, count + 1):
        extra = (Queue(f"{names[i]}x", f"a{i}"),) if draw(st.booleans()) else ()
        bridge = Bridge(f"PJSIP/desk-{i}", 10) if draw(st.booleans()) else None
        agencies[f"a{i}"] = Agency(
            f"a{i}",
            f"A{i}",
            (Queue(names[i], f"a{i}"), *extra),
            hours=draw(_hours()),
            after_hours=draw(pointers),
            bridge=bridge,
        )
    all_queues = [queue.name for agency in agencies.values() for queue in agency.queues]
    anywhere = st.sampled_from([*all_queues, GHOST])
    categories = {}
    for j in range(draw(st.integers(1, 4))):
        categories[f"c{j}"] = Category(
            f"c{j}",
            f"C{j}",
            draw(st.booleans()),
            draw(st.integers(0, 10)),
            draw(anywhere),
            route=draw(st.sampled_from(["queue", "bridge"])),
            max_wait=draw(st.sampled_from([0, 30])),
            overflow=tuple(draw(st.lists(anywhere, max_size=5))),
            skip_busy=draw(st.booleans()),
        )
    now = draw(st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(WIB)))
    holidays = {now.date(): "Libur"} if draw(st.booleans()) else {}
    sop = Sop(agencies, categories, holidays=holidays)
    counts = st.integers(0, 2)
    live = draw(st.dictionaries(anywhere, st.builds(QueueState, anywhere, counts, counts, counts, counts)))
    tried = tuple(draw(st.lists(st.sampled_from([*all_queues, GHOST, BRIDGE_STEP]), max_size=4)))
    category = draw(st.sampled_from([*categories, "", "unknown"]))
    return Case(sop, category, now, live, tried)


def _open(case: Case, queue: str) -> bool:
    agency = case.sop.agency_of(queue)
    return agency is not None and agency.hours.open_at(case.now, bool(case.sop.holidays))


def _can_take(case: Case, queue: str, tried: tuple[str, ...]) -> bool:
    """A queue other than the central one that could take the call now: someone ready, and when the
    category passes over a busy queue, someone ready who is neither on a call nor due to a caller waiting."""
    state = case.live.get(queue)
    chosen = case.sop.categories.get(case.category)
    skip_busy = chosen is not None and chosen.skip_busy
    return (
        queue in case.sop.queues
        and queue != CENTRAL
        and queue not in tried
        and _open(case, queue)
        and not (state is not None and state.ready == 0)
        and not (skip_busy and state is not None and state.ready - state.on_call <= state.waiting)
    )


def _bridge_possible(case: Case, tried: tuple[str, ...]) -> bool:
    chosen = case.sop.categories.get(case.category)
    if chosen is None or chosen.route != "bridge" or BRIDGE_STEP in tried:
        return False
    agency = case.sop.agency_of(chosen.queue)
    return agency is not None and agency.bridge is not None and _open(case, chosen.queue)


def _decide(case: Case, tried: tuple[str, ...]) -> Decision:
    return bounded(lambda: decide(case.category, case.sop, case.now, case.live, tried=tried))


# No explain phase: it traces the failing example itself, which our line budget would then have to share.
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)


@PROPERTY
@given(cases())
def test_decide_ends_and_names_only_what_the_sop_names(case: Case) -> None:
    """Any SOP graph: decide returns within a line budget, and targets a SOP queue or a SOP bridge."""
    decision = _decide(case, case.tried)
    bridges = {agency.bridge.target for agency in case.sop.agencies.values() if agency.bridge}
    if decision.action == "bridge":
        assert decision.target in bridges and _bridge_possible(case, case.tried)
    else:
        assert decision.action == "queue" and decision.target in case.sop.queues
    assert decision.tried == (*case.tried, BRIDGE_STEP if decision.action == "bridge" else decision.target)


@PROPERTY
@given(cases())
def test_central_queue_when_nothing_else_can_take_the_call(case: Case) -> None:
    """The central queue is chosen exactly when no bridge and no other queue of the SOP can take the call;
    a queue other than the central one is chosen only when it can take the call."""
    decision = _decide(case, case.tried)
    if decision.action == "bridge":
        return
    anyone = any(_can_take(case, queue, case.tried) for queue in case.sop.queues)
    if not anyone and not _bridge_possible(case, case.tried):
        assert decision.target == CENTRAL
    if decision.target != CENTRAL:
        assert _can_take(case, decision.target, case.tried)
    chosen = case.sop.categories.get(case.category)
    if chosen is not None and chosen.queue != CENTRAL and _can_take(case, chosen.queue, case.tried):
        assert decision.target == chosen.queue  # the category's own queue first when it can take the call


@PROPERTY
@given(cases())
def test_the_overflow_chain_never_repeats_a_step(case: Case) -> None:
    """Following every unanswered step (as the dialplan's overflow AGI does) never offers a step twice
    and reaches the central queue within one step per queue and bridge of the SOP."""
    tried: tuple[str, ...] = ()
    targets: list[str] = []
    for _ in range(len(case.sop.queues) + 2):
        decision = _decide(case, tried)
        if decision.target == CENTRAL:
            break
        targets.append(decision.target)
        tried = decision.tried
    else:
        raise AssertionError(f"no central queue after {targets}")
    assert len(targets) == len(set(targets)), targets


@PROPERTY
@given(cases())
def test_each_queue_is_considered_once_per_decision(case: Case) -> None:
    """Within one decision an agency is reported closed at most once per queue it owns."""
    reason = _decide(case, case.tried).reason
    for agency in case.sop.agencies.values():
        assert reason.count(f"{agency.label} closed now") <= len(agency.queues), reason


def test_after_hours_agencies_pointing_at_each_other_reach_the_central_queue() -> None:
    """Issue 8's reproduction: two closed agencies whose after_hours name each other → central, not a spin."""
    night = datetime(2026, 12, 1, 23, 30, tzinfo=WIB)
    office = Hours(False, ((frozenset(range(5)), time(8), time(16)),), "mon-fri 08:00-16:00")
    sop = Sop(
        {
            "c112": Agency("c112", "Pusat", (Queue("q112", "c112"),), central=True),
            "dishub": Agency("dishub", "Dishub", (Queue("q-dishub", "dishub"),), hours=office, after_hours="q-dinsos"),
            "dinsos": Agency("dinsos", "Dinsos", (Queue("q-dinsos", "dinsos"),), hours=office, after_hours="q-dishub"),
        },
        {"lalu-lintas": Category("lalu-lintas", "Lalu lintas", False, 3, "q-dishub", max_wait=120)},
    )
    decision = bounded(lambda: decide("lalu-lintas", sop, night))
    assert (decision.action, decision.target, decision.timeout) == ("queue", "q112", 0)
    assert decision.reason == (
        "lalu-lintas (Lalu lintas); Dishub closed now (hours mon-fri 08:00-16:00): its calls go to q-dinsos; "
        "Dinsos closed now (hours mon-fri 08:00-16:00): its calls go to q-dishub, already considered; "
        "queue q112: the central call-takers, 24/7, no time limit"
    )
