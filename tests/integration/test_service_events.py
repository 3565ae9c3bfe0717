"""AMI events on the real Asterisk: the service's account's rendered eventfilter lets through what the
service reads and nothing else (asterisk-config/manager.conf, ivr/ami/service_events.py), and the
events nothing of ours reads per dialplan line are not made at all (manager.conf's disabledevents)."""

from __future__ import annotations

import asyncio

from ivr.ami.client import AmiClient
from ivr.ami.service_events import SERVICE_EVENTS
from ivr.asterisk.render import load_secrets
from tests.integration.conftest import Caller, Stack, until


async def test_the_service_account_gets_our_route_event_and_the_keys_received_and_nothing_else(
    stack: Stack, ami: AmiClient, call: Caller
) -> None:
    """A call pressing 1: the service's session (logged in as `ivr serve` logs in) is sent the dialplan's
    SiagaRoute and each key as the caller's channel received it; not a UserEvent of anyone else, not
    DTMFBegin, not a key's other direction, not the dialplan's steps."""
    keys = load_secrets(stack.settings, create=False)
    service = AmiClient(
        "127.0.0.1", stack.settings.ami_port, keys.ami_user, keys.ami_secret, events="system,agent,dtmf,user"
    )
    seen: list[dict[str, str]] = []
    service.on("*", seen.append)
    await service.connect(timeout=20)
    try:
        report = await call("1")
        # Another dialplan's (or a bench's) UserEvent while the service listens: a channel that runs it.
        others: list[dict[str, str]] = []
        unsubscribe = ami.on("UserEvent", others.append)
        reply = await ami.action(
            {
                "Action": "Originate",
                "Channel": "Local/999@siaga-sim-callee",
                "Application": "UserEvent",
                "Data": "SomeoneElses,Note: not ours",
                "Async": "true",
            }
        )
        assert reply["Response"] == "Success", reply
        try:
            await until(lambda: any(e.get("UserEvent") == "SomeoneElses" for e in others), timeout=10)
        finally:
            unsubscribe()
        await until(lambda: any(e.get("UserEvent") == "SiagaRoute" for e in seen), timeout=10)
        await asyncio.sleep(1)  # anything filtered wrongly would arrive meanwhile
    finally:
        await service.close()
    assert report.queue and report.route.get("Action") == "queue", report.as_dict()
    names = {event.get("Event") for event in seen}
    assert names <= set(SERVICE_EVENTS), names - set(SERVICE_EVENTS)
    user_events = {event.get("UserEvent") for event in seen if event.get("Event") == "UserEvent"}
    assert user_events == {"SiagaRoute"}
    # The route event names the caller's channel (the queue caller app_queue's AgentCalled names) and
    # the category: what the operator's pop falls back on when the call has no record of ours.
    routes = [event for event in seen if event.get("UserEvent") == "SiagaRoute" and event.get("Action") == "queue"]
    assert [(event.get("Uniqueid"), event.get("Category")) for event in routes] == [
        (f"{report.channel}-in", report.route["Category"])
    ]
    keys_seen = [event for event in seen if event.get("Event") == "DTMFEnd"]
    assert [(event["Digit"], event["Direction"]) for event in keys_seen] == [("1", "Received")]


async def test_asterisk_makes_no_event_per_dialplan_line(ami: AmiClient, call: Caller) -> None:
    """manager.conf's disabledevents: a call through the whole 112 flow makes no Newexten (one per
    dialplan line) and no VarSet (one per Set), though the test account reads the dialplan class;
    the call's other events still come (its channel's state, our route event, the queue's)."""
    seen: list[dict[str, str]] = []
    unsubscribe = ami.on("*", seen.append)
    try:
        report = await call("1")
    finally:
        unsubscribe()
    assert report.queue and report.answered, report.as_dict()
    mine = [event for event in seen if event.get("Uniqueid") == f"{report.channel}-in"]
    names = {event.get("Event") for event in mine}
    assert {"Newstate", "UserEvent", "QueueCallerJoin"} <= names, names
    assert not names & {"Newexten", "VarSet"}, names
