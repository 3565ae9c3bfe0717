"""The database under the stores: a SQLite file (the default) or PostgreSQL (``IVR_STORE_DSN``).

One small interface, so each store's SQL is written once: ``?`` placeholders (turned into psycopg's
``%s`` for PostgreSQL), ``ON CONFLICT … DO NOTHING/UPDATE`` and ``RETURNING``, which both dialects
have. What differs (column types, identity columns, triggers) lives in each store's migrations, one
list per dialect, applied at open in one transaction and recorded in ``schema_migrations``.

Nothing is cached in the process: every read goes to the database, so two ``ivr serve`` sharing one
PostgreSQL see each other's writes at once. Every value is a bound parameter; SQL text comes from the
stores' constants only.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

# Where a store lives: a SQLite file, or a PostgreSQL connection string (libpq URI or key=value).
Target = Path | str

# How long a new SQLite file may take to become WAL while another process opens it too (seconds).
WAL_SWITCH_WAIT = 5.0
# Held while migrations run, so two services starting at once on one PostgreSQL do not both apply them.
MIGRATION_LOCK = 112_112


# What a schema template's ``{real}`` and ``{serial}`` mean in each dialect (PostgreSQL's REAL is 4 bytes).
SQLITE_TYPES = {"real": "REAL", "serial": "INTEGER PRIMARY KEY AUTOINCREMENT"}
POSTGRES_TYPES = {"real": "DOUBLE PRECISION", "serial": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"}


def append_only(dialect: str, table: str, message: str) -> str:
    """Triggers that refuse any change or deletion of ``table``'s rows (an audit trail), with ``message``."""
    if dialect == "sqlite":
        return (
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table}\n"
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END;\n"
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table}\n"
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END;\n"
        )
    return (
        f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN RAISE EXCEPTION '{message}'; END $$;\n"
        f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table}\n"
        f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only();\n"
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}\n"
        f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only();\n"
    )


class StoreError(Exception):
    """The database failed (locked, disk full, server gone, a constraint or trigger refused): the
    one type callers outside ``ivr.store`` catch, whatever the backend."""

    code = "store_failed"


@dataclass(frozen=True)
class Result:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    rowcount: int

    def one(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class Runner(Protocol):
    """Runs statements inside one transaction (``Database.transaction``)."""

    def run(self, sql: str, params: Sequence[Any] = ()) -> Result: ...

    def script(self, sql: str) -> None: ...


# A migration step: a script of statements, or a function for a step that must look before it acts.
Step = str | Callable[[Runner], None]


@dataclass(frozen=True)
class Migrations:
    """A store's schema history, one list per dialect; version N is the N-th step (never edit a step
    that has shipped: add one)."""

    component: str
    sqlite: tuple[Step, ...]
    postgresql: tuple[Step, ...]


class Database(Protocol):
    dialect: str

    def run(self, sql: str, params: Sequence[Any] = ()) -> Result:
        """One statement in a transaction of its own."""
        ...

    def transaction(self, exclusive: bool = False) -> AbstractContextManager[Runner]:
        """Statements that commit together or not at all; ``exclusive``: one such transaction at a time
        across every process on the database (migrations)."""
        ...

    def close(self) -> None: ...


def connect(target: Target, relaxed_sync: bool = False) -> Database:
    """A path opens (or creates) a SQLite file readable by the service only; a string is a DSN."""
    if isinstance(target, Path):
        return SqliteDatabase(target, relaxed_sync)
    return PostgresDatabase(target)


def migrate(db: Database, migrations: Migrations) -> None:
    """Apply the steps this database has not had yet, all in one exclusive transaction."""
    steps = migrations.sqlite if db.dialect == "sqlite" else migrations.postgresql
    with db.transaction(exclusive=True) as tx:
        tx.script(
            "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, version INTEGER NOT NULL, "
            "applied_at TEXT NOT NULL, PRIMARY KEY (component, version))"
        )
        row = tx.run(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = ?", (migrations.component,)
        ).one()
        done = int(row[0]) if row else 0
        for version, step in enumerate(steps, start=1):
            if version <= done:
                continue
            if isinstance(step, str):
                tx.script(step)
            else:
                step(tx)
            tx.run(
                "INSERT INTO schema_migrations (component, version, applied_at) VALUES (?, ?, ?)",
                (migrations.component, version, datetime.now(UTC).isoformat(timespec="seconds")),
            )


class SqliteDatabase:
    """One connection, serialised by a lock (the service is one process; WAL lets readers in)."""

    dialect = "sqlite"

    def __init__(self, path: Path, relaxed_sync: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Caller numbers are personal data: the file is the service's alone (WAL files inherit it).
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        os.chmod(path, 0o600)
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        except sqlite3.Error as error:
            raise StoreError(str(error)) from error
        try:
            self._use_wal()
            if relaxed_sync:
                # WAL with NORMAL: no fsync per statement (a power cut may lose the last seconds, never
                # corrupt the file).
                self._db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as error:
            self._db.close()
            raise StoreError(str(error)) from error

    def _use_wal(self) -> None:
        """WAL: readers go on while one connection writes. Turning a new file to WAL needs it alone for a
        moment, and another process opening the same new file then is told "locked" at once, without
        SQLite's busy wait: so wait here, a bounded time."""
        deadline = time.monotonic() + WAL_SWITCH_WAIT
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
            time.sleep(0.02)

    def run(self, sql: str, params: Sequence[Any] = ()) -> Result:
        with self._lock:
            return self._run(sql, params)

    def script(self, sql: str) -> None:
        try:
            self._db.executescript(sql)
        except sqlite3.Error as error:
            raise StoreError(str(error)) from error

    def _run(self, sql: str, params: Sequence[Any]) -> Result:
        try:
            cursor = self._db.execute(sql, tuple(params))
            rows = cursor.fetchall()
        except sqlite3.Error as error:
            raise StoreError(str(error)) from error
        columns = tuple(column[0] for column in cursor.description or ())
        return Result(columns, rows, cursor.rowcount)

    @contextmanager
    def transaction(self, exclusive: bool = False) -> Iterator[Runner]:
        with self._lock:
            # IMMEDIATE takes the write lock at once: a writer in another process waits here, not halfway.
            self._run("BEGIN IMMEDIATE", ())
            try:
                yield _SqliteRunner(self)
            except BaseException:
                if self._db.in_transaction:  # SQLite has rolled back by itself after some errors
                    self._db.execute("ROLLBACK")
                raise
            self._run("COMMIT", ())

    def close(self) -> None:
        with self._lock:
            self._db.close()


@dataclass(frozen=True)
class _SqliteRunner:
    db: SqliteDatabase

    def run(self, sql: str, params: Sequence[Any] = ()) -> Result:
        return self.db._run(sql, params)

    def script(self, sql: str) -> None:
        # executescript would COMMIT the open transaction first: run the statements one by one instead.
        for statement in _statements(sql):
            self.db._run(statement, ())


def _statements(script: str) -> list[str]:
    """A SQLite script split into complete statements (a trigger's BEGIN … END stays whole)."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return statements


@lru_cache(maxsize=512)
def _psycopg_sql(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled). Our SQL has no ``?`` in literals."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresDatabase:
    """A small pool of connections (psycopg 3): statements run in worker threads, so each takes one."""

    dialect = "postgresql"

    def __init__(self, dsn: str, max_size: int = 4, timeout: float = 10.0) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool

        self._errors: type[Exception] = psycopg.Error
        # check: a connection the server dropped (a restart of PostgreSQL) is replaced before use,
        # instead of failing the next statement.
        self._pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=max_size,
            open=False,
            timeout=timeout,
            num_workers=1,
            check=ConnectionPool.check_connection,
            name="siaga-store",
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except psycopg.Error as error:
            self._pool.close()
            raise StoreError(f"PostgreSQL not reachable: {error}") from error

    def run(self, sql: str, params: Sequence[Any] = ()) -> Result:
        with self.transaction() as tx:
            return tx.run(sql, params)

    @contextmanager
    def transaction(self, exclusive: bool = False) -> Iterator[Runner]:
        try:
            with self._pool.connection() as connection:  # commits at the end of the block, or rolls back
                runner = _PostgresRunner(connection)
                if exclusive:
                    runner.run("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
                yield runner
        except self._errors as error:
            raise StoreError(str(error)) from error

    def close(self) -> None:
        self._pool.close()


@dataclass(frozen=True)
class _PostgresRunner:
    connection: Any  # psycopg.Connection (imported lazily: SQLite users need no psycopg)

    def run(self, sql: str, params: Sequence[Any] = ()) -> Result:
        cursor = self.connection.execute(_psycopg_sql(sql), tuple(params))
        rows = cursor.fetchall() if cursor.description else []
        columns = tuple(column.name for column in cursor.description or ())
        return Result(columns, rows, cursor.rowcount)

    def script(self, sql: str) -> None:
        self.connection.execute(sql)  # no parameters: sent as is, several statements allowed
