"""Prank/ghost triage over a fake clock: thresholds, escalation, expiry, whitelist; the store behind it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ivr.config.sop import PrankRules
from ivr.routing.decide import Standing
from ivr.routing.triage import CallerHistory, Flag, assess, normalise_number
from ivr.store.calls import CallStore, IvrRecord, UnknownDisposition
from ivr.store.db import Target

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


def test_an_active_flag_carries_the_counts_of_the_window() -> None:
    """While a flag lasts its standing says what the number did in the window (silent or prank), not only that
    it is flagged; a disposition older than the window is not counted."""
    now = T0 + timedelta(hours=1)
    flag = Flag(1, now, now + timedelta(hours=72))
    old = given_pranks(1, T0 - timedelta(days=31))
    history = CallerHistory("0811", old + given_pranks(2, T0, "silent"), [flag])
    assert assess(history, RULES, now + timedelta(hours=2)) == (Standing(True, 1, flag.until, pranks=0, silent=2), None)


def test_whitelist_overrides() -> None:
    """A whitelisted number (e.g. a hospital switchboard) is never flagged."""
    rules = PrankRules(whitelist=("+62 812",))
    standing, flag = assess(CallerHistory("0812", given_pranks(9, T0)), rules, T0 + timedelta(hours=1))
    assert (standing.whitelisted, standing.flagged, flag) == (True, False, None)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("+62 812-3456-7890", "081234567890"),
        ("081234567890", "081234567890"),
        ("6281234567890", "081234567890"),
        ("112", "112"),
    ],
)
def test_numbers_are_normalised(raw: str, normal: str) -> None:
    """One history per subscriber whatever the format of the caller ID."""
    assert normalise_number(raw) == normal


async def test_store_history_and_flags_round_trip(store_target: Target) -> None:
    """Dispositions set by operators and flags come back from the store (SQLite, PostgreSQL) as history."""
    store = CallStore(store_target)
    for n in range(3):
        await store.record(
            IvrRecord(
                f"u{n}",
                (T0 + timedelta(minutes=n)).isoformat(),
                "0812",
                "x' OR 1=1 --",
                "f",
                "",
                "id",
                "silence",
                "darurat-umum",
                "q112",
                10,
                "routed",
                1.0,
            )
        )
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


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("621234567", "621234567"),  # 9 digits starting 62: a local number, kept
        ("6212345678", "012345678"),  # 10 digits: the country code, replaced
        ("1" * 25, "1" * 20),  # a caller ID is cut to 20 digits: one bounded key per number
    ],
)
def test_number_normalisation_boundaries(raw: str, normal: str) -> None:
    """Where '62' stops being a local prefix, and the length a caller ID is cut to."""
    assert normalise_number(raw) == normal


def test_standing_and_flag_carry_level_until_counts_and_reason() -> None:
    """What the operator and the log see: the flag's level, end, counts and why, while it lasts and when made."""
    now = T0 + timedelta(hours=1)
    history = CallerHistory("0812", given_pranks(3, T0) + given_pranks(2, T0, "silent"))
    standing, flag = assess(history, RULES, now)
    assert flag == Flag(1, now, now + timedelta(hours=24), "3 prank, 2 silent since 2026-10-02")
    assert standing == Standing(True, 1, flag.until, pranks=3, silent=2)
    quiet, _none = assess(CallerHistory("0812", given_pranks(2, T0, "silent")), RULES, now)
    assert quiet == Standing(pranks=0, silent=2)
    older = Flag(1, T0, T0 + timedelta(days=2))
    newer = Flag(2, T0 + timedelta(hours=1), T0 + timedelta(days=3))
    assert assess(CallerHistory("0812", flags=[newer, older]), RULES, now)[0] == Standing(True, 2, newer.until)


def test_a_flag_ends_at_its_end_and_dispositions_count_after_its_start() -> None:
    """At the instant a flag ends the number is clean; a disposition at the very start of a flag counts to it."""
    flag = Flag(1, T0, T0 + timedelta(hours=24))
    assert not assess(CallerHistory("0812", flags=[flag]), RULES, flag.until)[0].flagged
    at_start = [(T0, "prank"), *given_pranks(2, T0 + timedelta(minutes=1))]
    standing, _flag = assess(CallerHistory("0812", at_start, [flag]), RULES, flag.until + timedelta(minutes=1))
    assert standing.pranks == 2  # the one at T0 belonged to the flag that just ended
