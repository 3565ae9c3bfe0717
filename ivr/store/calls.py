"""Call records in SQLite (``var/siaga112.sqlite3`` by default).

Every value goes in as a bound parameter; no SQL text is ever built from a call's data. Writes run
in a worker thread so a slow disk never stalls the FastAGI loop.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    uniqueid     TEXT PRIMARY KEY,
    started_at   TEXT NOT NULL,
    caller       TEXT NOT NULL,
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
    outcome      TEXT NOT NULL,   -- routed | abandoned_in_ivr | failed
    ivr_seconds  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_caller ON calls (caller, started_at);
"""


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
    nodes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)


class CallStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def _write(self, record: IvrRecord) -> None:
        values = asdict(record)
        values["nodes"] = json.dumps(record.nodes)
        values["flags"] = json.dumps(record.flags)
        # Column names are IvrRecord's own field names; every value is a bound parameter.
        columns = ", ".join(values)
        marks = ", ".join(f":{name}" for name in values)
        with self._lock:
            self._db.execute(f"INSERT OR REPLACE INTO calls ({columns}) VALUES ({marks})", values)

    async def record(self, record: IvrRecord) -> None:
        await asyncio.to_thread(self._write, record)

    def get(self, uniqueid: str) -> dict[str, Any] | None:
        with self._lock:
            cursor = self._db.execute("SELECT * FROM calls WHERE uniqueid = ?", (uniqueid,))
            row = cursor.fetchone()
            names = [column[0] for column in cursor.description]
        return dict(zip(names, row, strict=True)) if row else None

    def close(self) -> None:
        with self._lock:
            self._db.close()
