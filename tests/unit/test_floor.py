"""The floor (ivr.operators.floor): AMI queue events → screen pop, on call, wrap-up, outcomes, pushed to consoles."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from ivr.operators.floor import Floor, NoConsultation, NotYourCall, TransferFailed
from ivr.operators.states import (
    AVAILABLE,
    NO_ANSWER_REASON,
    ON_CALL,
    PAUSED,
    PHONE_LOST_REASON,
    RINGING,
    WRAP_UP,
    WRAPUP_REASON,
)
from ivr.routing.triage import Flag
from ivr.store.calls import IvrRecord, UnknownDisposition
from tests.fakes.app_queue import settled, until
from tests.fakes.floor_kit import ANI, BUDI, DEWI, SARI, FloorKit, given_call, open_floor

CALLER = "081234567890"
UNIQUEID = "1733100000.42"


class Screen:
    """What one console received, in order."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def __call__(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    def last(self, kind: str) -> Any:
        found = [m for m in self.messages if m["type"] == kind]
        assert found, f"no {kind} message yet"
        return found[-1][kind]

    def call(self) -> dict[str, Any] | None:
        call: dict[str, Any] | None = self.last("call")
        return call


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


@pytest.fixture(params=[True, False], ids=["events-first", "response-first"])
async def kit(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[FloorKit]:
    """The floor on the app_queue fake, once with each order of an action's events and its response."""
    opened = await open_floor(tmp_path, events_first=request.param)
    yield opened
    await opened.close()


async def ring_for(
    kit: FloorKit, screen: Screen, operator_interface: str, queue: str = "q-damkar", completed: bool = True
) -> dict[str, Any]:
    """The caller joins ``queue`` and app_queue rings the operator: the screen pop, once completed
    with the caller's history and standing (the first one goes out before the store is read)."""
    kit.fake.join(UNIQUEID, queue, CALLER, "Warga")
    kit.fake.ring(UNIQUEID, operator_interface)

    def popped() -> dict[str, Any] | None:
        call = screen.call()
        return call if call is not None and (call["standing"] is not None or not completed) else None

    call: dict[str, Any] = await until(popped, what="a completed screen pop")
    await settled()
    return screen.call() or call


async def given_dewi_ringing(kit: FloorKit) -> Screen:
    """DEWI is available in q-damkar and a kebakaran call rings her (the pop is on her screen)."""
    given_call(kit.calls, UNIQUEID, CALLER, started_at=iso(datetime.now(UTC)))
    await kit.agents.available(DEWI)
    await settled()
    screen = Screen()
    kit.floor.subscribe(DEWI, screen)
    await ring_for(kit, screen, DEWI.interface)
    return screen


async def given_dewi_on_a_fire_call(kit: FloorKit) -> Screen:
    """DEWI is available in q-damkar, a kebakaran call rings her and she answers."""
    screen = await given_dewi_ringing(kit)
    kit.fake.connect(UNIQUEID, DEWI.interface)
    await settled()
    return screen


async def test_a_ringing_call_pops_with_category_keys_checklist_history_and_standing(kit: FloorKit) -> None:
    """AgentCalled for DEWI: her pop has the SOP label, checklist, keys, earlier calls and the standing they give."""
    # Three pranks in the window (the shipped threshold): flagged at level 1; another number's calls do not count.
    now = datetime.now(UTC)
    for days, outcome in ((3, "prank"), (2, "prank"), (1, "prank")):
        given_call(kit.calls, f"17330.{days}", CALLER, started_at=iso(now - timedelta(days=days)), disposition=outcome)
    given_call(kit.calls, "17330.9", "089999999999", started_at=iso(now - timedelta(hours=1)), disposition="prank")
    given_call(kit.calls, UNIQUEID, CALLER, keys="11", started_at=iso(now), reason="office hours: q-damkar")
    await kit.agents.available(DEWI)
    await settled()
    screen = Screen()
    kit.floor.subscribe(DEWI, screen)
    call = await ring_for(kit, screen, DEWI.interface)
    kebakaran = kit.config.sop.categories["kebakaran"]
    shown = ("uniqueid", "phase", "caller", "keys", "keys_known", "category", "category_label", "emergency")
    assert {k: call[k] for k in shown} == {
        "uniqueid": UNIQUEID,
        "phase": "ringing",
        "caller": CALLER,
        "keys": "11",
        "keys_known": True,
        "category": "kebakaran",
        "category_label": "Kebakaran",
        "emergency": True,
    }
    assert (call["queue"], call["route_reason"], call["outcome"]) == ("q-damkar", "office hours: q-damkar", None)
    assert call["route_reason_id"] == "office hours: q-damkar"  # a record from before reasons were said in Indonesian
    assert call["checklist"] == list(kebakaran.checklist)
    assert [(h["at"], h["outcome"], h["category"]) for h in call["history"]] == [
        (iso(now - timedelta(days=1)), "prank", "kebakaran"),
        (iso(now - timedelta(days=2)), "prank", "kebakaran"),
        (iso(now - timedelta(days=3)), "prank", "kebakaran"),
    ]
    standing = call["standing"]
    assert (standing["flagged"], standing["flag"], standing["level"], standing["pranks"]) == (True, "prank", 1, 3)
    assert standing["until"] is not None
    assert 0 <= call["waited_seconds"] < 5
    assert screen.last("state")["state"] == RINGING


async def test_a_number_under_a_flag_for_silent_calls_pops_as_silent(kit: FloorKit) -> None:
    """A flag raised by an earlier call for three silent calls, still running: the pop says silent, not prank."""
    now = datetime.now(UTC)
    for days in (3, 2, 1):
        given_call(kit.calls, f"17330.{days}", CALLER, started_at=iso(now - timedelta(days=days)), disposition="silent")
    kit.calls.add_flag(CALLER, Flag(1, now - timedelta(hours=20), now + timedelta(hours=52), "0 prank, 3 silent"))
    given_call(kit.calls, UNIQUEID, CALLER, started_at=iso(now))
    await kit.agents.available(DEWI)
    await settled()
    screen = Screen()
    kit.floor.subscribe(DEWI, screen)
    standing = (await ring_for(kit, screen, DEWI.interface))["standing"]
    assert (standing["flagged"], standing["flag"], standing["silent"], standing["pranks"]) == (True, "silent", 3, 0)


async def test_a_first_time_caller_has_no_history_and_no_flag(kit: FloorKit) -> None:
    """A number never seen before: empty history and a standing that is not flagged."""
    given_call(kit.calls, UNIQUEID, CALLER, started_at=iso(datetime.now(UTC)))
    await kit.agents.available(DEWI)
    await settled()
    screen = Screen()
    kit.floor.subscribe(DEWI, screen)
    call = await ring_for(kit, screen, DEWI.interface)
    assert call["history"] == []
    assert (call["standing"]["flagged"], call["standing"]["pranks"]) == (False, 0)


async def test_the_pop_uses_the_record_still_in_the_spool(tmp_path: Path) -> None:
    """A call routed a moment ago and not yet written to the store: the pop comes from the spool's record."""
    spooled = IvrRecord(UNIQUEID, iso(datetime.now(UTC)), CALLER, "", "112", "14", "id", "selected", "bencana",
                        "q-bpbd", 9, "routed", 9.5, "office hours: q-bpbd", caller_raw=CALLER)  # fmt: skip
    kit = await open_floor(tmp_path, recent=lambda uniqueid: spooled if uniqueid == UNIQUEID else None)
    try:
        await kit.agents.available(DEWI)
        await settled()
        screen = Screen()
        kit.floor.subscribe(DEWI, screen)
        call = await ring_for(kit, screen, DEWI.interface)
        assert (call["category"], call["keys"], call["route_reason"]) == ("bencana", "14", "office hours: q-bpbd")
        assert kit.calls.get(UNIQUEID) is None
    finally:
        await kit.close()


async def test_the_pop_carries_the_route_reason_in_indonesian(kit: FloorKit) -> None:
    given_call(kit.calls, UNIQUEID, CALLER, reason="queue q-damkar", reason_id="antrean q-damkar")
    await kit.agents.available(DEWI)
    await settled()
    screen = Screen()
    kit.floor.subscribe(DEWI, screen)
    call = await ring_for(kit, screen, DEWI.interface)
    assert (call["route_reason"], call["route_reason_id"]) == ("queue q-damkar", "antrean q-damkar")


async def test_a_call_our_service_never_saw_pops_as_an_unknown_emergency(kit: FloorKit) -> None:
    """No record (the dialplan queued the caller itself): caller from AMI, emergency until told otherwise."""
    await kit.agents.available(BUDI)
    await settled()
    screen = Screen()
    kit.floor.subscribe(BUDI, screen)
    call = await ring_for(kit, screen, BUDI.interface, queue="q112", completed=False)
    assert (call["caller"], call["caller_name"], call["category"]) == (CALLER, "Warga", "")
    assert (call["category_label"], call["emergency"], call["checklist"]) == ("Belum diketahui (tanpa menu)", True, [])
    assert (call["route_reason"][:7], call["route_reason_id"][:10]) == ("no menu", "tanpa menu")
    assert (call["history"], call["standing"]) == ([], None)
    assert (call["keys"], call["keys_known"]) == ("", False)


async def test_a_call_in_hand_saved_before_keys_known_existed_survives_the_upgrade(kit: FloorKit) -> None:
    """A service upgraded mid-shift restores the call an operator had in hand, saved by the version
    before (no keys_known): the pop is kept, its keys taken as known, as that version showed them."""
    older = {
        "uniqueid": UNIQUEID,
        "phase": "on_call",
        "caller": CALLER,
        "caller_name": "",
        "keys": "11",
        "category": "kebakaran",
        "category_label": "Kebakaran",
        "emergency": True,
        "queue": "q-damkar",
        "route_reason": "office hours: q-damkar",
        "waited_seconds": 3.0,
        "rang_at": time.time() - 60,
    }
    kit.console.save_call(DEWI.id, older, time.time())
    upgraded = Floor(kit.agents, kit.live, lambda: kit.config, kit.calls, lambda _: None, kit.console)
    try:
        call = upgraded.calls[DEWI.id]
        assert (call.uniqueid, call.keys, call.keys_known, call.phase) == (UNIQUEID, "11", True, "on_call")
    finally:
        await upgraded.close()


async def test_a_call_routed_by_asterisk_without_our_record_pops_with_the_routes_category(kit: FloorKit) -> None:
    """No record of ours, but the dialplan announced its route (the service stopped while Asterisk read
    the last menu's key, or the last line routed it): the caller's category, its label and checklist,
    not 'no menu'; another call's route is not taken for this one."""
    await kit.agents.available(DEWI)
    await settled()
    kit.fake.user_event("SiagaRoute", Uniqueid=UNIQUEID, Action="queue", Target="q-damkar", Category="kebakaran")
    kit.fake.user_event("SiagaRoute", Uniqueid="1733100000.7", Action="queue", Target="q-damkar", Category="banjir")
    await settled()
    screen = Screen()
    kit.floor.subscribe(DEWI, screen)
    with capture_logs() as logged:
        call = await ring_for(kit, screen, DEWI.interface, completed=False)
        # The pop completed after the store was read (and had nothing) still has it.
        await until(lambda: [entry for entry in logged if entry["event"] == "screen_pop"], what="the completed pop")
        await settled()
    kebakaran = kit.config.sop.categories["kebakaran"]
    for shown in (call, screen.call() or {}):
        assert (shown["category"], shown["category_label"], shown["checklist"]) == (
            "kebakaran",
            kebakaran.label,
            list(kebakaran.checklist),
        )
        assert shown["route_reason"].startswith("menu chosen, routed by Asterisk (queue q-damkar)")
        assert shown["route_reason_id"].startswith("menu dipilih")
        assert (shown["keys"], shown["keys_known"]) == ("", False)


async def test_a_caller_name_with_markup_stays_exactly_that_string(kit: FloorKit) -> None:
    """A caller name with <script>, quotes and & is passed as data, byte for byte: neither escaped nor stripped here."""
    name = "<script>alert(\"112\")</script> & 'Budi'"
    given_call(kit.calls, UNIQUEID, CALLER, caller_name=name, started_at=iso(datetime.now(UTC)))
    await kit.agents.available(DEWI)
    await settled()
    screen = Screen()
    kit.floor.subscribe(DEWI, screen)
    call = await ring_for(kit, screen, DEWI.interface)
    assert call["caller_name"] == name


async def test_answering_puts_the_call_in_hand(kit: FloorKit) -> None:
    """AgentConnect: the call's phase is on_call and the operator is on call."""
    screen = await given_dewi_on_a_fire_call(kit)
    await until(lambda: screen.call() and screen.call()["phase"] == "on_call", what="phase on_call")  # type: ignore[index]
    assert screen.last("state")["state"] == ON_CALL


async def test_hanging_up_starts_the_wrap_up(kit: FloorKit) -> None:
    """AgentComplete: the call stays on screen as wrap_up; Asterisk pauses her as Wrap-up, with a deadline shown."""
    screen = await given_dewi_on_a_fire_call(kit)
    kit.fake.complete(UNIQUEID, DEWI.interface)
    await settled()
    await until(lambda: screen.last("state")["state"] == WRAP_UP, what="wrap-up state on the screen")
    state = screen.last("state")
    assert state["reason"] == WRAPUP_REASON
    assert state["wrapup_until"] == pytest.approx(time.time() + 30, abs=5)
    assert screen.call()["phase"] == "wrap_up"  # type: ignore[index]
    assert {q: (m.paused, m.paused_reason) for q, m in kit.fake.memberships(DEWI.interface).items()} == {
        "q-damkar": (True, WRAPUP_REASON),
        "q112": (True, WRAPUP_REASON),
    }


async def test_a_junk_outcome_ends_the_wrap_up_in_one_key(kit: FloorKit) -> None:
    """prank during wrap-up: recorded in the store, the call leaves the screen, the operator is available again."""
    screen = await given_dewi_on_a_fire_call(kit)
    kit.fake.complete(UNIQUEID, DEWI.interface)
    await settled()
    await until(lambda: kit.agents.state(DEWI).state == WRAP_UP, what="wrap-up")
    assert await kit.floor.outcome(DEWI, UNIQUEID, "prank") is True
    await settled()
    assert kit.calls.get(UNIQUEID)["disposition"] == "prank"  # type: ignore[index]
    assert kit.agents.state(DEWI).state == AVAILABLE
    assert screen.call() is None
    assert screen.last("state")["state"] == AVAILABLE
    assert not any(m.paused for m in kit.fake.memberships(DEWI.interface).values())


async def test_a_genuine_outcome_keeps_the_wrap_up(kit: FloorKit) -> None:
    """genuine during wrap-up: recorded and shown on the call, but the operator keeps her wrap-up time."""
    screen = await given_dewi_on_a_fire_call(kit)
    kit.fake.complete(UNIQUEID, DEWI.interface)
    await settled()
    await until(lambda: kit.agents.state(DEWI).state == WRAP_UP, what="wrap-up")
    assert await kit.floor.outcome(DEWI, UNIQUEID, "genuine") is True
    await settled()
    assert kit.agents.state(DEWI).state == WRAP_UP
    call = screen.call()
    assert call is not None
    assert (call["phase"], call["outcome"]) == ("wrap_up", "genuine")


async def test_a_junk_outcome_during_the_call_skips_the_wrap_up(kit: FloorKit) -> None:
    """silent pressed while still connected: when the call ends there is no wrap-up at all."""
    screen = await given_dewi_on_a_fire_call(kit)
    assert await kit.floor.outcome(DEWI, UNIQUEID, "silent") is True
    await settled()
    assert screen.call()["outcome"] == "silent"  # type: ignore[index]
    kit.fake.complete(UNIQUEID, DEWI.interface)
    await settled()
    assert screen.call() is None
    assert kit.agents.state(DEWI).state == AVAILABLE
    assert [p for p in kit.fake.sent("QueuePause") if p.get("Reason") == WRAPUP_REASON] == []


async def test_an_operator_cannot_close_another_operators_call(kit: FloorKit) -> None:
    """ANI gives an outcome for DEWI's call: NotYourCall, and the record is untouched."""
    await given_dewi_on_a_fire_call(kit)
    with pytest.raises(NotYourCall):
        await kit.floor.outcome(ANI, UNIQUEID, "prank")
    assert kit.calls.get(UNIQUEID)["disposition"] == ""  # type: ignore[index]


async def test_a_supervisor_may_close_any_call(kit: FloorKit) -> None:
    """SARI (supervisor) records an outcome for DEWI's call."""
    await given_dewi_on_a_fire_call(kit)
    assert await kit.floor.outcome(SARI, UNIQUEID, "transferred") is True
    await settled()
    assert kit.calls.get(UNIQUEID)["disposition"] == "transferred"  # type: ignore[index]


async def test_the_operator_may_correct_a_call_already_closed(kit: FloorKit) -> None:
    """After closing her call as prank (it left the screen), DEWI can still correct it to genuine."""
    await given_dewi_on_a_fire_call(kit)
    kit.fake.complete(UNIQUEID, DEWI.interface)
    await settled()
    await until(lambda: kit.agents.state(DEWI).state == WRAP_UP, what="wrap-up")
    await kit.floor.outcome(DEWI, UNIQUEID, "prank")
    assert await kit.floor.outcome(DEWI, UNIQUEID, "genuine") is True
    await settled()
    assert kit.calls.get(UNIQUEID)["disposition"] == "genuine"  # type: ignore[index]


async def test_an_unknown_outcome_is_refused(kit: FloorKit) -> None:
    """An outcome outside DISPOSITIONS: UnknownDisposition, nothing recorded."""
    await given_dewi_on_a_fire_call(kit)
    with pytest.raises(UnknownDisposition):
        await kit.floor.outcome(DEWI, UNIQUEID, "lucu")
    assert kit.calls.get(UNIQUEID)["disposition"] == ""  # type: ignore[index]


async def test_an_outcome_for_no_such_call_is_false(kit: FloorKit) -> None:
    """A supervisor naming a uniqueid the store does not have: False (the web answers 404)."""
    assert await kit.floor.outcome(SARI, "0000.0", "prank") is False
    await settled()


async def test_a_caller_who_hangs_up_while_it_rings_is_shown(kit: FloorKit) -> None:
    """QueueCallerAbandon while ringing: the pop says the caller hung up; nobody heard them, so it is the
    callback list's, not the operator's to call silent (that would count against a frightened caller)."""
    screen = await given_dewi_ringing(kit)
    kit.fake.abandon(UNIQUEID)
    await settled()
    call = screen.call()
    assert call is not None
    assert (call["caller_hung_up"], call["phase"]) == (True, "ended")
    assert screen.last("state")["state"] == AVAILABLE
    with pytest.raises(NotYourCall):
        await kit.floor.outcome(DEWI, UNIQUEID, "silent")


async def test_ringing_out_takes_the_pop_away(kit: FloorKit) -> None:
    """AgentRingNoAnswer: the call is no longer this operator's; the screen clears."""
    screen = await given_dewi_ringing(kit)
    kit.fake.ring_no_answer(UNIQUEID, DEWI.interface)
    await settled()
    assert screen.call() is None


async def test_another_operators_call_does_not_reach_my_screen(kit: FloorKit) -> None:
    """A pop for DEWI is not sent to BUDI's console."""
    given_call(kit.calls, UNIQUEID, CALLER, started_at=iso(datetime.now(UTC)))
    await kit.agents.available(DEWI)
    await settled()
    await kit.agents.available(BUDI)
    await settled()
    budi, dewi = Screen(), Screen()
    kit.floor.subscribe(BUDI, budi)
    kit.floor.subscribe(DEWI, dewi)
    await ring_for(kit, dewi, DEWI.interface)
    assert budi.call() is None


async def test_the_queues_message_counts_waiting_callers_and_ready_members(kit: FloorKit) -> None:
    """Two callers wait in q112 and BUDI is ready: q112 shows waiting 2, available 1, the agency's label."""
    await kit.agents.available(BUDI)
    await settled()
    screen = Screen()
    kit.floor.subscribe(BUDI, screen)
    kit.fake.join("1.1", "q112", "0811")
    kit.fake.join("1.2", "q112", "0812")
    [q112] = screen.last("queues")
    assert (q112["name"], q112["waiting"], q112["available"]) == ("q112", 2, 1)
    assert q112["label"] == kit.config.sop.agencies["c112"].label
    assert q112["longest_wait"] >= 0


async def test_a_reconnecting_console_gets_the_whole_picture_with_the_call_in_hand(kit: FloorKit) -> None:
    """A second subscription (the page reconnected) receives state, queues and the call at once."""
    await given_dewi_on_a_fire_call(kit)
    again = Screen()
    kit.floor.subscribe(DEWI, again)
    assert [m["type"] for m in again.messages] == ["state", "queues", "call"]
    assert again.call()["uniqueid"] == UNIQUEID  # type: ignore[index]
    assert again.last("state")["state"] == ON_CALL


async def test_only_changes_are_pushed(kit: FloorKit) -> None:
    """Pushing an unchanged picture sends nothing more."""
    await kit.agents.available(BUDI)
    await settled()
    screen = Screen()
    kit.floor.subscribe(BUDI, screen)
    sent = len(screen.messages)
    kit.floor.push("budi")
    kit.floor.push_all()
    assert len(screen.messages) == sent


async def test_an_unsubscribed_console_gets_nothing_more(kit: FloorKit) -> None:
    """After unsubscribe (the socket closed), state changes are not sent to it."""
    screen = Screen()
    unsubscribe = kit.floor.subscribe(BUDI, screen)
    unsubscribe()
    sent = len(screen.messages)
    await kit.agents.available(BUDI)
    await settled()
    kit.floor.push("budi")
    assert len(screen.messages) == sent


async def test_in_a_ringall_queue_the_others_lose_the_pop_when_one_answers(kit: FloorKit) -> None:
    """BUDI and ANI both rung; BUDI answers: ANI's pop goes (app_queue only cancels her leg) and she
    cannot close BUDI's call, not even with a prank key."""
    given_call(kit.calls, UNIQUEID, CALLER, category="darurat-umum", queue="q112", started_at=iso(datetime.now(UTC)))
    for operator in (BUDI, ANI):
        await kit.agents.available(operator)
    await settled()
    budi, ani = Screen(), Screen()
    kit.floor.subscribe(BUDI, budi)
    kit.floor.subscribe(ANI, ani)
    kit.fake.join(UNIQUEID, "q112", CALLER)
    kit.fake.ring(UNIQUEID, BUDI.interface)
    kit.fake.ring(UNIQUEID, ANI.interface)
    await until(lambda: ani.call() is not None and budi.call() is not None, what="both pops")
    kit.fake.connect(UNIQUEID, BUDI.interface)
    await settled()
    assert ani.call() is None
    with pytest.raises(NotYourCall):
        await kit.floor.outcome(ANI, UNIQUEID, "prank")
    assert kit.calls.get(UNIQUEID)["disposition"] == ""  # type: ignore[index]


async def test_an_operator_who_lets_a_call_ring_out_is_paused_and_told_why(kit: FloorKit) -> None:
    """AgentRingNoAnswer for DEWI: she is paused as 'Tidak menjawab' in Asterisk, so the next caller
    rings someone who is there; her console shows the reason."""
    screen = await given_dewi_ringing(kit)
    await others_ready_in_her_queues(kit)
    kit.fake.ring_no_answer(UNIQUEID, DEWI.interface, ring_ms=60_000)
    await until(lambda: kit.agents.state(DEWI).state == PAUSED, what="the pause")
    assert kit.agents.state(DEWI).reason == NO_ANSWER_REASON
    await settled()
    assert screen.last("state")["reason"] == NO_ANSWER_REASON


async def test_the_standby_instance_leaves_the_ring_out_pause_to_the_one_on_duty(kit: FloorKit) -> None:
    """Two instances see the same AgentRingNoAnswer; the one not holding the duties lease does not
    pause DEWI (the holder does, once)."""
    kit.floor.pauses_ring_outs = lambda: False
    await given_dewi_ringing(kit)
    await others_ready_in_her_queues(kit)
    kit.fake.ring_no_answer(UNIQUEID, DEWI.interface, ring_ms=60_000)
    await settled()
    assert kit.agents.state(DEWI).state != PAUSED
    assert [action for action in kit.fake.sent("QueuePause") if action.get("Reason") == NO_ANSWER_REASON] == []


async def test_a_phone_that_refuses_at_once_is_not_paused_as_not_answering(kit: FloorKit) -> None:
    """AgentRingNoAnswer after 10 ms (a busy or refusing phone, not a person away): no pause."""
    await given_dewi_ringing(kit)
    kit.fake.ring_no_answer(UNIQUEID, DEWI.interface, ring_ms=10)
    await settled()
    assert kit.agents.state(DEWI).state != PAUSED


async def others_ready_in_her_queues(kit: FloorKit) -> None:
    """Someone else ready in each of DEWI's queues (q-damkar, q112)."""
    await kit.fake.action({"Action": "QueueAdd", "Queue": "q-damkar", "Interface": "Local/meja@damkar/n"})
    await kit.agents.available(BUDI)
    await settled()


async def test_the_last_one_ready_in_a_queue_is_not_paused_for_not_answering(kit: FloorKit) -> None:
    """DEWI alone in q-damkar lets a call ring out: not paused (a caller rung at that phone again beats a
    caller rung at nobody), and the log says so."""
    await given_dewi_ringing(kit)
    kit.fake.ring_no_answer(UNIQUEID, DEWI.interface, ring_ms=60_000)
    await settled()
    assert kit.agents.state(DEWI).state != PAUSED


# A warm transfer: BUDI (central) talks to the citizen, consults Damkar, DEWI answers, BUDI completes.
CONSULT_LEG = "1733100000.57"
BUDI_CONSULTING = "PJSIP/op-budi-0000002a"  # his phone's second call, to consult-q-damkar


async def given_budi_consulting_dewi(kit: FloorKit, answered: bool = True) -> tuple[Screen, Screen]:
    """The citizen's call is in BUDI's hands; his consultation about it rings DEWI in q-damkar (and she
    answers). Returns BUDI's and DEWI's screens."""
    given_call(kit.calls, UNIQUEID, CALLER, queue="q112", started_at=iso(datetime.now(UTC)))
    await kit.agents.available(BUDI)
    await kit.agents.available(DEWI)
    await settled()
    budi, dewi = Screen(), Screen()
    kit.floor.subscribe(BUDI, budi)
    kit.floor.subscribe(DEWI, dewi)
    await ring_for(kit, budi, BUDI.interface, queue="q112")
    kit.fake.connect(UNIQUEID, BUDI.interface)
    await settled()
    kit.fake.join(CONSULT_LEG, "q-damkar", "", "Budi Santoso", BUDI_CONSULTING, f"SIAGA_CONSULT_FOR={UNIQUEID}")
    kit.fake.ring(CONSULT_LEG, DEWI.interface)
    await until(lambda: dewi.call() and dewi.call()["consult_leg"] == CONSULT_LEG, what="DEWI's consultation pop")  # type: ignore[index]
    if answered:
        kit.fake.connect(CONSULT_LEG, DEWI.interface)
        await settled()
    return budi, dewi


async def test_a_completed_warm_transfer_makes_the_citizen_the_agency_operators_call(kit: FloorKit) -> None:
    """BUDI completes: Asterisk is asked to bridge the citizen's channel to DEWI's leg; the call is
    DEWI's (she may give its outcome) and BUDI's part is over: his wrap-up starts at once. The end of
    the consultation's queue call starts none for DEWI, who is still talking; her phone going idle
    does. app_queue's word on BUDI's part, which comes only when the citizen's call ends, changes
    nothing for him any more. Before the Bridge, DEWI's leg is made the citizen's for the dialplan
    (the one whose own end decides a requeue, and whose seat a lost phone pauses), not BUDI's."""
    budi, dewi = await given_budi_consulting_dewi(kit)
    citizen = budi.call()["channel"]  # type: ignore[index]
    dewi_leg = dewi.call()["phone_channel"]  # type: ignore[index]
    assert citizen.startswith("PJSIP/trunk112-") and dewi_leg.startswith(DEWI.interface + "-")
    with pytest.raises(NotYourCall):
        await kit.floor.outcome(DEWI, UNIQUEID, "genuine")  # a consultation is not her call yet

    assert await kit.floor.complete_transfer(BUDI, UNIQUEID) == "dewi"
    assert kit.fake.sent("Bridge") == [{"Action": "Bridge", "Channel1": citizen, "Channel2": dewi_leg, "Tone": "no"}]
    assert kit.fake.variables == {
        (dewi_leg, "SIAGA_CITIZEN"): citizen,
        (citizen, "SHARED(SIAGA_LEG)"): dewi_leg,
        (citizen, "SHARED(SIAGA_LEG_CAUSE)"): "",
        (citizen, "MEMBERINTERFACE"): DEWI.interface,
    }
    handing = [request["Action"] for request in kit.fake.actions if request["Action"] in ("Setvar", "Bridge")]
    assert handing == ["Setvar"] * 4 + ["Bridge"]
    await until(lambda: dewi.call()["consult_leg"] == "", what="the call is DEWI's")  # type: ignore[index]
    assert (dewi.call()["uniqueid"], dewi.call()["consult_from"]) == (UNIQUEID, "Budi Santoso")  # type: ignore[index]
    kit.fake.set_device(BUDI.interface, "1")  # his legs are gone
    await until(lambda: kit.agents.state(BUDI).state == WRAP_UP, what="BUDI's wrap-up")
    assert budi.call()["phase"] == "wrap_up"  # type: ignore[index]
    await kit.agents.available(BUDI)  # he ends it

    kit.fake.complete(CONSULT_LEG, DEWI.interface, reason="caller", leg_moved=True)
    await settled()
    assert kit.agents.state(DEWI).state == ON_CALL
    assert [p for p in kit.fake.sent("QueuePause") if p["Interface"] == DEWI.interface and p.get("Reason")] == []
    assert dewi.call()["phase"] == "on_call"  # type: ignore[index]
    assert await kit.floor.outcome(DEWI, UNIQUEID, "genuine") is True
    kit.fake.set_device(DEWI.interface, "1")  # she hangs up: the citizen's call ends
    await until(lambda: kit.agents.state(DEWI).state == WRAP_UP, what="DEWI's wrap-up")
    assert dewi.call()["phase"] == "wrap_up"  # type: ignore[index]
    pauses = len(kit.fake.sent("QueuePause"))
    kit.fake.complete(UNIQUEID, BUDI.interface, reason="caller")
    await settled()
    assert kit.agents.state(BUDI).state == AVAILABLE
    assert kit.fake.sent("QueuePause")[pauses:] == []


async def test_a_transfer_asterisk_refuses_leaves_both_calls_as_they_were(kit: FloorKit) -> None:
    """The citizen hung up a moment before (Bridge: no such channel): TransferFailed, DEWI's screen
    still a consultation, and for the dialplan the citizen's leg is BUDI's again; when BUDI cancels it,
    she has no wrap-up and nothing on screen."""
    budi, dewi = await given_budi_consulting_dewi(kit)
    kit.fake.refuse_next("Bridge", "Channel1 does not exist: PJSIP/trunk112-00000042")
    with pytest.raises(TransferFailed):
        await kit.floor.complete_transfer(BUDI, UNIQUEID)
    await settled()
    citizen = budi.call()["channel"]  # type: ignore[index]
    assert kit.fake.variables[(citizen, "SHARED(SIAGA_LEG)")] == budi.call()["phone_channel"]  # type: ignore[index]
    assert kit.fake.variables[(citizen, "MEMBERINTERFACE")] == BUDI.interface
    assert dewi.call()["consult_leg"] == CONSULT_LEG  # type: ignore[index]

    kit.fake.complete(CONSULT_LEG, DEWI.interface, reason="caller")  # Batal
    await settled()
    await until(lambda: dewi.call() is None, what="DEWI's screen cleared")
    assert kit.agents.state(DEWI).state == AVAILABLE


@pytest.mark.parametrize("idle_first", [False, True], ids=["complete-first", "idle-first"])
async def test_a_cancelled_consultation_app_queue_reports_without_its_caller_starts_no_wrap_up(
    kit: FloorKit, idle_first: bool
) -> None:
    """BUDI's phone ends the consultation and app_queue's AgentComplete comes without the caller's
    fields (its channel already destroyed): DEWI's own leg says which call it was; no wrap-up. Also
    when her phone's going idle is reported first (a busy Asterisk), which clears her screen before
    the AgentComplete that names only her leg."""
    _budi, dewi = await given_budi_consulting_dewi(kit)
    kit.fake.complete(CONSULT_LEG, DEWI.interface, reason="caller", caller_gone=True, idle_first=idle_first)
    await settled()
    await until(lambda: dewi.call() is None, what="DEWI's screen cleared")
    assert kit.agents.state(DEWI).state == AVAILABLE
    assert [p for p in kit.fake.sent("QueuePause") if p["Interface"] == DEWI.interface and p.get("Reason")] == []


async def test_only_the_consulting_operator_completes_an_answered_consultation(kit: FloorKit) -> None:
    """ANI has no such call (NotYourCall); BUDI's consultation still ringing is nobody to hand over to
    (NoConsultation); Asterisk is asked nothing."""
    await given_budi_consulting_dewi(kit, answered=False)
    with pytest.raises(NotYourCall):
        await kit.floor.complete_transfer(ANI, UNIQUEID)
    with pytest.raises(NoConsultation):
        await kit.floor.complete_transfer(BUDI, UNIQUEID)
    assert kit.fake.sent("Bridge") == []


async def test_a_lost_phones_seat_stays_paused_with_its_reason_whatever_the_wrap_up_did(kit: FloorKit) -> None:
    """DEWI's phone dies on a call: the dialplan pauses her seat (PHONE_LOST_REASON) as it requeues the
    citizen, racing the wrap-up we start on AgentComplete; she ends up paused with that reason in every
    queue in Asterisk, no wrap-up timer will make her available, and her console says why."""
    screen = await given_dewi_on_a_fire_call(kit)
    kit.fake.operator_phone_lost(UNIQUEID, DEWI.interface, PHONE_LOST_REASON)

    def ours_sent() -> bool:
        return any(action.get("Reason") == PHONE_LOST_REASON for action in kit.fake.sent("QueuePause"))

    await until(ours_sent, what="our own pause for the lost phone")
    await settled()
    assert {q: (m.paused, m.paused_reason) for q, m in kit.fake.memberships(DEWI.interface).items()} == {
        "q-damkar": (True, PHONE_LOST_REASON),
        "q112": (True, PHONE_LOST_REASON),
    }
    assert kit.agents.wrapup_ends_at(DEWI.id) is None
    assert screen.last("state")["reason"] == PHONE_LOST_REASON


async def test_a_requeue_that_paused_nobody_pauses_nobody(kit: FloorKit) -> None:
    """A requeue event whose dialplan paused nothing (a second requeue of the call, or no member) leaves
    the operator's wrap-up as it is."""
    await given_dewi_on_a_fire_call(kit)
    kit.fake.complete(UNIQUEID, DEWI.interface, reason="agent")
    await settled()
    kit.fake.user_event("SiagaRoute", Action="requeue", From=DEWI.interface, Status="44", Hop="2", Paused="")
    await settled()
    assert kit.agents.state(DEWI).state == WRAP_UP


async def test_the_next_call_answered_while_a_junk_outcome_is_written_stays_in_hand(kit: FloorKit) -> None:
    """DEWI closes her last call as prank in wrap-up; while the store writes it, the next call rings
    and she answers (seen by the load model's real engine: in the same second). The new call stays
    hers: on her screen, and its outcome is accepted."""
    screen = await given_dewi_on_a_fire_call(kit)
    kit.fake.complete(UNIQUEID, DEWI.interface)
    await until(lambda: kit.agents.state(DEWI).state == WRAP_UP, what="wrap-up")
    writing, release = threading.Event(), threading.Event()
    write = kit.calls.set_disposition

    def slow_write(uniqueid: str, disposition: str) -> bool:
        writing.set()
        release.wait(5)
        return write(uniqueid, disposition)

    kit.floor.store.set_disposition = slow_write  # type: ignore[method-assign]
    closing = asyncio.create_task(kit.floor.outcome(DEWI, UNIQUEID, "prank"))
    await until(writing.is_set, what="the outcome being written")
    await kit.agents.available(DEWI)
    await settled()
    nxt = "1733100000.43"
    given_call(kit.calls, nxt, "081299990000", started_at=iso(datetime.now(UTC)))
    kit.fake.join(nxt, "q-damkar", "081299990000")
    kit.fake.ring(nxt, DEWI.interface)
    kit.fake.connect(nxt, DEWI.interface)
    await until(lambda: screen.call() and screen.call()["uniqueid"] == nxt, what="the next call on screen")  # type: ignore[index]
    release.set()
    assert await closing is True
    await settled()
    assert screen.call()["uniqueid"] == nxt  # type: ignore[index]
    assert await kit.floor.outcome(DEWI, nxt, "genuine") is True
