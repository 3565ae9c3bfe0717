"""Duties that only one ``ivr serve`` may do at a time, and which instance does them.

Two instances serve side by side: both take FastAGI calls and consoles. A few duties would conflict
if both did them (``ivr.app`` names them): the holder of a lease does them, the other polls and takes
over when the holder dies. The lease is a lock that the kernel or the database frees by itself when
its holder dies, SIGKILL included, so no protocol of ours decides who is alive:

- with PostgreSQL (instances on one or several hosts): a session-level advisory lock
  (``pg_try_advisory_lock``) held on a connection of its own. The server frees it when that session
  ends: at once when the holder's process dies, within about ``KEEPALIVE_SECONDS`` when its host
  vanishes (TCP keepalives on that session);
- with SQLite (instances on one host): ``flock`` on ``var/duties.lock``; the kernel frees it when the
  holder's last descriptor closes, i.e. when the process dies.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, Protocol

import structlog

from ivr.store.db import MIGRATION_LOCK, Target

log = structlog.get_logger("ivr.store")

# The advisory lock's key (beside the migrations' ``MIGRATION_LOCK``, 112_112).
DUTY_LOCK = MIGRATION_LOCK + 1
# How often the standby instance tries the lease, and the holder checks it still has it (seconds).
POLL_SECONDS = 1.0
# A holder whose host vanished (power, network) loses the lock after about this long: PostgreSQL's
# keepalives on the lease's session (idle 5 s, then 3 probes 2 s apart). Ignored over a unix socket,
# where the server sees a dead client at once.
KEEPALIVE_SECONDS = 11
_KEEPALIVES = "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3"

Duty = Callable[[], Coroutine[Any, Any, None]]


class Lease(Protocol):
    """Blocking calls (run them in a worker thread)."""

    def acquire(self) -> bool:
        """Take the lease if nobody holds it, without waiting; True if this instance holds it now."""
        ...

    def still_held(self) -> bool:
        """False once the lease is lost (its connection died): the duties must stop."""
        ...

    def release(self) -> None: ...


class FileLease:
    """``flock`` on a file: instances sharing one ``var/`` (one host, the SQLite store)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            # flock, not lockf: a lock of this open file (not of the process), freed when it closes.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def still_held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class PostgresLease:
    """A session advisory lock on a connection of its own (not the stores' pool: a pooled connection
    is reset and shared, and the lock must live exactly as long as this session)."""

    def __init__(self, dsn: str, key: int = DUTY_LOCK) -> None:
        self.dsn = dsn
        self.key = key
        self._connection: Any = None  # psycopg.Connection, kept between tries
        self._held = False

    def acquire(self) -> bool:
        import psycopg

        if self._held:
            return True
        try:
            if self._connection is None or self._connection.closed:
                self._connection = psycopg.connect(
                    self.dsn, autocommit=True, connect_timeout=5, options=_KEEPALIVES, application_name="siaga-duties"
                )
            row = self._connection.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        except psycopg.Error as error:
            log.warning("duty_lease_unreachable", error=str(error))
            self._drop()
            return False
        self._held = bool(row and row[0])
        return self._held

    def still_held(self) -> bool:
        import psycopg

        if not self._held:
            return False
        try:
            # The session is alive, so its lock is ours still (a session lock ends only with the session).
            self._connection.execute("SELECT 1")
        except psycopg.Error as error:
            log.error("duty_lease_connection_lost", error=str(error))
            self._drop()
            return False
        return True

    def release(self) -> None:
        import psycopg

        if self._held:
            # Unlocked before the session ends: closing alone frees it only once the server has
            # processed the goodbye, which the standby's next try may beat.
            try:
                self._connection.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            except psycopg.Error as error:
                log.warning("duty_lease_unlock_failed", error=str(error))  # the session's end frees it
        self._drop()

    def _drop(self) -> None:
        self._held = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def lease_for(store: Target, var: Path) -> Lease:
    """The lease that fits the store: instances sharing PostgreSQL, or instances sharing ``var/``."""
    if isinstance(store, Path):
        return FileLease(var / "duties.lock")
    return PostgresLease(store)


class SingleActive:
    """Runs ``duties`` while this instance holds ``lease``; tries for it every ``poll`` seconds."""

    def __init__(self, lease: Lease, duties: Sequence[Duty], poll: float = POLL_SECONDS) -> None:
        self.lease = lease
        self.duties = duties
        self.poll = poll
        self.active = False  # this instance holds the lease, and its duties run
        self._running: list[asyncio.Task[None]] = []

    async def run(self) -> None:
        try:
            while True:
                if not self.active:
                    if await asyncio.to_thread(self.lease.acquire):
                        self._start()
                elif not await asyncio.to_thread(self.lease.still_held):
                    await self._stop()
                    await asyncio.to_thread(self.lease.release)
                    log.error("duties_lost", note="the other instance takes them over")
                await asyncio.sleep(self.poll)
        finally:
            await self._stop()
            await asyncio.to_thread(self.lease.release)

    def _start(self) -> None:
        self.active = True
        self._running = [asyncio.get_running_loop().create_task(duty()) for duty in self.duties]
        log.info("duties_taken", pid=os.getpid(), host=socket.gethostname(), duties=len(self._running))

    async def _stop(self) -> None:
        self.active = False
        running, self._running = self._running, []
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
