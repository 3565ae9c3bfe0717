"""The console's own store: sessions kept by token hash, idle and absolute expiry, positions, append-only audit.
Each behaviour is proved on both backends (``store_target``: a SQLite file, a PostgreSQL database)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.store.console import ConsoleStore, Position, token_hash
from ivr.store.db import StoreError, Target, connect

T0 = 1_800_000_000.0
IDLE = 1800.0
LIFETIME = 12 * 3600.0
TOKEN = "tok-Q2hhbmdlTWVQbGVhc2VJdElzQVRlc3RUb2tlbg"


@pytest.fixture
def store(store_target: Target) -> Iterator[ConsoleStore]:
    opened = ConsoleStore(store_target)
    yield opened
    opened.close()


def test_the_raw_token_never_reaches_the_file(tmp_path: Path) -> None:
    """Only the token's SHA-256 is stored: the database and its WAL hold the hash, never the token."""
    path = tmp_path / "console.sqlite3"
    store = ConsoleStore(path)
    store.add_session(TOKEN, "budi", "csrf-1", T0, LIFETIME)
    store.audit("budi", "login", {"address": "127.0.0.1"})
    store.close()
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("console.sqlite3"))
    assert TOKEN.encode() not in on_disk
    assert token_hash(TOKEN).encode() in on_disk


def test_the_file_is_private(tmp_path: Path) -> None:
    """The store is created mode 0600: sessions and the audit are the service's alone."""
    path = tmp_path / "console.sqlite3"
    ConsoleStore(path).close()
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_live_session_is_found_by_its_token(store: ConsoleStore) -> None:
    """The right token finds the session (operator, csrf, created, expires); another token finds nothing."""
    store.add_session(TOKEN, "budi", "csrf-1", T0, LIFETIME)
    session = store.session(TOKEN, T0 + 5, IDLE)
    assert session is not None
    assert (session.operator, session.csrf, session.created, session.expires) == ("budi", "csrf-1", T0, T0 + LIFETIME)
    assert store.session(TOKEN + "x", T0 + 5, IDLE) is None


def test_an_idle_session_expires(store: ConsoleStore) -> None:
    """Untouched for IDLE seconds: gone."""
    store.add_session(TOKEN, "budi", "csrf-1", T0, LIFETIME)
    assert store.session(TOKEN, T0 + IDLE, IDLE) is None


def test_use_keeps_a_session_alive(store: ConsoleStore) -> None:
    """Each lookup counts as use: a session seen every 20 minutes outlives the 30-minute idle limit."""
    store.add_session(TOKEN, "budi", "csrf-1", T0, LIFETIME)
    for n in range(1, 6):
        assert store.session(TOKEN, T0 + n * 1200, IDLE) is not None


def test_a_session_dies_at_its_absolute_lifetime_however_active(store: ConsoleStore) -> None:
    """Used every 10 minutes, the session still ends at created + lifetime."""
    store.add_session(TOKEN, "budi", "csrf-1", T0, 3600.0)
    for n in range(1, 6):
        assert store.session(TOKEN, T0 + n * 600, IDLE) is not None
    assert store.session(TOKEN, T0 + 3600.0, IDLE) is None


def test_end_session_logs_out_that_token_only(store: ConsoleStore) -> None:
    """Ending one tab's session leaves the operator's other session alive."""
    store.add_session(TOKEN, "budi", "csrf-1", T0, LIFETIME)
    store.add_session("other-tab", "budi", "csrf-2", T0, LIFETIME)
    store.end_session(TOKEN)
    assert store.session(TOKEN, T0 + 1, IDLE) is None
    assert store.session("other-tab", T0 + 1, IDLE) is not None
    assert store.operators_with_sessions(T0 + 1, IDLE) == {"budi"}


def test_expire_sessions_names_operators_who_lost_their_last_session(store: ConsoleStore) -> None:
    """budi's only session idled out, ani still has a fresh one besides a dead one: only budi is named."""
    store.add_session("budi-1", "budi", "c", T0, LIFETIME)
    store.add_session("ani-old", "ani", "c", T0, LIFETIME)
    store.add_session("ani-new", "ani", "c", T0 + IDLE, LIFETIME)
    assert store.expire_sessions(T0 + IDLE + 1, IDLE) == ["budi"]
    assert store.operators_with_sessions(T0 + IDLE + 1, IDLE) == {"ani"}
    assert store.expire_sessions(T0 + IDLE + 2, IDLE) == []


def test_a_session_found_expired_is_still_reported_by_the_sweep(store: ConsoleStore) -> None:
    """A lookup that finds a session dead leaves it for expire_sessions, which logs its operator out."""
    # Otherwise a page or the WebSocket's touch (every minute, as the sweep) finding it first makes the
    # sweep miss it: the operator stays in the queues with a valid SIP password, nothing is audited.
    store.add_session(TOKEN, "budi", "csrf-1", T0, LIFETIME)
    assert store.session(TOKEN, T0 + IDLE + 1, IDLE) is None
    assert store.expire_sessions(T0 + IDLE + 2, IDLE) == ["budi"]


def test_positions_upsert_one_row_per_operator(store: ConsoleStore) -> None:
    """set_position replaces an operator's position; others are kept."""
    store.set_position(Position("budi", True, ""), T0)
    store.set_position(Position("ani", True, "Sholat"), T0)
    store.set_position(Position("budi", True, "Istirahat"), T0 + 1)
    assert store.positions()["budi"] == Position("budi", True, "Istirahat")
    store.set_position(Position("budi", False, ""), T0 + 2)
    assert store.positions() == {"budi": Position("budi", False, ""), "ani": Position("ani", True, "Sholat")}


def test_positions_survive_a_restart_of_the_service(store_target: Target) -> None:
    """What operators asked for is stored: a new ConsoleStore on the same database reads it back."""
    first = ConsoleStore(store_target)
    first.set_position(Position("budi", True, "Pelatihan"), T0)
    first.close()
    second = ConsoleStore(store_target)
    assert second.positions() == {"budi": Position("budi", True, "Pelatihan")}
    second.close()


def test_audit_entries_come_back_newest_first_with_their_detail(store: ConsoleStore) -> None:
    """Entries keep actor, action and detail (JSON, non-ASCII kept), newest first, within the limit."""
    store.audit("budi", "login", {"address": "127.0.0.1"})
    store.audit("budi", "state", {"action": "pause", "reason": "Sholat"})
    store.audit("", "session_expired")
    entries = store.audit_log(limit=2)
    assert [(e["actor"], e["action"], e["detail"]) for e in entries] == [
        ("", "session_expired", {}),
        ("budi", "state", {"action": "pause", "reason": "Sholat"}),
    ]
    assert entries[0]["at"] >= entries[1]["at"]


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit SET actor = 'someone-else'", "DELETE FROM audit", "UPDATE audit SET detail = '{}' WHERE id = 1"],
)
def test_the_audit_log_cannot_be_changed_even_in_sql(store_target: Target, statement: str) -> None:
    """The triggers refuse UPDATE and DELETE on audit, even from a direct connection to the database."""
    store = ConsoleStore(store_target)
    store.audit("budi", "outcome", {"uniqueid": "1.1", "outcome": "prank"})
    store.close()
    db = connect(store_target)
    with pytest.raises(StoreError, match="append-only"):
        db.run(statement)
    assert db.run("SELECT actor, action FROM audit").rows == [("budi", "outcome")]
    db.close()
