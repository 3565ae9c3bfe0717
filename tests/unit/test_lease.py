"""The single-active duties' lease (ivr.store.lease): one holder at a time, on a file (one host) or in
PostgreSQL (shared store); a holder killed with SIGKILL frees it, and the standby takes the duties over."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ivr.store.lease import FileLease, Lease, PostgresLease, SingleActive, lease_for

REPO = Path(__file__).resolve().parents[2]


def given_lease(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[], Lease]:
    """A factory of leases on one shared thing: ``var/duties.lock``, or one PostgreSQL database."""
    if kind == "file":
        return lambda: lease_for(tmp_path / "var" / "siaga112.sqlite3", tmp_path / "var")
    dsn: str = request.getfixturevalue("postgres_dsn")
    return lambda: lease_for(dsn, tmp_path / "var")


@contextmanager
def holder_process(kind: str, target: Path | str) -> Iterator[subprocess.Popen[str]]:
    """Another process that takes the lease, says so on stdout, and holds it until killed."""
    make = f"FileLease(Path({str(target)!r}))" if kind == "file" else f"PostgresLease({target!r})"
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom ivr.store.lease import FileLease, PostgresLease\n"
        f"lease = {make}\nassert lease.acquire()\nprint('held', flush=True)\ntime.sleep(600)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        yield child
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("kind", ["file", "postgresql"])
def test_one_holder_at_a_time_and_release_hands_it_on(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two instances' leases: the first holds, the second is refused (without waiting) until the first
    releases; then the second holds it."""
    new_lease = given_lease(kind, tmp_path, request)
    first, second = new_lease(), new_lease()
    assert first.acquire() and first.still_held()
    assert not second.acquire() and not second.still_held()
    assert first.acquire(), "asking again while holding keeps it"
    first.release()
    assert second.acquire() and second.still_held()
    assert not first.acquire()
    second.release()


@pytest.mark.parametrize("kind", ["file", "postgresql"])
def test_a_holder_killed_with_sigkill_frees_the_lease_at_once(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The holder is another process: while it lives the lease is refused; SIGKILL (no clean-up of
    ours runs) frees it, and the standby gets it within a second."""
    lease = given_lease(kind, tmp_path, request)()
    target = lease.path if isinstance(lease, FileLease) else request.getfixturevalue("postgres_dsn")
    with holder_process(kind, target) as holder:
        assert not lease.acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        killed = time.monotonic()
        while not lease.acquire():
            assert time.monotonic() - killed < 1.0, "the lease outlived its holder"
            time.sleep(0.02)
    assert lease.still_held()
    lease.release()


def test_a_lost_postgres_session_is_noticed_by_its_holder(postgres_dsn: str) -> None:
    """The holder's session ended by the server (a restart, a network cut): ``still_held`` says so, and
    the lease is free for the other instance."""
    import psycopg

    holder, standby = PostgresLease(postgres_dsn), PostgresLease(postgres_dsn)
    assert holder.acquire()
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'siaga-duties'")
    assert not holder.still_held()
    assert standby.acquire()
    standby.release()


class Recorder:
    """Duties that count their starts and note whether they are running."""

    def __init__(self) -> None:
        self.starts = 0
        self.running = 0

    async def duty(self) -> None:
        self.starts += 1
        self.running += 1
        try:
            await asyncio.Event().wait()
        finally:
            self.running -= 1


async def until(check: Callable[[], bool], timeout: float = 3.0) -> float:
    """Seconds until ``check`` holds; fails at the deadline."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, "condition not met in time"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_the_standby_takes_the_duties_over_when_the_holder_stops(tmp_path: Path) -> None:
    """Two instances on one host: only the first runs the duties; when it stops, the second starts
    them within its poll interval, and the first's duties are no longer running."""
    path = tmp_path / "var" / "duties.lock"
    first, second = Recorder(), Recorder()
    a = SingleActive(FileLease(path), [first.duty], poll=0.05)
    b = SingleActive(FileLease(path), [second.duty], poll=0.05)
    running_a = asyncio.create_task(a.run())
    await until(lambda: first.running == 1)
    running_b = asyncio.create_task(b.run())
    await asyncio.sleep(0.2)  # several of b's polls: it must stay standby while a holds the lease
    assert (a.active, b.active, second.starts) == (True, False, 0)
    running_a.cancel()
    await asyncio.gather(running_a, return_exceptions=True)
    assert (first.running, a.active) == (0, False)
    took = await until(lambda: second.running == 1)
    assert b.active and took < 0.5
    running_b.cancel()
    await asyncio.gather(running_b, return_exceptions=True)


class LosingLease(FileLease):
    """A lease whose connection dies after it was taken (``still_held`` turns False)."""

    lost = False

    def acquire(self) -> bool:
        return not self.lost and super().acquire()

    def still_held(self) -> bool:
        return not self.lost and super().still_held()


async def test_a_holder_that_loses_its_lease_stops_its_duties(tmp_path: Path) -> None:
    """``still_held`` False (the lease's session died while the process lives): the duties stop, so
    two instances never both run them for longer than one poll; the lease is then tried again."""
    recorder = Recorder()
    lease = LosingLease(tmp_path / "duties.lock")
    single = SingleActive(lease, [recorder.duty], poll=0.05)
    running = asyncio.create_task(single.run())
    await until(lambda: recorder.running == 1)
    lease.lost = True
    await until(lambda: recorder.running == 0 and not single.active)
    await asyncio.sleep(0.2)  # several polls: tried again, refused, the duties stay stopped
    assert (recorder.starts, recorder.running, single.active) == (1, 0, False)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
