"""An operator's one ACD state from Asterisk's memberships: each state and the precedence between them."""

from __future__ import annotations

import pytest

from ivr.ami.live import Member
from ivr.operators.states import (
    AVAILABLE,
    LOGGED_OUT,
    ON_CALL,
    PAUSED,
    PHONE_OFFLINE,
    RINGING,
    WRAP_UP,
    WRAPUP_REASON,
    agent_state,
)

PHONE = "PJSIP/op-budi"


def member(status: str = "1", paused: bool = False, reason: str = "", in_call: bool = False) -> Member:
    return Member(PHONE, "Budi Santoso", paused, status, reason if paused else "", in_call)


def test_no_membership_is_logged_out() -> None:
    """In no queue at all: logged out, and ``logged_in`` says so."""
    state = agent_state([])
    assert (state.state, state.reason, state.queues, state.logged_in) == (LOGGED_OUT, None, (), False)


def test_idle_members_are_available_in_every_queue_sorted() -> None:
    """Unpaused with an idle phone: available, listing the queues (sorted) the operator is in."""
    state = agent_state([("q112", member()), ("q-damkar", member())])
    assert (state.state, state.reason, state.queues, state.logged_in) == (AVAILABLE, None, ("q-damkar", "q112"), True)


@pytest.mark.parametrize("status", ["6", "7"])
def test_a_ringing_phone_is_ringing(status: str) -> None:
    """Device RINGING or RINGINUSE: ringing."""
    assert agent_state([("q112", member(status))]).state == RINGING


@pytest.mark.parametrize("status", ["2", "3", "8"])
def test_a_phone_in_use_is_on_call(status: str) -> None:
    """Device INUSE, BUSY or ONHOLD: on call."""
    assert agent_state([("q112", member(status))]).state == ON_CALL


def test_in_call_flag_alone_is_on_call() -> None:
    """app_queue's InCall=1 with the device still reported idle: on call (the flag is enough)."""
    assert agent_state([("q112", member("1", in_call=True))]).state == ON_CALL


def test_a_call_in_hand_wins_over_a_pause_taken_during_it() -> None:
    """Paused for Sholat while on the phone: still on call (the pause starts after the call)."""
    state = agent_state([("q112", member("2", paused=True, reason="Sholat"))])
    assert (state.state, state.reason) == (ON_CALL, None)


def test_ringing_wins_over_wrap_up() -> None:
    """A phone ringing while the member shows Wrap-up: ringing is what the operator must see."""
    assert agent_state([("q112", member("6", paused=True, reason=WRAPUP_REASON))]).state == RINGING


def test_wrap_up_in_one_queue_wins_over_other_pauses() -> None:
    """Wrap-up in one queue and Istirahat in another: wrap-up, with its reason."""
    state = agent_state(
        [("q112", member(paused=True, reason=WRAPUP_REASON)), ("q-damkar", member(paused=True, reason="Istirahat"))]
    )
    assert (state.state, state.reason) == (WRAP_UP, WRAPUP_REASON)


def test_paused_in_every_queue_is_paused_with_the_reason() -> None:
    """Paused everywhere for Pelatihan: paused, reason Pelatihan."""
    state = agent_state(
        [("q112", member(paused=True, reason="Pelatihan")), ("q-damkar", member(paused=True, reason="Pelatihan"))]
    )
    assert (state.state, state.reason) == (PAUSED, "Pelatihan")


def test_paused_without_a_reason_has_none() -> None:
    """Paused by someone who gave no reason (the CLI): paused, reason None rather than ''."""
    state = agent_state([("q112", member(paused=True))])
    assert (state.state, state.reason) == (PAUSED, None)


def test_paused_in_some_queues_only_is_available() -> None:
    """Paused in one queue, not in the other: still takes calls, so available."""
    state = agent_state([("q112", member()), ("q-damkar", member(paused=True, reason="Istirahat"))])
    assert state.state == AVAILABLE


@pytest.mark.parametrize("status", ["4", "5"])
def test_an_unregistered_phone_is_offline(status: str) -> None:
    """Device INVALID or UNAVAILABLE in every queue and not paused: phone offline (cannot take calls)."""
    assert agent_state([("q112", member(status)), ("q-damkar", member(status))]).state == PHONE_OFFLINE


def test_a_chosen_pause_is_shown_over_an_offline_phone() -> None:
    """Paused for Istirahat with the browser closed: paused (what the operator chose), not offline."""
    state = agent_state([("q112", member("5", paused=True, reason="Istirahat"))])
    assert (state.state, state.reason) == (PAUSED, "Istirahat")


def test_unknown_device_state_is_available() -> None:
    """Device UNKNOWN (0, what Local channels report): available, not offline."""
    assert agent_state([("q112", member("0"))]).state == AVAILABLE
