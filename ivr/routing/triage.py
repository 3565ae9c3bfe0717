"""Prank/ghost triage, pure: a number's history → its standing now, and whether to flag it (again).

Never a block. A flagged number is queued last for a while; flags escalate (the SOP's flag_hours:
e.g. 24 h, then 3 days, then 30 days) and expire by themselves. Dispositions counted toward a new
flag are those since the last flag began, inside the SOP's window, so one burst flags once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ivr.config.sop import PrankRules
from ivr.routing.decide import Standing

DISPOSITIONS = ("genuine", "info", "prank", "silent", "misdial", "transferred")


@dataclass(frozen=True)
class Flag:
    level: int
    started: datetime
    until: datetime
    reason: str = ""


@dataclass(frozen=True)
class CallerHistory:
    caller: str
    dispositions: list[tuple[datetime, str]] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)


def normalise_number(raw: str) -> str:
    """One key per subscriber: '+62 812-3456' and '08123456' are the same number."""
    digits = re.sub(r"[^0-9]", "", raw)
    if raw.strip().startswith("+62") or (digits.startswith("62") and len(digits) > 9):
        digits = "0" + digits[2:]
    return digits[:20]


def assess(history: CallerHistory, rules: PrankRules, now: datetime) -> tuple[Standing, Flag | None]:
    """The standing now; and a new flag to record when the thresholds were crossed."""
    if history.caller in {normalise_number(number) for number in rules.whitelist}:
        return Standing(whitelisted=True), None
    window = now - timedelta(days=rules.window_days)
    active = [flag for flag in history.flags if flag.until > now]
    if active:
        # The counts of the window go with an active flag too: they say what it is for (the pop's
        # "silent" or "prank"; a number flagged for silent calls alone hears no prank warning).
        latest = max(active, key=lambda flag: flag.until)
        window_kinds = [kind for when, kind in history.dispositions if when > window]
        standing = Standing(
            True, latest.level, latest.until, pranks=window_kinds.count("prank"), silent=window_kinds.count("silent")
        )
        return standing, None
    since = window
    if history.flags:
        since = max(since, max(flag.started for flag in history.flags))
    recent = [kind for when, kind in history.dispositions if when > since]
    pranks, silent = recent.count("prank"), recent.count("silent")
    if pranks < rules.prank_threshold and silent < rules.silent_threshold:
        return Standing(pranks=pranks, silent=silent), None
    level = len(history.flags) + 1
    hours = rules.flag_hours[min(level, len(rules.flag_hours)) - 1]
    flag = Flag(level, now, now + timedelta(hours=hours), f"{pranks} prank, {silent} silent since {since:%Y-%m-%d}")
    return Standing(True, level, flag.until, pranks=pranks, silent=silent), flag
