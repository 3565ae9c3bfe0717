"""The app_queue fake answers as Asterisk 22 documents it: tests built on it cannot pass on what Asterisk refuses."""

from __future__ import annotations

import pytest

from ivr.ami.client import AmiTimeout
from tests.fakes.app_queue import FakeAppQueue, settled

PHONE = "PJSIP/op-budi"


def add(queue: str = "q112", paused: str = "false", reason: str = "") -> dict[str, str]:
    fields = {
        "Action": "QueueAdd",
        "Queue": queue,
        "Interface": PHONE,
        "StateInterface": PHONE,
        "MemberName": "Budi Santoso",
        "Paused": paused,
    }
    if reason:
        fields["Reason"] = reason
    return fields


async def test_queue_add_answers_and_announces_the_member() -> None:
    """QueueAdd: Success "Added interface to queue" and a QueueMemberAdded with Asterisk 22's fields."""
    fake = FakeAppQueue(["q112"])
    reply = await fake.action(add())
    assert reply == {"Response": "Success", "Message": "Added interface to queue"}
    [event] = fake.emitted("QueueMemberAdded")
    assert {k: event[k] for k in ("Queue", "Interface", "StateInterface", "MemberName", "Paused", "Status")} == {
        "Queue": "q112",
        "Interface": PHONE,
        "StateInterface": PHONE,
        "MemberName": "Budi Santoso",
        "Paused": "0",
        "Status": "1",
    }
    assert {"InCall", "PausedReason", "Membership", "LoginTime", "Wrapuptime"} <= event.keys()


async def test_queue_add_twice_is_already_there() -> None:
    """A second QueueAdd of the same interface: Error "Unable to add interface: Already there", no event."""
    fake = FakeAppQueue(["q112"])
    await fake.action(add())
    assert await fake.action(add()) == {"Response": "Error", "Message": "Unable to add interface: Already there"}
    assert len(fake.emitted("QueueMemberAdded")) == 1


async def test_queue_add_to_an_unknown_queue_is_refused() -> None:
    """A queue Asterisk does not have: Error "Unable to add interface to queue: No such queue"."""
    fake = FakeAppQueue(["q112"])
    reply = await fake.action(add("q-nowhere"))
    assert reply == {"Response": "Error", "Message": "Unable to add interface to queue: No such queue"}


async def test_queue_add_paused_keeps_the_reason() -> None:
    """QueueAdd Paused=true Reason=Sholat: the member is paused with that reason from the start."""
    fake = FakeAppQueue(["q112"])
    await fake.action(add(paused="true", reason="Sholat"))
    [event] = fake.emitted("QueueMemberAdded")
    assert (event["Paused"], event["PausedReason"]) == ("1", "Sholat")


async def test_queue_pause_without_a_queue_pauses_every_membership() -> None:
    """QueuePause with no Queue: one QueueMemberPause per queue, each with the PausedReason."""
    fake = FakeAppQueue(["q112", "q-damkar"])
    await fake.action(add("q112"))
    await fake.action(add("q-damkar"))
    reply = await fake.action({"Action": "QueuePause", "Interface": PHONE, "Paused": "true", "Reason": "Istirahat"})
    assert reply == {"Response": "Success", "Message": "Interface paused successfully"}
    assert [(e["Queue"], e["Paused"], e["PausedReason"]) for e in fake.emitted("QueueMemberPause")] == [
        ("q-damkar", "1", "Istirahat"),
        ("q112", "1", "Istirahat"),
    ]


async def test_queue_pause_with_a_queue_touches_that_queue_only_and_unpause_clears_the_reason() -> None:
    """QueuePause Queue=q112 changes q112 only; unpausing clears PausedReason (even when a Reason is sent)."""
    fake = FakeAppQueue(["q112", "q-damkar"])
    await fake.action(add("q112", paused="true", reason="Sholat"))
    await fake.action(add("q-damkar", paused="true", reason="Sholat"))
    unpause = {"Action": "QueuePause", "Queue": "q112", "Interface": PHONE, "Paused": "false", "Reason": "Sholat"}
    reply = await fake.action(unpause)
    assert reply["Message"] == "Interface unpaused successfully"
    members = fake.memberships(PHONE)
    assert (members["q112"].paused, members["q112"].paused_reason) == (False, "")
    assert (members["q-damkar"].paused, members["q-damkar"].paused_reason) == (True, "Sholat")


async def test_queue_pause_of_a_stranger_is_interface_not_found() -> None:
    """QueuePause for an interface in no queue: Error "Interface not found"."""
    fake = FakeAppQueue(["q112"])
    reply = await fake.action({"Action": "QueuePause", "Interface": PHONE, "Paused": "true"})
    assert reply == {"Response": "Error", "Message": "Interface not found"}


async def test_queue_remove_answers_like_asterisk() -> None:
    """QueueRemove: Success then, for the same member again, "Unable to remove interface: Not there"."""
    fake = FakeAppQueue(["q112"])
    await fake.action(add())
    remove = {"Action": "QueueRemove", "Queue": "q112", "Interface": PHONE}
    assert await fake.action(remove) == {"Response": "Success", "Message": "Removed interface from queue"}
    assert await fake.action(remove) == {"Response": "Error", "Message": "Unable to remove interface: Not there"}
    assert [e["Interface"] for e in fake.emitted("QueueMemberRemoved")] == [PHONE]


async def test_queue_status_lists_params_members_entries_and_completes() -> None:
    """QueueStatus as a list: Response, QueueParams, QueueMember (Name/Location), QueueEntry, Complete."""
    fake = FakeAppQueue(["q112"])
    await fake.action(add(paused="true", reason="Pelatihan"))
    fake.join("1733.1", "q112", "081234567890")
    replies = await fake.action({"Action": "QueueStatus"}, as_list=True)
    assert [r.get("Event", r.get("Response")) for r in replies] == [
        "Success",
        "QueueParams",
        "QueueMember",
        "QueueEntry",
        "QueueStatusComplete",
    ]
    params, member, entry = replies[1], replies[2], replies[3]
    assert params["Calls"] == "1"
    assert (member["Location"], member["Name"], member["Paused"], member["PausedReason"]) == (
        PHONE,
        "Budi Santoso",
        "1",
        "Pelatihan",
    )
    assert (entry["Uniqueid"], entry["CallerIDNum"]) == ("1733.1", "081234567890")


async def test_a_call_rings_connects_and_completes_with_member_statuses() -> None:
    """join → ring → connect → complete: AgentCalled, Status 6, AgentConnect, Status 2 InCall 1, back to 1."""
    fake = FakeAppQueue(["q112"])
    await fake.action(add())
    fake.join("1733.1", "q112", "081234567890", "Warga")
    fake.ring("1733.1", PHONE)
    fake.connect("1733.1", PHONE)
    fake.complete("1733.1", PHONE)
    names = [e["Event"] for e in fake.events if e["Event"] != "QueueMemberAdded"]
    assert names == [
        "QueueCallerJoin",
        "AgentCalled",
        "QueueMemberStatus",
        "QueueCallerLeave",
        "AgentConnect",
        "QueueMemberStatus",
        "AgentComplete",
        "QueueMemberStatus",
    ]
    called = fake.emitted("AgentCalled")[0]
    assert (called["Uniqueid"], called["CallerIDNum"], called["CallerIDName"], called["Interface"]) == (
        "1733.1",
        "081234567890",
        "Warga",
        PHONE,
    )
    statuses = [(e["Status"], e["InCall"]) for e in fake.emitted("QueueMemberStatus")]
    assert statuses == [("6", "0"), ("2", "1"), ("1", "0")]


async def test_app_queue_never_rings_a_paused_member() -> None:
    """Ringing a paused member is an error in the fake, as Asterisk would never do it."""
    fake = FakeAppQueue(["q112"])
    await fake.action(add(paused="true", reason="Sholat"))
    fake.join("1733.1", "q112", "0812")
    with pytest.raises(AssertionError, match="paused"):
        fake.ring("1733.1", PHONE)


async def test_restart_forgets_members_and_calls_the_ready_hooks() -> None:
    """restart(): members gone, a Shutdown then FullyBooted, and every on_ready hook runs again."""
    fake = FakeAppQueue(["q112"])
    booted: list[str] = []
    fake.on_ready(lambda: booted.append("ready"))
    await fake.action(add())
    fake.restart()
    assert fake.memberships(PHONE) == {}
    assert booted == ["ready", "ready"]
    assert [e["Event"] for e in fake.events][-2:] == ["Shutdown", "FullyBooted"]


async def test_an_action_before_boot_times_out() -> None:
    """Not yet FullyBooted: an action waits for the boot and then fails with AmiTimeout."""
    fake = FakeAppQueue(["q112"], ready=False)
    with pytest.raises(AmiTimeout):
        await fake.action(add(), timeout=0.05)


async def test_events_after_the_response_keep_the_stream_order() -> None:
    """events_first=False: an action's events come after its reply, and a call's events queue behind them."""
    fake = FakeAppQueue(["q112"], events_first=False)
    seen: list[str] = []
    fake.on("*", lambda fields: seen.append(fields["Event"]))
    await fake.action(add())
    fake.join("1733.1", "q112", "0812")
    assert seen == []
    await settled()
    assert seen == ["QueueMemberAdded", "QueueCallerJoin"]
