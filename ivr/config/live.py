"""The configuration in force, reloaded when its files change; an invalid edit never replaces it.

A reload runs the whole of ``ivr check`` (schema, references, safety proofs, prompt audio, time
budget) off the event loop; only a configuration that passes takes effect. New calls take
``current()`` once and keep that snapshot to their end, so a call in progress finishes on the flow
it started with.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import structlog

from ivr.check import check
from ivr.config import Config, ConfigError

log = structlog.get_logger("ivr.config")


def _fingerprint(root: Path) -> tuple[tuple[str, int, int], ...]:
    files = [*root.glob("dialplan/*.y*ml"), *root.glob("sop/*.y*ml"), *root.glob("dialplan/recordings/*/*")]
    stats = []
    for path in sorted(files):
        try:
            stat = path.stat()
        except OSError:
            continue
        stats.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(stats)


class LiveConfig:
    def __init__(self, root: Path, sounds_dir: Path | None) -> None:
        self.root = root
        self.sounds_dir = sounds_dir
        self._fingerprint = _fingerprint(root)
        result = check(root, sounds_dir)
        if result.config is None:
            raise ConfigError(result.problems)  # at start there is no last good one to keep
        self._config = result.config
        self.rejected: list[str] = []
        self.generation = 1
        # Called (in a worker thread) with each new configuration, e.g. to re-render Asterisk's queues.
        self.appliers: list[Callable[[Config], None]] = []
        # Called with the problems of each refused edit (the last good configuration keeps serving).
        self.refusal_listeners: list[Callable[[list[str]], None]] = []

    def current(self) -> Config:
        return self._config

    async def reload_if_changed(self) -> bool:
        """Returns True when a new configuration took effect."""
        fingerprint = _fingerprint(self.root)
        if fingerprint == self._fingerprint:
            return False
        self._fingerprint = fingerprint
        result = await asyncio.to_thread(check, self.root, self.sounds_dir)
        if result.config is None:
            self.rejected = [str(problem) for problem in result.problems]
            log.error("config_rejected_last_good_kept", errors=self.rejected)
            for listener in self.refusal_listeners:
                listener(self.rejected)
            return False
        # Asterisk first: a call routed by the new SOP must find its queue already there, and a longer
        # flow its longer session bound.
        for apply in self.appliers:
            await asyncio.to_thread(apply, result.config)
        self._config = result.config
        self.rejected = []
        self.generation += 1
        log.info(
            "config_reloaded",
            generation=self.generation,
            flows=sorted(result.config.flows),
            categories=len(result.config.sop.categories),
        )
        return True

    async def watch(self, interval: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reload_if_changed()
            except Exception as error:  # one failed reload (an applier, a file) must not end the watch
                self.rejected = [f"reload failed: {error!r}"]
                log.exception("config_reload_failed")
