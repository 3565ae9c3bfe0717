"""Reports over HTTP, for supervisors and admins: the period's figures as JSON, CSV tables and SVG charts.

Translation only: the period comes from the query string, the rows from the store (in a worker
thread), the counting from ``ivr.reports``. Who may ask is the console's business: its guard
middleware puts the session on every ``/api/`` request (401 without one); here only the role is
checked (403 for operators). The page itself (``/reports``) holds no data: it fetches the API.
The contract with the page (ivr/web/static/reports.*) is docs/reports-api.md.

- ``GET /reports`` → static/reports.html (+ reports.js, reports.css, dom.js, i18n.js)
- ``GET /api/reports?from=YYYY-MM-DD&to=YYYY-MM-DD`` → JSON (``ivr.reports.export.report_json``);
  ``from`` defaults to the first of ``to``'s month, ``to`` to today, both in the SOP's time zone
- ``GET /api/reports.csv?from&to&table=…&lang=id|en``, table one of days (default), months, categories,
  agencies, hours, operators, outcomes, answer_times
- ``GET /api/reports/chart/{hours|answer-times}.svg?from&to&lang=id|en``
Errors: ``{"error": code, "detail": words}``: 400 invalid_date, period_reversed, period_too_long,
unknown_table, invalid_lang; 404 unknown_chart; 401 not_logged_in; 403 forbidden.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import structlog
from aiohttp import web

from ivr.config import Config
from ivr.config.roster import Operator
from ivr.reports.aggregate import CallRow, InvalidPeriod, Period, Report, build_report, parse_period
from ivr.reports.charts import CHARTS, chart_svg
from ivr.reports.export import LANGUAGES, TABLES, report_csv, report_json
from ivr.web import console as console_web
from ivr.web.console import SESSION_KEY, Console
from ivr.web.http import error

log = structlog.get_logger("ivr.web")

ROLES = ("supervisor", "admin")


class PeriodCalls(Protocol):
    """``ivr.store.calls.CallStore``."""

    def calls_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]: ...


class Reports:
    def __init__(
        self,
        console: Console,
        calls: PeriodCalls,
        config: Callable[[], Config],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.console = console
        self.calls = calls
        self.config = config
        self.clock = clock

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/reports", self.page)
        app.router.add_get("/api/reports", self.report)
        app.router.add_get("/api/reports.csv", self.csv)
        app.router.add_get("/api/reports/chart/{name}.svg", self.chart)

    async def page(self, _request: web.Request) -> web.StreamResponse:
        return web.FileResponse(console_web.STATIC_DIR / "reports.html", headers={"Cache-Control": "no-store"})

    async def report(self, request: web.Request) -> web.Response:
        built = await self._build(request)
        if isinstance(built, web.Response):
            return built
        return web.json_response(report_json(built), headers={"Cache-Control": "no-store"})

    async def csv(self, request: web.Request) -> web.Response:
        table = request.query.get("table", "days")
        if table not in TABLES:
            return error(400, "unknown_table", f"table must be one of: {', '.join(TABLES)}")
        lang = request.query.get("lang", "id")
        if lang not in LANGUAGES:
            return error(400, "invalid_lang", f"lang must be one of: {', '.join(LANGUAGES)}")
        built = await self._build(request)
        if isinstance(built, web.Response):
            return built
        operator = self._operator(request)
        period = built.period
        # The export leaves the system: who took which figures, and when, is kept with the console's audit.
        self.console.sessions.audit(
            operator.id if operator else "",
            "report_export",
            {"from": period.start.isoformat(), "to": period.end.isoformat(), "table": table},
        )
        name = f"siaga112-{table}-{period.start.isoformat()}_{period.end.isoformat()}.csv"
        return web.Response(
            text=report_csv(built, table, lang),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )

    async def chart(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in CHARTS:
            return error(404, "unknown_chart", f"charts: {', '.join(CHARTS)}")
        lang = request.query.get("lang", "id")
        if lang not in LANGUAGES:
            return error(400, "invalid_lang", f"lang must be one of: {', '.join(LANGUAGES)}")
        built = await self._build(request)
        if isinstance(built, web.Response):
            return built
        return web.Response(
            text=chart_svg(name, built, lang),
            content_type="image/svg+xml",
            charset="utf-8",
            headers={"Cache-Control": "no-store"},
        )

    def _operator(self, request: web.Request) -> Operator | None:
        """The logged-in operator, as the console's guard found them; None without a session."""
        if SESSION_KEY not in request:
            return None
        return self.console.floor.roster().get(request[SESSION_KEY].operator)

    async def _build(self, request: web.Request) -> Report | web.Response:
        operator = self._operator(request)
        if operator is None:  # the guard answers first; this holds even if the routes were mounted without it
            return error(401, "not_logged_in", "log in first")
        if operator.role not in ROLES:
            return error(403, "forbidden", "reports are for supervisors and admins")
        sop = self.config().sop
        zone = sop.zone()
        try:
            period = parse_period(
                request.query.get("from"),
                request.query.get("to"),
                datetime.fromtimestamp(self.clock(), zone).date(),
                zone,
            )
        except InvalidPeriod as invalid:
            return error(400, invalid.code, str(invalid))
        rows = await asyncio.to_thread(self._rows, period)
        report = build_report(rows, period, sop)
        log.info(
            "report_built",
            operator=operator.id,
            start=str(period.start),
            end=str(period.end),
            calls=report.totals.total,
        )
        return report

    def _rows(self, period: Period) -> list[CallRow]:
        start, end = period.bounds()
        rows = []
        for raw in self.calls.calls_between(start, end):
            try:
                rows.append(CallRow.from_store(raw))
            except ValueError:
                log.error("report_row_unreadable", uniqueid=str(raw.get("uniqueid", ""))[:64])
        return rows
