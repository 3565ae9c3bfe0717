"""`ivr serve` says, at start and then daily, when the holiday calendar runs out."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from structlog.testing import capture_logs

from ivr.app import _warn_calendar
from ivr.config.live import LiveConfig


async def test_serve_logs_the_calendar_gap_at_start(alt_root: Path) -> None:
    """A calendar whose last holiday is long past: one warning line naming the fix, without waiting a day."""
    (alt_root / "sop" / "calendar.yaml").write_text('holidays:\n  "2020-01-01": Tahun Baru Masehi\n')
    with capture_logs() as logs:
        task = asyncio.create_task(_warn_calendar(LiveConfig(alt_root, None)))
        await asyncio.sleep(0.05)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    [line] = [entry for entry in logs if entry["event"] == "holiday_calendar_runs_out"]
    assert "holidays_until" in line["detail"] and line["log_level"] == "warning"
