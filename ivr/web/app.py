"""The web side. For now: health and the configuration in force (the console comes with its issue)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ivr.agi.server import AgiServer
from ivr.ami.client import AmiClient
from ivr.config.live import LiveConfig
from ivr.settings import Settings
from ivr.store.calls import CallStore, UnknownDisposition
from ivr.store.spool import StoreHealth

CONFIG_KEY = web.AppKey("config", LiveConfig)


def build_web_app(
    settings: Settings,
    config: LiveConfig,
    agi: AgiServer,
    ami: AmiClient | None,
    store: CallStore | None = None,
    store_health: Callable[[], StoreHealth] | None = None,
) -> web.Application:
    app = web.Application()
    app[CONFIG_KEY] = config

    async def health(_request: web.Request) -> web.Response:
        body: dict[str, Any] = {
            "agi": {"port": agi.port, "sessions": agi.active_sessions},
            "ami": {"ready": bool(ami and ami.ready)},
            "config": {"rejected_edit": config.rejected},
        }
        alarms: list[str] = []
        if store_health is not None:
            state = store_health()
            body["store"] = state.as_dict()
            if not state.healthy:
                alarms.append("store_failing: call records are spooled in memory")
            if state.dropped:
                alarms.append(f"store_spool_overflowed: {state.dropped} call records lost")
        if not (ami and ami.ready):
            alarms.append("ami_not_ready: no live queue state")
        body["alarms"] = alarms
        # 503 lets a monitor page someone; calls are still answered and routed meanwhile.
        return web.json_response(body, status=503 if alarms else 200)

    async def sop(_request: web.Request) -> web.Response:
        current = config.current()
        return web.json_response(
            {
                "flows": sorted(current.flows),
                "queues": sorted(current.sop.queues),
                "categories": {
                    name: {
                        "label": c.label,
                        "emergency": c.emergency,
                        "queue": c.queue,
                        "priority": c.priority,
                        "checklist": list(c.checklist),
                    }
                    for name, c in current.sop.categories.items()
                },
            }
        )

    async def disposition(request: web.Request) -> web.Response:
        """An operator's verdict on a call (genuine, prank, silent, ...): feeds prank triage."""
        refused = _refuse_cross_site_or_non_json(request)
        if refused is not None:
            return refused
        if store is None:
            return _error(503, "no_call_store", "this service runs without a call store")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "invalid_json", 'expected a JSON object like {"disposition": "prank"}')
        if not isinstance(body, dict) or not isinstance(body.get("disposition"), str):
            return _error(400, "invalid_body", 'expected a JSON object like {"disposition": "prank"}')
        try:
            # A worker thread: the store's lock may be held by a write, and the loop carries every call.
            found = await asyncio.to_thread(store.set_disposition, request.match_info["uniqueid"], body["disposition"])
        except UnknownDisposition as error:
            return _error(400, error.code, str(error))
        if not found:
            return _error(404, "unknown_call", "no call with this uniqueid")
        return web.json_response({"ok": True})

    app.router.add_get("/healthz", health)
    app.router.add_post("/api/calls/{uniqueid}/disposition", disposition)
    app.router.add_get("/api/sop", sop)
    return app


def _error(status: int, code: str, detail: str) -> web.Response:
    """Errors carry a stable code (tests and clients rely on it) and words for a person."""
    return web.json_response({"error": code, "detail": detail}, status=status)


def _refuse_cross_site_or_non_json(request: web.Request) -> web.Response | None:
    """Until the console brings logins: no write from another site's page, and JSON only (a
    cross-site form cannot send application/json without a preflight, which we never grant)."""
    origin = request.headers.get("Origin")
    if request.headers.get("Sec-Fetch-Site") == "cross-site" or (
        origin is not None and origin != f"{request.scheme}://{request.host}"
    ):
        return _error(403, "cross_origin", "requests from another site are refused")
    if request.content_type != "application/json":
        return _error(415, "not_json", "send Content-Type: application/json")
    return None
