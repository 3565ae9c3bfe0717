"""Incidents in SQLite, beside the call records (``var/siaga112.sqlite3``): one row per incident,
its calls, and every change as an append-only event (who, what, when); and each callback attempt.

Every statement is parameterised; field names come from ``ivr.incidents`` (constants), never input.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ivr.incidents import CLOSED, OPEN, TEXT_LIMITS, Incident, IncidentConflict, check_transition
from ivr.incidents.callbacks import Attempt

SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    status       TEXT NOT NULL,
    opened_at    TEXT NOT NULL,
    opened_by    TEXT NOT NULL,
    kecamatan    TEXT NOT NULL DEFAULT '',
    address      TEXT NOT NULL DEFAULT '',
    landmark     TEXT NOT NULL DEFAULT '',
    what         TEXT NOT NULL DEFAULT '',
    victims      INTEGER,
    category     TEXT NOT NULL DEFAULT '',
    agencies     TEXT NOT NULL DEFAULT '[]',
    checklist    TEXT NOT NULL DEFAULT '[]',
    closing_note TEXT NOT NULL DEFAULT '',
    closed_at    TEXT NOT NULL DEFAULT '',
    closed_by    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS incidents_status ON incidents (status, opened_at);
CREATE TABLE IF NOT EXISTS incident_calls (
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    uniqueid    TEXT NOT NULL,
    linked_at   TEXT NOT NULL,
    linked_by   TEXT NOT NULL,
    PRIMARY KEY (incident_id, uniqueid)
);
CREATE INDEX IF NOT EXISTS incident_calls_uniqueid ON incident_calls (uniqueid);
CREATE TABLE IF NOT EXISTS callback_attempts (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    uniqueid  TEXT NOT NULL,     -- the call being returned
    at        TEXT NOT NULL,
    operator  TEXT NOT NULL,
    result    TEXT NOT NULL,     -- dialing | reached | no_answer | busy | wrong_number | not_needed
    note      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS callback_attempts_uniqueid ON callback_attempts (uniqueid);
CREATE TABLE IF NOT EXISTS incident_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,   -- opened | updated | status | call_linked
    detail      TEXT NOT NULL    -- JSON
);
CREATE TRIGGER IF NOT EXISTS incident_events_no_update BEFORE UPDATE ON incident_events
BEGIN SELECT RAISE(ABORT, 'incident events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS incident_events_no_delete BEFORE DELETE ON incident_events
BEGIN SELECT RAISE(ABORT, 'incident events are append-only'); END;
"""
# Columns an update may set (constants: the SQL is built from these names only).
EDITABLE = ("kecamatan", *TEXT_LIMITS, "victims", "category", "agencies", "checklist")
JSON_COLUMNS = ("agencies", "checklist")


class UnknownIncident(LookupError):
    code = "unknown_incident"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class IncidentStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def open(self, actor: str, fields: Mapping[str, Any], uniqueid: str = "") -> Incident:
        """A new incident (status open) with ``fields`` (checked by ``ivr.incidents.clean_fields``)."""
        at = _now()
        columns = [name for name in EDITABLE if name in fields]
        values = [_column_value(name, fields[name]) for name in columns]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                cursor = self._db.execute(
                    f"INSERT INTO incidents (status, opened_at, opened_by{''.join(', ' + c for c in columns)}) "
                    f"VALUES (?, ?, ?{', ?' * len(columns)})",
                    (OPEN, at, actor, *values),
                )
                incident_id = int(cursor.lastrowid or 0)
                self._event(incident_id, actor, "opened", dict(fields), at)
                if uniqueid:
                    self._link(incident_id, uniqueid, actor, at)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return self.get(incident_id)

    def update(self, incident_id: int, actor: str, fields: Mapping[str, Any], status: str | None = None) -> Incident:
        current = self.get(incident_id)
        at = _now()
        columns = [name for name in EDITABLE if name in fields]
        values = [_column_value(name, fields[name]) for name in columns]
        if current.status == CLOSED and columns:
            raise IncidentConflict("a closed incident is not edited: open a new one and link the calls")
        if status is not None:
            check_transition(current.status, status)
        with self._lock:
            self._db.execute("BEGIN")
            try:
                if columns:
                    assignments = ", ".join(f"{name} = ?" for name in columns)
                    self._db.execute(f"UPDATE incidents SET {assignments} WHERE id = ?", (*values, incident_id))
                    self._event(incident_id, actor, "updated", dict(fields), at)
                if status is not None and status != current.status:
                    closing = (at, actor) if status == CLOSED else ("", "")
                    # Only from the status this change was checked against: two operators at once
                    # cannot reopen what one of them just closed.
                    cursor = self._db.execute(
                        "UPDATE incidents SET status = ?, closed_at = ?, closed_by = ? WHERE id = ? AND status = ?",
                        (status, *closing, incident_id, current.status),
                    )
                    if cursor.rowcount != 1:
                        raise IncidentConflict(f"incident {incident_id} changed meanwhile: reload and try again")
                    self._event(incident_id, actor, "status", {"from": current.status, "to": status}, at)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return self.get(incident_id)

    def link_call(self, incident_id: int, uniqueid: str, actor: str) -> Incident:
        """One more call about this incident (another caller reporting the same fire)."""
        incident = self.get(incident_id)
        if incident.status == CLOSED:
            raise IncidentConflict("a closed incident takes no more calls: open a new one")
        with self._lock:
            self._link(incident_id, uniqueid, actor, _now())
        return self.get(incident_id)

    def get(self, incident_id: int) -> Incident:
        with self._lock:
            cursor = self._db.execute("SELECT * FROM incidents WHERE id = ?", (incident_id,))
            row = cursor.fetchone()
            names = [column[0] for column in cursor.description]
            calls = self._db.execute(
                "SELECT uniqueid FROM incident_calls WHERE incident_id = ? ORDER BY rowid", (incident_id,)
            ).fetchall()
        if row is None:
            raise UnknownIncident(f"no incident {incident_id}")
        return _incident(dict(zip(names, row, strict=True)), tuple(uniqueid for (uniqueid,) in calls))

    def listing(self, statuses: tuple[str, ...] = (OPEN,), limit: int = 100) -> list[Incident]:
        with self._lock:
            ids = self._db.execute(
                f"SELECT id FROM incidents WHERE status IN ({', '.join('?' * len(statuses))}) "
                "ORDER BY opened_at DESC, id DESC LIMIT ?",
                (*statuses, limit),
            ).fetchall()
        return [self.get(incident_id) for (incident_id,) in ids]

    def summaries_of_call(self, uniqueid: str) -> list[dict[str, Any]]:
        """The incidents a call is linked to, as a screen pop shows them."""
        return [
            {key: value for key, value in self.get(incident_id).as_json().items() if key != "checklist"}
            for incident_id in self.of_call(uniqueid)
        ]

    def of_call(self, uniqueid: str) -> list[int]:
        with self._lock:
            rows = self._db.execute("SELECT incident_id FROM incident_calls WHERE uniqueid = ?", (uniqueid,)).fetchall()
        return [incident_id for (incident_id,) in rows]

    def events(self, incident_id: int) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT at, actor, action, detail FROM incident_events WHERE incident_id = ? ORDER BY id",
                (incident_id,),
            ).fetchall()
        return [
            {"at": at, "actor": actor, "action": action, "detail": json.loads(detail)}
            for at, actor, action, detail in rows
        ]

    def add_attempt(self, uniqueid: str, operator: str, result: str, note: str = "") -> None:
        """One callback attempt or its result (the callback list reads them back)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO callback_attempts (uniqueid, at, operator, result, note) VALUES (?, ?, ?, ?, ?)",
                (uniqueid, _now(), operator, result, note),
            )

    def attempts(self, uniqueids: list[str]) -> dict[str, list[Attempt]]:
        found: dict[str, list[Attempt]] = {}
        with self._lock:
            for start in range(0, len(uniqueids), 500):  # SQLite's bound on parameters
                chunk = uniqueids[start : start + 500]
                rows = self._db.execute(
                    "SELECT uniqueid, at, operator, result, note FROM callback_attempts "
                    f"WHERE uniqueid IN ({', '.join('?' * len(chunk))}) ORDER BY id",
                    chunk,
                ).fetchall()
                for uniqueid, at, operator, result, note in rows:
                    found.setdefault(uniqueid, []).append(Attempt(at, operator, result, note))
        return found

    def _link(self, incident_id: int, uniqueid: str, actor: str, at: str) -> None:
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO incident_calls (incident_id, uniqueid, linked_at, linked_by) VALUES (?, ?, ?, ?)",
            (incident_id, uniqueid, at, actor),
        )
        if cursor.rowcount:
            self._event(incident_id, actor, "call_linked", {"uniqueid": uniqueid}, at)

    def _event(self, incident_id: int, actor: str, action: str, detail: dict[str, Any], at: str) -> None:
        self._db.execute(
            "INSERT INTO incident_events (incident_id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
            (incident_id, at, actor, action, json.dumps(detail, ensure_ascii=False, default=list)),
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _column_value(name: str, value: Any) -> Any:
    return json.dumps(list(value), ensure_ascii=False) if name in JSON_COLUMNS else value


def _incident(row: dict[str, Any], calls: tuple[str, ...]) -> Incident:
    return Incident(
        id=row["id"],
        status=row["status"],
        opened_at=row["opened_at"],
        opened_by=row["opened_by"],
        kecamatan=row["kecamatan"],
        address=row["address"],
        landmark=row["landmark"],
        what=row["what"],
        victims=row["victims"],
        category=row["category"],
        agencies=tuple(json.loads(row["agencies"])),
        checklist=tuple(json.loads(row["checklist"])),
        closing_note=row["closing_note"],
        closed_at=row["closed_at"],
        closed_by=row["closed_by"],
        calls=calls,
    )
