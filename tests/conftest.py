"""Fixtures for every test directory: the stores' two backends (a SQLite file, a throw-away PostgreSQL)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from ivr.store.db import Target
from tests.postgres import Cluster, throwaway_cluster

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """One PostgreSQL server for the session. If it cannot start, every test that needs it fails (no skip):
    the PostgreSQL store must not go untested because a machine lacks the package."""
    with throwaway_cluster() as cluster:
        yield cluster


@pytest.fixture
def postgres_dsn(postgres: Cluster) -> str:
    """A DSN of an empty database of the test's own."""
    name = f"test_{next(_databases)}"
    with psycopg.connect(postgres.dsn(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    return postgres.dsn(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    """Where a store under test lives: a fresh SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "var" / "store.sqlite3"
    dsn: str = request.getfixturevalue("postgres_dsn")
    return dsn
