"""Incidents, beside the call records (the same SQLite file, or the same PostgreSQL database): one row
per incident, its calls, and every change as an append-only event (who, what, when); and each
callback attempt.

Every statement is parameterised; field names come from ``ivr.incidents`` (constants), never input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ivr.incidents import CLOSED, OPEN, TEXT_LIMITS, Incident, IncidentConflict, check_transition
from ivr.incidents.callbacks import Attempt
from ivr.store.db import (
    POSTGRES_TYPES,
    SQLITE_TYPES,
    Migrations,
    Runner,
    Target,
    append_only,
    connect,
    migrate,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id           {serial},
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
CREATE TABLE IF NOT EXISTS callback_attempts (
    id        {serial},
    uniqueid  TEXT NOT NULL,     -- the call being returned
    at        TEXT NOT NULL,
    operator  TEXT NOT NULL,
    result    TEXT NOT NULL,     -- dialing | reached | no_answer | busy | wrong_number | not_needed
    note      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS callback_attempts_uniqueid ON callback_attempts (uniqueid);
CREATE TABLE IF NOT EXISTS incident_events (
    id          {serial},
    incident_id INTEGER NOT NULL,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,   -- opened | updated | status | call_linked
    detail      TEXT NOT NULL    -- JSON
);
"""
# The calls of an incident before versioned migrations: SQLite only, their order was the implicit rowid.
INCIDENT_CALLS_V1 = """
CREATE TABLE IF NOT EXISTS incident_calls (
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    uniqueid    TEXT NOT NULL,
    linked_at   TEXT NOT NULL,
    linked_by   TEXT NOT NULL,
    PRIMARY KEY (incident_id, uniqueid)
);
CREATE INDEX IF NOT EXISTS incident_calls_uniqueid ON incident_calls (uniqueid);
"""
# The calls of an incident, in the order they were linked (seq): SQLite's version 2 rebuilds the table.
INCIDENT_CALLS = """
CREATE TABLE incident_calls (
    seq         {serial},
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    uniqueid    TEXT NOT NULL,
    linked_at   TEXT NOT NULL,
    linked_by   TEXT NOT NULL,
    UNIQUE (incident_id, uniqueid)
);
CREATE INDEX incident_calls_uniqueid ON incident_calls (uniqueid);
"""
# Who is calling a number back right now: one operator at a time, so a citizen is not rung twice.
CALLBACK_CLAIMS = """
CREATE TABLE callback_claims (
    uniqueid  TEXT PRIMARY KEY,  -- the call being returned
    operator  TEXT NOT NULL,
    until     TEXT NOT NULL      -- ISO 8601, UTC: the claim lapses then (an operator who never reports back)
);
"""
EVENTS_APPEND_ONLY = "incident events are append-only"
# How long a callback stays claimed without a result: a ring to the operator and then the citizen.
CLAIM_HOLD = timedelta(minutes=3)


def _order_incident_calls(tx: Runner) -> None:
    tx.script("ALTER TABLE incident_calls RENAME TO incident_calls_v1")
    tx.script("DROP INDEX incident_calls_uniqueid")
    tx.script(INCIDENT_CALLS.format(**SQLITE_TYPES))
    tx.run(
        "INSERT INTO incident_calls (seq, incident_id, uniqueid, linked_at, linked_by) "
        "SELECT rowid, incident_id, uniqueid, linked_at, linked_by FROM incident_calls_v1 ORDER BY rowid"
    )
    tx.script("DROP TABLE incident_calls_v1")


MIGRATIONS = Migrations(
    "incidents",
    sqlite=(
        SCHEMA.format(**SQLITE_TYPES)
        + INCIDENT_CALLS_V1
        + append_only("sqlite", "incident_events", EVENTS_APPEND_ONLY),
        _order_incident_calls,
        CALLBACK_CLAIMS,
    ),
    postgresql=(
        SCHEMA.format(**POSTGRES_TYPES)
        + INCIDENT_CALLS.format(**POSTGRES_TYPES)
        + append_only("postgresql", "incident_events", EVENTS_APPEND_ONLY),
        CALLBACK_CLAIMS,
    ),
)
# Columns an update may set (constants: the SQL is built from these names only).
EDITABLE = ("kecamatan", *TEXT_LIMITS, "victims", "category", "agencies", "checklist")
JSON_COLUMNS = ("agencies", "checklist")


class UnknownIncident(LookupError):
    code = "unknown_incident"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class IncidentStore:
    def __init__(self, target: Target) -> None:
        """``target``: the SQLite file, or a PostgreSQL DSN (``ivr.store.db``)."""
        self._db = connect(target)
        migrate(self._db, MIGRATIONS)

    def open(self, actor: str, fields: Mapping[str, Any], uniqueid: str = "") -> Incident:
        """A new incident (status open) with ``fields`` (checked by ``ivr.incidents.clean_fields``)."""
        at = _now()
        columns = [name for name in EDITABLE if name in fields]
        values = [_column_value(name, fields[name]) for name in columns]
        with self._db.transaction() as tx:
            row = tx.run(
                f"INSERT INTO incidents (status, opened_at, opened_by{''.join(', ' + c for c in columns)}) "
                f"VALUES (?, ?, ?{', ?' * len(columns)}) RETURNING id",
                (OPEN, at, actor, *values),
            ).one()
            incident_id = int(row[0]) if row else 0
            _event(tx, incident_id, actor, "opened", dict(fields), at)
            if uniqueid:
                _link(tx, incident_id, uniqueid, actor, at)
        return self.get(incident_id)

    def update(self, incident_id: int, actor: str, fields: Mapping[str, Any], status: str | None = None) -> Incident:
        at = _now()
        columns = [name for name in EDITABLE if name in fields]
        values = [_column_value(name, fields[name]) for name in columns]
        with self._db.transaction() as tx:
            # Checked against the status as it is now, with the row held: of two operators (or two
            # services) changing it at once, the second sees the first one's change.
            current = _hold(tx, incident_id)
            if current == CLOSED and columns:
                raise IncidentConflict("a closed incident is not edited: open a new one and link the calls")
            if status is not None:
                check_transition(current, status)
            if columns:
                assignments = ", ".join(f"{name} = ?" for name in columns)
                tx.run(f"UPDATE incidents SET {assignments} WHERE id = ?", (*values, incident_id))
                _event(tx, incident_id, actor, "updated", dict(fields), at)
            if status is not None and status != current:
                closing = (at, actor) if status == CLOSED else ("", "")
                tx.run(
                    "UPDATE incidents SET status = ?, closed_at = ?, closed_by = ? WHERE id = ?",
                    (status, *closing, incident_id),
                )
                _event(tx, incident_id, actor, "status", {"from": current, "to": status}, at)
        return self.get(incident_id)

    def link_call(self, incident_id: int, uniqueid: str, actor: str) -> Incident:
        """One more call about this incident (another caller reporting the same fire)."""
        with self._db.transaction() as tx:
            if _hold(tx, incident_id) == CLOSED:
                raise IncidentConflict("a closed incident takes no more calls: open a new one")
            _link(tx, incident_id, uniqueid, actor, _now())
        return self.get(incident_id)

    def get(self, incident_id: int) -> Incident:
        with self._db.transaction() as tx:
            rows = tx.run("SELECT * FROM incidents WHERE id = ?", (incident_id,)).dicts()
            calls = tx.run(
                "SELECT uniqueid FROM incident_calls WHERE incident_id = ? ORDER BY seq", (incident_id,)
            ).rows
        if not rows:
            raise UnknownIncident(f"no incident {incident_id}")
        return _incident(rows[0], tuple(uniqueid for (uniqueid,) in calls))

    def listing(self, statuses: tuple[str, ...] = (OPEN,), limit: int = 100) -> list[Incident]:
        ids = self._db.run(
            f"SELECT id FROM incidents WHERE status IN ({', '.join('?' * len(statuses))}) "
            "ORDER BY opened_at DESC, id DESC LIMIT ?",
            (*statuses, limit),
        ).rows
        return [self.get(incident_id) for (incident_id,) in ids]

    def summaries_of_call(self, uniqueid: str) -> list[dict[str, Any]]:
        """The incidents a call is linked to, as a screen pop shows them."""
        return [
            {key: value for key, value in self.get(incident_id).as_json().items() if key != "checklist"}
            for incident_id in self.of_call(uniqueid)
        ]

    def of_call(self, uniqueid: str) -> list[int]:
        rows = self._db.run("SELECT incident_id FROM incident_calls WHERE uniqueid = ? ORDER BY seq", (uniqueid,)).rows
        return [incident_id for (incident_id,) in rows]

    def events(self, incident_id: int) -> list[dict[str, Any]]:
        rows = self._db.run(
            "SELECT at, actor, action, detail FROM incident_events WHERE incident_id = ? ORDER BY id",
            (incident_id,),
        ).rows
        return [
            {"at": at, "actor": actor, "action": action, "detail": json.loads(detail)}
            for at, actor, action, detail in rows
        ]

    def add_attempt(self, uniqueid: str, operator: str, result: str, note: str = "") -> None:
        """One callback attempt or its result (the callback list reads them back)."""
        self._db.run(
            "INSERT INTO callback_attempts (uniqueid, at, operator, result, note) VALUES (?, ?, ?, ?, ?)",
            (uniqueid, _now(), operator, result, note),
        )

    def claim_callback(self, uniqueid: str, operator: str, now: datetime | None = None) -> str:
        """Claim the callback of ``uniqueid`` for ``operator``, unless another operator's claim still holds;
        returns who holds it now. One statement, so of two operators (or two services) at once one wins."""
        at = now or datetime.now(UTC)
        until = (at + CLAIM_HOLD).isoformat(timespec="seconds")
        with self._db.transaction() as tx:
            won = tx.run(
                "INSERT INTO callback_claims (uniqueid, operator, until) VALUES (?, ?, ?) "
                "ON CONFLICT (uniqueid) DO UPDATE SET operator = excluded.operator, until = excluded.until "
                "WHERE callback_claims.until <= ? OR callback_claims.operator = excluded.operator RETURNING operator",
                (uniqueid, operator, until, at.isoformat(timespec="seconds")),
            ).one()
            holder = won or tx.run("SELECT operator FROM callback_claims WHERE uniqueid = ?", (uniqueid,)).one()
        return str(holder[0]) if holder else ""

    def release_callback(self, uniqueid: str, operator: str) -> None:
        """The operator is done with this callback (a result, or the ring failed): others may take it."""
        self._db.run("DELETE FROM callback_claims WHERE uniqueid = ? AND operator = ?", (uniqueid, operator))

    def attempts(self, uniqueids: list[str]) -> dict[str, list[Attempt]]:
        found: dict[str, list[Attempt]] = {}
        with self._db.transaction() as tx:
            for start in range(0, len(uniqueids), 500):  # SQLite's bound on parameters
                chunk = uniqueids[start : start + 500]
                rows = tx.run(
                    "SELECT uniqueid, at, operator, result, note FROM callback_attempts "
                    f"WHERE uniqueid IN ({', '.join('?' * len(chunk))}) ORDER BY id",
                    chunk,
                ).rows
                for uniqueid, at, operator, result, note in rows:
                    found.setdefault(uniqueid, []).append(Attempt(at, operator, result, note))
        return found

    def close(self) -> None:
        self._db.close()


def _hold(tx: Runner, incident_id: int) -> str:
    """The incident's status, its row held until the transaction ends (a write that changes nothing:
    PostgreSQL locks the row, SQLite's transaction already holds the write lock)."""
    row = tx.run("UPDATE incidents SET status = status WHERE id = ? RETURNING status", (incident_id,)).one()
    if row is None:
        raise UnknownIncident(f"no incident {incident_id}")
    return str(row[0])


def _link(tx: Runner, incident_id: int, uniqueid: str, actor: str, at: str) -> None:
    linked = tx.run(
        "INSERT INTO incident_calls (incident_id, uniqueid, linked_at, linked_by) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (incident_id, uniqueid) DO NOTHING",
        (incident_id, uniqueid, at, actor),
    )
    if linked.rowcount:
        _event(tx, incident_id, actor, "call_linked", {"uniqueid": uniqueid}, at)


def _event(tx: Runner, incident_id: int, actor: str, action: str, detail: dict[str, Any], at: str) -> None:
    tx.run(
        "INSERT INTO incident_events (incident_id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
        (incident_id, at, actor, action, json.dumps(detail, ensure_ascii=False, default=list)),
    )


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
