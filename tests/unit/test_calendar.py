"""The holiday calendar must cover the next 60 days: ``ivr check`` warns (never fails) when it does not."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

import pytest

from ivr.check import check
from ivr.cli import cmd_check
from ivr.config import load_config
from ivr.config.calendar import calendar_warning
from tests.unit.test_config_errors import edit

CALENDAR = "sop/calendar.yaml"
TODAY = date(2026, 12, 2)
LAST = '  "2027-01-01": Tahun Baru Masehi\n'


def test_shipped_calendar_running_out_is_a_warning_not_an_error(shipped_root: Path) -> None:
    """Today (2026-12-02) the shipped list ends in 30 days: one warning at its last holiday, no error."""
    result = check(shipped_root, shipped_root / "var" / "sounds", today=TODAY)
    assert result.problems == [] and result.config is not None
    assert [str(warning) for warning in result.warnings] == [
        'sop/calendar.yaml:25:17: holidays."2027-01-01": warning: the holiday calendar ends 2027-01-01, 30 days '
        "from today (2026-12-02): after that date a holiday counts as a working day and agencies with office "
        "hours are taken as open; add the national holidays (SKB 3 Menteri) through at least 2027-01-31 and set "
        "'holidays_until' to the last day checked"
    ]


@pytest.mark.parametrize(
    ("today", "warns"),
    [
        (date(2026, 11, 2), False),  # 2027-01-01 is exactly 60 days ahead: covered
        (date(2026, 11, 3), True),  # one day short
    ],
)
def test_sixty_days_ahead_is_the_boundary(shipped_root: Path, today: date, warns: bool) -> None:
    """Covered through today + 60 days is enough; one day less warns."""
    assert (calendar_warning(load_config(shipped_root).sop, today) is not None) == warns


def test_holidays_until_says_how_far_the_list_was_checked(shipped_root: Path) -> None:
    """An admin's holidays_until replaces the last holiday as the end; a short one is warned about where written."""
    edit(shipped_root, CALENDAR, LAST, LAST + "holidays_until: 2027-03-31\n")
    assert calendar_warning(load_config(shipped_root).sop, TODAY) is None
    edit(shipped_root, CALENDAR, "holidays_until: 2027-03-31", "holidays_until: 2026-12-31")
    warning = calendar_warning(load_config(shipped_root).sop, TODAY)
    assert warning is not None
    assert str(warning).startswith(
        "sop/calendar.yaml:26:17: holidays_until: warning: the holiday calendar ends "
        "2026-12-31, 29 days from today (2026-12-02)"
    )


def test_a_calendar_in_the_past_says_how_long_ago(shipped_root: Path) -> None:
    """A list that has already ended says how many days ago; on its last day, 0 days from today."""
    ended = calendar_warning(load_config(shipped_root).sop, date(2027, 2, 1))
    assert ended is not None and "ends 2027-01-01, 31 days ago: after that date" in ended.message
    last_day = calendar_warning(load_config(shipped_root).sop, date(2027, 1, 1))
    assert last_day is not None and "ends 2027-01-01, 0 days from today (2027-01-01): after" in last_day.message


def test_no_holidays_at_all_is_a_warning(alt_root: Path) -> None:
    """An SOP without any holiday is warned about too."""
    nothing = calendar_warning(load_config(alt_root).sop, TODAY)
    assert nothing is not None
    assert str(nothing) == (
        "sop:1:1: holidays: warning: no holidays are listed: a holiday counts as a working day and agencies with "
        "office hours are taken as open; add the national holidays (SKB 3 Menteri) through at least 2027-01-31 "
        "and set 'holidays_until' to the last day checked"
    )


@pytest.mark.parametrize(("value", "shown"), [("soon", "'soon'"), ("[2027-12-31]", "a list")])
def test_holidays_until_must_be_a_date(shipped_root: Path, value: str, shown: str) -> None:
    """holidays_until that is not a date is an error at its position, naming the expected form."""
    edit(shipped_root, CALENDAR, LAST, LAST + f"holidays_until: {value}\n")
    assert [str(problem) for problem in check(shipped_root, None, today=TODAY).problems] == [
        "sop/calendar.yaml:26:17: holidays_until: expected the last day the holidays were checked through, like "
        f"2026-12-31, got {shown}"
    ]


def test_ivr_check_prints_warnings_and_exits_0(alt_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`ivr check` prints a warning line in file:line:col form and still exits 0."""
    # cmd_check, not main: main configures logging onto capsys's stream, which later tests would write to.
    assert cmd_check(argparse.Namespace(root=alt_root)) == 0
    out = capsys.readouterr().out
    assert "sop:1:1: holidays: warning: no holidays are listed" in out
    assert "ok: 1 flow(s)" in out
