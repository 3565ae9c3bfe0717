"""Call records, operator dispositions and prank flags: in SQLite (``var/siaga112.sqlite3``) by
default, in PostgreSQL when ``IVR_STORE_DSN`` is set (``ivr.store.db``).

Every value goes in as a bound parameter; no SQL text is ever built from a call's data. Writes run
in a worker thread so a slow disk never stalls the FastAGI loop.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from ivr.routing.triage import DISPOSITIONS, CallerHistory, Flag, normalise_number
from ivr.store.asterisk_records import CdrRow, QueueVisit, Routed
from ivr.store.db import POSTGRES_TYPES, SQLITE_TYPES, Migrations, Runner, StoreError, Target, connect, migrate

log = structlog.get_logger("ivr.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    uniqueid     TEXT PRIMARY KEY,
    started_at   TEXT NOT NULL,   -- ISO 8601, UTC
    caller       TEXT NOT NULL,   -- normalised number (the history key)
    caller_name  TEXT NOT NULL,
    flow         TEXT NOT NULL,
    keys         TEXT NOT NULL,
    language     TEXT NOT NULL,
    nodes        TEXT NOT NULL,   -- JSON list
    flags        TEXT NOT NULL,   -- JSON list
    exit         TEXT NOT NULL,   -- selected | silence | invalid | runaway | '' (hung up first)
    category     TEXT NOT NULL,
    queue        TEXT NOT NULL,
    priority     INTEGER NOT NULL,
    outcome      TEXT NOT NULL,   -- routed | abandoned_in_ivr | failed | fallback (rebuilt from the CDR)
    ivr_seconds  {real} NOT NULL,
    reason       TEXT NOT NULL DEFAULT '',
    disposition  TEXT NOT NULL DEFAULT '',  -- set by the operator: genuine | prank | silent | ...
    -- From Asterisk's queue_log (ivr.store.reconcile): how the last queue visit ended.
    keys_asterisk TEXT NOT NULL DEFAULT '',  -- keys Asterisk saw (AMI) by the time the route was chosen
    caller_raw    TEXT NOT NULL DEFAULT '',  -- the number as the trunk sent it, escaped (caller is cleaned)
    caller_name_raw TEXT NOT NULL DEFAULT '',
    queue_outcome TEXT NOT NULL DEFAULT '',  -- answered | abandoned | timeout | empty | waiting
    queue_wait    {real} NOT NULL DEFAULT 0,
    answered_by   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS calls_caller ON calls (caller, started_at);
CREATE TABLE IF NOT EXISTS prank_flags (
    caller   TEXT NOT NULL,
    level    INTEGER NOT NULL,
    started  TEXT NOT NULL,
    until    TEXT NOT NULL,
    reason   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS prank_flags_caller ON prank_flags (caller, started);
"""


# Columns added to SQLite files before migrations were versioned, with their definitions (constants).
MIGRATED_COLUMNS = (
    ("reason", "TEXT NOT NULL DEFAULT ''"),
    ("disposition", "TEXT NOT NULL DEFAULT ''"),
    ("keys_asterisk", "TEXT NOT NULL DEFAULT ''"),
    ("caller_raw", "TEXT NOT NULL DEFAULT ''"),
    ("caller_name_raw", "TEXT NOT NULL DEFAULT ''"),
    ("queue_outcome", "TEXT NOT NULL DEFAULT ''"),
    ("queue_wait", "REAL NOT NULL DEFAULT 0"),
    ("answered_by", "TEXT NOT NULL DEFAULT ''"),
)


# What reports read of a call (ivr.reports.CallRow): no caller number, no caller name.
REPORT_COLUMNS = (
    "uniqueid",
    "started_at",
    "category",
    "queue",
    "disposition",
    "queue_outcome",
    "queue_wait",
    "answered_by",
    "outcome",
    "lost_phones",
)


def _utc_text(at: datetime) -> str:
    """An instant as ``started_at`` is stored (UTC, seconds, +00:00), so text order is time order."""
    if at.tzinfo is None:
        raise ValueError("a naive datetime: give the period's bounds with their time zone")
    return at.astimezone(UTC).isoformat(timespec="seconds")


class UnknownDisposition(ValueError):
    code = "unknown_disposition"


@dataclass(frozen=True)
class IvrRecord:
    uniqueid: str
    started_at: str
    caller: str
    caller_name: str
    flow: str
    keys: str
    language: str
    exit: str
    category: str
    queue: str
    priority: int
    outcome: str
    ivr_seconds: float
    reason: str = ""
    reason_id: str = ""  # the same in Indonesian, for the call-taker's screen
    nodes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    keys_asterisk: str = ""
    caller_raw: str = ""
    caller_name_raw: str = ""


def _bring_sqlite_up_to_date(tx: Runner) -> None:
    """SQLite version 1: the schema as it was before versioned migrations, and the columns a file from
    an older release lacks (such a file keeps its calls)."""
    tx.script(SCHEMA.format(**SQLITE_TYPES))
    present = {row[1] for row in tx.run("PRAGMA table_info(calls)").rows}
    for column, kind in MIGRATED_COLUMNS:
        if column not in present:
            tx.script(f"ALTER TABLE calls ADD COLUMN {column} {kind}")


# Version 2, both dialects: the call's requeues, in order: the member interfaces (space-separated)
# whose phone was lost mid-call, each time the citizen went back to the central queue
# ([siaga-operator-left], via queue_log).
ADD_LOST_PHONES = "ALTER TABLE calls ADD COLUMN lost_phones TEXT NOT NULL DEFAULT ''"
# Version 3, both dialects: the routing reason in Indonesian (ivr.routing.decide), which the console
# shows the call-taker; ``reason`` keeps the English one of the logs. Older rows have none.
ADD_REASON_ID = "ALTER TABLE calls ADD COLUMN reason_id TEXT NOT NULL DEFAULT ''"

MIGRATIONS = Migrations(
    "calls",
    sqlite=(_bring_sqlite_up_to_date, ADD_LOST_PHONES, ADD_REASON_ID),
    postgresql=(SCHEMA.format(**POSTGRES_TYPES), ADD_LOST_PHONES, ADD_REASON_ID),
)


class CallStore:
    def __init__(self, target: Target) -> None:
        """``target``: the SQLite file, or a PostgreSQL DSN (``ivr.store.db``)."""
        self._db = connect(target)
        try:
            migrate(self._db, MIGRATIONS)
        except StoreError:
            self._db.close()
            raise

    @classmethod
    def open(cls, target: Target) -> CallStore:
        """Open the store; a SQLite file that is not a database is moved aside and a fresh one started.

        Refusing to start would cost every caller the menu (the dialplan would queue them all
        centrally); a fresh store costs only history. The old file is kept for the record. A
        PostgreSQL that cannot be reached is an error: nothing is moved, the service's start fails.
        """
        try:
            return cls(target)
        except StoreError as error:
            if not isinstance(target, Path):
                raise
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            aside = target.with_name(f"{target.name}.corrupt-{stamp}")
            for suffix in ("", "-wal", "-shm"):
                part = Path(f"{target}{suffix}")
                if part.exists():
                    part.rename(Path(f"{aside}{suffix}"))
            log.error("store_corrupt_moved_aside", path=str(target), moved_to=str(aside), error=str(error))
            return cls(target)

    def write(self, record: IvrRecord) -> None:
        values = asdict(record)
        values["nodes"] = json.dumps(record.nodes)
        values["flags"] = json.dumps(record.flags)
        # Column names are IvrRecord's own field names; every value is a bound parameter. An upsert,
        # not a replace: a row rebuilt from Asterisk's records first keeps its queue outcome.
        columns = ", ".join(values)
        marks = ", ".join("?" for _name in values)
        updates = ", ".join(f"{name} = excluded.{name}" for name in values if name != "uniqueid")
        self._db.run(
            f"INSERT INTO calls ({columns}) VALUES ({marks}) ON CONFLICT (uniqueid) DO UPDATE SET {updates}",
            tuple(values.values()),
        )

    def apply_queue_visit(self, visit: QueueVisit) -> bool:
        """How the call's last queue visit ended (queue_log); False if the call has no row yet."""
        result = self._db.run(
            "UPDATE calls SET queue = ?, queue_outcome = ?, queue_wait = ?, answered_by = ?, lost_phones = ? "
            "WHERE uniqueid = ?",
            (
                visit.queue,
                visit.outcome,
                round(visit.wait_seconds, 1),
                visit.answered_by,
                " ".join(visit.lost_phones),
                visit.uniqueid,
            ),
        )
        return result.rowcount == 1

    def add_unseen_call(self, cdr: CdrRow, visit: QueueVisit | None, routed: Routed | None = None) -> bool:
        """A 112 call Asterisk recorded and our service never did (it was down, killed or frozen: the
        dialplan queued the caller itself, or took a route whose service was gone before it recorded
        the call, ``routed``). True if it was new."""
        if routed is not None:
            outcome, category = "routed", routed.category
            reason = (
                "rebuilt from Asterisk's records: our service has no record of this call (it stopped during "
                f"the menu, or the last line ran it); the dialplan took the menu's route, {routed.action} "
                f"{routed.target} for {routed.category} (CDR {cdr.disposition})"
            )
            reason_id = (
                "dibangun ulang dari catatan Asterisk: layanan kami tidak mencatat panggilan ini (berhenti di "
                f"tengah menu, atau jalur terakhir yang menjalankannya); dialplan mengambil rute menu, "
                f"{routed.action} {routed.target} untuk {routed.category} (CDR {cdr.disposition})"
            )
        else:
            outcome, category = "fallback", ""
            reason = (
                "rebuilt from Asterisk's CDR: our service has no record of this call; the dialplan queued "
                f"it itself (CDR {cdr.disposition}, last application {cdr.last_app})"
            )
            reason_id = ""
        result = self._db.run(
            "INSERT INTO calls (uniqueid, started_at, caller, caller_name, flow, keys, language, "
            "nodes, flags, exit, category, queue, priority, outcome, ivr_seconds, reason, queue_outcome, "
            "queue_wait, answered_by, lost_phones, reason_id) VALUES (?, ?, ?, '', '', '', '', '[]', '[]', '', ?, ?, "
            "0, ?, 0, ?, ?, ?, ?, ?, ?) ON CONFLICT (uniqueid) DO NOTHING",
            (
                cdr.uniqueid,
                cdr.started_at.isoformat(timespec="seconds"),
                normalise_number(cdr.caller),
                category,
                visit.queue if visit else "",
                outcome,
                reason,
                visit.outcome if visit else "",
                round(visit.wait_seconds, 1) if visit else 0.0,
                visit.answered_by if visit else "",
                " ".join(visit.lost_phones) if visit else "",
                reason_id,
            ),
        )
        return result.rowcount == 1

    async def record(self, record: IvrRecord) -> None:
        await asyncio.to_thread(self.write, record)

    def get(self, uniqueid: str) -> dict[str, Any] | None:
        rows = self._db.run("SELECT * FROM calls WHERE uniqueid = ?", (uniqueid,)).dicts()
        return rows[0] if rows else None

    def set_disposition(self, uniqueid: str, disposition: str) -> bool:
        if disposition not in DISPOSITIONS:
            raise UnknownDisposition(f"'{disposition}' (known: {', '.join(DISPOSITIONS)})")
        result = self._db.run("UPDATE calls SET disposition = ? WHERE uniqueid = ?", (disposition, uniqueid))
        return result.rowcount == 1

    def callback_candidates(self, since: str, limit: int = 2000) -> list[dict[str, Any]]:
        """Calls started after ``since`` (ISO) that may need a callback, and the answered calls that
        settle them (``ivr.incidents.callbacks`` decides)."""
        return self._db.run(
            "SELECT uniqueid, started_at, caller, caller_raw, keys, category, outcome, queue_outcome, "
            "queue_wait, ivr_seconds, disposition FROM calls WHERE started_at > ? AND (outcome = "
            "'abandoned_in_ivr' OR queue_outcome IN ('abandoned', 'timeout', 'answered') OR disposition = "
            "'silent') ORDER BY started_at DESC LIMIT ?",
            (since, limit),
        ).dicts()

    def recent_calls(self, caller: str, before: str, limit: int = 5) -> list[dict[str, Any]]:
        """The caller's last calls before ``before`` (an ISO start time), newest first: the screen pop."""
        rows = self._db.run(
            "SELECT started_at, category, disposition, queue_outcome FROM calls "
            "WHERE caller = ? AND started_at < ? ORDER BY started_at DESC LIMIT ?",
            (caller, before, limit),
        ).rows
        return [
            {"at": started, "category": category, "outcome": disposition, "queue_outcome": queue_outcome}
            for started, category, disposition, queue_outcome in rows
        ]

    def history(self, caller: str, since: datetime) -> CallerHistory:
        # One transaction: calls and flags as of one moment, even while another service writes.
        with self._db.transaction() as tx:
            calls = tx.run(
                "SELECT started_at, disposition FROM calls WHERE caller = ? AND started_at > ? AND disposition != ''",
                (caller, since.isoformat()),
            ).rows
            flags = tx.run(
                "SELECT level, started, until, reason FROM prank_flags WHERE caller = ? ORDER BY started",
                (caller,),
            ).rows
        return CallerHistory(
            caller,
            [(datetime.fromisoformat(started), disposition) for started, disposition in calls],
            [
                Flag(level, datetime.fromisoformat(started), datetime.fromisoformat(until), reason)
                for level, started, until, reason in flags
            ],
        )

    def calls_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Calls that started in [start, end), oldest first, with what a report or the wallboard counts
        (``REPORT_COLUMNS``): never the caller's number or name, so nothing built from them can show one."""
        return self._db.run(
            f"SELECT {', '.join(REPORT_COLUMNS)} FROM calls WHERE started_at >= ? AND started_at < ? "
            "ORDER BY started_at, uniqueid",
            (_utc_text(start), _utc_text(end)),
        ).dicts()

    def outcome_counts(self) -> list[tuple[str, str, str, int]]:
        """All calls ever, counted by (queue, queue_outcome, outcome): the totals /metrics exposes."""
        rows = self._db.run(
            "SELECT queue, queue_outcome, outcome, COUNT(*) FROM calls GROUP BY queue, queue_outcome, outcome"
        ).rows
        return [(str(queue), str(queue_outcome), str(outcome), int(n)) for queue, queue_outcome, outcome, n in rows]

    def answer_waits(self) -> list[tuple[str, float, int]]:
        """Answered calls ever, counted by (queue, seconds waited): waits are kept to 0.1 s, so this stays small."""
        rows = self._db.run(
            "SELECT queue, queue_wait, COUNT(*) FROM calls WHERE queue_outcome = ? GROUP BY queue, queue_wait",
            ("answered",),
        ).rows
        return [(str(queue), float(wait), int(n)) for queue, wait, n in rows]

    def add_flag(self, caller: str, flag: Flag) -> None:
        self._db.run(
            "INSERT INTO prank_flags (caller, level, started, until, reason) VALUES (?, ?, ?, ?, ?)",
            (caller, flag.level, flag.started.isoformat(), flag.until.isoformat(), flag.reason),
        )

    def close(self) -> None:
        self._db.close()
