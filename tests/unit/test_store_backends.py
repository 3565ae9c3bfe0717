"""The stores on a shared database, as two ``ivr serve`` on one PostgreSQL use them: each instance sees
the other's writes at once, racing writers settle in the database, migrations run once; and a SQLite
file of the release before versioned migrations opens with its data."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.incidents import IncidentConflict
from ivr.routing.triage import Flag
from ivr.settings import Settings
from ivr.store.calls import CallStore, IvrRecord
from ivr.store.console import ConsoleStore
from ivr.store.db import Target, connect
from ivr.store.incidents import CLAIM_HOLD, IncidentStore

T0 = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
# Quotes, placeholders and percent signs in a value: bound parameters carry them through untouched.
AWKWARD_NAME = "Bu 'Ani' 50% ? %s --"


def given_record(uniqueid: str, at: datetime) -> IvrRecord:
    return IvrRecord(
        uniqueid, at.isoformat(), "0812", AWKWARD_NAME, "siaga112", "", "id", "silence", "", "q112", 5, "routed", 3.0
    )


def test_a_number_flagged_on_one_service_is_flagged_on_the_other(store_target: Target) -> None:
    """Service A records pranks and flags the number; service B's next lookup has them, and back."""
    service_a, service_b = CallStore(store_target), CallStore(store_target)
    for n in range(3):
        service_a.write(given_record(f"u{n}", T0 + timedelta(minutes=n)))
        assert service_a.set_disposition(f"u{n}", "prank")
    service_a.add_flag("0812", Flag(1, T0, T0 + timedelta(hours=24), "3 prank"))
    seen_by_b = service_b.history("0812", T0 - timedelta(days=1))
    assert [kind for _at, kind in seen_by_b.dispositions] == ["prank"] * 3
    assert seen_by_b.flags == [Flag(1, T0, T0 + timedelta(hours=24), "3 prank")]
    assert service_b.set_disposition("u2", "genuine")
    record = service_a.get("u2")
    assert record is not None and (record["disposition"], record["caller_name"]) == ("genuine", AWKWARD_NAME)
    service_a.close()
    service_b.close()


def test_simultaneous_status_changes_from_two_services_each_start_where_the_last_ended(store_target: Target) -> None:
    """Four operators dispatch and four close one incident at the same moment, on two services: every close
    lands, a dispatch only before the close, and the trail is one chain from open to closed (no step from a
    status that was already gone)."""
    service_a, service_b = IncidentStore(store_target), IncidentStore(store_target)
    incident = service_a.open("budi", {})
    start = threading.Barrier(8)

    def change(store: IncidentStore, wanted: str) -> str:
        start.wait()
        try:
            store.update(incident.id, "op", {}, status=wanted)
        except IncidentConflict:
            return f"{wanted}: conflict"
        return f"{wanted}: done"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(change, [service_a, service_b] * 4, ["dispatched", "closed"] * 4))
    steps = [event["detail"] for event in service_b.events(incident.id) if event["action"] == "status"]
    assert steps in (
        [{"from": "open", "to": "closed"}],
        [{"from": "open", "to": "dispatched"}, {"from": "dispatched", "to": "closed"}],
    )
    assert outcomes.count("closed: done") == 4
    dispatched = outcomes.count("dispatched: done")
    assert (dispatched > 0) == (len(steps) == 2) and dispatched + outcomes.count("dispatched: conflict") == 4
    assert service_a.get(incident.id).status == "closed"
    service_a.close()
    service_b.close()


def test_of_operators_on_two_services_claiming_one_callback_one_rings(store_target: Target) -> None:
    """Eight operators on two services press 'call' on one callback at once: all are told the same one
    holds it. Released, another may take it; a claim nobody reports back on lapses after CLAIM_HOLD."""
    service_a, service_b = IncidentStore(store_target), IncidentStore(store_target)
    start = threading.Barrier(8)

    def claim(store: IncidentStore, operator: str) -> str:
        start.wait()
        return store.claim_callback("1700.5", operator)

    operators = [f"op{n}" for n in range(8)]
    with ThreadPoolExecutor(8) as pool:
        holders = set(pool.map(claim, [service_a, service_b] * 4, operators))
    [winner] = holders
    assert winner in operators
    service_b.release_callback("1700.5", winner)
    assert service_a.claim_callback("1700.5", "ani", T0) == "ani"
    assert service_b.claim_callback("1700.5", "budi", T0 + CLAIM_HOLD - timedelta(seconds=1)) == "ani"
    assert service_b.claim_callback("1700.5", "budi", T0 + CLAIM_HOLD) == "budi"
    service_a.close()
    service_b.close()


def test_services_starting_together_apply_each_migration_once(store_target: Target) -> None:
    """Four services open every store on one new database at once: no error, one row per migration."""
    start = threading.Barrier(4)

    def open_all(_n: int) -> None:
        start.wait()
        for store in (CallStore(store_target), IncidentStore(store_target), ConsoleStore(store_target)):
            store.close()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(open_all, range(4)))
    db = connect(store_target)
    applied = db.run("SELECT component, version FROM schema_migrations ORDER BY component, version").rows
    db.close()
    incidents = 3 if isinstance(store_target, Path) else 2  # SQLite's 2: the table rebuild for link order
    calls = 3  # the lost_phones column, then reason_id
    assert applied == sorted(
        [*[("calls", n + 1) for n in range(calls)], ("console", 1), *[("incidents", n + 1) for n in range(incidents)]]
    )


# The schema of the release before versioned migrations, as its files are on disk.
PREVIOUS_RELEASE = """
CREATE TABLE calls (uniqueid TEXT PRIMARY KEY, started_at TEXT NOT NULL, caller TEXT NOT NULL,
    caller_name TEXT NOT NULL, flow TEXT NOT NULL, keys TEXT NOT NULL, language TEXT NOT NULL,
    nodes TEXT NOT NULL, flags TEXT NOT NULL, exit TEXT NOT NULL, category TEXT NOT NULL, queue TEXT NOT NULL,
    priority INTEGER NOT NULL, outcome TEXT NOT NULL, ivr_seconds REAL NOT NULL);
CREATE TABLE prank_flags (caller TEXT NOT NULL, level INTEGER NOT NULL, started TEXT NOT NULL,
    until TEXT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE incidents (id INTEGER PRIMARY KEY AUTOINCREMENT, status TEXT NOT NULL, opened_at TEXT NOT NULL,
    opened_by TEXT NOT NULL, kecamatan TEXT NOT NULL DEFAULT '', address TEXT NOT NULL DEFAULT '',
    landmark TEXT NOT NULL DEFAULT '', what TEXT NOT NULL DEFAULT '', victims INTEGER,
    category TEXT NOT NULL DEFAULT '', agencies TEXT NOT NULL DEFAULT '[]', checklist TEXT NOT NULL DEFAULT '[]',
    closing_note TEXT NOT NULL DEFAULT '', closed_at TEXT NOT NULL DEFAULT '', closed_by TEXT NOT NULL DEFAULT '');
CREATE TABLE incident_calls (incident_id INTEGER NOT NULL REFERENCES incidents (id), uniqueid TEXT NOT NULL,
    linked_at TEXT NOT NULL, linked_by TEXT NOT NULL, PRIMARY KEY (incident_id, uniqueid));
CREATE INDEX incident_calls_uniqueid ON incident_calls (uniqueid);
INSERT INTO calls VALUES ('1700.1', '2026-11-30T10:00:00+00:00', '0812', 'Warga', 'siaga112', '1', 'id', '[]',
    '[]', 'selected', 'kebakaran', 'q-damkar', 9, 'routed', 4.2);
INSERT INTO incidents (status, opened_at, opened_by) VALUES ('open', '2026-11-30T10:01:00+00:00', 'budi');
INSERT INTO incident_calls VALUES (1, '1700.9', '2026-11-30T10:01:00+00:00', 'budi');
INSERT INTO incident_calls VALUES (1, '1700.10', '2026-11-30T10:02:00+00:00', 'siti');
"""


def test_a_sqlite_file_of_the_previous_release_keeps_its_calls_and_incidents(tmp_path: Path) -> None:
    """Opened by this release: the old call has the new columns (empty), the incident its calls in link order
    (not text order: 1700.10 sorts before 1700.9), and a new link goes last."""
    path = tmp_path / "siaga112.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(PREVIOUS_RELEASE)
    old.close()
    calls, incidents = CallStore(path), IncidentStore(path)
    call = calls.get("1700.1")
    assert call is not None and (call["category"], call["queue_outcome"], call["disposition"]) == ("kebakaran", "", "")
    assert incidents.link_call(1, "1700.11", "ani").calls == ("1700.9", "1700.10", "1700.11")
    calls.close()
    incidents.close()


def test_one_sql_text_runs_on_both_backends_with_a_literal_percent(store_target: Target) -> None:
    """The stores' SQL is written once with ? placeholders; a % in the SQL text stays a literal on PostgreSQL."""
    db = connect(store_target)
    assert db.run("SELECT '100%', ?", ("x",)).rows == [("100%", "x")]
    db.close()


def test_ivr_store_dsn_puts_every_store_in_postgresql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset: the two SQLite files under var/; set: the one PostgreSQL database for all stores."""
    monkeypatch.delenv("IVR_STORE_DSN", raising=False)
    files = Settings.load(tmp_path)
    assert (files.store_target, files.console_store_target) == (files.store_file, files.console_store_file)
    monkeypatch.setenv("IVR_STORE_DSN", " postgresql://siaga@db.example/siaga112 ")
    shared = Settings.load(tmp_path)
    assert shared.store_target == shared.console_store_target == "postgresql://siaga@db.example/siaga112"
