"""The composition root: builds every part and runs them in one asyncio process.

``serve`` = FastAGI server + AMI connection + web, until cancelled (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

import structlog
from aiohttp import web

from ivr.agi.server import AgiServer
from ivr.ami.client import AmiClient, AmiError
from ivr.asterisk.render import load_secrets
from ivr.config.live import LiveConfig
from ivr.service import CallService
from ivr.settings import Settings
from ivr.store.calls import CallStore
from ivr.web.app import build_web_app

log = structlog.get_logger("ivr.app")

QUEUE_EVENTS = ("QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "AgentConnect",
                "AgentComplete", "AgentRingNoAnswer")


async def serve(settings: Settings, with_ami: bool = True) -> None:
    config = LiveConfig(settings.root, settings.sounds_dir)
    store = CallStore(settings.store_file)
    service = CallService(config.current, settings.sounds_dir, store)
    agi = AgiServer(service.handle, settings.host, settings.agi_port)
    await agi.start()

    ami: AmiClient | None = None
    if with_ami:
        keys = load_secrets(settings, create=False)
        ami = AmiClient(settings.host, settings.ami_port, keys.ami_user, keys.ami_secret)
        for name in QUEUE_EVENTS:
            ami.on(name, _log_queue_event)
        try:
            await ami.connect(timeout=10.0)
        except AmiError as error:
            # Calls do not depend on AMI: keep serving FastAGI and let panoramisk reconnect.
            log.warning("ami_not_ready_serving_anyway", error=str(error))

    runner = web.AppRunner(build_web_app(settings, config, agi, ami))
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.web_port)
    await site.start()
    log.info("serving", agi_port=agi.port, web_port=settings.web_port, ami_port=settings.ami_port)

    watcher = asyncio.create_task(config.watch())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("shutting_down")
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await runner.cleanup()
        await agi.close()
        if ami is not None:
            await ami.close()
        store.close()


def _log_queue_event(fields: dict[str, str]) -> None:
    log.info("queue_event", event=fields.get("Event"), queue=fields.get("Queue"),
             uniqueid=fields.get("Uniqueid"), linkedid=fields.get("Linkedid"),
             member=fields.get("MemberName"))
