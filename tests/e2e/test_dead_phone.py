"""An operator's browser that dies mid-call, on the real Asterisk: the citizen is handed to another
call-taker, not left in silence nor hung up with the dead phone.

The browser dies as a shut laptop lid or a lost network kills it: every Chromium process is frozen
(SIGSTOP), so it sends no BYE, no RTP, and its TCP connection stays open (measured before the fix:
Asterisk kept the citizen bridged to the frozen phone for as long as we watched, 45 s; a killed
browser closed its WebSocket at once but the call stayed up just the same). The browser endpoint's
rtp_timeout ends the dead leg with cause 44 and [siaga-operator-left] pauses the dead seat (reason
PHONE_LOST_REASON) and requeues the citizen centrally, so the citizen is never offered to the dead
phone again. An operator who hangs up still ends the call, and a muted or holding operator is never cut.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from ivr.ami.client import AmiClient
from ivr.ami.live import LiveQueues
from ivr.ami.testcall import CallReport, hang_up
from ivr.asterisk.phones import BROWSER_RTP_TIMEOUT
from ivr.operators import PasswordFile
from ivr.operators.states import PHONE_LOST_REASON
from ivr.store.asterisk_records import fold_queue_log
from tests.e2e.conftest import BUDI, PASSWORD, ServeProcess, chromium_trusting, logged_in
from tests.e2e.test_console_e2e import _bridged_to, _citizen_channel, _consult, ring
from tests.e2e.test_webrtc_phone import QUEUE, answered_call, getvar
from tests.integration.conftest import AgiSwitch, Stack
from tests.integration.conftest import until_async as until

pytestmark = pytest.mark.asterisk

# A second call-taker in the central queue, simulated (answers and stays).
RESERVE = "Local/op-cadangan@siaga-sim-operator/n"
# rtp_timeout is checked on a timer of whole seconds, then app_queue rings the reserve: the bound
# from the browser's death to the citizen talking to the reserve.
HANDOVER_BOUND = BROWSER_RTP_TIMEOUT + 4.0
# A call-taker who becomes ready is rung at app_queue's next try (queues.conf retry = 1 s).
NEXT_TRY_BOUND = 2.0
# AST_DEVICE_NOT_INUSE: how app_queue sees the dead browser's phone once its leg is gone (the phone
# stays registered: its WebSocket is open, only frozen).
PHONE_IDLE = "1"
# Q.850 causes the operator's leg ends with (extensions.conf, [siaga-operator-left]).
CAUSE_BYE = "16"
CAUSE_RTP_TIMEOUT = "44"


class CallEvents:
    """Every AMI event of one call (its Linkedid; every event at all if ``linkedid`` is empty: a
    warm transfer joins legs of two calls), with the monotonic time it arrived."""

    def __init__(self, ami: AmiClient, linkedid: str) -> None:
        self.linkedid = linkedid
        self.seen: list[tuple[float, dict[str, str]]] = []
        self.stop: Callable[[], None] = ami.on("*", self._on_event)

    def _on_event(self, fields: dict[str, str]) -> None:
        if not self.linkedid or fields.get("Linkedid") == self.linkedid:
            self.seen.append((time.monotonic(), fields))

    def first(self, event: str, **match: str) -> tuple[float, dict[str, str]] | None:
        for at, fields in self.seen:
            if fields.get("Event") == event and all(fields.get(key) == value for key, value in match.items()):
                return at, fields
        return None

    def operator_hangup(self, interface: str = "PJSIP/op") -> tuple[float, dict[str, str]] | None:
        """The first Hangup of a browser's leg (PJSIP/op-…), or of the leg of ``interface``."""
        for at, fields in self.seen:
            if fields.get("Event") == "Hangup" and fields.get("Channel", "").startswith(interface + "-"):
                return at, fields
        return None


@contextmanager
def following(ami: AmiClient, linkedid: str) -> Iterator[CallEvents]:
    events = CallEvents(ami, linkedid)
    try:
        yield events
    finally:
        events.stop()


class MemberPauses:
    """Every QueueMemberPause event that paused a member with PHONE_LOST_REASON, with its monotonic time."""

    def __init__(self, ami: AmiClient) -> None:
        self.seen: list[tuple[float, dict[str, str]]] = []
        self.stop: Callable[[], None] = ami.on("QueueMemberPause", self._on_event)

    def _on_event(self, fields: dict[str, str]) -> None:
        if fields.get("Paused") == "1" and fields.get("PausedReason") == PHONE_LOST_REASON:
            self.seen.append((time.monotonic(), fields))

    def first(self, interface: str) -> tuple[float, dict[str, str]] | None:
        return next(((at, fields) for at, fields in self.seen if fields.get("Interface") == interface), None)


@contextmanager
def member_pauses(ami: AmiClient) -> Iterator[MemberPauses]:
    pauses = MemberPauses(ami)
    try:
        yield pauses
    finally:
        pauses.stop()


@asynccontextmanager
async def reserve_call_taker(ami: AmiClient, penalty: str = "0", paused: bool = False) -> AsyncIterator[None]:
    """RESERVE logged in to the central queue for the block (after the browser took the call)."""
    member = {"Queue": QUEUE, "Interface": RESERVE}
    added = await ami.action(
        {
            "Action": "QueueAdd",
            **member,
            "MemberName": "Cadangan",
            "Penalty": penalty,
            "Paused": "true" if paused else "false",
        }
    )
    assert added.get("Response") == "Success", dict(added)
    try:
        yield
    finally:
        await ami.action({"Action": "QueueRemove", **member})


def browser_processes(tag: str) -> list[int]:
    """The Chromium launched with the switch ``tag`` and every process under it (renderer, network)."""
    children: dict[int, list[int]] = {}
    roots = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        children.setdefault(parent, []).append(int(entry.name))
        if tag.encode() in command and not any(arg.startswith(b"--type=") for arg in command):
            roots.append(int(entry.name))
    assert len(roots) == 1, f"expected one browser launched with {tag}, found {roots}"
    found, todo = [], roots
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


@contextmanager
def frozen(pids: list[int]) -> Iterator[None]:
    """Every process stopped, as a shut lid or a lost network leaves a browser: no BYE, no RTP, no TCP
    close. Thawed again afterwards, so that the browser can be closed the ordinary way."""
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


async def stays_up(ami: AmiClient, channel: str, seconds: float, state: str) -> None:
    """``channel`` is up at every look, twice a second, for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        reply = await ami.action({"Action": "Getvar", "Channel": channel, "Variable": "CHANNEL(state)"})
        assert reply.get("Response") == "Success" and reply.get("Value") == "Up", f"cut while {state}: {dict(reply)}"
        await asyncio.sleep(0.5)


@pytest.mark.parametrize("holding", [False, True], ids=["talking", "citizen-on-hold"])
async def test_a_browser_that_dies_mid_call_hands_the_citizen_to_another_call_taker(
    holding: bool,
    phone_stack: Stack,
    phone_ami: tuple[AmiClient, LiveQueues],
    phone_agi: AgiSwitch,
    phone_page_url: str,
) -> None:
    """The answering browser freezes, talking or with the citizen on hold (as during a warm transfer's
    consultation): Asterisk ends its leg by rtp_timeout (cause 44), the dialplan pauses the dead seat
    (PHONE_LOST_REASON, as the wallboard reads it) before the citizen rejoins q112, the citizen, never
    hung up, is never offered to the dead phone again and is answered by the reserve within HANDOVER_BOUND;
    queue_log keeps the requeue with the lost phone for the call's record."""
    ami, live = phone_ami
    tag = f"--siaga-dead-phone-test={secrets.token_hex(6)}"
    async with chromium_trusting(phone_stack, args=[tag]) as browser:
        page = await (await browser.new_context()).new_page()
        await page.goto(phone_page_url)
        # The reserve ranks after the browser (penalty 1) and is busy (paused) when the browser dies:
        # it becomes ready only once app_queue sees the dead phone as idle, so app_queue would offer
        # the requeued citizen to the dead seat first unless it is paused.
        async with answered_call(phone_stack, ami, page) as call, reserve_call_taker(ami, penalty="1", paused=True):
            citizen = f"{call.report.channel}-in"
            if holding:
                assert await page.evaluate("phone.hold(true)") is True
            with (
                following(ami, call.report.channel) as events,
                member_pauses(ami) as pauses,
                frozen(browser_processes(tag)),
            ):
                died = time.monotonic()

                async def dead_phone_looks_idle() -> bool:
                    return events.operator_hangup() is not None and all(
                        member.status == PHONE_IDLE for _queue, member in live.memberships(BUDI.interface)
                    )

                await until(dead_phone_looks_idle, timeout=HANDOVER_BOUND)
                dead_seat = live.memberships(BUDI.interface)
                ready = await ami.action({"Action": "QueuePause", "Interface": RESERVE, "Paused": "false"})
                assert ready.get("Response") == "Success", dict(ready)
                reserve_ready = time.monotonic()

                async def reserve_answered() -> tuple[float, dict[str, str]] | None:
                    return events.first("AgentConnect", Uniqueid=citizen, Interface=RESERVE)

                # Long enough for a ring of the dead seat to end (ring_seconds), so that a failure shows it.
                answered_at, _ = await until(reserve_answered, timeout=HANDOVER_BOUND + 20)
            lost = events.operator_hangup()
            assert lost is not None and lost[1].get("Cause") == CAUSE_RTP_TIMEOUT, lost
            requeued = events.first("UserEvent", UserEvent="SiagaRoute", Action="requeue")
            assert requeued is not None and requeued[1].get("Status") == CAUSE_RTP_TIMEOUT, requeued
            assert events.first("Hangup", Uniqueid=citizen) is None, "the citizen was hung up"
            rejoined = events.first("QueueCallerJoin", Uniqueid=citizen)
            assert rejoined is not None and rejoined[1].get("Queue") == QUEUE, rejoined
            # The seat's phone never rang for the citizen again: it was paused before they rejoined,
            # with the reason the wallboard shows.
            assert events.first("AgentCalled", Interface=BUDI.interface) is None, "the dead seat was rung"
            paused = pauses.first(BUDI.interface)
            assert paused is not None and paused[0] <= rejoined[0], (paused, rejoined)
            assert [(queue, m.paused, m.paused_reason) for queue, m in dead_seat] == [(QUEUE, True, PHONE_LOST_REASON)]
            assert requeued[1].get("From") == BUDI.interface and requeued[1].get("Paused") == "PAUSED", requeued
            # Asterisk's queue_log keeps the requeue for our store (ivr.store.reconcile folds it in).
            queue_log = phone_stack.settings.asterisk_dir / "log" / "queue_log"

            def requeue_logged() -> tuple[str, ...]:
                visit = fold_queue_log(queue_log.read_text(errors="replace").splitlines()).get(citizen)
                return visit.lost_phones if visit else ()

            assert await until(lambda: asyncio.to_thread(requeue_logged), timeout=5) == (BUDI.interface,)
            handover = answered_at - died
            state = "citizen on hold" if holding else "talking"
            print(
                f"\nbrowser frozen ({state}): Asterisk ended its leg after {lost[0] - died:.2f} s (cause "
                f"{lost[1].get('Cause')}), seat paused and citizen requeued after {requeued[0] - died:.2f} s, "
                f"the reserve (ready after {reserve_ready - died:.2f} s) answered after {handover:.2f} s "
                f"(bound {HANDOVER_BOUND} s), {answered_at - reserve_ready:.2f} s after it was ready"
            )
            assert answered_at - reserve_ready < NEXT_TRY_BOUND
            assert handover < HANDOVER_BOUND


async def test_an_operator_who_hangs_up_ends_the_call(
    phone_stack: Stack, phone_ami: tuple[AmiClient, LiveQueues], phone_agi: AgiSwitch, phone_page: Page
) -> None:
    """The operator's BYE (cause 16) ends the citizen's call as before: no requeue, the reserve never rings."""
    ami = phone_ami[0]
    async with answered_call(phone_stack, ami, phone_page) as call, reserve_call_taker(ami):
        citizen = f"{call.report.channel}-in"
        with following(ami, call.report.channel) as events:
            hung_up = time.monotonic()
            await phone_page.evaluate("phone.hangUp()")

            async def citizen_gone() -> tuple[float, dict[str, str]] | None:
                return events.first("Hangup", Uniqueid=citizen)

            gone_at, _ = await until(citizen_gone, timeout=10)
        lost = events.operator_hangup()
        assert lost is not None and lost[1].get("Cause") == CAUSE_BYE, lost
        assert events.first("UserEvent", UserEvent="SiagaRoute", Action="requeue") is None
        assert events.first("AgentCalled", Interface=RESERVE) is None
        print(f"\noperator hung up: the citizen's call ended after {gone_at - hung_up:.2f} s")


async def test_a_muted_or_holding_operator_is_never_cut(
    phone_stack: Stack, phone_ami: tuple[AmiClient, LiveQueues], phone_agi: AgiSwitch, phone_page: Page
) -> None:
    """Muted, then holding the citizen (a re-INVITE sendonly, as before a consultation), each for longer
    than rtp_timeout: Chromium keeps sending RTP, Asterisk keeps receiving it, the call stays up."""
    ami = phone_ami[0]
    async with answered_call(phone_stack, ami, phone_page) as call:
        for state, start, end in (
            ("muted", "phone.mute(true)", "phone.mute(false)"),
            ("holding", "phone.hold(true)", "phone.hold(false)"),
        ):
            assert await phone_page.evaluate(start) is not False, state
            received = int(await getvar(ami, call.channel, "CHANNEL(rtcp,rxcount,audio)") or 0)
            await stays_up(ami, call.channel, BROWSER_RTP_TIMEOUT + 2, state)
            later = int(await getvar(ami, call.channel, "CHANNEL(rtcp,rxcount,audio)") or 0)
            print(f"\n{state} for {BROWSER_RTP_TIMEOUT + 2} s: Asterisk received {later - received} RTP packets")
            assert later - received > 25 * BROWSER_RTP_TIMEOUT, state
            assert await phone_page.evaluate(end) is not False, state


ASEP = "PJSIP/op-asep"  # Damkar's operator (sop/operators.yaml), in q-damkar only


@pytest.mark.parametrize("transfer", ["blind", "warm"])
async def test_a_transferred_citizen_whose_agency_operator_s_browser_dies_is_requeued(
    transfer: str,
    console: Page,
    ami: tuple[AmiClient, LiveQueues],
    console_stack: Stack,
    service: ServeProcess,
) -> None:
    """budi hands the citizen to Damkar (Alihkan: a blind transfer by REFER, or a consultation completed
    by AMI Bridge); asep answers, then his browser freezes. The transferring operator's BYE ended a leg
    of this call first (cause 16 on the citizen's channel), yet the citizen is requeued centrally, not
    hung up: the decision reads asep's leg (cause 44), pauses asep's seat, not budi's, and a simulated
    q112 seat answers."""
    client, _live = ami
    PasswordFile(console_stack.settings.passwords_file).set("asep", PASSWORD)
    tag = f"--siaga-dead-agency-phone-test={secrets.token_hex(6)}"
    async with chromium_trusting(console_stack, args=[tag]) as asep_browser:
        asep = await logged_in(asep_browser, service.url, "asep")
        report = await _budi_answers_a_citizen(client, console)
        try:
            await _agency_phone_dies_after_a_transfer(transfer, client, console, asep, tag, _citizen_channel(report))
        finally:
            await hang_up(client, report.channel)


async def _agency_phone_dies_after_a_transfer(
    transfer: str, client: AmiClient, console: Page, asep: Page, tag: str, citizen: str
) -> None:
    """budi transfers ``citizen`` to q-damkar, asep answers, asep's browser (launched with ``tag``) freezes."""
    with following(client, "") as events, member_pauses(client) as pauses:
        budi_left = await _transferred_to_asep(transfer, client, console, asep, citizen, events)
        cause_before = await getvar(client, citizen, "HANGUPCAUSE")
        with frozen(browser_processes(tag)):
            died = time.monotonic()

            async def decided() -> tuple[float, dict[str, str]] | None:
                """The requeue, or the citizen's hang-up: whichever the dialplan chose."""
                requeue = events.first("UserEvent", UserEvent="SiagaRoute", Action="requeue")
                return requeue or events.first("Hangup", Channel=citizen)

            decided_at, decision = await until(decided, timeout=HANDOVER_BOUND)
            hung_up = events.first("Hangup", Channel=citizen)
            cause_after = "(hung up)" if hung_up else await getvar(client, citizen, "HANGUPCAUSE")
            lost = events.operator_hangup(ASEP)
            said = {key: decision.get(key) for key in ("Event", "Action", "Status", "From", "Paused", "Cause")}
            print(
                f"\n{transfer} transfer: budi's leg ended with cause {budi_left[1].get('Cause')}, the citizen's "
                f"HANGUPCAUSE {cause_before} before asep's browser froze; asep's leg ended after "
                f"{lost[0] - died if lost else float('nan'):.2f} s, cause {lost[1].get('Cause') if lost else None}; "
                f"after {decided_at - died:.2f} s: {said}; citizen's HANGUPCAUSE then {cause_after}; "
                f"seats paused as lost: {[fields.get('Interface') for _at, fields in pauses.seen]}"
            )
            assert hung_up is None, f"the citizen was hung up: {hung_up[1]}"

            async def answered_centrally() -> tuple[float, dict[str, str]] | None:
                return events.first("AgentConnect", Channel=citizen, Queue=QUEUE)

            answered_at, answered = await until(answered_centrally, timeout=NEXT_TRY_BOUND + 10)
    assert lost is not None and lost[1].get("Cause") == CAUSE_RTP_TIMEOUT, lost
    assert decision.get("Status") == CAUSE_RTP_TIMEOUT, decision
    assert decision.get("From") == ASEP and decision.get("Paused") == "PAUSED", decision
    assert {fields.get("Interface") for _at, fields in pauses.seen} == {ASEP}  # our service may pause it again
    assert answered.get("Interface") != ASEP, answered
    print(f"answered in {QUEUE} by {answered.get('Interface')} {answered_at - died:.2f} s after the freeze")


async def _budi_answers_a_citizen(client: AmiClient, console: Page) -> CallReport:
    """budi, back from an earlier call's wrap-up (a transfer's, ended by him), answers a citizen's call."""
    if await console.locator("#state-badge").get_attribute("class") != "badge state-available":
        await console.click("#btn-available")
    await expect(console.locator("#state-badge")).to_have_class("badge state-available", timeout=10_000)
    call, _uniqueid = await ring(client, console)
    await console.keyboard.press("a")
    return await asyncio.wait_for(call, 30)


async def _transferred_to_asep(
    transfer: str, client: AmiClient, console: Page, asep: Page, citizen: str, events: CallEvents
) -> tuple[float, dict[str, str]]:
    """budi hands ``citizen`` to q-damkar (blind: Alihkan; warm: consult, then Selesaikan) and asep
    answers; returns the Hangup of budi's last leg: his BYE, a cause 16, ended a leg ``citizen`` was
    bridged to."""
    if transfer == "blind":
        await console.select_option("#transfer-target", "q-damkar")
        await console.click("#btn-transfer")
    else:
        await _consult(console, "q-damkar")
    await expect(asep.locator("#btn-answer")).to_be_enabled(timeout=20_000)
    await asep.keyboard.press("a")
    if transfer == "warm":
        await expect(console.locator("#btn-consult-complete")).to_be_enabled(timeout=10_000)
        await console.click("#btn-consult-complete")
    await until(lambda: _bridged_to(client, citizen, ASEP), timeout=15)

    async def budi_gone() -> tuple[float, dict[str, str]] | None:
        return events.operator_hangup(BUDI.interface)

    return await until(budi_gone, timeout=10)


async def test_an_agency_operator_who_hangs_up_after_a_blind_transfer_ends_the_call(
    console: Page, ami: tuple[AmiClient, LiveQueues], console_stack: Stack, service: ServeProcess
) -> None:
    """asep answers a blind-transferred citizen and hangs up (his BYE, cause 16): the call ends at once,
    no requeue, no seat paused."""
    client, _live = ami
    PasswordFile(console_stack.settings.passwords_file).set("asep", PASSWORD)
    asep_browser = console.context.browser
    assert asep_browser is not None
    asep = await logged_in(asep_browser, service.url, "asep")
    report = await _budi_answers_a_citizen(client, console)
    citizen = _citizen_channel(report)
    try:
        with following(client, "") as events, member_pauses(client) as pauses:
            await _transferred_to_asep("blind", client, console, asep, citizen, events)
            hung_up = time.monotonic()
            await asep.keyboard.press("h")

            async def citizen_gone() -> tuple[float, dict[str, str]] | None:
                return events.first("Hangup", Channel=citizen)

            gone_at, _ = await until(citizen_gone, timeout=10)
        ended = events.operator_hangup(ASEP)
        assert ended is not None and ended[1].get("Cause") == CAUSE_BYE, ended
        assert events.first("UserEvent", UserEvent="SiagaRoute", Action="requeue") is None
        assert pauses.seen == []
        print(f"\nasep hung up after a blind transfer: the citizen's call ended after {gone_at - hung_up:.2f} s")
    finally:
        await hang_up(client, report.channel)
        await asep.context.close()
