"""What routing reads of a queue (ivr.ami.live → QueueState) from app_queue's events and QueueStatus,
driven through the app_queue fake; and where a new caller goes on that picture (busy agency: next step)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import structlog

from ivr.ami.live import AUDIT_MARGIN, LiveQueues
from ivr.routing.decide import QueueState, decide
from tests.fakes.app_queue import INUSE, FakeAppQueue, until
from tests.fakes.floor_kit import shipped_config

BPBD, DAMKAR, CENTRAL = "q-bpbd", "q-damkar", "q112"
ANDI = "PJSIP/op-andi"  # BPBD's one operator
ASEP = "PJSIP/op-asep"  # at Damkar, free
TUESDAY_NOON = datetime(2026, 12, 1, 12, 0, tzinfo=ZoneInfo("Asia/Jakarta"))


async def given_live(events_first: bool = True) -> tuple[FakeAppQueue, LiveQueues]:
    fake = FakeAppQueue([BPBD, DAMKAR, CENTRAL], events_first=events_first)
    live = LiveQueues(fake)  # type: ignore[arg-type]  # the fake has AmiClient's surface
    await until(lambda: live.synced, what="LiveQueues' first QueueStatus resync")
    return fake, live


async def log_in(fake: FakeAppQueue, queue: str, interface: str = ANDI) -> None:
    await fake.action(
        {"Action": "QueueAdd", "Queue": queue, "Interface": interface, "StateInterface": interface, "Paused": "false"}
    )


def state(live: LiveQueues, queue: str) -> QueueState:
    snapshot = live.snapshot()
    assert snapshot is not None, "AMI is up and synced: routing must get a picture"
    return snapshot[queue]


@pytest.mark.parametrize("events_first", [True, False], ids=["events-first", "response-first"])
async def test_an_operator_on_a_call_makes_the_queue_busy_until_the_call_ends(events_first: bool) -> None:
    """join → ring → connect: BPBD's one operator on a call (InCall 1, in use); a new bencana caller goes
    on to Damkar at once. After the call, the queue takes callers again."""
    fake, live = await given_live(events_first)
    await log_in(fake, BPBD)
    await log_in(fake, DAMKAR, ASEP)
    fake.join("1733.1", BPBD, "081234567890")
    fake.ring("1733.1", ANDI)
    fake.connect("1733.1", ANDI)
    busy = await until(lambda: state(live, BPBD).on_call == 1 and state(live, BPBD), what="the call seen")
    assert busy == QueueState(BPBD, members=1, ready=1, waiting=0, on_call=1)
    assert decide("bencana", shipped_config().sop, TUESDAY_NOON, live.snapshot()).target == DAMKAR
    fake.complete("1733.1", ANDI)
    idle = await until(lambda: state(live, BPBD).on_call == 0 and state(live, BPBD), what="the call's end seen")
    assert not idle.busy
    assert decide("bencana", shipped_config().sop, TUESDAY_NOON, live.snapshot()).target == BPBD


async def test_an_operator_ringing_for_a_waiting_caller_is_taken() -> None:
    """Ringing is not on a call, but the caller it rings for is waiting: nobody is left for a new caller."""
    fake, live = await given_live()
    await log_in(fake, BPBD)
    fake.join("1733.1", BPBD, "081234567890")
    fake.ring("1733.1", ANDI)
    ringing = state(live, BPBD)
    assert (ringing.on_call, ringing.waiting, ringing.busy) == (0, 1, True)


LOCAL_ONE, LOCAL_TWO = "Local/op-q-bpbd-1@siaga-sim-operator/n", "Local/op-q-bpbd-2@siaga-sim-operator/n"


async def test_local_members_are_on_a_call_from_answer_to_complete_whatever_their_device_says() -> None:
    """A Local channel member says "in use" while ringall only rings it, and its "not in use" after a
    ring another member answered comes late (Asterisk 22): neither makes BPBD busy for the next bencana
    caller. app_queue's AgentConnect..AgentComplete is what counts."""
    fake, live = await given_live()
    await log_in(fake, BPBD, LOCAL_ONE)
    await log_in(fake, BPBD, LOCAL_TWO)
    fake.join("1733.1", BPBD, "081234567890")
    fake.ring("1733.1", LOCAL_ONE, device_while_ringing=INUSE)
    fake.ring("1733.1", LOCAL_TWO, device_while_ringing=INUSE)
    ringing = await until(lambda: state(live, BPBD).waiting == 1 and state(live, BPBD), what="the ringing seen")
    assert (ringing.on_call, ringing.busy) == (0, False)
    assert decide("bencana", shipped_config().sop, TUESDAY_NOON, live.snapshot()).target == BPBD
    fake.connect("1733.1", LOCAL_ONE)
    fake.set_device(LOCAL_TWO, INUSE)  # its ring ended, its device state not yet back to idle
    answered = await until(lambda: state(live, BPBD).waiting == 0 and state(live, BPBD), what="the answer seen")
    assert (answered.on_call, answered.busy) == (1, False)
    assert decide("bencana", shipped_config().sop, TUESDAY_NOON, live.snapshot()).target == BPBD
    fake.complete("1733.1", LOCAL_ONE)
    fake.set_device(LOCAL_ONE, INUSE)  # the same lag after the call
    assert state(live, BPBD) == QueueState(BPBD, members=2, ready=2, waiting=0, on_call=0)


async def bpbd_one_seat_on_a_call() -> tuple[FakeAppQueue, LiveQueues]:
    """BPBD staffed by one simulated seat (a Local member), which has answered caller 1733.1."""
    fake, live = await given_live()
    await log_in(fake, BPBD, LOCAL_ONE)
    fake.join("1733.1", BPBD, "081234567890")
    fake.ring("1733.1", LOCAL_ONE, device_while_ringing=INUSE)
    fake.connect("1733.1", LOCAL_ONE)
    await until(lambda: state(live, BPBD).busy, what="the call seen")
    return fake, live


async def test_a_local_members_call_ends_even_when_app_queue_reports_it_without_the_caller() -> None:
    """app_queue's AgentComplete comes without the caller's fields when the caller's channel is gone
    before it is built (22.10.1): the member's own leg (DestUniqueid) says which call ended, so BPBD's
    one seat is not left 'on a call' for good (a full test run once passed a bencana caller over so)."""
    fake, live = await bpbd_one_seat_on_a_call()
    fake.complete("1733.1", LOCAL_ONE, caller_gone=True)
    idle = await until(lambda: not state(live, BPBD).busy and state(live, BPBD), what="the call's end seen", timeout=1)
    assert idle == QueueState(BPBD, members=1, ready=1, waiting=0, on_call=0)


async def test_a_local_members_call_app_queue_never_completes_ends_when_its_seat_goes_idle() -> None:
    """A caller who hangs up while the operator's leg runs the queue's membergosub is never heard by
    app_queue: AgentConnect and no AgentComplete. The seat's device going idle (Status 1, InCall 0) is
    Asterisk's only word that the call ended; without it BPBD's one seat stayed 'on a call' until the
    next resync, and every bencana caller meanwhile was passed over to Damkar."""
    fake, live = await bpbd_one_seat_on_a_call()
    fake.end_unheard("1733.1", LOCAL_ONE)
    assert not fake.emitted("AgentComplete")
    idle = await until(lambda: not state(live, BPBD).busy and state(live, BPBD), what="the call's end seen", timeout=1)
    assert idle == QueueState(BPBD, members=1, ready=1, waiting=0, on_call=0)
    assert decide("bencana", shipped_config().sop, TUESDAY_NOON, live.snapshot()).target == BPBD


async def test_a_call_of_another_queue_counts_by_the_phones_device_state() -> None:
    """An operator in two queues answers a central call: app_queue's InCall is set in q112 only, the phone's
    device state (in use) says the same in q-bpbd."""
    fake, live = await given_live()
    await log_in(fake, BPBD)
    await log_in(fake, CENTRAL)
    fake.join("1733.1", CENTRAL, "081234567890")
    fake.ring("1733.1", ANDI)
    fake.connect("1733.1", ANDI)
    assert live.queues[BPBD].members[ANDI].in_call is False
    assert (state(live, BPBD).on_call, state(live, BPBD).busy) == (1, True)


async def test_a_resync_reads_calls_in_progress_from_queue_status() -> None:
    """After a (re)login the picture comes from QueueStatus (InCall, Status): a call in progress is seen."""
    fake, live = await given_live()
    await log_in(fake, BPBD)
    fake.join("1733.1", BPBD, "081234567890")
    fake.ring("1733.1", ANDI)
    fake.connect("1733.1", ANDI)
    live.queues.clear()
    await live.resync()
    assert state(live, BPBD) == QueueState(BPBD, members=1, ready=1, waiting=0, on_call=1)


async def test_a_paused_operator_on_a_call_is_not_counted_among_the_ready() -> None:
    """A paused member is not ready; a call in hand does not make them count (no negative free seats)."""
    fake, live = await given_live()
    await log_in(fake, BPBD)
    await log_in(fake, BPBD, "PJSIP/op-rudi")
    await fake.action({"Action": "QueuePause", "Interface": "PJSIP/op-rudi", "Paused": "true", "Reason": "Sholat"})
    fake.set_device("PJSIP/op-rudi", INUSE)
    assert state(live, BPBD) == QueueState(BPBD, members=2, ready=1, waiting=0, on_call=0)


async def test_every_event_is_in_the_next_snapshot_and_a_snapshot_is_the_caller_s_own() -> None:
    """The picture is kept between events (built once per change): each event, and a resync, still
    shows in the very next snapshot, and a caller that edits its snapshot changes nobody else's."""
    fake, live = await given_live()
    await log_in(fake, BPBD)
    await until(lambda: state(live, BPBD).ready == 1, what="andi's login")
    first = live.snapshot()
    assert first is not None
    del first[BPBD]
    assert state(live, BPBD).ready == 1
    await log_in(fake, DAMKAR, ASEP)
    await until(lambda: state(live, DAMKAR).ready == 1, what="asep's login, in another queue", timeout=2)
    assert state(live, BPBD).ready == 1
    fake.join("1733.9", BPBD, "081234567890")
    await until(lambda: state(live, BPBD).waiting == 1, what="the caller's join", timeout=2)
    assert state(live, DAMKAR) == QueueState(DAMKAR, members=1, ready=1, waiting=0, on_call=0)
    await fake.action({"Action": "QueuePause", "Interface": ANDI, "Paused": "true"})
    await until(lambda: state(live, BPBD).ready == 0, what="andi's pause", timeout=2)
    await live.resync()
    assert state(live, BPBD) == QueueState(BPBD, members=1, ready=0, waiting=1, on_call=0)
    fake.restart()  # members and callers gone without an event each: only the resync shows it
    await until(lambda: state(live, BPBD).members == 0, what="the resync after the restart", timeout=2)
    assert state(live, DAMKAR) == QueueState(DAMKAR)


async def test_the_audit_takes_asterisks_word_for_a_call_the_picture_kept_after_it_ended() -> None:
    """A leg the picture still holds for a call Asterisk has no record of (InCall 0, idle), unheard of for
    longer than the margin: the audit frees the seat, says so with both sides, and the next bencana
    caller goes to BPBD again. News younger than the margin is left alone (QueueStatus may be older)."""
    fake, live = await given_live()
    await log_in(fake, BPBD, LOCAL_ONE)
    await until(lambda: state(live, BPBD).ready == 1, what="the seat's login")
    seat = live.queues[BPBD].members[LOCAL_ONE]
    seat.connected_to.add("1733.9")  # how it got there is what the audit need not know
    live._states = None
    assert state(live, BPBD).busy
    assert await live.audit() == 0, "just heard of: not overruled"
    seat.heard_at -= AUDIT_MARGIN + 1
    with structlog.testing.capture_logs() as logged:
        assert await live.audit() == 1
    assert state(live, BPBD) == QueueState(BPBD, members=1, ready=1, waiting=0, on_call=0)
    assert decide("bencana", shipped_config().sop, TUESDAY_NOON, live.snapshot()).target == BPBD
    [warning] = [line for line in logged if line["event"] == "ami_live_member_corrected"]
    assert (warning["queue"], warning["member"], warning["on_call"], warning["connected_to"]) == (
        BPBD,
        LOCAL_ONE,
        True,
        ["1733.9"],
    )
    assert (warning["asterisk_in_call"], warning["asterisk_status"]) == (False, "1")


async def test_the_audit_takes_asterisks_word_for_a_call_the_picture_missed() -> None:
    """The other way round: Asterisk has BPBD's operator on a call (InCall 1) the picture lost: the audit
    makes BPBD busy, and the next bencana caller goes on to Damkar instead of waiting for a busy seat.
    A member both sides agree on is not touched."""
    fake, live = await given_live()
    await log_in(fake, BPBD)
    await log_in(fake, DAMKAR, ASEP)
    fake.join("1733.1", BPBD, "081234567890")
    fake.ring("1733.1", ANDI)
    fake.connect("1733.1", ANDI)
    await until(lambda: state(live, BPBD).busy, what="the call seen")
    andi = live.queues[BPBD].members[ANDI]
    andi.in_call, andi.status = False, "1"  # the picture lost the call
    for member in (andi, live.queues[DAMKAR].members[ASEP]):
        member.heard_at -= AUDIT_MARGIN + 1
    live._states = None
    assert not state(live, BPBD).busy
    assert await live.audit() == 1
    assert state(live, BPBD) == QueueState(BPBD, members=1, ready=1, waiting=0, on_call=1)
    assert decide("bencana", shipped_config().sop, TUESDAY_NOON, live.snapshot()).target == DAMKAR


async def test_the_audits_go_on_after_one_fails_unexpectedly(monkeypatch: pytest.MonkeyPatch) -> None:
    """An audit that raises (an unexpected reply) is logged, and the next one still runs."""
    _fake, live = await given_live()
    audits: list[int] = []

    async def audit() -> int:
        audits.append(len(audits))
        if len(audits) == 1:
            raise ValueError("an unexpected QueueStatus reply")
        return 0

    monkeypatch.setattr(live, "audit", audit)
    running = asyncio.create_task(live.audit_forever(every=0.01))
    try:
        with structlog.testing.capture_logs() as logged:
            await until(lambda: len(audits) >= 2, what="a second audit", timeout=1)
    finally:
        running.cancel()
    assert [line["event"] for line in logged if line["log_level"] == "error"] == ["ami_queue_audit_crashed"]
