"""A store that fails: records wait in a bounded spool and are written in order once it works; a
corrupt file is moved aside at start instead of keeping the service (and the menu) down."""

from __future__ import annotations

import asyncio
import stat
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from ivr.routing.triage import CallerHistory, Flag
from ivr.store.calls import CallStore, IvrRecord
from ivr.store.spool import SpoolingRecords


def given_record(uniqueid: str) -> IvrRecord:
    return IvrRecord(
        uniqueid,
        "2026-12-02T03:00:00+00:00",
        "0812",
        "Warga",
        "siaga112",
        "11",
        "id",
        "selected",
        "kebakaran",
        "q-damkar",
        9,
        "routed",
        4.2,
    )


@dataclass
class FlakyWriter:
    failing: bool = True
    written: list[str] = field(default_factory=list)

    def write(self, record: IvrRecord) -> None:
        if self.failing:
            raise OSError("disk I/O error")
        self.written.append(record.uniqueid)

    def history(self, caller: str, since: datetime) -> CallerHistory:
        return CallerHistory(caller)

    def add_flag(self, caller: str, flag: Flag) -> None:
        pass


async def run_inline(function: Any, *args: Any) -> Any:
    return function(*args)


async def test_records_are_spooled_while_the_store_fails_and_written_in_order_after() -> None:
    """Three calls during an outage: health says so; when the store is back, all three land, in order."""
    writer = FlakyWriter()
    records = SpoolingRecords(writer, run=run_inline)
    with capture_logs() as logs:
        for n in range(3):
            await records.record(given_record(f"u{n}"))
            await records.settle()
    health = records.health()
    assert (health.healthy, health.spooled, health.dropped) == (False, 3, 0)
    assert "disk I/O error" in health.last_error
    assert [entry["event"] for entry in logs] == ["store_write_failed_spooling"]  # one line, not one per call
    writer.failing = False
    assert await records.flush() == 3
    assert writer.written == ["u0", "u1", "u2"]
    assert records.health().healthy and records.health().spooled == 0


async def test_the_spool_is_bounded_and_counts_what_it_dropped() -> None:
    """A long outage past the bound: the oldest records go first, and the loss is counted for /healthz."""
    writer = FlakyWriter()
    records = SpoolingRecords(writer, limit=2, run=run_inline)
    for n in range(5):
        await records.record(given_record(f"u{n}"))
        await records.settle()
    assert (records.health().spooled, records.health().dropped) == (2, 3)
    writer.failing = False
    await records.flush()
    assert writer.written == ["u3", "u4"]


def test_a_corrupt_store_file_is_moved_aside_and_a_fresh_store_starts(tmp_path: Path) -> None:
    """Garbage where the database should be: kept under a .corrupt- name; the new store works."""
    path = tmp_path / "siaga112.sqlite3"
    path.write_bytes(b"not a database " * 100)
    with capture_logs() as logs:
        store = CallStore.open(path)
    store.write(given_record("u1"))
    assert store.get("u1") is not None
    [aside] = tmp_path.glob("siaga112.sqlite3.corrupt-*")
    assert aside.read_bytes().startswith(b"not a database")
    assert [entry["event"] for entry in logs] == ["store_corrupt_moved_aside"]
    store.close()


def test_the_store_file_is_readable_by_the_service_only(tmp_path: Path) -> None:
    """Caller numbers are personal data: the database file is 0600 even under a permissive umask."""
    path = tmp_path / "siaga112.sqlite3"
    path.touch(mode=0o644)
    CallStore(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_recording_does_not_wait_for_a_slow_store() -> None:
    """A write that takes long (a locked database): record() returns at once, the write lands later."""
    writer = FlakyWriter(failing=False)
    release = asyncio.Event()

    async def slow(function: Any, *args: Any) -> Any:
        await release.wait()
        return function(*args)

    records = SpoolingRecords(writer, run=slow)
    await asyncio.wait_for(records.record(given_record("u1")), timeout=0.1)
    assert writer.written == []
    release.set()
    await records.settle()
    assert writer.written == ["u1"]
