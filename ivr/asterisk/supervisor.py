"""Keep Asterisk running under ``ivr up``: 112 is answered by Asterisk, whatever happens to us.

In production systemd does this job (``docker/systemd/``: Asterisk and ``ivr serve`` as separate
units, restart always); under ``ivr up`` this loop restarts an Asterisk that died (kill -9, a crash)
within a few seconds. It never stops one: our own failure must not take the line down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from ivr.asterisk import process
from ivr.settings import Settings

log = structlog.get_logger("ivr.asterisk")


async def supervise(settings: Settings, restart: Callable[[], int], interval: float = 1.0) -> None:
    """Check every ``interval`` seconds; restart (render + start + wait ready) when Asterisk is gone."""
    while True:
        await asyncio.sleep(interval)
        if process.running_pid(settings) is not None:
            continue
        log.error("asterisk_down_restarting")
        try:
            pid = await asyncio.to_thread(restart)
        except Exception as error:  # the next round tries again; a crash here would end supervision
            log.error("asterisk_restart_failed", error=repr(error))
            continue
        log.warning("asterisk_restarted", pid=pid)
