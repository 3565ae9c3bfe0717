"""The console's own records in SQLite (``var/console.sqlite3``): sessions, positions and the audit log.

- sessions: who is logged in to the console; the cookie holds a random token, the table only its
  SHA-256, so a copy of the file cannot be used to log in.
- positions: what each operator asked Asterisk for (in their queues or not, paused and why); after an
  Asterisk restart forgets its dynamic members, the service logs them in again from here, so nobody
  is silently logged out.
- calls_in_hand: each operator's call (the screen pop, its phase, the outcome given), so a restart
  of our service does not take the caller's context from an operator who is still talking to them.
- audit: who did what when (logins, pauses, outcomes, edits). Append-only: the web has no route that
  changes or deletes a row, and this class has no method that does.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    token_hash  TEXT PRIMARY KEY,
    operator    TEXT NOT NULL,
    csrf        TEXT NOT NULL,
    created     REAL NOT NULL,   -- Unix seconds
    last_seen   REAL NOT NULL,
    expires     REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_operator ON sessions (operator);
CREATE TABLE IF NOT EXISTS positions (
    operator      TEXT PRIMARY KEY,
    logged_in     INTEGER NOT NULL,
    paused_reason TEXT NOT NULL DEFAULT '',
    changed       REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS calls_in_hand (
    operator  TEXT PRIMARY KEY,
    call      TEXT NOT NULL,     -- JSON: the screen pop and its phase (ivr.operators.pop.CallInHand)
    updated   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      TEXT NOT NULL,     -- ISO 8601, UTC
    actor   TEXT NOT NULL,     -- operator id, or '' for the service itself
    action  TEXT NOT NULL,     -- login | login_failed | logout | state | outcome | ...
    detail  TEXT NOT NULL      -- JSON object
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


# How often a live session's last_seen is written (idle timeouts are counted in tens of minutes).
TOUCH_EVERY = 60.0


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    operator: str
    csrf: str
    created: float
    expires: float


@dataclass(frozen=True)
class Position:
    operator: str
    logged_in: bool
    paused_reason: str = ""


class ConsoleStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        os.chmod(path, 0o600)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL with NORMAL: no fsync per statement (a power cut may lose the last seconds of console
        # state, never corrupt it); these writes run on the loop that also carries the calls.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    # Sessions
    def add_session(self, token: str, operator: str, csrf: str, now: float, lifetime: float) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO sessions (token_hash, operator, csrf, created, last_seen, expires) VALUES (?,?,?,?,?,?)",
                (token_hash(token), operator, csrf, now, now, now + lifetime),
            )

    def session(self, token: str, now: float, idle: float) -> Session | None:
        """The live session for ``token``; seen now, so an active shift never times out mid-call."""
        key = token_hash(token)
        with self._lock:
            row = self._db.execute(
                "SELECT operator, csrf, created, last_seen, expires FROM sessions WHERE token_hash = ?", (key,)
            ).fetchone()
            if row is None:
                return None
            operator, csrf, created, last_seen, expires = row
            if now >= expires or now - last_seen >= idle:
                return None  # left for expire_sessions: it names the operator, who must leave the queues
            if now - last_seen >= TOUCH_EVERY:  # a write a minute per session, not one per request
                self._db.execute("UPDATE sessions SET last_seen = ? WHERE token_hash = ?", (now, key))
        return Session(operator, csrf, created, expires)

    def end_sessions_of(self, operator: str) -> int:
        """Every session of ``operator`` (a new password, or taken out of the roster)."""
        with self._lock:
            cursor = self._db.execute("DELETE FROM sessions WHERE operator = ?", (operator,))
        return cursor.rowcount

    def end_session(self, token: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash(token),))

    def operators_with_sessions(self, now: float, idle: float) -> set[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT operator FROM sessions WHERE expires > ? AND last_seen > ?", (now, now - idle)
            ).fetchall()
        return {operator for (operator,) in rows}

    def expire_sessions(self, now: float, idle: float) -> list[str]:
        """Drop dead sessions; returns the operators who lost their last one."""
        with self._lock:
            dead = self._db.execute(
                "SELECT DISTINCT operator FROM sessions WHERE expires <= ? OR last_seen <= ?", (now, now - idle)
            ).fetchall()
            self._db.execute("DELETE FROM sessions WHERE expires <= ? OR last_seen <= ?", (now, now - idle))
            alive = {operator for (operator,) in self._db.execute("SELECT DISTINCT operator FROM sessions").fetchall()}
        return sorted({operator for (operator,) in dead} - alive)

    # Positions
    def set_position(self, position: Position, now: float) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO positions (operator, logged_in, paused_reason, changed) VALUES (?,?,?,?) "
                "ON CONFLICT(operator) DO UPDATE SET logged_in = excluded.logged_in, "
                "paused_reason = excluded.paused_reason, changed = excluded.changed",
                (position.operator, int(position.logged_in), position.paused_reason, now),
            )

    def positions(self) -> dict[str, Position]:
        with self._lock:
            rows = self._db.execute("SELECT operator, logged_in, paused_reason FROM positions").fetchall()
        return {operator: Position(operator, bool(logged_in), reason) for operator, logged_in, reason in rows}

    # Calls in hand
    def save_call(self, operator: str, call: Mapping[str, Any] | None, now: float) -> None:
        with self._lock:
            if call is None:
                self._db.execute("DELETE FROM calls_in_hand WHERE operator = ?", (operator,))
                return
            self._db.execute(
                "INSERT INTO calls_in_hand (operator, call, updated) VALUES (?,?,?) "
                "ON CONFLICT(operator) DO UPDATE SET call = excluded.call, updated = excluded.updated",
                (operator, json.dumps(dict(call), ensure_ascii=False), now),
            )

    def calls_in_hand(self, since: float) -> dict[str, dict[str, Any]]:
        """Calls saved after ``since`` (older ones are long over), by operator."""
        with self._lock:
            rows = self._db.execute("SELECT operator, call FROM calls_in_hand WHERE updated > ?", (since,)).fetchall()
        return {operator: json.loads(call) for operator, call in rows}

    # Audit
    def audit(self, actor: str, action: str, detail: Mapping[str, Any] | None = None) -> None:
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        with self._lock:
            self._db.execute(
                "INSERT INTO audit (at, actor, action, detail) VALUES (?,?,?,?)",
                (at, actor, action, json.dumps(dict(detail or {}), sort_keys=True, ensure_ascii=False)),
            )

    def audit_log(self, limit: int = 200) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT at, actor, action, detail FROM audit ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [
            {"at": at, "actor": actor, "action": action, "detail": json.loads(detail)}
            for at, actor, action, detail in rows
        ]

    def close(self) -> None:
        with self._lock:
            self._db.close()
