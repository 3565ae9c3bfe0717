"""The console's own records: sessions, positions and the audit log. In SQLite (``var/console.sqlite3``)
by default, in PostgreSQL when ``IVR_STORE_DSN`` is set (``ivr.store.db``).

- sessions: who is logged in to the console; the cookie holds a random token, the table only its
  SHA-256, so a copy of the database cannot be used to log in.
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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ivr.store.db import POSTGRES_TYPES, SQLITE_TYPES, Migrations, Target, append_only, connect, migrate

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    token_hash  TEXT PRIMARY KEY,
    operator    TEXT NOT NULL,
    csrf        TEXT NOT NULL,
    created     {real} NOT NULL,   -- Unix seconds
    last_seen   {real} NOT NULL,
    expires     {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_operator ON sessions (operator);
CREATE TABLE IF NOT EXISTS positions (
    operator      TEXT PRIMARY KEY,
    logged_in     INTEGER NOT NULL,
    paused_reason TEXT NOT NULL DEFAULT '',
    changed       {real} NOT NULL
);
CREATE TABLE IF NOT EXISTS calls_in_hand (
    operator  TEXT PRIMARY KEY,
    call      TEXT NOT NULL,     -- JSON: the screen pop and its phase (ivr.operators.pop.CallInHand)
    updated   {real} NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id      {serial},
    at      TEXT NOT NULL,     -- ISO 8601, UTC
    actor   TEXT NOT NULL,     -- operator id, or '' for the service itself
    action  TEXT NOT NULL,     -- login | login_failed | logout | state | outcome | ...
    detail  TEXT NOT NULL      -- JSON object
);
"""
AUDIT_APPEND_ONLY = "the audit log is append-only"
MIGRATIONS = Migrations(
    "console",
    sqlite=(SCHEMA.format(**SQLITE_TYPES) + append_only("sqlite", "audit", AUDIT_APPEND_ONLY),),
    postgresql=(SCHEMA.format(**POSTGRES_TYPES) + append_only("postgresql", "audit", AUDIT_APPEND_ONLY),),
)


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
    def __init__(self, target: Target) -> None:
        """``target``: the SQLite file, or a PostgreSQL DSN (``ivr.store.db``)."""
        # relaxed_sync: these writes run on the loop that also carries the calls; a power cut may lose
        # the last seconds of console state, never corrupt it.
        self._db = connect(target, relaxed_sync=True)
        migrate(self._db, MIGRATIONS)

    # Sessions
    def add_session(self, token: str, operator: str, csrf: str, now: float, lifetime: float) -> None:
        self._db.run(
            "INSERT INTO sessions (token_hash, operator, csrf, created, last_seen, expires) VALUES (?,?,?,?,?,?)",
            (token_hash(token), operator, csrf, now, now, now + lifetime),
        )

    def session(self, token: str, now: float, idle: float) -> Session | None:
        """The live session for ``token``; seen now, so an active shift never times out mid-call."""
        key = token_hash(token)
        row = self._db.run(
            "SELECT operator, csrf, created, last_seen, expires FROM sessions WHERE token_hash = ?", (key,)
        ).one()
        if row is None:
            return None
        operator, csrf, created, last_seen, expires = row
        if now >= expires or now - last_seen >= idle:
            return None  # left for expire_sessions: it names the operator, who must leave the queues
        if now - last_seen >= TOUCH_EVERY:  # a write a minute per session, not one per request
            # Never backwards: another service may have seen the session later than this one.
            self._db.run("UPDATE sessions SET last_seen = ? WHERE token_hash = ? AND last_seen < ?", (now, key, now))
        return Session(operator, csrf, created, expires)

    def end_sessions_of(self, operator: str) -> int:
        """Every session of ``operator`` (a new password, or taken out of the roster)."""
        return self._db.run("DELETE FROM sessions WHERE operator = ?", (operator,)).rowcount

    def end_session(self, token: str) -> None:
        self._db.run("DELETE FROM sessions WHERE token_hash = ?", (token_hash(token),))

    def operators_with_sessions(self, now: float, idle: float) -> set[str]:
        rows = self._db.run(
            "SELECT DISTINCT operator FROM sessions WHERE expires > ? AND last_seen > ?", (now, now - idle)
        ).rows
        return {operator for (operator,) in rows}

    def expire_sessions(self, now: float, idle: float) -> list[str]:
        """Drop dead sessions; returns the operators who lost their last one."""
        with self._db.transaction() as tx:
            # RETURNING: exactly the rows this sweep deleted (another service's sweep gets the others).
            dead = tx.run(
                "DELETE FROM sessions WHERE expires <= ? OR last_seen <= ? RETURNING operator", (now, now - idle)
            ).rows
            alive = {operator for (operator,) in tx.run("SELECT DISTINCT operator FROM sessions").rows}
        return sorted({operator for (operator,) in dead} - alive)

    # Positions
    def set_position(self, position: Position, now: float) -> None:
        self._db.run(
            "INSERT INTO positions (operator, logged_in, paused_reason, changed) VALUES (?,?,?,?) "
            "ON CONFLICT(operator) DO UPDATE SET logged_in = excluded.logged_in, "
            "paused_reason = excluded.paused_reason, changed = excluded.changed",
            (position.operator, int(position.logged_in), position.paused_reason, now),
        )

    def positions(self) -> dict[str, Position]:
        rows = self._db.run("SELECT operator, logged_in, paused_reason FROM positions").rows
        return {operator: Position(operator, bool(logged_in), reason) for operator, logged_in, reason in rows}

    # Calls in hand
    def save_call(self, operator: str, call: Mapping[str, Any] | None, now: float) -> None:
        if call is None:
            self._db.run("DELETE FROM calls_in_hand WHERE operator = ?", (operator,))
            return
        self._db.run(
            "INSERT INTO calls_in_hand (operator, call, updated) VALUES (?,?,?) "
            "ON CONFLICT(operator) DO UPDATE SET call = excluded.call, updated = excluded.updated",
            (operator, json.dumps(dict(call), ensure_ascii=False), now),
        )

    def calls_in_hand(self, since: float) -> dict[str, dict[str, Any]]:
        """Calls saved after ``since`` (older ones are long over), by operator."""
        rows = self._db.run("SELECT operator, call FROM calls_in_hand WHERE updated > ?", (since,)).rows
        return {operator: json.loads(call) for operator, call in rows}

    # Audit
    def audit(self, actor: str, action: str, detail: Mapping[str, Any] | None = None) -> None:
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        self._db.run(
            "INSERT INTO audit (at, actor, action, detail) VALUES (?,?,?,?)",
            (at, actor, action, json.dumps(dict(detail or {}), sort_keys=True, ensure_ascii=False)),
        )

    def audit_log(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = self._db.run("SELECT at, actor, action, detail FROM audit ORDER BY id DESC LIMIT ?", (limit,)).rows
        return [
            {"at": at, "actor": actor, "action": action, "detail": json.loads(detail)}
            for at, actor, action, detail in rows
        ]

    def close(self) -> None:
        self._db.close()
