"""The configuration in force, reloaded when its files change; an invalid edit never replaces it.

New calls take ``current()`` once and keep that snapshot to their end, so a call in progress
finishes on the flow it started with.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog

from ivr.config import Config, ConfigError, load_config

log = structlog.get_logger("ivr.config")


def _fingerprint(root: Path) -> tuple[tuple[str, int, int], ...]:
    files = [*root.glob("dialplan/*.y*ml"), *root.glob("sop/*.y*ml")]
    stats = []
    for path in sorted(files):
        try:
            stat = path.stat()
        except OSError:
            continue
        stats.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(stats)


class LiveConfig:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._fingerprint = _fingerprint(root)
        self._config = load_config(root)  # the first load must succeed: nothing to fall back to
        self.rejected: list[str] = []

    def current(self) -> Config:
        return self._config

    def reload_if_changed(self) -> bool:
        """Returns True when a new configuration took effect."""
        fingerprint = _fingerprint(self.root)
        if fingerprint == self._fingerprint:
            return False
        self._fingerprint = fingerprint
        try:
            config = load_config(self.root)
        except ConfigError as error:
            self.rejected = [str(problem) for problem in error.problems]
            log.error("config_rejected_last_good_kept", errors=self.rejected)
            return False
        self._config = config
        self.rejected = []
        log.info("config_reloaded", flows=sorted(config.flows), categories=len(config.sop.categories))
        return True

    async def watch(self, interval: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval)
            self.reload_if_changed()
