"""Reports over HTTP (ivr.web.reports): who may read them, and the JSON, CSV and SVG they answer.

Served like the console in test_console_web (aiohttp's test server, the app_queue fake, real stores,
the console's own login), with ``Reports.routes`` added to the same app; the store holds the January
rows of test_reports_aggregate.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

import ivr.web.console as console_module
from ivr.agi.server import AgiServer
from ivr.config.roster import Operator
from ivr.settings import Settings
from ivr.web.app import build_web_app
from ivr.web.console import Console
from ivr.web.reports import Reports
from tests.fakes.floor_kit import REPO, ROSTER, FloorKit, open_floor, shipped_config
from tests.unit.test_console_web import (
    ALT,
    PASSWORDS,
    Client,
    Clock,
    PasswordBook,
    PhoneBook,
    live_config,
    login,
    no_agi,
)
from tests.unit.test_reports_aggregate import ROWS, write_rows

ADI = Operator("adi", "Adi Nugroho", "admin", "c112", ())
JANUARY = "from=2025-01-01&to=2025-01-31"


@dataclass
class Site:
    client: Client
    kit: FloorKit
    clock: Clock


def given_january(kit: FloorKit) -> None:
    """The January rows written and their queue visits applied, as the service and reconcile do."""
    write_rows(kit.calls, ROWS)


@pytest.fixture
async def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Site]:
    static = tmp_path / "static"
    static.mkdir()
    (static / "reports.html").write_text("<!doctype html><title>Laporan 112</title>", encoding="utf-8")
    monkeypatch.setattr(console_module, "STATIC_DIR", static)
    config = shipped_config({**ROSTER, "adi": ADI})
    kit = await open_floor(tmp_path, config=config)
    given_january(kit)
    clock = Clock()
    clock.now = datetime(2025, 2, 3, 5, 0, tzinfo=UTC).timestamp()  # 12:00 WIB on 3 February 2025
    console = Console(
        kit.floor,
        kit.console,
        PasswordBook({**PASSWORDS, "adi": "adi-rahasia-112"}),
        PhoneBook(),
        secure_cookie=False,
        clock=clock,
    )
    app = build_web_app(Settings(root=ALT), live_config(), AgiServer(no_agi), None, None, console=console)
    Reports(console, kit.calls, lambda: config, clock=clock).routes(app)
    client: Client = TestClient(TestServer(app))
    await client.start_server()
    yield Site(client, kit, clock)
    await client.close()
    await kit.close()


PATHS = (
    f"/api/reports?{JANUARY}",
    f"/api/reports.csv?{JANUARY}",
    f"/api/reports/chart/hours.svg?{JANUARY}",
    f"/api/reports/chart/answer-times.svg?{JANUARY}",
)


async def test_anonymous_requests_are_401(site: Site) -> None:
    """No session: every reports API answers 401 not_logged_in (the console's guard)."""
    for path in PATHS:
        response = await site.client.get(path)
        assert (response.status, (await response.json())["error"]) == (401, "not_logged_in"), path


async def test_an_operator_is_403(site: Site) -> None:
    """A call-taker (role operator) is refused every reports API: 403 forbidden, and no export audited."""
    await login(site.client, "budi")
    for path in PATHS:
        response = await site.client.get(path)
        assert (response.status, (await response.json())["error"]) == (403, "forbidden"), path
    assert [entry["action"] for entry in site.kit.console.audit_log()] == ["login"]


@pytest.mark.parametrize(("operator", "password"), [("sari", PASSWORDS["sari"]), ("adi", "adi-rahasia-112")])
async def test_a_supervisor_and_an_admin_read_the_report(site: Site, operator: str, password: str) -> None:
    """A supervisor or an admin: 200 with the hand-computed January totals and NENA shares."""
    await login(site.client, operator, password)
    response = await site.client.get(f"/api/reports?{JANUARY}")
    assert response.status == 200
    body = await response.json()
    assert body["period"] == {"from": "2025-01-01", "to": "2025-01-31", "timezone": "Asia/Jakarta"}
    assert body["totals"] == {
        "total": 8,
        "prank": 1,
        "ghost": 1,
        "genuine": 1,
        "informasi": 1,
        "misdial": 1,
        "transferred": 1,
        "unclassified": 2,
    }
    times = body["answer_times"]
    assert (times["answered"], times["within_15"], times["within_20"], times["share_15"]) == (6, 3, 4, 0.5)
    assert (times["abandoned"], times["abandoned_in_ivr"], times["meets_nena"]) == (1, 1, False)
    assert len(body["days"]) == 31 and len(body["hours"]) == 24
    assert "0812777700" not in await response.text()


async def test_the_default_period_is_this_month_so_far_in_jakarta(site: Site) -> None:
    """No from/to on 3 February (WIB): 1 to 3 February, which holds one row: u7, at 00:00 WIB on the 1st."""
    await login(site.client, "sari")
    body = await (await site.client.get("/api/reports")).json()
    assert body["period"]["from"] == "2025-02-01" and body["period"]["to"] == "2025-02-03"
    assert (body["totals"]["total"], body["totals"]["genuine"]) == (1, 1)


async def test_the_csv_is_a_download_with_a_header_row_and_is_audited(site: Site) -> None:
    """CSV: text/csv in UTF-8 as an attachment, the Indonesian header row, 31 days; the export is in the audit log."""
    await login(site.client, "sari")
    response = await site.client.get(f"/api/reports.csv?{JANUARY}")
    assert response.status == 200
    assert response.content_type == "text/csv" and response.charset == "utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="siaga112-days-2025-01-01_2025-01-31.csv"'
    table = list(csv.reader(io.StringIO(await response.text())))
    assert table[0][:3] == ["tanggal", "jumlah panggilan", "iseng (prank)"]
    assert len(table) == 32 and table[1][:2] == ["2025-01-01", "2"]
    entry = site.kit.console.audit_log()[0]
    assert (entry["actor"], entry["action"], entry["detail"]) == (
        "sari",
        "report_export",
        {"from": "2025-01-01", "to": "2025-01-31", "table": "days"},
    )


async def test_a_chart_is_an_svg_image(site: Site) -> None:
    """The answer-time chart: image/svg+xml that parses, with its title and the two NENA lines."""
    await login(site.client, "sari")
    response = await site.client.get(f"/api/reports/chart/answer-times.svg?{JANUARY}&lang=en")
    assert response.status == 200 and response.content_type == "image/svg+xml"
    root = ET.fromstring((await response.text()).split("\n", 1)[1])
    assert root.findtext("{http://www.w3.org/2000/svg}title") == "Time to answer, 2025-01-01 to 2025-01-31"
    assert len([node for node in root.iter() if node.get("class") == "nena-line"]) == 2


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/reports?from=2025-13-01&to=2025-12-31", 400, "invalid_date"),
        ("/api/reports?from=2025-02-01&to=2025-01-01", 400, "period_reversed"),
        ("/api/reports?from=2023-01-01&to=2025-01-01", 400, "period_too_long"),
        (f"/api/reports.csv?{JANUARY}&table=callers", 400, "unknown_table"),
        (f"/api/reports.csv?{JANUARY}&lang=fr", 400, "invalid_lang"),
        (f"/api/reports/chart/pie.svg?{JANUARY}", 404, "unknown_chart"),
    ],
)
async def test_bad_requests_have_stable_codes(site: Site, path: str, status: int, code: str) -> None:
    """Bad periods, tables, languages and chart names: 400/404 with a stable error code."""
    await login(site.client, "sari")
    response = await site.client.get(path)
    assert (response.status, (await response.json())["error"]) == (status, code)


async def test_the_page_is_served_to_anyone_and_holds_no_data(site: Site) -> None:
    """GET /reports is the static page (its data comes from the API, which checks the role)."""
    response = await site.client.get("/reports")
    assert response.status == 200 and "Laporan 112" in await response.text()


async def test_without_the_console_guard_the_api_still_wants_a_login(tmp_path: Path) -> None:
    """Routes mounted on an app without the console's middleware: 401, not the report."""
    kit = await open_floor(tmp_path)
    try:
        given_january(kit)
        console = Console(kit.floor, kit.console, PasswordBook(dict(PASSWORDS)), PhoneBook(), clock=Clock())
        app = build_web_app(Settings(root=ALT), live_config(), AgiServer(no_agi), None, None)
        Reports(console, kit.calls, lambda: kit.config).routes(app)
        client: Client = TestClient(TestServer(app))
        await client.start_server()
        try:
            for path in PATHS:
                response = await client.get(path)
                assert (response.status, (await response.json())["error"]) == (401, "not_logged_in"), path
        finally:
            await client.close()
    finally:
        await kit.close()


def test_the_shipped_page_loads_only_our_own_scripts() -> None:
    """reports.html: dom.js, i18n.js and reports.js from /static/, nothing from another host (no CDN)."""
    page = (REPO / "ivr" / "web" / "static" / "reports.html").read_text(encoding="utf-8")
    for script in ("/static/dom.js", "/static/i18n.js", "/static/reports.js"):
        assert f'<script src="{script}"></script>' in page
    assert "http://" not in page and "https://" not in page
    script = (REPO / "ivr" / "web" / "static" / "reports.js").read_text(encoding="utf-8")
    assert "innerHTML" not in script and "http://" not in script and "https://" not in script
