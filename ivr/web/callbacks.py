"""The callback list over HTTP (``ivr.incidents.callbacks``): what is waiting, call one back from my
own phone, record how it went. Behind the console's login guard (routes under /api/)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from aiohttp import web

from ivr.ami.callback import CallbackRefused
from ivr.config.roster import Operator
from ivr.incidents.callbacks import RESULTS, CallbackEntry, worklist
from ivr.store.calls import CallStore
from ivr.store.incidents import IncidentStore
from ivr.web.console import Console
from ivr.web.http import error, json_object

# How far back the list looks: a caller not called back within two days is a matter for the report.
LOOKBACK = timedelta(hours=48)

CallBack = Callable[[Operator, str], Awaitable[None]]


class Callbacks:
    def __init__(self, calls: CallStore, attempts: IncidentStore, console: Console, call_back: CallBack) -> None:
        self.calls = calls
        self.attempts = attempts
        self.console = console
        self.call_back = call_back

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/callbacks", self.listing)
        app.router.add_post("/api/callbacks/{uniqueid}/call", self.call)
        app.router.add_post("/api/callbacks/{uniqueid}/result", self.result)

    async def entries(self) -> list[CallbackEntry]:
        since = (datetime.now(UTC) - LOOKBACK).isoformat()
        rows = await asyncio.to_thread(self.calls.callback_candidates, since)
        tried = await asyncio.to_thread(self.attempts.attempts, [str(row["uniqueid"]) for row in rows])
        return worklist(rows, tried, self.console.floor.config().sop)

    async def listing(self, _request: web.Request) -> web.Response:
        return web.json_response({"callbacks": [entry.as_json() for entry in await self.entries()]})

    async def _entry(self, uniqueid: str) -> CallbackEntry | None:
        return next((entry for entry in await self.entries() if entry.uniqueid == uniqueid), None)

    async def call(self, request: web.Request) -> web.Response:
        """Ring my phone, then the citizen; the attempt is recorded as ``dialing``. While I do, the callback
        is mine (``being_called_back`` to any other operator, on any service sharing the store)."""
        operator = self.console.operator_of(request)
        entry = await self._entry(request.match_info["uniqueid"])
        if entry is None:
            return error(404, "not_on_the_list", "this call is not on the callback list (any more)")
        if not entry.callable:
            return error(409, "not_callable", "the number was withheld or cannot be dialled")
        holder = await asyncio.to_thread(self.attempts.claim_callback, entry.uniqueid, operator.id)
        if holder != operator.id:
            return error(409, "being_called_back", f"{holder} is calling this number back now")
        record = await asyncio.to_thread(self.calls.get, entry.uniqueid)
        number = str(record["caller"]) if record else ""
        try:
            await self.call_back(operator, number)
        except CallbackRefused as failure:
            await asyncio.to_thread(self.attempts.release_callback, entry.uniqueid, operator.id)
            return error(503, failure.code, str(failure))
        await asyncio.to_thread(self.attempts.add_attempt, entry.uniqueid, operator.id, "dialing")
        self.console.sessions.audit(operator.id, "callback_dialed", {"uniqueid": entry.uniqueid})
        return web.json_response({"ok": True})

    async def result(self, request: web.Request) -> web.Response:
        """``{"result": "reached" | "no_answer" | "busy" | "wrong_number" | "not_needed", "note"?}``."""
        operator = self.console.operator_of(request)
        body = await json_object(request)
        result = body.get("result") if body else None
        note = body.get("note", "") if body else ""
        if result not in RESULTS or not isinstance(note, str) or len(note) > 500:
            return error(400, "invalid_result", f"result: one of {', '.join(RESULTS)}; note: text up to 500")
        uniqueid = request.match_info["uniqueid"]
        if await self._entry(uniqueid) is None:
            return error(404, "not_on_the_list", "this call is not on the callback list (any more)")
        await asyncio.to_thread(self.attempts.add_attempt, uniqueid, operator.id, str(result), note)
        await asyncio.to_thread(self.attempts.release_callback, uniqueid, operator.id)
        self.console.sessions.audit(operator.id, "callback_result", {"uniqueid": uniqueid, "result": result})
        return web.json_response({"ok": True})
