"""The real stack with a real browser: Asterisk (tests/integration's fixtures, shared, not copied),
a roster whose operators have WebRTC phones, and Debian's chromium driven by Playwright.

Chromium trusts exactly the WSS certificate that `ivr render` made (its SPKI hash), nothing else;
fake media devices stand in for a microphone (a beep), autoplay needs no click. Nothing skips: a
missing /usr/bin/chromium fails the session with the reason.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import ClientSession, web
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from ivr.ami.client import AmiClient
from ivr.ami.live import LiveQueues
from ivr.asterisk.tls import tls_certificate
from ivr.config.roster import Operator
from ivr.operators import PasswordFile
from tests.integration.conftest import (
    REPO,
    AgiSwitch,
    Stack,
    connected_ami,
    free_port,
    given_root,
    serving_agi,
    start_stack,
    stop_stack,
)

CHROMIUM = Path("/usr/bin/chromium")
VENDOR = REPO / "ivr" / "web" / "static" / "vendor"
PHONE_PAGE = Path(__file__).with_name("phone.html")
# One operator of the central 112 call-takers, with a desk phone too (rendered, not used by the browser).
BUDI = Operator("budi", "Budi Santoso", "operator", "c112", ("q112",), desk_phone=True)
# The console's operator (a call-taker in q112 in the shipped roster) and every console user's password.
OPERATOR, PASSWORD = "budi", "kata-sandi-uji-112"


@pytest.fixture(scope="session")
def phone_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The shipped configuration with a roster of one operator (BUDI), rendered and running."""
    stack = start_stack(given_root(tmp_path_factory.mktemp("phones")), operators={BUDI.id: BUDI})
    try:
        yield stack
    finally:
        stop_stack(stack)


@pytest.fixture(scope="session")
async def phone_ami(phone_stack: Stack) -> AsyncIterator[tuple[AmiClient, LiveQueues]]:
    """The test AMI account, with no simulated operator anywhere: only the browser can answer."""
    async with connected_ami(phone_stack, seats=0) as connected:
        yield connected


@pytest.fixture(scope="session")
async def phone_agi(phone_stack: Stack, phone_ami: tuple[AmiClient, LiveQueues]) -> AsyncIterator[AgiSwitch]:
    """Our FastAGI service, so a test call takes the real menu and route to its queue."""
    async with serving_agi(phone_stack, phone_ami[1]) as switch:
        yield switch


def spki_sha256(cert: Path) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)): what --ignore-certificate-errors-spki-list takes."""
    pem = subprocess.run(
        ["openssl", "x509", "-pubkey", "-noout", "-in", str(cert)], capture_output=True, check=True
    ).stdout
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "der"], input=pem, capture_output=True, check=True
    ).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (./siaga does)")
    return CHROMIUM


@asynccontextmanager
async def chromium_trusting(stack: Stack, args: Sequence[str] = ()) -> AsyncIterator[Browser]:
    """Headless Debian chromium that trusts ``stack``'s WSS certificate and fakes a microphone;
    ``args``: more command-line switches."""
    executable = chromium()
    cert = tls_certificate(stack.settings).cert
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(executable),
            args=[
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                "--autoplay-policy=no-user-gesture-required",
                f"--ignore-certificate-errors-spki-list={spki_sha256(cert)}",
                *args,
            ],
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(scope="session")
async def browser(phone_stack: Stack) -> AsyncIterator[Browser]:
    async with chromium_trusting(phone_stack) as launched:
        yield launched


@pytest.fixture(scope="session")
async def phone_page_url() -> AsyncIterator[str]:
    """A throw-away web server for tests/e2e/phone.html and the vendored JsSIP (loopback: a secure
    context, so getUserMedia works over plain HTTP)."""
    bundles = sorted(VENDOR.glob("jssip-*.min.js"))
    assert len(bundles) == 1, f"expected one vendored JsSIP in {VENDOR}, found {bundles}"

    async def page(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(PHONE_PAGE)

    async def jssip(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(bundles[0])

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/vendor/jssip.min.js", jssip)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


@pytest.fixture
async def phone_page(browser: Browser, phone_page_url: str) -> AsyncIterator[Page]:
    """A fresh tab with the test phone loaded (its own context: no state shared between tests)."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(phone_page_url)
    try:
        yield page
    finally:
        await context.close()


class ServeProcess:
    """``python -m ivr --root … serve`` in its own process, as users run it, on the
    stack's ports and a free web port, with no simulated operators of its own; its log beside the stack's."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, timeout: float = 30.0) -> None:
        env = {key: value for key, value in os.environ.items() if key != "IVR_SIM_OPERATORS"}
        env.update(
            IVR_AGI_PORT=str(self.stack.settings.agi_port),
            IVR_WEB_PORT=str(self.port),
            IVR_AMI_PORT=str(self.stack.settings.ami_port),
            IVR_WSS_PORT=str(self.stack.settings.wss_port),
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        )
        with (self.stack.settings.var / "serve.log").open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "ivr",
                "--root",
                str(self.stack.settings.root),
                "serve",
                env=env,
                cwd=str(REPO),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log.fileno(),
            )
        deadline = time.monotonic() + timeout
        while not await self._answering():
            if self.process.returncode is not None or time.monotonic() > deadline:
                raise AssertionError(f"ivr serve did not answer on {self.url} (see var/serve.log)")
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()

    async def _answering(self) -> bool:
        try:
            async with ClientSession() as http, http.get(f"{self.url}/healthz") as response:
                return response.status in (200, 503)
        except OSError:
            return False


async def console_login(context: BrowserContext, web_url: str, operator: str, password: str) -> Page:
    """``operator`` logged in at the console in ``context``, their browser phone registered (not yet in
    their queues: that is the page's Siap button)."""
    page = await context.new_page()
    await page.goto(f"{web_url}/login")
    await page.fill("#operator", operator)
    await page.fill("#password", password)
    await page.click("#login-submit")
    await page.wait_for_url(f"{web_url}/")
    await expect(page.locator("#phone-reg")).to_have_class("phone-reg reg-registered", timeout=15_000)
    return page


@asynccontextmanager
async def served(stack: Stack) -> AsyncIterator[ServeProcess]:
    """`ivr serve` for ``stack`` while the block runs."""
    running = ServeProcess(stack)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture(scope="module")
def console_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The shipped configuration and roster; budi (a 112 call-taker in q112) has a password; callbacks
    reach a simulated citizen who answers and echoes (`ivr serve` inherits the variable)."""
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("IVR_CALLBACK_DIAL", "Local/{number}@siaga-sim-callee")
    stack = start_stack(given_root(tmp_path_factory.mktemp("console")))
    PasswordFile(stack.settings.passwords_file).set(OPERATOR, PASSWORD)
    try:
        yield stack
    finally:
        stop_stack(stack)
        monkeypatch.undo()


@pytest.fixture(scope="module")
async def service(console_stack: Stack) -> AsyncIterator[ServeProcess]:
    async with served(console_stack) as running:
        yield running


@pytest.fixture(scope="module")
async def ami(console_stack: Stack) -> AsyncIterator[tuple[AmiClient, LiveQueues]]:
    """The test AMI account; two simulated seats per queue, logged in as the demo does (penalty 5)."""
    async with connected_ami(console_stack, seats=2) as connected:
        yield connected


@pytest.fixture(scope="module")
async def console(
    console_stack: Stack, service: ServeProcess, ami: tuple[AmiClient, LiveQueues]
) -> AsyncIterator[Page]:
    """budi logged in at the console, phone registered, available in q112."""
    async with chromium_trusting(console_stack) as browser:
        page = await logged_in(browser, service.url)
        yield page


async def logged_in(browser: Browser, web_url: str, operator: str = OPERATOR) -> Page:
    """``operator`` at the console in a new context of ``browser``, phone registered, available."""
    context = await browser.new_context(viewport={"width": 1366, "height": 768})
    page = await console_login(context, web_url, operator, PASSWORD)
    badge = page.locator("#state-badge")
    await expect(badge).not_to_have_class("badge state-unknown", timeout=10_000)
    # An operator of an earlier test may still be in the queue: Asterisk keeps a login across sessions.
    if await badge.get_attribute("class") != "badge state-available":
        await page.click("#btn-available")
    await expect(badge).to_have_class("badge state-available", timeout=10_000)
    return page
