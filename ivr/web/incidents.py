"""Incidents over HTTP (``ivr.incidents``): open one from the call in hand, link another caller's call
in one action, mark it dispatched and closed. Every change is an incident event (who, what, when) and
a console audit entry.

Who sees what: the central call-takers (any role) and admins see every incident; an agency's staff
see the incidents dispatched to their agency and those holding the call they have in hand (a call
transferred to them before anyone ticked their agency), and may change only those. So a Damkar
officer reports back on Damkar's fires, not on the police's cases.

The routes sit under /api/, so the console's guard has already checked the session and, for a
POST, the CSRF token and the origin.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from ivr.config import Config
from ivr.config.roster import Operator
from ivr.incidents import KECAMATAN, STATUSES, Incident, IncidentConflict, IncidentInvalid, clean_fields
from ivr.store.incidents import IncidentStore, UnknownIncident
from ivr.web.console import Console
from ivr.web.http import error, json_object


class Incidents:
    def __init__(self, store: IncidentStore, console: Console) -> None:
        self.store = store
        self.console = console

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/incidents", self.listing)
        app.router.add_get("/api/incidents/options", self.options)
        app.router.add_post("/api/incidents", self.open)
        app.router.add_post("/api/incidents/{id:[0-9]{1,12}}", self.update)
        app.router.add_post("/api/incidents/{id:[0-9]{1,12}}/calls", self.link)

    def _config(self) -> Config:
        return self.console.floor.config()

    async def options(self, _request: web.Request) -> web.Response:
        """What the form offers: the 29 kecamatan, the agencies that can be sent, the categories."""
        sop = self._config().sop
        return web.json_response(
            {
                "kecamatan": list(KECAMATAN),
                "agencies": [
                    {"name": name, "label": agency.label} for name, agency in sop.agencies.items() if not agency.central
                ],
                "categories": [{"name": name, "label": c.label} for name, c in sop.categories.items()],
                "statuses": list(STATUSES),
            }
        )

    async def listing(self, request: web.Request) -> web.Response:
        wanted = tuple(request.query.getall("status", ["open", "dispatched"]))
        if not set(wanted) <= set(STATUSES):
            return error(400, "invalid_status", f"status: one of {', '.join(STATUSES)}")
        operator = self.console.operator_of(request)
        incidents = await asyncio.to_thread(self.store.listing, wanted)
        shown = [incident.as_json() for incident in incidents if self._in_scope(operator, incident)]
        return web.json_response({"incidents": shown})

    async def open(self, request: web.Request) -> web.Response:
        """``{"uniqueid"?, "kecamatan", "address", "landmark", "what", "victims", "category", "agencies", ...}``."""
        operator = self.console.operator_of(request)
        body = await json_object(request)
        if body is None:
            return error(400, "invalid_body", "expected a JSON object with the incident's fields")
        uniqueid = body.get("uniqueid", "")
        if not isinstance(uniqueid, str) or len(uniqueid) > 150:
            return error(400, "invalid_body", "uniqueid: the call's id, as the console shows it")
        try:
            fields = self._fields(body)
            incident = await asyncio.to_thread(self.store.open, operator.id, fields, uniqueid)
        except IncidentInvalid as failure:
            return error(400, failure.code, str(failure))
        self.console.sessions.audit(operator.id, "incident_opened", {"incident": incident.id, "uniqueid": uniqueid})
        return web.json_response({"incident": incident.as_json()}, status=201)

    async def update(self, request: web.Request) -> web.Response:
        """Fields to change and/or ``"status"`` (open → dispatched → closed)."""
        operator = self.console.operator_of(request)
        body = await json_object(request)
        if body is None:
            return error(400, "invalid_body", "expected a JSON object")
        status = body.get("status")
        if status is not None and not isinstance(status, str):
            return error(400, "invalid_body", "status: text")
        incident_id = int(request.match_info["id"])
        refused = await self._out_of_scope(operator, incident_id)
        if refused is not None:
            return refused
        try:
            fields = self._fields(body)
            incident = await asyncio.to_thread(self.store.update, incident_id, operator.id, fields, status)
        except IncidentConflict as failure:
            return error(409, failure.code, str(failure))
        except IncidentInvalid as failure:
            return error(400, failure.code, str(failure))
        except UnknownIncident as failure:
            return error(404, failure.code, str(failure))
        detail: dict[str, Any] = {"incident": incident_id, "fields": sorted(fields)}
        if status:
            detail["status"] = status
        self.console.sessions.audit(operator.id, "incident_updated", detail)
        return web.json_response({"incident": incident.as_json()})

    async def link(self, request: web.Request) -> web.Response:
        """``{"uniqueid"}``: this call is about that incident too."""
        operator = self.console.operator_of(request)
        body = await json_object(request)
        uniqueid = body.get("uniqueid") if body else None
        if not isinstance(uniqueid, str) or not 0 < len(uniqueid) <= 150:
            return error(400, "invalid_body", 'expected {"uniqueid": "..."}')
        incident_id = int(request.match_info["id"])
        refused = await self._out_of_scope(operator, incident_id)
        if refused is not None:
            return refused
        try:
            incident = await asyncio.to_thread(self.store.link_call, incident_id, uniqueid, operator.id)
        except IncidentConflict as failure:
            return error(409, failure.code, str(failure))
        except UnknownIncident as failure:
            return error(404, failure.code, str(failure))
        self.console.sessions.audit(
            operator.id, "incident_call_linked", {"incident": incident_id, "uniqueid": uniqueid}
        )
        return web.json_response({"incident": incident.as_json()})

    def _in_scope(self, operator: Operator, incident: Incident) -> bool:
        agency = self._config().sop.agencies.get(operator.agency)
        if operator.role == "admin" or agency is None or agency.central or operator.agency in incident.agencies:
            return True
        in_hand = self.console.floor.calls.get(operator.id)
        return in_hand is not None and in_hand.uniqueid in incident.calls

    async def _out_of_scope(self, operator: Operator, incident_id: int) -> web.Response | None:
        """A 403 for an incident this operator's agency has no part in (404 for one that does not exist)."""
        try:
            incident = await asyncio.to_thread(self.store.get, incident_id)
        except UnknownIncident as failure:
            return error(404, failure.code, str(failure))
        if self._in_scope(operator, incident):
            return None
        return error(403, "not_your_agency", f"incident {incident_id} is not dispatched to {operator.agency}")

    def _fields(self, body: dict[str, Any]) -> dict[str, Any]:
        sop = self._config().sop
        senders = [name for name, agency in sop.agencies.items() if not agency.central]
        return clean_fields(body, senders, list(sop.categories))
