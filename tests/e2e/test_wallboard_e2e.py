"""The supervisor's wallboard, end to end on the real stack: `ivr serve`, the real Asterisk, and Debian's
chromium.

hendra (a supervisor) has the console open in one tab (his browser phone, registered; he is not in
any queue) and the wallboard in another. budi (a call-taker) works at his console. hendra sees budi's
state change live, force-pauses him, and Asterisk's own QueueStatus shows the pause with its reason;
then a citizen's call reaches budi and hendra listens in: Asterisk rings hendra's browser phone, ChanSpy
starts on budi's leg of the call, and audio reaches hendra's browser (getStats).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
from playwright.async_api import Browser, Page, expect

from ivr.ami.client import AmiClient
from ivr.ami.live import LiveQueues
from ivr.ami.testcall import place_call
from ivr.operators import PasswordFile
from tests.e2e.conftest import ServeProcess, chromium_trusting, console_login, served
from tests.integration.conftest import Stack, connected_ami, given_root, start_stack, stop_stack

pytestmark = pytest.mark.asterisk

T = TypeVar("T")
OPERATOR, SUPERVISOR = "budi", "hendra"
PASSWORDS = {OPERATOR: "kata-sandi-uji-112", SUPERVISOR: "kata-sandi-supervisor-112"}
BUDI_PHONE = "PJSIP/op-budi"
QUEUE = "q112"
KEYS = "7"  # a wrong key on the first menu: straight to the central call-takers (q112)
CALLER = "081311112222"
ONE_SECOND = 50  # 20 ms audio frames
# totalAudioEnergy (sum of level squared times seconds) a beep adds; silence and comfort noise stay far below it.
AUDIBLE = 1e-4


async def until(check: Callable[[], Awaitable[T | None]], timeout: float = 20.0, interval: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {value!r})")
        await asyncio.sleep(interval)


@pytest.fixture(scope="module")
def wallboard_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The shipped configuration and roster; budi (call-taker, q112) and hendra (supervisor) have passwords."""
    stack = start_stack(given_root(tmp_path_factory.mktemp("wallboard")))
    passwords = PasswordFile(stack.settings.passwords_file)
    for operator, password in PASSWORDS.items():
        passwords.set(operator, password)
    try:
        yield stack
    finally:
        stop_stack(stack)


@pytest.fixture(scope="module")
async def service(wallboard_stack: Stack) -> AsyncIterator[ServeProcess]:
    async with served(wallboard_stack) as running:
        yield running


@pytest.fixture(scope="module")
async def ami(wallboard_stack: Stack) -> AsyncIterator[tuple[AmiClient, LiveQueues]]:
    """The test AMI account (it places the citizen's call); no simulated seat: only budi answers q112."""
    async with connected_ami(wallboard_stack, seats=0) as connected:
        yield connected


@pytest.fixture(scope="module")
async def chromium(wallboard_stack: Stack) -> AsyncIterator[Browser]:
    async with chromium_trusting(wallboard_stack) as launched:
        yield launched


@pytest.fixture(scope="module")
async def budi(chromium: Browser, service: ServeProcess, ami: tuple[AmiClient, LiveQueues]) -> Page:
    """budi at his console, phone registered, available in q112."""
    page = await console_login(await chromium.new_context(), service.url, OPERATOR, PASSWORDS[OPERATOR])
    await page.click("#btn-available")
    await expect(page.locator("#state-badge")).to_have_class("badge state-available", timeout=10_000)
    return page


@pytest.fixture(scope="module")
async def hendra(chromium: Browser, service: ServeProcess) -> tuple[Page, Page]:
    """hendra's console (his browser phone; in no queue) and, in the same browser session, the wallboard."""
    context = await chromium.new_context()
    console = await console_login(context, service.url, SUPERVISOR, PASSWORDS[SUPERVISOR])
    await expect(console.locator("#state-badge")).to_have_class("badge state-logged_out", timeout=10_000)
    wallboard = await context.new_page()
    await wallboard.goto(f"{service.url}/wallboard")
    await expect(wallboard.locator("#wb-live")).to_have_class("badge state-available", timeout=10_000)
    return console, wallboard


async def queue_member(client: AmiClient, interface: str) -> dict[str, str] | None:
    """Asterisk's own QueueStatus entry of ``interface`` in q112."""
    replies = await client.action({"Action": "QueueStatus", "Queue": QUEUE}, timeout=10.0, as_list=True)
    for reply in replies:
        if reply.get("Event") == "QueueMember" and reply.get("Location") == interface:
            return {str(key): str(value) for key, value in reply.items()}
    return None


async def audit_entries(page: Page) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = await page.evaluate("fetch('/api/audit').then(r => r.json()).then(b => b.entries)")
    return entries


def budi_row(wallboard: Page) -> Any:
    return wallboard.locator('tr[data-operator="budi"]')


async def test_a_supervisor_sees_a_state_change_live_and_force_pauses_an_operator(
    budi: Page, hendra: tuple[Page, Page], ami: tuple[AmiClient, LiveQueues]
) -> None:
    """budi's own pause and return show on hendra's wallboard as they happen; hendra's force pause reaches
    Asterisk (QueueStatus: paused, reason Administrasi), budi's console and the audit log."""
    client, _live = ami
    _console, wallboard = hendra
    row = budi_row(wallboard)
    await expect(row).to_have_attribute("data-state", "available", timeout=10_000)

    await budi.locator("#pause-buttons button", has_text="Sholat").click()
    await expect(row).to_have_attribute("data-state", "paused", timeout=5_000)
    await expect(row.locator('[data-role="state"]')).to_contain_text("Sholat")
    await budi.click("#btn-available")
    await expect(row).to_have_attribute("data-state", "available", timeout=5_000)

    await wallboard.select_option('select[data-operator="budi"]', "Administrasi")
    async with wallboard.expect_response(lambda r: r.url.endswith("/api/operators/budi/pause")) as answered:
        await wallboard.click('button[data-action="pause"][data-operator="budi"]')
    assert (await answered.value).status == 200, await (await answered.value).text()
    await expect(row).to_have_attribute("data-state", "paused", timeout=5_000)
    await expect(row.locator('[data-role="state"]')).to_contain_text("Administrasi")

    async def paused_in_asterisk() -> dict[str, str] | None:
        member = await queue_member(client, BUDI_PHONE)
        return member if member and member["Paused"] == "1" else None

    member = await until(paused_in_asterisk, timeout=10)
    assert member["PausedReason"] == "Administrasi", member
    await expect(budi.locator("#state-badge")).to_have_class("badge state-paused", timeout=5_000)
    await expect(budi.locator("#state-badge")).to_contain_text("Administrasi")
    wanted = {"target": OPERATOR, "reason": "Administrasi"}
    entries = await audit_entries(wallboard)
    assert (SUPERVISOR, "force_pause", wanted) in [(e["actor"], e["action"], e["detail"]) for e in entries]

    await budi.click("#btn-available")  # budi is back: the next test's call can reach him
    await expect(row).to_have_attribute("data-state", "available", timeout=5_000)


async def test_a_supervisor_listens_to_a_call_and_the_audio_reaches_the_browser(
    budi: Page, hendra: tuple[Page, Page], ami: tuple[AmiClient, LiveQueues]
) -> None:
    """A citizen's call answered by budi; hendra clicks Dengar on the wallboard: Asterisk rings his console's
    phone, he answers, ChanSpy starts on budi's leg, and audio bytes and energy grow in hendra's getStats."""
    client, _live = ami
    console, wallboard = hendra
    spied: list[dict[str, str]] = []
    stop_listening = client.on("ChanSpyStart", spied.append)
    call = asyncio.create_task(
        place_call(client, KEYS, caller=CALLER, until="answered", hangup=False, audio="echo", answer_timeout=60)
    )
    try:
        await expect(budi.locator("#btn-answer")).to_be_enabled(timeout=30_000)
        await budi.keyboard.press("a")
        report = await asyncio.wait_for(call, 30)
        assert report.answered and report.operator_interface == BUDI_PHONE, report
        leg = next(event["DestChannel"] for event in report.events if event.get("Event") == "AgentConnect")

        row = budi_row(wallboard)
        await expect(row).to_have_attribute("data-state", "on_call", timeout=10_000)
        async with wallboard.expect_response(lambda r: r.url.endswith("/api/operators/budi/spy")) as answered:
            await wallboard.click('button[data-action="spy-listen"][data-operator="budi"]')
        assert (await answered.value).status == 200, await (await answered.value).text()
        await expect(wallboard.locator("#wb-notice")).to_contain_text("berdering")
        await expect(console.locator("#btn-answer")).to_be_enabled(timeout=15_000)
        await console.keyboard.press("a")

        async def spying() -> dict[str, str] | None:
            return next((event for event in spied if event.get("SpyeeChannel") == leg), None)

        start = await until(spying, timeout=15)
        assert start["SpyerChannel"].startswith("PJSIP/op-hendra-"), start

        async def stats() -> dict[str, Any] | None:
            value: dict[str, Any] | None = await console.evaluate("window.siagaPhone.audioStats()")
            return value

        before = await until(stats, timeout=10)

        async def grown() -> dict[str, Any] | None:
            now = await stats()
            if now is None:
                return None
            more_bytes = now["bytesReceived"] >= before["bytesReceived"] + ONE_SECOND
            # Sound, not comfort noise: budi's microphone (Chromium's fake device beeps) and the caller's echo.
            sound = now["totalAudioEnergy"] >= before["totalAudioEnergy"] + AUDIBLE
            return now if more_bytes and sound else None

        after = await until(grown, timeout=15)
        print(f"\nsupervisor's audio while listening: before={before} after={after}")
        wanted = {"target": OPERATOR, "mode": "listen", "channel": leg}
        entries = await audit_entries(wallboard)
        assert (SUPERVISOR, "spy", wanted) in [(e["actor"], e["action"], e["detail"]) for e in entries]
    finally:
        stop_listening()
        if not call.done():
            call.cancel()
        await console.keyboard.press("h")
        if await budi.locator('[data-outcome="prank"]').is_enabled():
            await budi.keyboard.press("3")  # budi closes the call: hang up and record
        await expect(budi.locator("#state-badge")).to_have_class("badge state-available", timeout=10_000)
