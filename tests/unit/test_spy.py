"""Listen / whisper / barge (ivr.ami.spy): the one Originate it builds, what it refuses, the operator's leg it
spies on, and that Asterisk's rules (the app_queue fake applies manager.c's) let the service's account run it
with `originate` and without `system`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ivr.ami.spy import SPY_OPTIONS, CallLegs, SpyRefused, spy_action, spy_target, start_spy
from ivr.config.roster import Operator
from tests.fakes.app_queue import FakeAppQueue
from tests.fakes.floor_kit import BUDI, SARI, FloorKit, open_floor

LEG = "PJSIP/op-budi-0000001a"


@pytest.fixture
async def kit(tmp_path: Path) -> AsyncIterator[FloorKit]:
    opened = await open_floor(tmp_path)
    yield opened
    await opened.close()


def test_each_mode_is_chanspy_quiet_and_ending_with_the_call() -> None:
    """listen qE, whisper qEw, barge qEB, on the operator's exact leg, ringing the supervisor's browser phone."""
    built = {mode: spy_action(SARI, BUDI, LEG, mode) for mode in SPY_OPTIONS}
    assert {mode: fields["Data"] for mode, fields in built.items()} == {
        "listen": f"{LEG},qE",
        "whisper": f"{LEG},qEw",
        "barge": f"{LEG},qEB",
    }
    assert built["listen"] == {
        "Action": "Originate",
        "Channel": "PJSIP/op-sari",
        "Application": "ChanSpy",
        "Data": f"{LEG},qE",
        "CallerID": '"listen budi" <budi>',
        "Timeout": "30000",
        "Async": "true",
    }


@pytest.mark.parametrize(
    ("target", "mode"),
    [
        (LEG + "\n", "listen"),  # a trailing newline would end the AMI header
        ("PJSIP/op-budi-0000001a,qB", "listen"),  # options smuggled into the channel
        ("PJSIP/op-ani-0000001a", "listen"),  # another operator's leg
        ("PJSIP/op-budi", "listen"),  # a bare prefix would also match op-budi-s
        ("Local/x@y", "listen"),
        (LEG, "record"),
        (LEG, "listen\n"),
    ],
)
def test_anything_but_the_operators_leg_and_a_known_mode_is_refused(target: str, mode: str) -> None:
    """Each value that reaches the action is checked whole (fullmatch): no newline, comma or other channel."""
    with pytest.raises(ValueError):
        spy_action(SARI, BUDI, target, mode)


def test_an_unusual_roster_id_cannot_reach_the_action() -> None:
    """A supervisor whose interface is not a browser phone (an id the roster would refuse) is refused."""
    odd = Operator("sari\nAction: Command", "x", "supervisor", "c112", ())
    with pytest.raises(ValueError):
        spy_action(odd, BUDI, LEG, "listen")


def test_the_leg_is_exact_and_the_prefix_only_when_it_names_one_operator() -> None:
    """A known leg is used as is; unknown: 'PJSIP/op-budi-' unless another id starts with 'budi-'."""
    assert spy_target(BUDI, LEG, ["budi", "ani"]) == LEG
    assert spy_target(BUDI, None, ["budi", "ani", "budiman"]) == "PJSIP/op-budi-"
    assert spy_target(BUDI, None, ["budi", "budi-s"]) is None
    assert spy_target(BUDI, "PJSIP/op-ani-0000001a", ["budi", "ani"]) == "PJSIP/op-budi-"


async def test_every_mode_passes_asterisks_originate_check_with_originate_and_without_system() -> None:
    """The fake applies manager.c's is_originate_app_permitted: all three modes go through with agent,originate."""
    fake = FakeAppQueue(["q112"], write=("agent", "originate"))
    for mode in SPY_OPTIONS:
        await start_spy(fake, SARI, BUDI, LEG, mode)
    assert [request["Data"] for request in fake.sent("Originate")] == [f"{LEG},qE", f"{LEG},qEw", f"{LEG},qEB"]


async def test_without_the_originate_class_asterisk_refuses() -> None:
    """The account as it was (write = agent): Permission denied, raised as SpyRefused."""
    fake = FakeAppQueue(["q112"], write=("agent",))
    with pytest.raises(SpyRefused, match="Permission denied"):
        await start_spy(fake, SARI, BUDI, LEG, "listen")


async def test_the_fake_would_refuse_a_system_application() -> None:
    """The rule the previous test relies on is live in the fake: Exec needs `system`."""
    fake = FakeAppQueue(["q112"], write=("agent", "originate"))
    reply = await fake.action({"Action": "Originate", "Channel": "PJSIP/op-sari", "Application": "Exec", "Data": "x"})
    assert reply == {"Response": "Error", "Message": "Originate Access Forbidden: app or data blacklisted"}


async def test_the_leg_is_learnt_from_agent_connect_and_forgotten_at_agent_complete(kit: FloorKit) -> None:
    """app_queue's DestChannel of the answered call is budi's leg until the call completes."""
    legs = CallLegs(kit.fake, kit.agents.operator_for)
    await kit.agents.available(BUDI)
    kit.fake.join("1733100000.1", "q112", "081234567890")
    kit.fake.ring("1733100000.1", BUDI.interface)
    kit.fake.connect("1733100000.1", BUDI.interface)
    connect = kit.fake.emitted("AgentConnect")[-1]
    assert legs.leg(BUDI) == connect["DestChannel"] and connect["DestChannel"].startswith("PJSIP/op-budi-")
    kit.fake.complete("1733100000.1", BUDI.interface)
    assert legs.leg(BUDI) is None
