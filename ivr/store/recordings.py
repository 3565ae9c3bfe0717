"""Call recordings on disk: MixMonitor writes ``<uniqueid>.wav`` into Asterisk's monitor spool from the
moment an operator answers (asterisk-config/extensions.conf). Here: find one for a supervisor, delete
those past the SOP's retention period, and say when the disk is running out (a full disk costs the
recordings, never the calls: MixMonitor fails on its own).
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

# Asterisk's uniqueids (1733100000.12) and our test calls' channel ids (sim-3fa2…-in): nothing else,
# so no request can name a path outside the spool.
RECORDING_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
# Below this share of free space the recordings' disk raises an alarm (/healthz).
LOW_DISK_SHARE = 0.05


class Recordings:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_of(self, uniqueid: str) -> Path | None:
        """The recording of a call, if there is one with sound in it (a header alone is not)."""
        if not RECORDING_ID.fullmatch(uniqueid) or ".." in uniqueid:
            return None
        path = self.directory / f"{uniqueid}.wav"
        try:
            return path if path.stat().st_size > 44 else None
        except OSError:
            return None

    def prune(self, retention_days: int, now: float | None = None) -> list[str]:
        """Delete recordings older than ``retention_days``; returns the uniqueids deleted."""
        cutoff = (now if now is not None else time.time()) - retention_days * 86400
        deleted = []
        for path in sorted(self.directory.glob("*.wav")):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    deleted.append(path.stem)
            except OSError:
                continue  # gone meanwhile, or not ours to delete: the next round tries again
        return deleted

    def free_share(self) -> float:
        """The share of the recordings' disk still free (1.0 when the directory is not there yet)."""
        try:
            usage = shutil.disk_usage(self.directory)
        except OSError:
            return 1.0
        return usage.free / usage.total if usage.total else 1.0

    def low_disk(self) -> bool:
        return self.free_share() < LOW_DISK_SHARE
