"""The reports page (ivr/web/static/reports.*) in a real headless Chromium against the real server code:
``Console`` (login, guard, Content-Security-Policy) and ``Reports`` over the app_queue fake and a real
store seeded with the January rows of tests/unit/test_reports_aggregate. No Asterisk is needed: the
page only reads the store. Chromium is Debian's (/usr/bin/chromium), driven by Playwright.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, ConsoleMessage, Page, Response, async_playwright, expect

from ivr.agi.server import AgiServer
from ivr.settings import Settings
from ivr.web.app import build_web_app
from ivr.web.console import Console
from ivr.web.reports import Reports
from tests.fakes.floor_kit import FloorKit, open_floor
from tests.unit.test_console_web import ALT, PASSWORDS, PasswordBook, PhoneBook, live_config, no_agi
from tests.unit.test_reports_web import given_january

CHROMIUM = "/usr/bin/chromium"
JANUARY = "/reports?from=2025-01-01&to=2025-01-31"


@dataclass
class Served:
    url: str
    kit: FloorKit
    problems: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        await chromium.close()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    kit = await open_floor(tmp_path)
    given_january(kit)
    console = Console(kit.floor, kit.console, PasswordBook(dict(PASSWORDS)), PhoneBook(), secure_cookie=False)
    app = build_web_app(Settings(root=ALT), live_config(), AgiServer(no_agi), None, None, console=console)
    Reports(console, kit.calls, lambda: kit.config).routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Served(f"http://127.0.0.1:{port}", kit)
    finally:
        await runner.cleanup()
        await kit.close()


async def logged_in_page(browser: Browser, served: Served, operator: str) -> Page:
    context = await browser.new_context(base_url=served.url, timezone_id="America/New_York")
    context.set_default_timeout(5_000)
    page = await context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        # A CSP violation or a script error shows here; a failed load is reported with its URL below.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            served.problems.append(message.text)

    def on_response(response: Response) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):  # the site has no icon
            served.problems.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("pageerror", lambda error: served.problems.append(str(error)))
    response = await page.request.post("/api/login", data={"operator": operator, "password": PASSWORDS[operator]})
    assert response.status == 200
    return page


async def test_a_supervisor_sees_the_month_with_charts_and_downloads(browser: Browser, served: Served) -> None:
    """sari opens January: the summary row (8 calls), NENA shares, both charts loaded as images with alt
    text, a CSV link per table; nothing refused by the CSP, no script error."""
    page = await logged_in_page(browser, served, "sari")
    await page.goto(JANUARY)
    summary = page.locator("#summary-table table.summary tbody tr").first
    await expect(summary).to_contain_text("8")
    cells = await summary.locator("td").all_inner_texts()
    assert cells == ["8", "1", "1", "1", "1", "1", "1", "2"]
    await expect(page.locator("#nena-facts")).to_contain_text("50% (3 dari 6)")
    await expect(page.locator("#nena-facts")).to_contain_text("belum tercapai")
    await expect(page.locator("#nena-facts")).to_contain_text("Diantrekan ulang (telepon petugas terputus)")
    await expect(page.locator("#requeued")).to_have_text("1")  # u4: Budi's phone lost, Ani answered it again
    for chart in ("#chart-hours", "#chart-answer"):
        image = page.locator(chart)
        await expect(image).to_have_attribute("alt", re.compile(r".{20,}"))
        await page.wait_for_function(
            "(id) => { const img = document.querySelector(id); return img.complete && img.naturalWidth === 760; }",
            arg=chart,
        )
    link = await page.locator("#csv-days").get_attribute("href")
    assert link is not None and "/api/reports.csv?" in link and "table=days" in link and "from=2025-01-01" in link
    csv = await page.request.get(link)
    assert csv.status == 200 and (await csv.text()).startswith("tanggal,jumlah panggilan")
    await expect(page.locator("#table-days tbody tr")).to_have_count(31)
    assert served.problems == []


async def test_the_page_switches_to_english(browser: Browser, served: Served) -> None:
    """The language button: English words, English charts and CSV links, the numbers unchanged."""
    page = await logged_in_page(browser, served, "sari")
    await page.goto(JANUARY)
    await expect(page.locator("#summary-title")).to_have_text("Rekap periode")
    await page.click("#lang-switch")
    await expect(page.locator("#summary-title")).to_have_text("Period summary")
    await expect(page.locator("#nena-facts")).to_contain_text("50% (3 of 6)")
    assert "lang=en" in (await page.locator("#chart-hours").get_attribute("src") or "")
    assert served.problems == []


async def test_an_operator_is_told_reports_are_not_for_them(browser: Browser, served: Served) -> None:
    """budi (operator) opens /reports: the page says reports are for supervisors and admins, shows no figures."""
    page = await logged_in_page(browser, served, "budi")
    await page.goto(JANUARY)
    await expect(page.locator("#error-line")).to_have_text("Laporan hanya untuk supervisor dan admin.")
    await expect(page.locator("#report")).to_be_hidden()


async def test_without_a_login_the_page_goes_to_login(browser: Browser, served: Served) -> None:
    """No session: the API's 401 sends the page to /login."""
    context = await browser.new_context(base_url=served.url)
    page = await context.new_page()
    await page.goto(JANUARY)
    await page.wait_for_url("**/login")
    await context.close()
