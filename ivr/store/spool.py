"""Call records survive a store outage: a bounded spool in memory, written in order once the store works.

A broken disk or a locked database may cost history and, past the spool's bound, the oldest records;
it never costs a caller the menu or the route, and it is never silent: ``health()`` feeds /healthz
and every change of state is one log line.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import structlog

from ivr.routing.triage import CallerHistory, Flag
from ivr.store.calls import IvrRecord

log = structlog.get_logger("ivr.store")

# About a week of this line's traffic (85 to 150 calls a day) at a few hundred bytes each.
SPOOL_LIMIT = 10_000
# The last routed calls, in memory: a screen pop must not wait for the store's writer.
RECENT_LIMIT = 500


@dataclass(frozen=True)
class StoreHealth:
    healthy: bool
    spooled: int
    dropped: int
    last_error: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "spooled": self.spooled,
            "dropped": self.dropped,
            "last_error": self.last_error,
        }


class RecordWriter(Protocol):
    """What the spool writes to (``CallStore``): synchronous, run in a worker thread."""

    def write(self, record: IvrRecord) -> None: ...

    def history(self, caller: str, since: datetime) -> CallerHistory: ...

    def add_flag(self, caller: str, flag: Flag) -> None: ...


class SpoolingRecords:
    def __init__(
        self, store: RecordWriter, limit: int = SPOOL_LIMIT, run: Callable[..., Any] = asyncio.to_thread
    ) -> None:
        self._store = store
        self._spool: deque[IvrRecord] = deque()
        self._limit = limit
        self._dropped = 0
        self._error = ""
        self._lock = asyncio.Lock()
        self._run = run
        self._writer: asyncio.Task[int] | None = None
        self._recent: OrderedDict[str, IvrRecord] = OrderedDict()

    def recent(self, uniqueid: str) -> IvrRecord | None:
        """The record of a call routed lately, whether or not the store has it yet."""
        return self._recent.get(uniqueid)

    async def record(self, record: IvrRecord) -> None:
        """Spool the record and return at once: the write happens in a task of the spool's own, so a
        slow or locked database never holds the caller's AGI session (and the route) open."""
        if len(self._spool) >= self._limit:
            self._spool.popleft()
            self._dropped += 1
            log.error("store_spool_full_record_dropped", dropped=self._dropped, limit=self._limit)
        self._spool.append(record)
        self._recent[record.uniqueid] = record
        while len(self._recent) > RECENT_LIMIT:
            self._recent.popitem(last=False)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self.flush())

    async def settle(self) -> None:
        """Wait for the write in progress (shutdown, tests)."""
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)

    async def flush(self) -> int:
        """Write what is spooled, oldest first; stop at the first failure. Returns records written."""
        written = 0
        async with self._lock:
            while self._spool:
                try:
                    await self._run(self._store.write, self._spool[0])
                except Exception as error:
                    if not self._error:
                        log.error("store_write_failed_spooling", error=repr(error), spooled=len(self._spool))
                    self._error = repr(error)
                    return written
                self._spool.popleft()
                written += 1
            if self._error:
                log.warning("store_recovered", written=written)
                self._error = ""
        return written

    def health(self) -> StoreHealth:
        return StoreHealth(not self._error, len(self._spool), self._dropped, self._error)

    def history(self, caller: str, since: datetime) -> CallerHistory:
        return self._store.history(caller, since)

    def add_flag(self, caller: str, flag: Flag) -> None:
        self._store.add_flag(caller, flag)
