"""The wallboard's pure part (ivr.operators.wallboard): today's NENA shares, abandons, prank/ghost, the day's
bounds in WIB, how long each operator has been in their state, and the picture's order and totals."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ivr.operators.wallboard import (
    DayFigures,
    OperatorNow,
    QueueNow,
    StateClock,
    day_bounds,
    day_figures,
    floor_picture,
)
from ivr.reports.aggregate import CallRow

WIB = ZoneInfo("Asia/Jakarta")
NOON = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)


def call(ivr_outcome: str, queue_outcome: str, queue_wait: float, disposition: str) -> CallRow:
    return CallRow(
        "uid",
        NOON,
        disposition=disposition,
        queue_outcome=queue_outcome,
        queue_wait=queue_wait,
        ivr_outcome=ivr_outcome,
    )


def answered(wait: float, disposition: str = "genuine") -> CallRow:
    return call("routed", "answered", wait, disposition)


def test_nena_shares_count_answers_within_15_and_20_seconds_inclusive() -> None:
    """Waits 3, 12, 15, 18, 20, 25 s: 3 of 6 within 15 s (15 counts), 5 of 6 within 20 s; both targets missed."""
    figures = day_figures(answered(wait) for wait in (3, 12, 15, 18, 20, 25))
    assert (figures.times.answered, figures.times.within_15, figures.times.within_20) == (6, 3, 5)
    nena = figures.as_json()["nena"]
    assert nena == [
        {"seconds": 15, "target": 0.9, "share": 0.5, "met": False},
        {"seconds": 20, "target": 0.95, "share": 0.8333, "met": False},
    ]


def test_nena_targets_are_met_exactly_at_90_and_95_percent() -> None:
    """18 of 20 within 15 s is 90% and 19 of 20 within 20 s is 95%: both met (integer arithmetic, no float edge)."""
    waits = [5.0] * 18 + [17.0] + [21.0]
    nena = day_figures(answered(wait) for wait in waits).as_json()["nena"]
    assert [(n["share"], n["met"]) for n in nena] == [(0.9, True), (0.95, True)]
    nena = day_figures(answered(wait) for wait in [*waits[:-2], 21.0, 21.0]).as_json()["nena"]
    assert [(n["share"], n["met"]) for n in nena] == [(0.9, True), (0.9, False)]


def test_no_answered_call_misses_no_target() -> None:
    """A quiet morning: shares unknown (None), targets not shown as missed."""
    nena = DayFigures().as_json()["nena"]
    assert [(n["share"], n["met"]) for n in nena] == [(None, True), (None, True)]


def test_abandons_pranks_and_ghosts_are_counted_out_of_all_calls() -> None:
    """Abandoned in a queue and hung up in the menu are apart; prank and ghost (silent) shares are of all calls."""
    rows = [
        answered(4, "prank"),
        answered(6, "silent"),
        answered(9, "genuine"),
        call("routed", "abandoned", 31.0, ""),
        call("routed", "abandoned", 2.0, ""),
        call("abandoned_in_ivr", "", 0.0, ""),
        call("routed", "timeout", 300.0, "prank"),
        call("routed", "answered", 40.0, "prank"),
    ]
    figures = day_figures(rows).as_json()
    assert (figures["calls"], figures["answered"], figures["abandoned_queue"], figures["abandoned_ivr"]) == (8, 4, 2, 1)
    assert (figures["prank"], figures["prank_share"], figures["ghost"], figures["ghost_share"]) == (3, 0.375, 1, 0.125)


def test_store_rows_become_call_rows() -> None:
    """CallStore.calls_between's dicts: a missing or NULL wait reads as 0."""
    row = {"uniqueid": "uid", "started_at": NOON.isoformat(), "outcome": "routed", "queue_outcome": "answered"}
    assert CallRow.from_store({**row, "queue_wait": None}) == call("routed", "answered", 0.0, "")


def test_the_day_is_the_centers_day_in_wib() -> None:
    """At 06:30 WIB (23:30 UTC the day before) the day runs from 17:00 UTC to 17:00 UTC."""
    since, until = day_bounds(datetime(2026, 12, 1, 23, 30, tzinfo=UTC), WIB)
    assert (since, until) == (datetime(2026, 12, 1, 17, 0, tzinfo=UTC), datetime(2026, 12, 2, 17, 0, tzinfo=UTC))


def test_since_starts_at_a_change_and_is_inexact_at_a_first_or_fresh_look() -> None:
    """First look: inexact; a change: exact, from its time; the same state again: unchanged; a fresh look
    (after a resync) that shows a change: inexact; operators who left the roster are forgotten."""
    clock = StateClock()
    first = clock.observe("budi", "available", None, 100.0, fresh_look=True)
    assert (first.at, first.exact) == (100.0, False)
    assert clock.observe("budi", "available", None, 130.0, fresh_look=False) == first
    paused = clock.observe("budi", "paused", "Sholat", 140.0, fresh_look=False)
    assert (paused.at, paused.exact) == (140.0, True)
    other_reason = clock.observe("budi", "paused", "Istirahat", 150.0, fresh_look=False)
    assert (other_reason.at, other_reason.exact) == (150.0, True)
    after_gap = clock.observe("budi", "logged_out", None, 400.0, fresh_look=True)
    assert (after_gap.at, after_gap.exact) == (400.0, False)
    clock.keep_only(["ani"])
    assert clock.get("budi") is None


def test_the_picture_orders_operators_and_totals_the_queues() -> None:
    """On a call first, then ringing, available, ..., logged out; waiting summed, longest wait the max."""

    def op(op_id: str, state: str) -> OperatorNow:
        return OperatorNow(op_id, op_id.title(), "operator", "c112", ("q112",), state, None, 10.0, True)

    queues = [QueueNow("q112", "112", 2, 14.25, 3, 1, 1), QueueNow("q-damkar", "Damkar", 1, 31.0, 1, 0, 0)]
    operators = [op("ani", "logged_out"), op("budi", "available"), op("dewi", "on_call"), op("eka", "ringing")]
    picture = floor_picture(1000.04, True, 3, queues, operators, DayFigures())
    assert [o["id"] for o in picture["operators"]] == ["dewi", "eka", "budi", "ani"]
    assert (picture["at"], picture["ivr_calls"], picture["waiting"], picture["longest_wait"]) == (1000.0, 3, 3, 31.0)
    assert picture["by_state"] == {
        "on_call": 1,
        "ringing": 1,
        "available": 1,
        "wrap_up": 0,
        "paused": 0,
        "phone_offline": 0,
        "logged_out": 1,
    }
    assert picture["queues"][0] == {
        "name": "q112",
        "label": "112",
        "waiting": 2,
        "longest_wait": 14.2,
        "members": 3,
        "free": 1,
        "paused": 1,
    }
