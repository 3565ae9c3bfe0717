"""Whether the holiday calendar still covers the weeks ahead (issue 8, hazard 5).

Past the last date the calendar was checked through, every national holiday counts as a working day
and agencies with office hours are taken as open. That date is ``holidays_until`` when the SOP says
so, else the last holiday listed. Pure: the caller passes today, so ``ivr check`` and the daily check of
``ivr serve`` say the same thing and tests need no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from ivr.config.errors import Problem
from ivr.config.sop import Sop

COVER_DAYS = 60


@dataclass(frozen=True, order=True)
class ConfigWarning(Problem):
    """Something an admin must fix soon that does not stop the configuration from being used."""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.path}: warning: {self.message}"


def checked_through(sop: Sop) -> date | None:
    """The last day the holiday list is known to be complete for."""
    if sop.holidays_until is not None:
        return sop.holidays_until
    return max(sop.holidays, default=None)


def calendar_warning(sop: Sop, today: date) -> ConfigWarning | None:
    """A warning when the holidays are not known for the next COVER_DAYS days; None when they are."""
    end = checked_through(sop)
    needed = today + timedelta(days=COVER_DAYS)
    if end is not None and end >= needed:
        return None
    fix = (
        f"add the national holidays (SKB 3 Menteri) through at least {needed.isoformat()} and set "
        f"'holidays_until' to the last day checked"
    )
    consequence = "a holiday counts as a working day and agencies with office hours are taken as open"
    if end is None:
        return ConfigWarning("sop", 1, 1, "holidays", f"no holidays are listed: {consequence}; {fix}")
    if sop.holidays_until is not None:
        file, line, col = sop.positions.get("holidays_until", ("sop", 1, 1))
        path = "holidays_until"
    else:
        path = f'holidays."{end.isoformat()}"'
        file, line, col = sop.positions.get(path, ("sop", 1, 1))
    days = (end - today).days
    when = f"{days} days from today ({today.isoformat()})" if days >= 0 else f"{-days} days ago"
    return ConfigWarning(
        file,
        line,
        col,
        path,
        f"the holiday calendar ends {end.isoformat()}, {when}: after that date {consequence}; {fix}",
    )
