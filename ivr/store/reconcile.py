"""Every call that reached Asterisk ends up in our store, with its real outcome.

Reads what Asterisk itself wrote (``log/queue_log``, ``log/cdr-csv/Master.csv``) from where it
stopped last time, and folds it into the store: how each call's queue visit ended (answered, after
how long, by whom; abandoned) and calls our service never saw. At start it reads both files whole,
so a restart of our service, or a time it was down, loses nothing. Both updates are idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from ivr.store.asterisk_records import QueueVisit, Routed, fold_queue_log, fold_routes, parse_cdr_rows
from ivr.store.calls import CallStore

log = structlog.get_logger("ivr.store")

UNAPPLIED_FOR = timedelta(days=1)


@dataclass
class _Tail:
    """New complete lines of a file that Asterisk appends to (and a logrotate may truncate/replace)."""

    path: Path
    offset: int = 0
    inode: int = 0

    def read_new(self) -> list[str]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []
        if stat.st_ino != self.inode or stat.st_size < self.offset:
            self.inode, self.offset = stat.st_ino, 0  # rotated: the new file from its start
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        end = data.rfind(b"\n") + 1  # a line Asterisk is still writing waits for the next round
        self.offset += end
        return data[:end].decode("utf-8", errors="replace").splitlines()


@dataclass(frozen=True)
class SyncResult:
    visits_applied: int = 0
    unseen_added: int = 0


@dataclass
class AsteriskRecords:
    store: CallStore
    log_dir: Path
    visits: dict[str, QueueVisit] = field(default_factory=dict)
    # The route the dialplan took, for a call whose record our service could not write (it died while
    # Asterisk read the last menu's key, or the last line routed it): its category is not lost.
    routes: dict[str, Routed] = field(default_factory=dict)
    # Queue visits of calls that have no row yet (our record is spooled, or the CDR is not written
    # until the call ends): applied as soon as the row exists, forgotten after a day.
    _unapplied: set[str] = field(default_factory=set)
    _queue_log: _Tail = field(init=False)
    _cdr: _Tail = field(init=False)

    def __post_init__(self) -> None:
        self._queue_log = _Tail(self.log_dir / "queue_log")
        self._cdr = _Tail(self.log_dir / "cdr-csv" / "Master.csv")

    def reread(self) -> None:
        """Start both files over (after a failed round: every update is idempotent)."""
        self._queue_log.offset = self._cdr.offset = 0

    def sync(self, now: datetime | None = None) -> SyncResult:
        """One round (blocking file and database I/O: run it in a worker thread)."""
        before = dict(self.visits)
        lines = self._queue_log.read_new()
        fold_queue_log(lines, self.visits)
        fold_routes(lines, self.routes)
        self._unapplied.update(callid for callid, visit in self.visits.items() if before.get(callid) != visit)
        added = 0
        for row in parse_cdr_rows(self._cdr.read_new()):
            added += self.store.add_unseen_call(row, self.visits.get(row.uniqueid), self.routes.get(row.uniqueid))
        applied = 0
        stale = (now or datetime.now(UTC)) - UNAPPLIED_FOR
        for callid in sorted(self._unapplied):
            visit = self.visits[callid]
            if self.store.apply_queue_visit(visit):
                applied += 1
                self._unapplied.discard(callid)
            elif visit.entered_at < stale:
                self._unapplied.discard(callid)
        # Visits stay in memory only while they may still change: a day, then they are history.
        for callid in [c for c, visit in self.visits.items() if visit.entered_at < stale and c not in self._unapplied]:
            del self.visits[callid]
        for callid in [c for c, route in self.routes.items() if route.at < stale]:
            del self.routes[callid]
        if added:
            log.warning(
                "calls_rebuilt_from_asterisk_records",
                added=added,
                note="our service has no record of these calls; the dialplan queued them itself",
            )
        return SyncResult(applied, added)
