"""Prank/ghost triage over a fake clock: thresholds, escalation, expiry, whitelist; the store behind it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.config.sop import PrankRules
from ivr.routing.triage import CallerHistory, Flag, assess, normalise_number
from ivr.store.calls import CallStore, IvrRecord, UnknownDisposition

RULES = PrankRules(window_days=30, prank_threshold=3, silent_threshold=5, flag_hours=(24, 72, 720))
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def given_pranks(count: int, start: datetime, kind: str = "prank") -> list[tuple[datetime, str]]:
    return [(start + timedelta(minutes=10 * n), kind) for n in range(count)]


def test_below_threshold_is_not_flagged() -> None:
    """Two pranks in the window: counted, not flagged."""
    standing, flag = assess(CallerHistory("0812", given_pranks(2, T0)), RULES, T0 + timedelta(hours=1))
    assert (standing.flagged, standing.pranks, flag) == (False, 2, None)


def test_third_prank_flags_for_24_hours_then_it_expires() -> None:
    """Three pranks: a 24 h flag; after it, with no new pranks, the number is clean again."""
    now = T0 + timedelta(hours=1)
    history = CallerHistory("0812", given_pranks(3, T0))
    standing, flag = assess(history, RULES, now)
    assert standing.flagged and standing.pranks == 3
    assert flag is not None and (flag.level, flag.until) == (1, now + timedelta(hours=24))
    flagged = CallerHistory("0812", history.dispositions, [flag])
    assert assess(flagged, RULES, now + timedelta(hours=23))[0].flagged
    later, again = assess(flagged, RULES, now + timedelta(hours=25))
    assert (later.flagged, again) == (False, None)


def test_flags_escalate_24h_3d_30d() -> None:
    """Each new burst after a flag gives the next, longer flag; the last length repeats."""
    flags: list[Flag] = []
    dispositions: list[tuple[datetime, str]] = []
    now = T0
    lengths = []
    for _ in range(4):
        dispositions += given_pranks(3, now)
        now += timedelta(hours=1)
        _standing, flag = assess(CallerHistory("0812", dispositions, flags), RULES, now)
        assert flag is not None
        flags.append(flag)
        lengths.append((flag.until - flag.started) / timedelta(hours=1))
        now = flag.until + timedelta(minutes=1)
    assert lengths == [24, 72, 720, 720]


def test_silent_calls_count_separately() -> None:
    """Five ghost calls flag a number too."""
    _standing, flag = assess(CallerHistory("0812", given_pranks(5, T0, "silent")), RULES, T0 + timedelta(hours=1))
    assert flag is not None


def test_whitelist_overrides() -> None:
    """A whitelisted number (e.g. a hospital switchboard) is never flagged."""
    rules = PrankRules(whitelist=("+62 812",))
    standing, flag = assess(CallerHistory("0812", given_pranks(9, T0)), rules, T0 + timedelta(hours=1))
    assert (standing.whitelisted, standing.flagged, flag) == (True, False, None)


@pytest.mark.parametrize(("raw", "normal"), [("+62 812-3456-7890", "081234567890"), ("081234567890", "081234567890"),
                                              ("6281234567890", "081234567890"), ("112", "112")])
def test_numbers_are_normalised(raw: str, normal: str) -> None:
    """One history per subscriber whatever the format of the caller ID."""
    assert normalise_number(raw) == normal


async def test_store_history_and_flags_round_trip(tmp_path: Path) -> None:
    """Dispositions set by operators and flags come back from SQLite as history."""
    store = CallStore(tmp_path / "calls.sqlite3")
    for n in range(3):
        await store.record(IvrRecord(f"u{n}", (T0 + timedelta(minutes=n)).isoformat(), "0812", "x' OR 1=1 --",
                                     "f", "", "id", "silence", "darurat-umum", "q112", 10, "routed", 1.0))
        assert store.set_disposition(f"u{n}", "prank")
    with pytest.raises(UnknownDisposition):
        store.set_disposition("u0", "bogus")
    assert not store.set_disposition("nope", "prank")
    store.add_flag("0812", Flag(1, T0, T0 + timedelta(hours=24), "test"))
    history = store.history("0812", T0 - timedelta(days=1))
    assert [kind for _when, kind in history.dispositions] == ["prank"] * 3
    assert history.flags[0].level == 1
    assert store.get("u0")["caller_name"] == "x' OR 1=1 --"
    store.close()
