"""The callback list: who hung up before a human heard them, emergencies first, settled by a reached
callback or a later answered call; withheld numbers listed, never dialled; the HTTP API behind the
console's login, and the dial string the dialplan gets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ivr.asterisk.render import RenderError, callback_dial
from ivr.config.roster import Operator
from ivr.incidents.callbacks import Attempt, dialable, worklist
from ivr.store.asterisk_records import QueueVisit
from ivr.store.incidents import IncidentStore
from ivr.web.callbacks import Callbacks
from ivr.web.console import Console
from tests.fakes.floor_kit import given_call, shipped_config
from tests.unit.test_console_web import Web, login, post, serve

SOP = shipped_config().sop


def row(uniqueid: str, caller: str, at: int, **fields: Any) -> dict[str, Any]:
    base = {
        "uniqueid": uniqueid,
        "started_at": f"2026-12-02T03:{at:02d}:00+00:00",
        "caller": caller,
        "caller_raw": caller,
        "keys": "",
        "category": "",
        "outcome": "routed",
        "queue_outcome": "",
        "queue_wait": 0.0,
        "ivr_seconds": 5.0,
        "disposition": "",
    }
    return {**base, **fields}


def test_who_is_on_the_list_and_in_which_order() -> None:
    """Hung up in the menu, in the queue, or silent: listed; emergencies first, then the oldest."""
    rows = [
        row("info", "0811", 1, category="informasi", queue_outcome="abandoned", queue_wait=40.0),
        row("fire", "0812", 2, category="kebakaran", keys="11", queue_outcome="timeout", queue_wait=30.0),
        row("menu", "0813", 3, outcome="abandoned_in_ivr"),
        row("ghost", "0814", 4, queue_outcome="answered", disposition="silent"),
        row("fine", "0815", 5, queue_outcome="answered"),
    ]
    listed = worklist(rows, {}, SOP)
    assert [(entry.uniqueid, entry.why, entry.emergency) for entry in listed] == [
        ("fire", "abandoned_in_queue", True),
        ("menu", "abandoned_in_ivr", True),
        ("ghost", "silent", True),
        ("info", "abandoned_in_queue", False),
    ]
    assert listed[0].waited_seconds == 35.0


def test_a_reached_callback_or_a_later_answered_call_settles_it() -> None:
    """Reached (or not needed): off the list; no answer: still on it; the same number answered later: off."""
    rows = [
        row("a", "0811", 1, outcome="abandoned_in_ivr"),
        row("b", "0812", 2, outcome="abandoned_in_ivr"),
        row("c", "0813", 3, outcome="abandoned_in_ivr"),
        row("c-again", "0813", 9, queue_outcome="answered"),
    ]
    attempts = {
        "a": [Attempt("t1", "budi", "no_answer"), Attempt("t2", "budi", "reached")],
        "b": [Attempt("t", "budi", "busy")],
    }
    assert [entry.uniqueid for entry in worklist(rows, attempts, SOP)] == ["b"]


def test_withheld_and_garbled_numbers_are_listed_but_not_callable() -> None:
    """Someone called 112: the entry is there; only a plain number can be dialled."""
    assert [dialable(n) for n in ("081234567890", "112", "", "x-3fa2", "0812;1", "0812\n1")] == [
        True,
        True,
        False,
        False,
        False,
        False,
    ]
    listed = worklist([row("w", "", 1, outcome="abandoned_in_ivr")], {}, SOP)
    assert [(entry.uniqueid, entry.callable) for entry in listed] == [("w", False)]


def test_the_dial_string_puts_the_number_only_where_a_number_goes() -> None:
    """IVR_CALLBACK_DIAL: {number} becomes the checked variable; anything Dial would parse is refused."""
    assert callback_dial("PJSIP/{number}@telco-112") == "PJSIP/${SIAGA_CALLBACK_NUMBER}@telco-112"
    for bad in ("PJSIP/telco-112", "PJSIP/{number},,60", "PJSIP/{number}&Local/1@x", "{number}"):
        with pytest.raises(RenderError):
            callback_dial(bad)


# Over HTTP


class Dialler:
    """``call_back`` as the web layer sees it: records whom it would ring for which number."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, operator: Operator, number: str) -> None:
        self.calls.append((operator.id, number))


@pytest.fixture
async def web(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Web, Dialler]]:
    attempts = IncidentStore(tmp_path / "attempts.sqlite3")
    dialler = Dialler()

    def behind(console: Console) -> list[Callbacks]:
        return [Callbacks(console.floor.store, attempts, console, dialler)]  # type: ignore[arg-type]

    opened = await serve(tmp_path, monkeypatch, behind_console=behind)
    yield opened, dialler
    await opened.client.close()
    await opened.kit.close()
    attempts.close()


def abandoned(web: Web, uniqueid: str, caller: str) -> None:
    """A call five minutes ago whose caller hung up while queued (as the reconciler records it)."""
    recent = datetime.now(UTC) - timedelta(minutes=5)
    given_call(web.kit.calls, uniqueid, caller, started_at=recent.isoformat())
    web.kit.calls.apply_queue_visit(QueueVisit(uniqueid, "q-damkar", recent, "abandoned", 41.0))


async def test_call_back_rings_my_phone_for_that_number_and_records_the_attempt(web: tuple[Web, Dialler]) -> None:
    """Logged in: the list has the call; 'call' dials it through my phone; results settle it."""
    opened, dialler = web
    abandoned(opened, "1700.5", "081299990000")
    abandoned(opened, "1700.6", "")
    assert (await opened.client.get("/api/callbacks")).status == 401
    csrf = await login(opened.client)
    listed = (await (await opened.client.get("/api/callbacks")).json())["callbacks"]
    assert [(entry["uniqueid"], entry["callable"]) for entry in listed] == [("1700.5", True), ("1700.6", False)]
    assert (await post(opened.client, "/api/callbacks/1700.5/call", {}, None))[0] == 403
    assert (await post(opened.client, "/api/callbacks/1700.5/call", {}, csrf))[0] == 200
    assert dialler.calls == [("budi", "081299990000")]
    status, body = await post(opened.client, "/api/callbacks/1700.6/call", {}, csrf)
    assert (status, body["error"]) == (409, "not_callable")
    assert (await post(opened.client, "/api/callbacks/1700.5/result", {"result": "maybe"}, csrf))[0] == 400
    assert (await post(opened.client, "/api/callbacks/1700.5/result", {"result": "reached"}, csrf))[0] == 200
    listed = (await (await opened.client.get("/api/callbacks")).json())["callbacks"]
    assert [entry["uniqueid"] for entry in listed] == ["1700.6"]
    actions = [entry["action"] for entry in opened.kit.console.audit_log()]
    assert actions[:2] == ["callback_result", "callback_dialed"]


async def test_a_callback_being_made_is_not_rung_again_by_another_operator(web: tuple[Web, Dialler]) -> None:
    """budi is calling 1700.5 back: ani's 'call' is refused naming budi and rings nobody; once budi records
    how it went, ani may try again."""
    opened, dialler = web
    abandoned(opened, "1700.5", "081299990000")
    budi = await login(opened.client)
    assert (await post(opened.client, "/api/callbacks/1700.5/call", {}, budi))[0] == 200
    ani = await login(opened.client, "ani")
    status, body = await post(opened.client, "/api/callbacks/1700.5/call", {}, ani)
    assert (status, body["error"], body["detail"]) == (409, "being_called_back", "budi is calling this number back now")
    assert dialler.calls == [("budi", "081299990000")]
    budi = await login(opened.client)
    assert (await post(opened.client, "/api/callbacks/1700.5/result", {"result": "no_answer"}, budi))[0] == 200
    ani = await login(opened.client, "ani")
    assert (await post(opened.client, "/api/callbacks/1700.5/call", {}, ani))[0] == 200
    assert dialler.calls == [("budi", "081299990000"), ("ani", "081299990000")]


def test_an_answered_withheld_call_settles_no_other_withheld_caller() -> None:
    """Two different people with withheld numbers: the later one answered does not take the earlier
    one off the list (a withheld number is nobody in particular)."""
    rows = [row("w1", "", 1, outcome="abandoned_in_ivr"), row("w2", "", 5, queue_outcome="answered")]
    assert [entry.uniqueid for entry in worklist(rows, {}, SOP)] == ["w1"]
