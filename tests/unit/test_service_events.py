"""The service's AMI account is sent only the events the service listens to (SERVICE_EVENTS): every
listener in ivr/ is for one of them, and a client told its filter refuses a listener for any other."""

from __future__ import annotations

import re

import pytest

from ivr.ami.client import AmiClient
from ivr.ami.live import LiveQueues
from ivr.ami.service_events import SERVICE_EVENTS
from ivr.app import QUEUE_EVENTS
from tests.unit.conftest import REPO

LISTENER = re.compile(r"""\.on\(\s*["'](\w+)["']""")


def filtered_client() -> AmiClient:
    return AmiClient("127.0.0.1", 1, "siaga", "secret", "system,agent,dtmf,user", only_events=SERVICE_EVENTS)


def test_every_event_a_part_of_the_service_listens_to_passes_the_filter() -> None:
    """Each event named in a listener under ivr/ (and the app's logged queue events) is in SERVICE_EVENTS."""
    named = {name for path in (REPO / "ivr").rglob("*.py") for name in LISTENER.findall(path.read_text())}
    assert named >= {"AgentCalled", "DTMFEnd", "UserEvent"}  # the scan finds the listeners
    assert named | set(QUEUE_EVENTS) <= set(SERVICE_EVENTS)


async def test_live_queues_subscribe_on_a_filtered_client() -> None:
    """LiveQueues names its events in a loop the scan above cannot read: on a filtered client it starts."""
    client = filtered_client()
    live = LiveQueues(client)
    await live.close()


async def test_a_filtered_client_refuses_a_listener_for_an_event_it_is_never_sent() -> None:
    """DTMFBegin is filtered out for the service's account: a listener for it would never run, so it is refused."""
    client = filtered_client()
    client.on("DTMFEnd", lambda fields: None)
    client.on("*", lambda fields: None)
    with pytest.raises(ValueError, match="DTMFBegin"):
        client.on("DTMFBegin", lambda fields: None)


def test_asterisk_is_not_told_to_drop_an_event_anything_of_ours_listens_to() -> None:
    """manager.conf's disabledevents (events Asterisk never makes) names none that a listener in ivr/,
    tests/ or bench/ waits for: such a listener would wait for ever."""
    manager = (REPO / "asterisk-config" / "manager.conf").read_text()
    [line] = re.findall(r"^disabledevents\s*=\s*(.*)$", manager, re.M)
    disabled = {name.strip() for name in line.split(",")}
    assert disabled == {"Newexten", "VarSet"}
    sources = [path for part in ("ivr", "tests", "bench") for path in (REPO / part).rglob("*.py")]
    named = {name for path in sources for name in LISTENER.findall(path.read_text())}
    assert named >= {"AgentCalled", "Newstate", "AGIExecStart"}  # the scan finds tests' and benches' listeners
    assert not (named | set(SERVICE_EVENTS)) & disabled, (named | set(SERVICE_EVENTS)) & disabled
