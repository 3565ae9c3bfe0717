"""The web side: health, the configuration in force, and the operators' console (``ivr.web.console``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from aiohttp import web

from ivr.agi.server import AgiServer
from ivr.ami.client import AmiClient
from ivr.config.live import LiveConfig
from ivr.settings import Settings
from ivr.store.spool import StoreHealth
from ivr.web.console import Console

CONFIG_KEY = web.AppKey("config", LiveConfig)


class Routes(Protocol):
    def routes(self, app: web.Application) -> None: ...


def build_web_app(
    settings: Settings,
    config: LiveConfig,
    agi: AgiServer,
    ami: AmiClient | None,
    store_health: Callable[[], StoreHealth] | None = None,
    console: Console | None = None,
    behind_console: Sequence[Routes] = (),
    more_alarms: Sequence[Callable[[], str | None]] = (),
) -> web.Application:
    """``behind_console``: more of the operators' web (incidents, ...), under the console's login guard."""
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
        alarms.extend(alarm for check in more_alarms if (alarm := check()) is not None)
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

    app.router.add_get("/healthz", health)
    app.router.add_get("/api/sop", sop)
    if console is not None:
        console.routes(app)
        for part in behind_console:
            part.routes(app)
    return app
