"""Operators' ACD actions over AMI (ivr.ami.agents) on the app_queue fake: join, pause, wrap-up, restore, logout."""

from __future__ import annotations

import gc
import warnings
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from ivr.ami.agents import AgentActionFailed, Agents
from ivr.config.roster import Operator
from ivr.operators.states import AVAILABLE, LOGGED_OUT, PAUSED, WRAP_UP, WRAPUP_REASON
from ivr.store.console import Position
from tests.fakes.app_queue import FakeAppQueue, settled, until
from tests.fakes.floor_kit import BUDI, DEWI, FloorKit, open_floor, shipped_config


@pytest.fixture(params=[True, False], ids=["events-first", "response-first"])
async def kit(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[FloorKit]:
    """The floor on the app_queue fake, once with each order of an action's events and its response."""
    opened = await open_floor(tmp_path, events_first=request.param)
    yield opened
    await opened.close()


def paused_in_asterisk(fake: FakeAppQueue, operator: Operator) -> dict[str, tuple[bool, str]]:
    return {queue: (m.paused, m.paused_reason) for queue, m in fake.memberships(operator.interface).items()}


async def test_available_joins_every_roster_queue_with_the_phone_as_state_interface(kit: FloorKit) -> None:
    """DEWI (q-damkar, q112) goes available: one QueueAdd per queue, StateInterface = her phone, not paused."""
    await kit.agents.available(DEWI)
    await settled()
    adds = kit.fake.sent("QueueAdd")
    assert sorted(a["Queue"] for a in adds) == ["q-damkar", "q112"]
    for add in adds:
        assert (add["Interface"], add["StateInterface"], add["MemberName"], add["Paused"]) == (
            "PJSIP/op-dewi",
            "PJSIP/op-dewi",
            "Dewi Kartika",
            "false",
        )
        assert "Reason" not in add
    assert paused_in_asterisk(kit.fake, DEWI) == {"q-damkar": (False, ""), "q112": (False, "")}
    state = kit.agents.state(DEWI)
    assert (state.state, state.queues) == (AVAILABLE, ("q-damkar", "q112"))
    assert kit.console.positions()["dewi"] == Position("dewi", True, "")


async def test_available_skips_queues_the_operator_is_already_in(kit: FloorKit) -> None:
    """Already a member (per the live mirror): no second QueueAdd, just the unpause."""
    await kit.agents.available(BUDI)
    await settled()
    await kit.agents.available(BUDI)
    await settled()
    assert len(kit.fake.sent("QueueAdd")) == 1
    assert len(kit.fake.sent("QueuePause")) == 2


async def test_already_there_from_asterisk_is_not_an_error(tmp_path: Path) -> None:
    """A double click before the mirror saw the first join: Asterisk says "Already there", and that is fine."""
    kit = await open_floor(tmp_path, events_first=False)
    try:
        await kit.agents.available(BUDI)
        await kit.agents.available(BUDI)  # no await yielded: the first QueueMemberAdded is not delivered yet
        replies = [a["Queue"] for a in kit.fake.sent("QueueAdd")]
        assert replies == ["q112", "q112"]
        await until(lambda: kit.agents.state(BUDI).state == AVAILABLE, what="budi available in the mirror")
    finally:
        await kit.close()


async def test_available_ends_a_pause(kit: FloorKit) -> None:
    """Paused for Istirahat, then available: unpaused everywhere, reason cleared, remembered as available."""
    await kit.agents.pause(DEWI, "Istirahat")
    await settled()
    await kit.agents.available(DEWI)
    await settled()
    assert paused_in_asterisk(kit.fake, DEWI) == {"q-damkar": (False, ""), "q112": (False, "")}
    assert kit.agents.state(DEWI).state == AVAILABLE
    assert kit.console.positions()["dewi"] == Position("dewi", True, "")


async def test_pause_with_a_reason_pauses_every_queue_in_one_action(kit: FloorKit) -> None:
    """pause(Sholat): one QueuePause without Queue, with Reason; every membership paused for Sholat."""
    await kit.agents.available(DEWI)
    await settled()
    await kit.agents.pause(DEWI, "Sholat")
    await settled()
    last = kit.fake.sent("QueuePause")[-1]
    assert last == {"Action": "QueuePause", "Interface": "PJSIP/op-dewi", "Paused": "true", "Reason": "Sholat"}
    assert paused_in_asterisk(kit.fake, DEWI) == {"q-damkar": (True, "Sholat"), "q112": (True, "Sholat")}
    state = kit.agents.state(DEWI)
    assert (state.state, state.reason) == (PAUSED, "Sholat")
    assert kit.console.positions()["dewi"] == Position("dewi", True, "Sholat")


async def test_pause_while_logged_out_joins_already_paused(kit: FloorKit) -> None:
    """From logged out, pause(Pelatihan) adds the member paused with the reason: never ringable in between."""
    await kit.agents.pause(BUDI, "Pelatihan")
    await settled()
    [add] = kit.fake.sent("QueueAdd")
    assert (add["Paused"], add["Reason"]) == ("true", "Pelatihan")
    assert [(e["Paused"], e["PausedReason"]) for e in kit.fake.emitted("QueueMemberAdded")] == [("1", "Pelatihan")]
    assert kit.agents.state(BUDI).state == PAUSED


async def test_an_unknown_pause_reason_never_reaches_asterisk(kit: FloorKit) -> None:
    """A reason outside PAUSE_REASONS: ValueError, and no action was sent."""
    with pytest.raises(ValueError, match="unknown pause reason"):
        await kit.agents.pause(BUDI, "Tidur")
    assert kit.fake.actions == [{"Action": "QueueStatus"}]


async def test_wrap_up_ends_by_itself(kit: FloorKit) -> None:
    """start_wrapup(0.2 s): paused as Wrap-up with a deadline, then available again without anyone acting."""
    await kit.agents.available(BUDI)
    await settled()
    await kit.agents.start_wrapup(BUDI, 0.2)
    await settled()
    state = kit.agents.state(BUDI)
    assert (state.state, state.reason) == (WRAP_UP, WRAPUP_REASON)
    assert paused_in_asterisk(kit.fake, BUDI) == {"q112": (True, WRAPUP_REASON)}
    assert kit.agents.wrapup_ends_at("budi") is not None
    await until(lambda: kit.agents.state(BUDI).state == AVAILABLE, what="wrap-up over by itself")
    assert paused_in_asterisk(kit.fake, BUDI) == {"q112": (False, "")}
    assert kit.agents.wrapup_ends_at("budi") is None


async def test_wrap_up_of_a_logged_out_operator_does_nothing(kit: FloorKit) -> None:
    """An AgentComplete for someone no longer in any queue: no QueuePause (it would be "Interface not found")."""
    await kit.agents.start_wrapup(BUDI, 0.2)
    await settled()
    assert kit.fake.sent("QueuePause") == []
    assert kit.agents.wrapup_ends_at("budi") is None


async def test_end_wrapup_early_makes_the_operator_available(kit: FloorKit) -> None:
    """end_wrapup (the operator's key) before the timer: available, and the timer is gone."""
    await kit.agents.available(BUDI)
    await settled()
    await kit.agents.start_wrapup(BUDI, 30.0)
    await settled()
    await kit.agents.end_wrapup(BUDI)
    await settled()
    assert kit.agents.state(BUDI).state == AVAILABLE
    assert kit.agents.wrapup_ends_at("budi") is None


async def test_ending_a_wrap_up_early_leaves_no_coroutine_behind(kit: FloorKit) -> None:
    """A wrap-up cut short (junk key, pause, logout) leaves no never-awaited coroutine (a RuntimeWarning each time)."""
    await kit.agents.available(BUDI)
    await settled()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await kit.agents.start_wrapup(BUDI, 30.0)
        await settled()
        await kit.agents.end_wrapup(BUDI)
        await settled()
        gc.collect()
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []


async def test_a_pause_during_wrap_up_is_not_undone(kit: FloorKit) -> None:
    """pause(Sholat) during wrap-up cancels the timer; ending the wrap-up afterwards leaves the pause."""
    await kit.agents.available(BUDI)
    await settled()
    await kit.agents.start_wrapup(BUDI, 30.0)
    await settled()
    await kit.agents.pause(BUDI, "Sholat")
    await settled()
    assert kit.agents.wrapup_ends_at("budi") is None
    await kit.agents.end_wrapup(BUDI)
    await settled()
    state = kit.agents.state(BUDI)
    assert (state.state, state.reason) == (PAUSED, "Sholat")


async def test_the_wrap_up_timer_leaves_a_pause_made_elsewhere(kit: FloorKit) -> None:
    """A supervisor pauses budi for Administrasi in Asterisk during his wrap-up: the timer does not unpause him."""
    await kit.agents.available(BUDI)
    await settled()
    await kit.agents.start_wrapup(BUDI, 0.2)
    await settled()
    await kit.fake.action(
        {"Action": "QueuePause", "Interface": BUDI.interface, "Paused": "true", "Reason": "Administrasi"}
    )
    pauses_before = len(kit.fake.sent("QueuePause"))
    await until(lambda: kit.agents.wrapup_ends_at("budi") is None, what="the wrap-up timer fired")
    state = kit.agents.state(BUDI)
    assert (state.state, state.reason) == (PAUSED, "Administrasi")
    assert len(kit.fake.sent("QueuePause")) == pauses_before


async def test_a_pause_asked_for_during_the_call_outlasts_the_wrap_up(kit: FloorKit) -> None:
    """Paused for Sholat during a call: after the call and its wrap-up he is paused for Sholat, not available."""
    await kit.agents.available(BUDI)
    await settled()
    kit.fake.join("1733.1", "q112", "081234567890")
    await settled()
    kit.fake.ring("1733.1", BUDI.interface)
    await settled()
    kit.fake.connect("1733.1", BUDI.interface)
    await settled()
    await kit.agents.pause(BUDI, "Sholat")
    await settled()
    kit.fake.complete("1733.1", BUDI.interface)  # the floor starts the wrap-up on AgentComplete
    await settled()
    await kit.agents.end_wrapup(BUDI)  # what the wrap-up timer does when it runs out
    state = kit.agents.state(BUDI)
    assert (state.state, state.reason) == (PAUSED, "Sholat")
    assert paused_in_asterisk(kit.fake, BUDI) == {"q112": (True, "Sholat")}


async def test_restore_after_an_asterisk_restart_keeps_the_pause_reason(kit: FloorKit) -> None:
    """Paused for Istirahat, Asterisk restarts: budi is re-added paused with Istirahat, never available in between."""
    await kit.agents.pause(DEWI, "Istirahat")
    await settled()
    adds_before = len(kit.fake.sent("QueueAdd"))
    kit.fake.restart()
    await until(lambda: len(kit.fake.memberships(DEWI.interface)) == 2, what="dewi back in Asterisk's queues")
    await until(lambda: kit.agents.state(DEWI).state == PAUSED, what="the mirror shows dewi paused")
    assert kit.agents.state(DEWI).reason == "Istirahat"
    assert paused_in_asterisk(kit.fake, DEWI) == {"q-damkar": (True, "Istirahat"), "q112": (True, "Istirahat")}
    readds = kit.fake.sent("QueueAdd")[adds_before:]
    assert [(a["Queue"], a["Paused"], a["Reason"], a["StateInterface"]) for a in readds] == [
        ("q-damkar", "true", "Istirahat", "PJSIP/op-dewi"),
        ("q112", "true", "Istirahat", "PJSIP/op-dewi"),
    ]


async def dewi_readded_after_asterisk_restarts(kit: FloorKit) -> list[tuple[str, str, str]]:
    """Restart the fake Asterisk; the QueueAdds that brought DEWI back: (queue, paused, reason)."""
    adds_before = len(kit.fake.sent("QueueAdd"))
    kit.fake.restart()
    await until(lambda: len(kit.fake.memberships(DEWI.interface)) == 2, what="dewi back in Asterisk's queues")
    return [(a["Queue"], a["Paused"], a.get("Reason", "")) for a in kit.fake.sent("QueueAdd")[adds_before:]]


async def test_restore_after_an_asterisk_restart_keeps_a_running_wrap_up(kit: FloorKit) -> None:
    """In wrap-up after a call when Asterisk restarts: dewi is re-added paused for Wrap-up (no call rings
    her while she writes up the last one), and her wrap-up still ends by itself. A full e2e run once saw
    her re-added available, 20 s before her wrap-up's end."""
    await kit.agents.available(DEWI)
    await settled()
    await kit.agents.start_wrapup(DEWI, 0.5)
    await settled()
    assert await dewi_readded_after_asterisk_restarts(kit) == [
        ("q-damkar", "true", WRAPUP_REASON),
        ("q112", "true", WRAPUP_REASON),
    ]
    await until(lambda: kit.agents.state(DEWI).state == AVAILABLE, what="the wrap-up's end", timeout=3)
    assert {q: m.paused for q, m in kit.fake.memberships(DEWI.interface).items()} == {"q-damkar": False, "q112": False}


async def test_a_wrap_up_outlives_our_service_and_asterisk_restarting_together(kit: FloorKit) -> None:
    """A reboot while dewi writes up a call: her wrap-up timer is gone with the service, Asterisk has
    forgotten her, and her stored position is all that is left. She comes back paused for Wrap-up, never
    available (a call would ring her mid-report), and the new service's timer ends the wrap-up."""
    await kit.agents.available(DEWI)
    await settled()
    await kit.agents.start_wrapup(DEWI, 30.0)
    await settled()
    assert kit.console.positions()["dewi"] == Position("dewi", True, WRAPUP_REASON)
    # The old service is gone: its timer with it, and it no longer hears Asterisk.
    await kit.agents.close()
    restarted = Agents(kit.fake, kit.live, lambda: kit.config.sop.operators, kit.console)  # type: ignore[arg-type]
    try:
        assert await dewi_readded_after_asterisk_restarts(kit) == [
            ("q-damkar", "true", WRAPUP_REASON),
            ("q112", "true", WRAPUP_REASON),
        ]
        await until(lambda: restarted.wrapup_ends_at("dewi") is not None, what="a timer for the found wrap-up")
        await restarted.end_wrapup(DEWI)
        await until(lambda: restarted.state(DEWI).state == AVAILABLE, what="the wrap-up's end")
        assert kit.console.positions()["dewi"] == Position("dewi", True, "")
    finally:
        await restarted.close()


async def test_a_closed_agents_restores_no_one_after_an_asterisk_restart(kit: FloorKit) -> None:
    """A service that closed its Agents (shutting down, or replaced) acts on nothing it still hears:
    another instance's restore is the one that counts."""
    await kit.agents.available(DEWI)
    await settled()
    await kit.agents.close()
    adds_before = len(kit.fake.sent("QueueAdd"))
    kit.fake.restart()
    await until(lambda: kit.live.synced, what="the mirror resynced after the restart")
    await settled()
    assert kit.fake.sent("QueueAdd")[adds_before:] == []


async def test_restore_brings_an_available_operator_back_available(kit: FloorKit) -> None:
    """Available before the restart: available after it, in the same queues."""
    await kit.agents.available(DEWI)
    await settled()
    kit.fake.restart()
    await until(lambda: len(kit.fake.memberships(DEWI.interface)) == 2, what="dewi back in Asterisk's queues")
    await until(lambda: kit.agents.state(DEWI).state == AVAILABLE, what="the mirror shows dewi available")
    assert {q: m.paused for q, m in kit.fake.memberships(DEWI.interface).items()} == {"q-damkar": False, "q112": False}


async def test_restore_leaves_a_logged_out_operator_out(kit: FloorKit) -> None:
    """Logged out before the restart: still out after it (resync and restore both done)."""
    await kit.agents.available(BUDI)
    await settled()
    await kit.agents.logout(BUDI)
    await settled()
    await kit.agents.available(DEWI)
    await settled()
    kit.fake.restart()
    await until(lambda: kit.fake.memberships(DEWI.interface), what="dewi restored (restore ran)")
    assert kit.fake.memberships(BUDI.interface) == {}


async def test_restore_keeps_what_asterisk_still_has(kit: FloorKit) -> None:
    """Asterisk did not restart but the service resyncs: a membership Asterisk has is left alone (it is the truth)."""
    await kit.agents.pause(BUDI, "Sholat")
    await settled()
    await kit.fake.action({"Action": "QueuePause", "Interface": BUDI.interface, "Paused": "false"})
    await settled()
    sent_before = len(kit.fake.actions)
    await kit.agents.restore()
    await settled()
    assert kit.fake.actions[sent_before:] == []
    assert kit.agents.state(BUDI).state == AVAILABLE


async def test_restore_does_not_add_back_a_queue_asterisk_says_she_left(kit: FloorKit) -> None:
    """DEWI was removed from q-damkar in Asterisk (the CLI) but is still in q112: restore leaves it so."""
    await kit.agents.available(DEWI)
    await settled()
    await kit.fake.action({"Action": "QueueRemove", "Queue": "q-damkar", "Interface": DEWI.interface})
    await settled()
    await kit.agents.restore()
    await settled()
    assert list(kit.fake.memberships(DEWI.interface)) == ["q112"]


async def test_a_wrap_up_found_without_its_timer_gets_one(kit: FloorKit, tmp_path: Path) -> None:
    """Our service restarted during a wrap-up: the new Agents finds Wrap-up in Asterisk and ends it on time."""
    await kit.agents.available(BUDI)
    await settled()
    await kit.fake.action({"Action": "QueuePause", "Interface": BUDI.interface, "Paused": "true", "Reason": "Wrap-up"})
    await settled()
    fresh = Agents(kit.fake, kit.live, lambda: kit.config.sop.operators, kit.console)  # type: ignore[arg-type]
    try:
        await fresh.restore(default_wrapup=0.2)
        assert fresh.wrapup_ends_at("budi") is not None
        await until(lambda: fresh.state(BUDI).state == AVAILABLE, what="orphan wrap-up ended")
    finally:
        await fresh.close()


async def test_logout_removes_every_membership(kit: FloorKit) -> None:
    """logout: one QueueRemove per queue, nothing left in Asterisk, logged out, remembered as out."""
    await kit.agents.pause(DEWI, "Administrasi")
    await settled()
    await kit.agents.logout(DEWI)
    await settled()
    assert sorted(r["Queue"] for r in kit.fake.sent("QueueRemove")) == ["q-damkar", "q112"]
    assert kit.fake.memberships(DEWI.interface) == {}
    assert kit.agents.state(DEWI).state == LOGGED_OUT
    assert kit.console.positions()["dewi"] == Position("dewi", False, "")


async def test_logout_cancels_a_running_wrap_up(kit: FloorKit) -> None:
    """Logging out during wrap-up: no timer left to act on a member who is gone."""
    await kit.agents.available(BUDI)
    await settled()
    await kit.agents.start_wrapup(BUDI, 30.0)
    await settled()
    await kit.agents.logout(BUDI)
    await settled()
    assert kit.agents.wrapup_ends_at("budi") is None


async def test_asterisk_refusing_an_action_raises_agent_action_failed(tmp_path: Path) -> None:
    """A roster queue Asterisk does not have: AgentActionFailed naming Asterisk's message."""
    stray = replace(BUDI, queues=("q112", "q-baru"))
    kit = await open_floor(tmp_path, config=shipped_config({"budi": stray}))
    try:
        with pytest.raises(AgentActionFailed, match="No such queue"):
            await kit.agents.available(stray)
            await settled()
    finally:
        await kit.close()


async def test_the_interface_maps_back_to_the_operator(kit: FloorKit) -> None:
    """operator_for(PJSIP/op-dewi) is DEWI; an interface of no operator is None."""
    assert kit.agents.operator_for("PJSIP/op-dewi") == DEWI
    assert kit.agents.operator_for("Local/sim-1@siaga-sim") is None
