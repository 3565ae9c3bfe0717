"""Operators' ACD states on the real Asterisk: pause with a reason, wrap-up, and an Asterisk restart.

Asterisk is the truth: every assertion reads app_queue's own QueueStatus, not our mirror. The
operator's phone is not registered here (the browser test registers one), so the member's device
is unavailable; what is proven is membership, pause and reason, which app_queue honours the same
way for a registered phone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from ivr.ami.agents import Agents
from ivr.ami.client import AmiClient
from ivr.ami.live import LiveQueues
from ivr.asterisk import process
from ivr.asterisk.provision import find_or_provision
from ivr.asterisk.render import load_secrets
from ivr.config.roster import Operator
from ivr.operators.states import PAUSED, WRAP_UP, WRAPUP_REASON
from ivr.store.console import ConsoleStore
from tests.integration.conftest import Stack, given_root, start_stack, stop_stack, until

pytestmark = pytest.mark.asterisk

SITI = Operator("siti", "Siti Rahma", "operator", "c112", ("q112",))


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[Stack]:
    """An Asterisk of this test's own: it is restarted, which the session's shared one must not be."""
    stack = start_stack(given_root(tmp_path / "root"))
    try:
        yield stack
    finally:
        stop_stack(stack)


@pytest.fixture
async def agents(own_stack: Stack, tmp_path: Path) -> AsyncIterator[Agents]:
    keys = load_secrets(own_stack.settings, create=False)
    # The service's own AMI account: what `ivr serve` may do, no more.
    client = AmiClient("127.0.0.1", own_stack.settings.ami_port, keys.ami_user, keys.ami_secret, "system,agent")
    live = LiveQueues(client)
    positions = ConsoleStore(tmp_path / "console.sqlite3")
    agents = Agents(client, live, lambda: {SITI.id: SITI}, positions)
    await client.connect(timeout=20)
    await until(lambda: live.synced, timeout=10)
    try:
        yield agents
    finally:
        await agents.close()
        await live.close()
        await client.close()
        positions.close()


async def members(client: AmiClient, queue: str) -> dict[str, dict[str, Any]]:
    """app_queue's own view of ``queue``: interface → its QueueMember fields."""
    replies = await client.action({"Action": "QueueStatus", "Queue": queue}, timeout=10.0, as_list=True)
    return {
        str(reply.get("Location")): {str(key): str(value) for key, value in reply.items()}
        for reply in replies
        if reply.get("Event") == "QueueMember"
    }


async def joined(agents: Agents) -> None:
    """Until the live mirror has seen SITI join q112 (what start_wrapup and the states read)."""
    await until(lambda: SITI.interface in agents.live.queues.get("q112", None).members, timeout=5)  # type: ignore[union-attr]


async def test_pause_with_a_reason_is_what_the_queue_sees(agents: Agents) -> None:
    """Available then paused for Sholat: QueueStatus shows the member paused with that reason."""
    await agents.available(SITI)
    await joined(agents)
    seen = (await members(agents.client, "q112"))[SITI.interface]
    assert (seen["Paused"], seen["Name"]) == ("0", "Siti Rahma")
    await agents.pause(SITI, "Sholat")
    seen = (await members(agents.client, "q112"))[SITI.interface]
    assert (seen["Paused"], seen["PausedReason"]) == ("1", "Sholat")
    await until(lambda: agents.state(SITI).state == PAUSED, timeout=5)
    assert agents.state(SITI).reason == "Sholat"


async def test_wrapup_ends_by_itself(agents: Agents) -> None:
    """A wrap-up of 2 s: paused as Wrap-up in Asterisk, then unpaused without anyone acting."""
    await agents.available(SITI)
    # A wrap-up follows a call, by when the mirror has long seen the operator join (start_wrapup
    # reads it): wait for that here too.
    await joined(agents)
    await agents.start_wrapup(SITI, 2.0)
    seen = (await members(agents.client, "q112"))[SITI.interface]
    assert (seen["Paused"], seen["PausedReason"]) == ("1", WRAPUP_REASON)
    assert agents.state(SITI).state == WRAP_UP or await until(lambda: agents.state(SITI).state == WRAP_UP, 5)

    async def unpaused() -> bool:
        return (await members(agents.client, "q112"))[SITI.interface]["Paused"] == "0"

    deadline = asyncio.get_running_loop().time() + 8
    while not await unpaused():
        assert asyncio.get_running_loop().time() < deadline, "wrap-up did not end within 8 s"
        await asyncio.sleep(0.1)


async def restart_asterisk(stack: Stack) -> None:
    settings = stack.settings
    await asyncio.to_thread(process.stop, settings)
    install = find_or_provision()
    conf = settings.asterisk_dir / "etc" / "asterisk.conf"
    await asyncio.to_thread(process.start, settings, install, conf, 60)


async def siti_back_in_q112(client: AmiClient) -> dict[str, Any]:
    """QueueStatus's SITI in q112, once the restarted Asterisk has her again (20 s at most)."""

    async def restored() -> dict[str, Any] | None:
        try:
            return (await members(client, "q112")).get(SITI.interface)
        except Exception:
            return None

    deadline = asyncio.get_running_loop().time() + 20
    seen = await restored()
    while seen is None:
        assert asyncio.get_running_loop().time() < deadline, "operator not back in q112 within 20 s of the restart"
        await asyncio.sleep(0.2)
        seen = await restored()
    return seen


async def test_an_asterisk_restart_does_not_log_anyone_out(agents: Agents, own_stack: Stack) -> None:
    """Paused for Istirahat, then Asterisk restarts: the member is back in q112, paused, same reason."""
    await agents.available(SITI)
    await agents.pause(SITI, "Istirahat")
    await restart_asterisk(own_stack)
    seen = await siti_back_in_q112(agents.client)
    assert (seen["Paused"], seen["PausedReason"]) == ("1", "Istirahat")
    await until(lambda: agents.state(SITI).reason == "Istirahat", timeout=10)


async def test_a_reboot_during_a_wrap_up_brings_the_operator_back_in_it(agents: Agents, own_stack: Stack) -> None:
    """Our service and Asterisk restart together while siti writes up a call: the wrap-up's timer went with
    the service, and Asterisk forgot her. The new service re-adds her paused for Wrap-up (app_queue
    rings nobody paused), from her stored position alone, and times the wrap-up afresh."""
    await agents.available(SITI)
    await joined(agents)
    await agents.start_wrapup(SITI, 60.0)
    # The service goes: its timer with it. The one that comes back has the same store and nothing else.
    await agents.close()
    restarted = Agents(agents.client, agents.live, agents.roster, agents.positions)
    try:
        await restart_asterisk(own_stack)
        seen = await siti_back_in_q112(agents.client)
        assert (seen["Paused"], seen["PausedReason"]) == ("1", WRAPUP_REASON)
        await until(lambda: restarted.wrapup_ends_at(SITI.id) is not None, timeout=10)
    finally:
        await restarted.close()
