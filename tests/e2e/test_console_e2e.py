"""The call-taker's working position, end to end on the real stack: `ivr serve` (console and all),
the real Asterisk, and the console page in Debian's chromium.

An operator logs in, their browser phone registers over WSS, they go available; a citizen calls
112; the screen pop reaches the page while it rings (its delay after app_queue rang the phone is
measured); they answer in the browser and audio flows both ways (the page's getStats and
Asterisk's RTCP counters); the prank key closes the call and puts them back to available; the
same number's next call pops with that prank in its history. Simulated seats share the queue
(penalty 5, as `ivr up --demo` adds them) and never take the call from the person at the console.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from aiohttp import ClientSession
from playwright.async_api import Page, expect

from ivr.ami.client import AmiClient, AmiError
from ivr.ami.live import LiveQueues
from ivr.ami.operators import login_sim_operators, logout_sim_operators
from ivr.ami.testcall import CallReport, place_call
from ivr.asterisk import process
from ivr.asterisk.provision import find_or_provision
from ivr.asterisk.render import runtime_dirs
from ivr.operators import PasswordFile
from ivr.store.incidents import IncidentStore
from ivr.store.recordings import Recordings
from tests.e2e.conftest import PASSWORD, ServeProcess, logged_in
from tests.integration.conftest import Stack
from tests.integration.conftest import until_async as until

pytestmark = pytest.mark.asterisk

T = TypeVar("T")
QUEUE = "q112"
# A wrong key on the first menu: straight to the central emergency call-takers (q112).
KEYS = "7"
CALLER = "081298765432"
HOSTILE_NAME = "<img src=x onerror=alert(1)>\"'"
POP_SAMPLES = 6
ONE_SECOND = 50  # 20 ms audio frames
HALF_SECOND_G711 = 4000  # bytes a phone receives in half a second of G.711 (8000 a second)


async def queue_member(client: AmiClient, interface: str) -> dict[str, str] | None:
    """Asterisk's own QueueStatus entry of ``interface`` in q112."""
    replies = await client.action({"Action": "QueueStatus", "Queue": QUEUE}, timeout=10.0, as_list=True)
    for reply in replies:
        if reply.get("Event") == "QueueMember" and reply.get("Location") == interface:
            return {str(key): str(value) for key, value in reply.items()}
    return None


def ringing_times(client: AmiClient, interface: str) -> tuple[dict[str, float], Callable[[], None]]:
    """When app_queue rang ``interface`` for each caller: AgentCalled's own Timestamp (manager.conf's
    timestampevents), Asterisk's clock when it rang, not when this process got round to reading it."""
    rang: dict[str, float] = {}

    def on_called(fields: dict[str, str]) -> None:
        if fields.get("Interface") == interface:
            rang.setdefault(fields.get("Uniqueid", ""), float(fields["Timestamp"]))

    return rang, client.on("AgentCalled", on_called)


async def popped_at(page: Page, uniqueid: str) -> float:
    """Wall-clock time the page drew the pop for ``uniqueid`` (its performance mark).

    The mark's age on the page's monotonic clock, taken from the wall clock now: not
    ``performance.timeOrigin + startTime``, whose origin is the wall clock when the page loaded and
    drifts from it as the page lives (on a CI guest, the pops came out 2 to 78 ms *before* Asterisk
    rang, further each call)."""
    return float(
        await page.evaluate(
            "uid => { const m = performance.getEntriesByName('siaga-pop-' + uid); "
            "return m.length ? Date.now() - (performance.now() - m[0].startTime) : 0; }",
            uniqueid,
        )
        / 1000.0
    )


async def ring(client: AmiClient, page: Page, caller_name: bytes = b"") -> tuple[asyncio.Task[CallReport], str]:
    """A citizen calls 112 and presses KEYS; returns the call and the uniqueid the page pops."""
    # The last call stays in hand (wrap-up) until a new one pops over it.
    before = await page.locator("#pop").get_attribute("data-uniqueid")
    call = asyncio.create_task(
        place_call(
            client,
            KEYS,
            caller=CALLER,
            caller_name=caller_name,
            until="answered",
            hangup=False,
            audio="echo",
            answer_timeout=60,
        )
    )

    async def popped() -> str | None:
        uniqueid = await page.locator("#pop").get_attribute("data-uniqueid")
        return uniqueid if uniqueid not in (None, before) else None

    uniqueid = await until(popped, timeout=30)
    # The pop comes over our WebSocket, the ringing over SIP: A answers once the phone rings.
    await expect(page.locator("#btn-answer")).to_be_enabled(timeout=10_000)
    return call, uniqueid


async def test_a_call_is_popped_answered_in_the_browser_and_closed_as_prank_with_one_key(
    console: Page, ami: tuple[AmiClient, LiveQueues], console_stack: Stack
) -> None:
    """Pop before answering, audio both ways, prank in one key, back to available, history on the next call."""
    client, _live = ami
    interface = "PJSIP/op-budi"
    member = await queue_member(client, interface)
    assert member is not None and member["Paused"] == "0", member
    rang, stop_listening = ringing_times(client, interface)
    try:
        dialogs: list[str] = []
        console.on("dialog", lambda dialog: dialogs.append(dialog.message))
        call, uniqueid = await ring(client, console, caller_name=HOSTILE_NAME.encode())
        # The pop is there while it rings, before anyone answers.
        await expect(console.locator("#state-badge")).to_have_class("badge state-ringing", timeout=10_000)
        pop = console.locator("#pop-body")
        await expect(pop).to_contain_text(CALLER)
        await expect(pop).to_contain_text("Keadaan darurat")
        # The caller's name is the caller's to choose: shown as text, never markup.
        await expect(pop).to_contain_text(HOSTILE_NAME)
        assert await console.locator("#pop-body img").count() == 0 and dialogs == []
        await console.keyboard.press("a")
        report = await asyncio.wait_for(call, 30)
        assert report.answered and report.operator_interface == interface, report
        await expect(console.locator("#state-badge")).to_have_class("badge state-on_call", timeout=10_000)

        operator_channel = _operator_channel(report)
        before, after = await _audio_grows(console, client, operator_channel)
        print(f"\naudio after answer: before={before} after={after}")

        await expect(console.locator('[data-outcome="prank"]')).to_be_enabled()
        await console.keyboard.press("3")  # prank: hang up and record, one key
        await until(lambda: _disposition(console_stack, uniqueid, "prank"), timeout=10)
        await expect(console.locator("#state-badge")).to_have_class("badge state-available", timeout=10_000)
        member = await queue_member(client, interface)
        assert member is not None and member["Paused"] == "0", member

        # The same number again: its history shows the prank.
        again, second = await ring(client, console)
        assert second != uniqueid
        # "Iseng": the page's word for prank in the history table; the standing counts it too.
        await expect(console.locator("#pop-body table")).to_contain_text("Iseng")
        await expect(console.locator("#pop-standing")).to_contain_text("1 kali iseng")
        await console.keyboard.press("a")
        await asyncio.wait_for(again, 30)
        await expect(console.locator('[data-outcome="silent"]')).to_be_enabled()
        await console.keyboard.press("4")  # silent
        await until(lambda: _disposition(console_stack, second, "silent"), timeout=10)
        await expect(console.locator("#state-badge")).to_have_class("badge state-available", timeout=10_000)
        delays = [await popped_at(console, uid) - rang[uid] for uid in (uniqueid, second)]
        print(f"pop delay after AgentCalled (s): {delays}")
    finally:
        stop_listening()


async def test_screen_pop_delay_after_asterisk_rings(
    console: Page, ami: tuple[AmiClient, LiveQueues], console_stack: Stack
) -> None:
    """Pop delays over several rings, written to the test log (the issue asks p95 ≤ 300 ms: reported, not asserted)."""
    client, _live = ami
    interface = "PJSIP/op-budi"
    rang, stop_listening = ringing_times(client, interface)
    delays: list[float] = []
    try:
        for _ in range(POP_SAMPLES):
            call, uniqueid = await ring(client, console)
            await console.keyboard.press("a")
            await asyncio.wait_for(call, 30)
            await expect(console.locator('[data-outcome="misdial"]')).to_be_enabled()
            await console.keyboard.press("5")  # misdial
            await until(lambda uid=uniqueid: _disposition(console_stack, uid, "misdial"), timeout=10)
            await expect(console.locator("#state-badge")).to_have_class("badge state-available", timeout=10_000)
            delays.append(await popped_at(console, uniqueid) - rang[uniqueid])
    finally:
        stop_listening()
    assert all(delay > 0 for delay in delays), delays
    ordered = sorted(delays)
    result = {
        "samples": len(delays),
        "p50_ms": round(statistics.median(delays) * 1000, 1),
        "p95_ms": round(ordered[max(0, round(0.95 * len(ordered)) - 1)] * 1000, 1),
        "max_ms": round(max(delays) * 1000, 1),
    }
    print(f"\nscreen pop delay: {json.dumps(result)}")


def _operator_channel(report: CallReport) -> str:
    """The operator's leg of the call: AgentConnect names it (DestChannel)."""
    return next(event["DestChannel"] for event in report.events if event.get("Event") == "AgentConnect")


async def _getvar(client: AmiClient, channel: str, variable: str) -> int:
    reply = await client.action({"Action": "Getvar", "Channel": channel, "Variable": variable})
    return int(str(reply.get("Value", "")) or 0)


async def _audio(page: Page, client: AmiClient, channel: str) -> dict[str, Any]:
    stats = await page.evaluate("window.siagaPhone.audioStats()")
    assert stats is not None, "no call in the page's phone"
    return {
        **stats,
        "asterisk_rx": await _getvar(client, channel, "CHANNEL(rtcp,rxcount,audio)"),
        "asterisk_tx": await _getvar(client, channel, "CHANNEL(rtcp,txcount,audio)"),
    }


async def _audio_grows(
    page: Page, client: AmiClient, channel: str, timeout: float = 15.0
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sound flows both ways on ``channel``'s call: the page hears it (energy) and a second of 20 ms
    frames each way is counted by both ends (page bytes: at least one per frame; Asterisk's RTCP
    packet counts). Returns the counters before and after; a failure names the counters that stalled."""
    before = await _audio(page, client, channel)
    last = before

    async def grown() -> dict[str, Any] | None:
        nonlocal last
        last = await _audio(page, client, channel)
        return last if not _stalled(before, last) else None

    try:
        return before, await until(grown, timeout=timeout)
    except AssertionError:
        raise AssertionError(
            f"audio stalled on {channel}: {_stalled(before, last)}; before {before}, last {last}"
        ) from None


def _stalled(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The counters that have not grown by a second's worth since ``before``."""
    stalled = [] if now["totalAudioEnergy"] > before["totalAudioEnergy"] else ["totalAudioEnergy"]
    counted = ("bytesReceived", "bytesSent", "asterisk_rx", "asterisk_tx")
    return stalled + [key for key in counted if now[key] < before[key] + ONE_SECOND]


async def _disposition(stack: Stack, uniqueid: str, wanted: str) -> bool:
    row = await asyncio.to_thread(stack.store.get, uniqueid)
    return row is not None and row["disposition"] == wanted


async def test_a_restart_of_the_service_keeps_the_call_in_hand(
    console: Page, ami: tuple[AmiClient, LiveQueues], console_stack: Stack, service: ServeProcess
) -> None:
    """`ivr serve` restarts mid-call: the page reconnects by itself, the pop and the typed note are still
    there, the state is Asterisk's (on a call), and the outcome given afterwards is recorded."""
    client, _live = ami
    call, uniqueid = await ring(client, console)
    await console.keyboard.press("a")
    await asyncio.wait_for(call, 30)
    await expect(console.locator('[data-outcome="genuine"]')).to_be_enabled()
    await console.fill("#notes", "Kebakaran di Jl. Raya Serang km 12")
    if shot := os.environ.get("SIAGA_CONSOLE_SCREENSHOT"):
        # How the README's picture of the console with a call in hand is made (docs/console.png).
        await console.locator("#notes").blur()
        await console.evaluate("window.scrollTo(0, 0)")
        await console.screenshot(path=shot)
    await service.stop()
    await expect(console.locator("#banner-reconnect")).to_be_visible(timeout=10_000)
    await service.start()
    await expect(console.locator("#banner-reconnect")).to_be_hidden(timeout=15_000)
    await expect(console.locator("#pop[data-uniqueid]")).to_have_attribute("data-uniqueid", uniqueid)
    await expect(console.locator("#state-badge")).to_have_class("badge state-on_call", timeout=10_000)
    await expect(console.locator("#notes")).to_have_value("Kebakaran di Jl. Raya Serang km 12")
    await console.locator("#notes").blur()
    await expect(console.locator('[data-outcome="misdial"]')).to_be_enabled()
    await console.keyboard.press("5")
    await until(lambda: _disposition(console_stack, uniqueid, "misdial"), timeout=10)
    await expect(console.locator("#state-badge")).to_have_class("badge state-available", timeout=10_000)


async def test_two_callers_one_incident(console: Page, ami: tuple[AmiClient, LiveQueues], console_stack: Stack) -> None:
    """A genuine call opens an incident from the console; a second caller about the same fire is linked
    in one click; the incident is dispatched and closed; the store holds both calls and the steps."""
    client, _live = ami
    first_call, first = await ring(client, console)
    await console.keyboard.press("a")
    await asyncio.wait_for(first_call, 30)
    await console.select_option("#incident-kecamatan", "Cikupa")
    await console.fill("#incident-address", "Jl. Raya Serang km 12")
    await console.fill("#incident-what", "Kebakaran gudang plastik")
    await console.check('#incident-agencies input[value="damkar"]')
    await console.click("#incident-open")
    row = console.locator("li.incident").first
    await expect(row).to_contain_text("1 panggilan")
    incident_id = int(await row.get_attribute("data-incident") or 0)
    await expect(console.locator('[data-outcome="genuine"]')).to_be_enabled()
    await console.keyboard.press("1")
    await until(lambda: _disposition(console_stack, first, "genuine"), timeout=10)
    await console.keyboard.press("h")
    await expect(console.locator("#state-badge")).to_have_class("badge state-wrap_up", timeout=10_000)
    await console.click("#btn-available")  # wrap-up ended early by the operator
    await expect(console.locator("#state-badge")).to_have_class("badge state-available", timeout=10_000)

    second_call, second = await ring(client, console)
    await console.keyboard.press("a")
    await asyncio.wait_for(second_call, 30)
    await console.locator(f'li.incident[data-incident="{incident_id}"] .incident-link').click()
    await expect(console.locator(f'li.incident[data-incident="{incident_id}"]')).to_contain_text("2 panggilan")
    await console.locator(f'li.incident[data-incident="{incident_id}"] .incident-dispatched').click()
    await expect(console.locator(f'li.incident[data-incident="{incident_id}"]')).to_contain_text("Dikirim")
    await console.locator(f'li.incident[data-incident="{incident_id}"] .incident-closed').click()
    await expect(console.locator(f'li.incident[data-incident="{incident_id}"]')).to_have_count(0)

    incidents = IncidentStore(console_stack.settings.store_target)
    try:
        incident = incidents.get(incident_id)
        steps = [event["action"] for event in incidents.events(incident_id)]
    finally:
        incidents.close()
    assert (incident.status, incident.calls, incident.kecamatan, incident.agencies) == (
        "closed",
        (first, second),
        "Cikupa",
        ("damkar",),
    )
    assert steps == ["opened", "call_linked", "call_linked", "status", "status"]
    # Recorded from the moment budi answered (MixMonitor, only while bridged): sound, not a bare header.
    recordings = Recordings(runtime_dirs(console_stack.settings)["monitor_dir"])
    assert recordings.path_of(first) is not None
    await expect(console.locator('[data-outcome="misdial"]')).to_be_enabled()
    await console.keyboard.press("5")  # the second caller's own outcome, closed in one key
    await expect(console.locator("#state-badge")).to_have_class("badge state-available", timeout=10_000)


async def test_a_caller_who_hung_up_in_the_menu_is_called_back_from_the_console(
    console: Page, ami: tuple[AmiClient, LiveQueues], console_stack: Stack
) -> None:
    """Hung up during the greeting: on the callback list; Telepon rings budi's browser phone, he answers,
    Asterisk dials the citizen, audio flows; 'reached' takes the entry off the list."""
    client, _live = ami
    number = "081377712345"
    gone = await place_call(client, "", caller=number, hold=1.0, answer_timeout=20)
    assert gone.hung_up and not gone.answered
    uniqueid = gone.channel + "-in"
    entry = console.locator(f'li.callback[data-uniqueid="{uniqueid}"]')

    async def listed() -> bool:
        await console.evaluate("window.siagaCallbacks.refresh()")
        return await entry.count() == 1

    await until(listed, timeout=20)
    await expect(entry).to_contain_text(number)
    await expect(entry).to_contain_text("tutup di menu")
    await entry.locator(".callback-call").click()
    await expect(console.locator("#btn-answer")).to_be_enabled(timeout=15_000)
    await console.keyboard.press("a")
    before = {"bytesReceived": 0, "totalAudioEnergy": 0.0}

    async def sound() -> dict[str, Any] | None:
        stats = await console.evaluate("window.siagaPhone.audioStats()")
        ok = stats and stats["bytesReceived"] > before["bytesReceived"] + 2000 and stats["totalAudioEnergy"] > 0
        return stats if ok else None

    print(f"\ncallback audio: {await until(sound, timeout=15)}")
    await console.keyboard.press("h")
    await entry.locator('[data-result="reached"]').click()
    await expect(entry).to_have_count(0, timeout=10_000)
    attempts = IncidentStore(console_stack.settings.store_target)
    try:
        results = [attempt.result for attempt in attempts.attempts([uniqueid])[uniqueid]]
    finally:
        attempts.close()
    assert results == ["dialing", "reached"]


async def test_the_service_exposes_metrics_and_keeps_reports_for_supervisors(
    console: Page, service: ServeProcess, console_stack: Stack
) -> None:
    """`ivr serve` as run: /metrics in Prometheus' format with this module's answered calls and budi's
    state; the reports are refused to an operator (403) even with his session."""
    async with ClientSession() as http, http.get(f"{service.url}/metrics") as response:
        text = await response.text()
    assert response.status == 200
    assert "siaga_ami_connected 1.0" in text
    assert 'siaga_operators{state="available"} 1.0' in text
    assert 'siaga_calls_total{outcome="answered",queue="q112"}' in text
    status = await console.evaluate("fetch('/api/reports').then(r => r.status)")
    assert status == 403


async def test_a_call_is_transferred_to_an_agency_whose_operator_sees_the_incident(
    console: Page, ami: tuple[AmiClient, LiveQueues], console_stack: Stack, service: ServeProcess
) -> None:
    """budi opens an incident and transfers the caller to Damkar's queue: asep's console pops it with the
    incident, he answers. A transfer to a queue nobody staffs brings the caller back to budi's phone."""
    client, _live = ami
    asep, uniqueid, _citizen = await _budi_talks_to_a_citizen_and_asep_is_ready(client, console, console_stack, service)
    await console.fill("#incident-what", "Kebakaran rumah, dua orang terjebak")
    await console.click("#incident-open")
    await expect(console.locator("li.incident").first).to_contain_text("1 panggilan")
    incident_id = await console.locator("li.incident").first.get_attribute("data-incident")
    await console.select_option("#transfer-target", "q-damkar")
    await console.click("#btn-transfer")

    async def popped_for_asep() -> bool:
        return await asep.locator("#pop").get_attribute("data-uniqueid") == uniqueid

    await until(popped_for_asep, timeout=20)
    await expect(asep.locator("#pop-incidents")).to_contain_text(f"#{incident_id}")
    await expect(asep.locator("#btn-answer")).to_be_enabled(timeout=10_000)
    await asep.keyboard.press("a")
    await expect(asep.locator("#state-badge")).to_have_class("badge state-on_call", timeout=10_000)
    await until(lambda: _disposition(console_stack, uniqueid, "transferred"), timeout=10)
    await asep.keyboard.press("h")
    await console.click("#btn-available")  # budi's wrap-up after the transfer, ended by him
    await expect(console.locator("#state-badge")).to_have_class("badge state-available", timeout=10_000)

    # Nobody in Dinsos' queue (its simulated seats leave): the caller comes back to budi's phone.
    await logout_sim_operators(client, "q-dinsos", 2)
    call, _second = await ring(client, console)
    await console.keyboard.press("a")
    await asyncio.wait_for(call, 30)
    await console.select_option("#transfer-target", "q-dinsos")
    await console.click("#btn-transfer")
    await expect(console.locator("#btn-answer")).to_be_enabled(timeout=20_000)
    await console.keyboard.press("a")
    await expect(console.locator("#btn-hangup")).to_be_enabled(timeout=10_000)
    await console.keyboard.press("h")
    await login_sim_operators(client, ["q-dinsos"], 2)
    await console.click("#btn-available")
    await expect(console.locator("#state-badge")).to_have_class("badge state-available", timeout=10_000)
    await asep.context.close()


async def test_an_asterisk_restart_leaves_the_operator_as_they_were(
    console: Page, ami: tuple[AmiClient, LiveQueues], console_stack: Stack
) -> None:
    """Paused for Sholat, then Asterisk restarts: the service logs budi back into q112, paused for Sholat,
    the phone registers again by itself, and the console shows that state without anyone acting."""
    client, _live = ami
    await console.locator("#pause-buttons button", has_text="Sholat").click()
    await expect(console.locator("#state-badge")).to_have_class("badge state-paused", timeout=10_000)
    settings = console_stack.settings
    await asyncio.to_thread(process.stop, settings)
    await expect(console.locator("#phone-reg")).not_to_have_class("phone-reg reg-registered", timeout=15_000)
    conf = settings.asterisk_dir / "etc" / "asterisk.conf"
    await asyncio.to_thread(process.start, settings, find_or_provision(), conf, 60)

    async def back_paused() -> dict[str, str] | None:
        try:
            member = await queue_member(client, "PJSIP/op-budi")
        except AmiError:
            return None
        return member if member and member["Paused"] == "1" else None

    member = await until(back_paused, timeout=30)
    assert member["PausedReason"] == "Sholat"
    await expect(console.locator("#phone-reg")).to_have_class("phone-reg reg-registered", timeout=30_000)
    await expect(console.locator("#state-badge")).to_have_class("badge state-paused", timeout=10_000)
    await expect(console.locator("#state-badge")).to_contain_text("Sholat")
    await console.click("#btn-available")
    await expect(console.locator("#state-badge")).to_have_class("badge state-available", timeout=10_000)


def _citizen_channel(report: CallReport) -> str:
    """The citizen's channel in the queue: AgentConnect names it (Channel)."""
    return next(event["Channel"] for event in report.events if event.get("Event") == "AgentConnect")


async def _bridged_to(client: AmiClient, channel: str, interface: str) -> str | None:
    """``channel``'s peer (Asterisk's BRIDGEPEER) when that is a channel of ``interface``: bridged
    directly, no Local pair between them."""
    reply = await client.action({"Action": "Getvar", "Channel": channel, "Variable": "BRIDGEPEER"})
    peer = str(reply.get("Value", "") or "")
    return peer if peer.startswith(interface + "-") else None


async def _hears(page: Page) -> dict[str, Any]:
    """The page's phone receives sound on the call it talks on, a second's worth more than now."""
    before = await page.evaluate("window.siagaPhone.audioStats()")
    assert before is not None, "no call in the page's phone"

    async def grown() -> dict[str, Any] | None:
        now = await page.evaluate("window.siagaPhone.audioStats()")
        louder = now and now["totalAudioEnergy"] > before["totalAudioEnergy"]
        return now if louder and now["bytesReceived"] >= before["bytesReceived"] + HALF_SECOND_G711 else None

    return await until(grown, timeout=15)


async def _budi_talks_to_a_citizen_and_asep_is_ready(
    client: AmiClient, console: Page, console_stack: Stack, service: ServeProcess
) -> tuple[Page, str, str]:
    """asep (Damkar) logged in and available; a citizen's call rings budi, who answers.
    Returns asep's page, the call's uniqueid and the citizen's channel."""
    PasswordFile(console_stack.settings.passwords_file).set("asep", PASSWORD)
    browser = console.context.browser
    assert browser is not None
    asep = await logged_in(browser, service.url, "asep")
    call, uniqueid = await ring(client, console)
    await console.keyboard.press("a")
    return asep, uniqueid, _citizen_channel(await asyncio.wait_for(call, 30))


async def _consult(console: Page, queue: str) -> None:
    await console.select_option("#transfer-target", queue)
    await console.click("#btn-consult")
    await expect(console.locator("#btn-hold")).to_have_text("Lanjutkan", timeout=10_000)  # the citizen is held


async def test_a_genuine_call_is_warm_transferred_to_an_agency_operator_who_closes_the_incident(
    console: Page, ami: tuple[AmiClient, LiveQueues], console_stack: Stack, service: ServeProcess
) -> None:
    """budi opens an incident and consults Damkar with the citizen on hold: asep's console pops the
    citizen's call (number, incident, who consults); asep answers, budi completes: Asterisk bridges the
    citizen to asep, and audio flows both ways: asep's phone hears the citizen (who echoes, so what he
    hears went through the citizen's leg and back) and Asterisk's RTP counters on asep's channel grow
    each way; budi's wrap-up starts at once; asep gives the outcome, closes the incident, and his
    wrap-up starts when he hangs up. budi's call is recorded as transferred."""
    client, _live = ami
    asep, uniqueid, citizen = await _budi_talks_to_a_citizen_and_asep_is_ready(client, console, console_stack, service)
    await console.fill("#incident-what", "Kebakaran gudang, api membesar")
    await console.click("#incident-open")
    opened = console.locator("li.incident", has_text="Kebakaran gudang, api membesar")
    await expect(opened).to_contain_text("1 panggilan")
    incident_id = int(await opened.get_attribute("data-incident") or 0)
    await _consult(console, "q-damkar")

    async def popped_for_asep() -> bool:
        return await asep.locator("#pop").get_attribute("data-uniqueid") == uniqueid

    await until(popped_for_asep, timeout=20)
    await expect(asep.locator("#pop-caller-number")).to_have_text(CALLER)
    await expect(asep.locator("#pop-incidents")).to_contain_text(f"#{incident_id}")
    await expect(asep.locator("#pop-consult")).to_contain_text("Konsultasi dari Budi Santoso")
    await expect(asep.locator("#btn-answer")).to_be_enabled(timeout=10_000)
    await asep.keyboard.press("a")
    await expect(console.locator("#btn-consult-complete")).to_be_enabled(timeout=10_000)
    await expect(asep.locator('[data-outcome="genuine"]')).to_be_disabled()  # not his call yet
    await console.click("#btn-consult-complete")

    asep_channel = await until(lambda: _bridged_to(client, citizen, "PJSIP/op-asep"), timeout=15)
    before, heard = await _audio_grows(asep, client, asep_channel)
    print(f"\nwarm transfer: citizen {citizen} bridged to {asep_channel}; asep {before} -> {heard}")
    await until(lambda: _disposition(console_stack, uniqueid, "transferred"), timeout=10)
    await expect(console.locator("#btn-hangup")).to_be_disabled(timeout=10_000)  # budi's legs are over
    await expect(console.locator("#state-badge")).to_have_class("badge state-wrap_up", timeout=10_000)
    await expect(asep.locator("#pop-consult")).to_contain_text("Dialihkan dari Budi Santoso")
    await expect(asep.locator("#state-badge")).to_have_class("badge state-on_call")
    await expect(asep.locator('[data-outcome="genuine"]')).to_be_enabled(timeout=10_000)
    await asep.keyboard.press("1")
    await until(lambda: _disposition(console_stack, uniqueid, "genuine"), timeout=10)
    # By keyboard: with two incidents open, the list's rows overlap at this viewport (a pointer lands on the other).
    await asep.locator(f'li.incident[data-incident="{incident_id}"] .incident-closed').press("Enter")
    await expect(asep.locator(f'li.incident[data-incident="{incident_id}"]')).to_have_count(0)
    await asep.keyboard.press("h")
    await expect(asep.locator("#state-badge")).to_have_class("badge state-wrap_up", timeout=10_000)

    incidents = IncidentStore(console_stack.settings.store_file)
    try:
        incident = incidents.get(incident_id)
    finally:
        incidents.close()
    assert (incident.status, incident.closed_by, incident.calls) == ("closed", "asep", (uniqueid,))
    await console.click("#btn-available")  # budi's wrap-up after the transfer, ended by him
    await expect(console.locator("#state-badge")).to_have_class("badge state-available", timeout=10_000)
    await asep.context.close()


async def test_a_consultation_cancelled_or_unanswered_gives_the_citizen_back_to_the_operator(
    console: Page, ami: tuple[AmiClient, LiveQueues], console_stack: Stack, service: ServeProcess
) -> None:
    """Nobody in Dinsos' queue: the consultation fails and budi talks to the citizen again. Then asep
    answers a consultation and budi cancels it: the citizen is bridged to budi again and heard, asep's
    screen is clear and he is available (a consultation is no call of his)."""
    client, _live = ami
    asep, uniqueid, citizen = await _budi_talks_to_a_citizen_and_asep_is_ready(client, console, console_stack, service)

    await logout_sim_operators(client, "q-dinsos", 2)
    try:
        await _consult(console, "q-dinsos")
        await expect(console.locator("#error-line")).to_contain_text("penelepon kembali tersambung", timeout=15_000)
    finally:
        await login_sim_operators(client, ["q-dinsos"], 2)
    await expect(console.locator("#btn-hold")).to_have_text("Tahan", timeout=10_000)
    await until(lambda: _bridged_to(client, citizen, "PJSIP/op-budi"), timeout=10)
    print(f"\nunanswered consultation: budi hears the citizen again {await _hears(console)}")

    await _consult(console, "q-damkar")
    await expect(asep.locator("#btn-answer")).to_be_enabled(timeout=20_000)
    await asep.keyboard.press("a")
    await expect(console.locator("#btn-consult-cancel")).to_be_enabled()
    await expect(console.locator("#btn-consult-complete")).to_be_enabled(timeout=10_000)
    await console.click("#btn-consult-cancel")
    await expect(console.locator("#btn-hold")).to_have_text("Tahan", timeout=10_000)
    await expect(asep.locator("#pop[data-uniqueid]")).to_have_count(0, timeout=10_000)
    await expect(asep.locator("#state-badge")).to_have_class("badge state-available", timeout=10_000)
    await until(lambda: _bridged_to(client, citizen, "PJSIP/op-budi"), timeout=10)
    print(f"cancelled consultation: budi hears the citizen again {await _hears(console)}")
    await expect(console.locator('[data-outcome="misdial"]')).to_be_enabled()
    await console.keyboard.press("5")
    await until(lambda: _disposition(console_stack, uniqueid, "misdial"), timeout=10)
    await expect(console.locator("#state-badge")).to_have_class("badge state-available", timeout=10_000)
    await asep.context.close()
