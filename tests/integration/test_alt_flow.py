"""A second, different flow and SOP (tests/fixtures/alt) on its own real Asterisk: other keys, a play
node, '#' and '*', other categories and queue names. Nothing about the shipped menu is hard-coded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ivr.ami.client import AmiClient
from ivr.ami.live import LiveQueues
from ivr.ami.testcall import place_call
from ivr.asterisk import process
from ivr.asterisk.provision import find_or_provision
from ivr.routing.decide import QueueState
from tests.integration.conftest import (
    SEATS,
    AgiSwitch,
    Stack,
    connected_ami,
    given_root,
    serving_agi,
    start_stack,
    stop_stack,
    until,
)

ALT = Path(__file__).resolve().parents[1] / "fixtures" / "alt"


@pytest.fixture(scope="module")
def alt_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(given_root(tmp_path_factory.mktemp("alt"), dialplan=ALT / "dialplan", sop=ALT / "sop"))
    try:
        yield stack
    finally:
        stop_stack(stack)


@pytest.fixture(scope="module")
async def alt_ami_live(alt_stack: Stack) -> AsyncIterator[tuple[AmiClient, LiveQueues]]:
    async with connected_ami(alt_stack) as connected:
        yield connected


@pytest.fixture(scope="module")
def alt_ami(alt_ami_live: tuple[AmiClient, LiveQueues]) -> AmiClient:
    return alt_ami_live[0]


@pytest.fixture(scope="module")
async def alt_agi(alt_stack: Stack, alt_ami_live: tuple[AmiClient, LiveQueues]) -> AsyncIterator[AgiSwitch]:
    async with serving_agi(alt_stack, alt_ami_live[1]) as switch:
        yield switch


async def test_the_alternative_flow_routes_by_its_own_sop(alt_ami: AmiClient, alt_agi: AgiSwitch) -> None:
    """7 → api, 8 3 → medis (its bridge rings out, then its queue), # → tanya, silence (played twice)
    → jaga: each in its own queue, answered."""
    expected = {
        "7": ("api", "regu-api-1"),
        "83": ("medis", "ambulans-x"),
        "#": ("tanya", "jaga-pusat"),
        "": ("jaga", "jaga-pusat"),
    }
    reports = await asyncio.gather(*(place_call(alt_ami, keys, gap=1.0) for keys in expected))
    for (keys, (category, queue)), report in zip(expected.items(), reports, strict=True):
        assert (report.route.get("Category"), report.queue, report.answered) == (category, queue, True), keys
    silent = reports[-1]
    assert silent.prompts == ["id/salam", "id/pintu", "id/pintu"]
    medis = reports[1]
    assert [(step["Action"], step.get("Target") or step.get("Status")) for step in medis.routes] == [
        ("bridge", "Local/posko@siaga-sim-bridge"),
        ("overflow", "NOANSWER"),
        ("queue", "ambulans-x"),
    ]


async def test_asterisk_restart_is_followed_by_a_resync(
    alt_stack: Stack, alt_ami_live: tuple[AmiClient, LiveQueues], alt_agi: AgiSwitch
) -> None:
    """Asterisk restarted under us: the AMI connection comes back, queue state is rebuilt from
    QueueStatus, operators log in again, and calls route as before."""
    ami, live = alt_ami_live
    install = find_or_provision()
    conf = alt_stack.settings.asterisk_dir / "etc" / "asterisk.conf"
    before = live.snapshot()
    assert before is not None and before["regu-api-1"].ready == SEATS
    await asyncio.to_thread(process.stop, alt_stack.settings)
    await until(lambda: live.snapshot() is None, timeout=10)
    await asyncio.to_thread(process.start, alt_stack.settings, install, conf, 60)
    await until(lambda: (live.snapshot() or {}).get("regu-api-1", QueueState("x")).ready == SEATS, timeout=30)
    report = await place_call(ami, "7", gap=1.0)
    assert (report.queue, report.answered) == ("regu-api-1", True)
