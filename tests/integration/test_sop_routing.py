"""SOP routing through the real Asterisk: overflow (nobody logged in, all paused, wait exceeded),
priority across callers of one queue, prank triage, and an SOP edit applied while a call waits."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from ivr.ami.client import AmiClient
from ivr.ami.live import AUDIT_MARGIN, LiveQueues
from ivr.ami.operators import login_sim_operators, logout_sim_operators, sim_interface
from ivr.ami.testcall import hang_up
from ivr.app import apply_config
from ivr.config import Config
from ivr.routing.decide import QueueState
from ivr.store.calls import IvrRecord
from tests.integration.conftest import SEATS, AgiSwitch, Caller, Stack, until

DAMKAR, CENTRAL, BPBD = "q-damkar", "q112", "q-bpbd"
NEVER_ANSWERS = "Local/desk@siaga-sim-bridge/n"
DEVICE_NOT_IN_USE, DEVICE_IN_USE = "1", "2"  # AST_DEVICE_* as QueueMemberStatus says them


async def pause(ami: AmiClient, queue: str, paused: bool, seats: range = range(1, SEATS + 1)) -> None:
    for seat in seats:
        await ami.action(
            {
                "Action": "QueuePause",
                "Queue": queue,
                "Interface": sim_interface(queue, seat),
                "Paused": "true" if paused else "false",
            }
        )


@contextmanager
def uniqueids(ami: AmiClient, event: str, queue: str | None = None) -> Iterator[list[str]]:
    """The Uniqueid of every ``event`` (in ``queue``, if given) while the block runs, in order."""
    seen: list[str] = []

    def record(fields: dict[str, str]) -> None:
        if queue is None or fields.get("Queue") == queue:
            seen.append(fields.get("Uniqueid", ""))

    unsubscribe = ami.on(event, record)
    try:
        yield seen
    finally:
        unsubscribe()


def ready(live: LiveQueues, queue: str) -> Callable[[], int | None]:
    def check() -> int | None:
        snapshot = live.snapshot()
        return snapshot[queue].ready if snapshot and queue in snapshot else None

    return check


@pytest.fixture
async def damkar_empty(ami_live: tuple[AmiClient, LiveQueues]) -> AsyncIterator[None]:
    """Nobody logged in to q-damkar for this test."""
    ami, live = ami_live
    await logout_sim_operators(ami, DAMKAR, SEATS)
    await until(lambda: ready(live, DAMKAR)() == 0 and not live.snapshot()[DAMKAR].members)  # type: ignore[index]
    yield
    await login_sim_operators(ami, [DAMKAR], SEATS)
    await until(ready(live, DAMKAR))


async def test_nobody_logged_in_overflows_at_once(call: Caller, damkar_empty: None, stack: Stack) -> None:
    """Kebakaran with nobody logged in at Damkar: routed straight to the central call-takers."""
    report = await call("11", gap=1.0)
    assert [step["Action"] for step in report.routes] == ["queue"]
    assert (report.route["Category"], report.queue, report.answered) == ("kebakaran", CENTRAL, True)
    row = stack.store.get(f"{report.channel}-in")
    assert row is not None and "q-damkar: no operator ready (0 logged in" in row["reason"]


async def test_without_live_state_asterisk_overflows_by_itself(
    call: Caller, damkar_empty: None, agi: AgiSwitch
) -> None:
    """Same, with our AMI view switched off: the queue refuses the join (JOINEMPTY) and the chain moves on."""
    agi.use_live_state = False
    try:
        report = await call("11", gap=1.0)
    finally:
        agi.use_live_state = True
    assert [(step["Action"], step.get("Target") or step.get("Status")) for step in report.routes] == [
        ("queue", DAMKAR),
        ("overflow", "JOINEMPTY"),
        ("queue", CENTRAL),
    ]
    assert report.answered


async def test_all_paused_overflows(call: Caller, ami_live: tuple[AmiClient, LiveQueues]) -> None:
    """Every Damkar operator paused: the same, at once."""
    ami, live = ami_live
    await pause(ami, DAMKAR, True)
    try:
        await until(lambda: ready(live, DAMKAR)() == 0)
        report = await call("11", gap=1.0)
    finally:
        await pause(ami, DAMKAR, False)
    assert (report.queue, report.answered) == (CENTRAL, True)


async def test_queue_wait_exceeded_moves_to_the_next_step(
    call: Caller, damkar_empty: None, ami_live: tuple[AmiClient, LiveQueues], stack: Stack
) -> None:
    """A Damkar desk that rings and nobody answers: after max_wait the caller moves on, still answered."""
    ami, live = ami_live
    await ami.action({"Action": "QueueAdd", "Queue": DAMKAR, "Interface": NEVER_ANSWERS, "MemberName": "Meja"})
    try:
        await until(ready(live, DAMKAR))
        report = await call("11", gap=1.0, answer_timeout=90)
    finally:
        await ami.action({"Action": "QueueRemove", "Queue": DAMKAR, "Interface": NEVER_ANSWERS})
    max_wait = stack.config.current().sop.categories["kebakaran"].max_wait
    assert [(step["Action"], step.get("Target") or step.get("Status")) for step in report.routes] == [
        ("queue", DAMKAR),
        ("overflow", "TIMEOUT"),
        ("queue", CENTRAL),
    ]
    assert report.routes[0]["Timeout"] == str(max_wait)
    assert report.answered and report.seconds_to_answer is not None
    assert report.seconds_to_answer >= max_wait


@pytest.fixture
async def bpbd_one_seat(ami_live: tuple[AmiClient, LiveQueues]) -> AsyncIterator[None]:
    """q-bpbd staffed by one operator (as in a real shift), for this test: ready and free.

    Twice in full runs (sessions 11 and 12) the first bencana caller was passed over as 'q-bpbd: busy,
    its one ready operator on a call'. One way the live picture keeps a call that has ended is mended
    (a call app_queue never completes: tests/unit/test_live_queues.py); if the picture still says so
    after 10 s, the member is shown (a warning in pytest's summary: the evidence of another way) and
    the picture rebuilt from Asterisk's QueueStatus, so this test starts from Asterisk's word: a call
    really up fails it here."""
    ami, live = ami_live
    await ami.action({"Action": "QueueRemove", "Queue": BPBD, "Interface": sim_interface(BPBD, 2)})
    await until(lambda: len(live.queues[BPBD].members) == 1 and ready(live, BPBD)() == 1, timeout=60)

    def free() -> bool:
        snapshot = live.snapshot()
        return snapshot is not None and not snapshot[BPBD].busy

    try:
        await until(free, timeout=10)
    except AssertionError:
        # A warning, not a print: pytest lists it in its summary even when the test passes after this.
        warnings.warn(f"q-bpbd busy in the live picture before the test: {live.queues[BPBD].members}", stacklevel=1)
        await live.resync()
        await until(free, timeout=10)
    yield
    await login_sim_operators(ami, [BPBD], SEATS)
    await until(lambda: ready(live, BPBD)() == SEATS)


async def test_a_busy_agency_is_passed_over_at_once(
    call: Caller, bpbd_one_seat: None, ami_live: tuple[AmiClient, LiveQueues], stack: Stack
) -> None:
    """BPBD's only operator is on a bencana call: the next bencana caller goes on to Damkar at once and is
    answered there well before bencana's max_wait, with no TIMEOUT overflow on the way."""
    ami, live = ami_live
    first = await call("14", gap=1.0, hangup=False)
    try:
        assert (first.queue, first.answered) == (BPBD, True)
        await until(lambda: (live.snapshot() or {})[BPBD].busy, timeout=10)
        second = await call("14", gap=1.0)
    finally:
        await hang_up(ami, first.channel)
    max_wait = stack.config.current().sop.categories["bencana"].max_wait
    assert [(step["Action"], step.get("Target")) for step in second.routes] == [("queue", DAMKAR)]
    assert (second.queue, second.answered) == (DAMKAR, True)
    assert second.hold_seconds is not None and second.hold_seconds < max_wait / 3
    row = stack.store.get(f"{second.channel}-in")
    assert row is not None and row["queue"] == DAMKAR
    assert "q-bpbd: busy, its one ready operator on a call: next step at once" in row["reason"]
    assert "q-bpbd: sibuk, satu-satunya petugas siapnya sedang menerima panggilan: langsung" in row["reason_id"]


def age_the_picture(live: LiveQueues, queue: str) -> None:
    """As if nothing had been heard of the queue's members for longer than the audit's margin."""
    for member in live.queues[queue].members.values():
        member.heard_at -= AUDIT_MARGIN + 1


async def test_the_audit_agrees_with_asterisk_on_a_call_and_frees_a_seat_whose_call_is_gone(
    call: Caller, bpbd_one_seat: None, ami_live: tuple[AmiClient, LiveQueues]
) -> None:
    """Asterisk's QueueStatus, read as the audit reads it, has BPBD's one seat on the call it took
    (InCall 1): nothing to correct. After the call, a leg the picture kept (as for a call app_queue
    never completed) is dropped on Asterisk's word, and BPBD takes callers again."""
    ami, live = ami_live
    first = await call("14", gap=1.0, hangup=False)
    try:
        assert (first.queue, first.answered) == (BPBD, True)
        [seat] = live.queues[BPBD].members.values()
        await until(lambda: (live.snapshot() or {})[BPBD].busy and seat.status == DEVICE_IN_USE, timeout=10)
        age_the_picture(live, BPBD)
        assert await live.audit() == 0
        assert (live.snapshot() or {})[BPBD].busy
    finally:
        await hang_up(ami, first.channel)
    # Until the seat's device is idle (QueueMemberStatus 1, app_queue's last word on the call): that
    # event, arriving after the leg is injected below, would clear it itself (CI saw the audit find
    # nothing to correct so) or be news younger than the audit's margin.
    await until(lambda: not (live.snapshot() or {})[BPBD].busy and seat.status == DEVICE_NOT_IN_USE, timeout=10)
    seat.connected_to.add(f"{first.channel}-gone")
    live._states = None
    assert (live.snapshot() or {})[BPBD].busy
    age_the_picture(live, BPBD)
    assert await live.audit() == 1
    assert not (live.snapshot() or {})[BPBD].busy


SLOW_SEATS = [f"Local/slow-{BPBD}-{seat}@siaga-sim-operator/n" for seat in (1, 2)]  # ring a second first


@pytest.fixture
async def bpbd_slow_seats(ami_live: tuple[AmiClient, LiveQueues]) -> AsyncIterator[None]:
    """q-bpbd staffed by two simulated seats that ring for a second before answering, for this test."""
    ami, live = ami_live
    await logout_sim_operators(ami, BPBD, SEATS)
    for interface in SLOW_SEATS:
        await ami.action({"Action": "QueueAdd", "Queue": BPBD, "Interface": interface, "Paused": "false"})
    await until(lambda: sorted(live.queues[BPBD].members) == SLOW_SEATS)
    yield
    for interface in SLOW_SEATS:
        await ami.action({"Action": "QueueRemove", "Queue": BPBD, "Interface": interface})
    await login_sim_operators(ami, [BPBD], SEATS)
    await until(lambda: ready(live, BPBD)() == SEATS)


async def test_seats_being_rung_do_not_make_the_queue_busy(
    call: Caller, bpbd_slow_seats: None, ami_live: tuple[AmiClient, LiveQueues]
) -> None:
    """ringall rings both of q-bpbd's seats for one caller. A Local channel's device state says "in use"
    while it only rings; the picture routing reads counts only the seat that answered as on a call, so
    the queue never looks busy with a seat free (in the standby test's 50-caller burst it did, and a
    kejahatan caller went to q112)."""
    ami, live = ami_live
    seen: list[tuple[QueueState, list[str]]] = []

    def record() -> None:
        snapshot = live.snapshot()
        if snapshot and BPBD in snapshot:
            seen.append((snapshot[BPBD], [member.status for member in live.queues[BPBD].members.values()]))

    def both_rung() -> bool:
        return [DEVICE_IN_USE] * 2 in [statuses for _state, statuses in seen]

    live.listeners.append(record)
    try:
        # Both seats' "in use" is seen together in nearly every call; in one full CI run (after the
        # other tests of this stack) it was not, so the call is placed again, at most three times,
        # until the case guarded has happened. Every state seen in every call counts below.
        for _attempt in range(3):
            first = await call("14", gap=1.0, hangup=False)
            try:
                assert (first.queue, first.answered) == (BPBD, True)
                # The seat that did not answer goes back to idle; the one that did stays in use.
                await until(lambda: sorted(seen[-1][1]) == [DEVICE_NOT_IN_USE, DEVICE_IN_USE], timeout=10)
            finally:
                await hang_up(ami, first.channel)
            await until(lambda: sorted(seen[-1][1]) == [DEVICE_NOT_IN_USE] * 2, timeout=10)
            if both_rung():
                break
    finally:
        live.listeners.remove(record)
    assert both_rung(), f"the case guarded did not happen in three calls: {seen}"
    assert max(state.on_call for state, _statuses in seen) == 1
    assert not any(state.busy for state, _statuses in seen), seen


async def test_an_emergency_is_answered_before_an_earlier_non_emergency(call: Caller, ami: AmiClient) -> None:
    """Informasi joins the central queue first, darurat second; the first free operator takes darurat."""
    await pause(ami, CENTRAL, True)
    with uniqueids(ami, "AgentConnect") as connected, uniqueids(ami, "QueueCallerJoin", CENTRAL) as joined:
        informasi = asyncio.create_task(call("24", gap=1.0, answer_timeout=90))
        await until(lambda: len(joined) >= 1, timeout=30)
        darurat = asyncio.create_task(call("", answer_timeout=90))
        await until(lambda: len(joined) >= 2, timeout=30)
        await pause(ami, CENTRAL, False, range(1, 2))
        await until(lambda: connected, timeout=20)
        await pause(ami, CENTRAL, False, range(2, SEATS + 1))
        first, second = await darurat, await informasi
    await pause(ami, CENTRAL, False)
    assert joined[:2] == [f"{second.channel}-in", f"{first.channel}-in"]  # informasi joined first
    assert connected[0] == f"{first.channel}-in"  # ... darurat was answered first
    assert (first.route["QueuePriority"], second.route["QueuePriority"]) == ("10", "1")
    assert first.answered and second.answered


async def test_a_flagged_number_hears_the_warning_waits_last_and_is_answered(call: Caller, stack: Stack) -> None:
    """Three calls marked prank: the next call hears the warning, queues at priority 0, reaches a human."""
    number = "089912345678"
    now = datetime.now(UTC)
    for n in range(3):
        uniqueid = f"history-{number}-{n}"
        await stack.store.record(
            IvrRecord(
                uniqueid,
                (now - timedelta(hours=n + 1)).isoformat(timespec="seconds"),
                number,
                "",
                "siaga112",
                "",
                "id",
                "silence",
                "darurat-umum",
                CENTRAL,
                10,
                "routed",
                10.0,
            )
        )
        assert stack.store.set_disposition(uniqueid, "prank")
    report = await call("", caller=number)
    assert report.prompts == ["id/menu-utama", "id/peringatan-iseng"]
    assert (report.route["QueuePriority"], report.queue, report.answered) == ("0", CENTRAL, True)
    history = stack.store.history(number, now - timedelta(days=1))
    assert [flag.level for flag in history.flags] == [1]


async def test_an_sop_edit_applied_while_a_call_waits_does_not_drop_it(
    call: Caller, ami_live: tuple[AmiClient, LiveQueues], stack: Stack
) -> None:
    """A new queue is rendered and Asterisk reloaded while a caller waits in the central queue: the
    caller stays queued and is answered; the new queue exists in Asterisk."""
    ami, live = ami_live
    agencies = stack.settings.root / "sop" / "agencies.yaml"
    original = agencies.read_text()
    applied: list[Config] = []

    def apply(config: Config) -> None:
        apply_config(stack.settings, config)
        applied.append(config)

    stack.config.appliers.append(apply)
    await pause(ami, CENTRAL, True)
    try:
        with uniqueids(ami, "Hangup") as hung_up, uniqueids(ami, "QueueCallerJoin", CENTRAL) as joined:
            waiting = asyncio.create_task(call("", answer_timeout=90))
            await until(lambda: joined, timeout=30)
            agencies.write_text(
                original.replace(
                    "      q-dinsos: {strategy: rrmemory, ring_seconds: 20}",
                    "      q-dinsos: {strategy: rrmemory, ring_seconds: 20}\n"
                    "      q-dinsos-malam: {strategy: ringall, ring_seconds: 20}",
                )
            )
            assert await stack.config.reload_if_changed()
            assert applied
            reloaded_at = time.monotonic()
            await _until_queue_exists(live, "q-dinsos-malam")
            assert joined[0] not in hung_up
            await pause(ami, CENTRAL, False)
            report = await waiting
    finally:
        stack.config.appliers.remove(apply)
        agencies.write_text(original)
        await stack.config.reload_if_changed()
        apply_config(stack.settings, stack.config.current())
        await pause(ami, CENTRAL, False)
    assert report.answered and report.queue == CENTRAL
    assert time.monotonic() - reloaded_at < 60


async def _until_queue_exists(live: LiveQueues, queue: str, timeout: float = 20.0) -> None:
    """Poll QueueStatus (it lists every configured queue, members or not) until ``queue`` is there."""
    deadline = time.monotonic() + timeout
    while True:
        await live.resync()
        if queue in live.queues:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"queue {queue} not in Asterisk after {timeout}s")
        await asyncio.sleep(0.2)
