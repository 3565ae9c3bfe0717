"""The last menu (darurat: every outcome a category) played and read by Asterisk itself, each outcome
routed by [siaga-last-menu] from the routes our service left, on the real Asterisk."""

from __future__ import annotations

import asyncio

from ivr.ami.client import AmiClient
from tests.integration.conftest import (
    AgiSwitch,
    Caller,
    Stack,
    call_killing_serve_at_first_prompt,
    given_records,
    last_line_broken,
    synced_row,
    until,
)

READ = 'EXEC Read "IVR_MENU_KEY,'


async def test_each_outcome_of_the_last_menu_reaches_its_queue_and_is_recorded(call: Caller, stack: Stack) -> None:
    """A key of the menu, '#' (which Read() swallows), '*', a key the menu has not, and silence: each
    reaches the queue of its category, and the record says what the caller did, as Asterisk read it."""
    cases = {
        "13": ("kejahatan", "selected", "13"),
        "1#": ("darurat-umum", "invalid", "1#"),
        "1*": ("darurat-umum", "invalid", "1*"),
        "17": ("darurat-umum", "invalid", "17"),
        "1": ("darurat-umum", "silence", "1"),
    }
    reports = await asyncio.gather(*(call(keys, gap=1.0) for keys in cases))
    for report, (keys, (category, exit, recorded)) in zip(reports, cases.items(), strict=True):
        assert (report.route.get("Category"), report.answered) == (category, True), keys
        assert any(command.startswith(READ) for command in report.agi_commands), (keys, report.agi_commands)
        row = await until(lambda entry=f"{report.channel}-in": stack.store.get(entry), timeout=10)
        assert (row["keys"], row["exit"], row["category"], row["queue"]) == (recorded, exit, category, report.queue), (
            keys
        )


async def test_a_service_killed_while_asterisk_reads_the_key_still_routes_the_choice(
    call: Caller, agi: AgiSwitch, stack: Stack, ami: AmiClient
) -> None:
    """`ivr serve` killed (SIGKILL) right after it handed the menu over, with no other service and no
    last line to fall back on: the caller's key still takes them to its queue (ambulance), not to the
    central fallback, since the route is Asterisk's own from then on."""
    await agi.stop()
    try:
        with last_line_broken(stack):
            report = await call_killing_serve_at_first_prompt(stack, ami, call("12", gap=1.0), command="EXEC Read")
    finally:
        await agi.start_real()
    assert [route["Action"] for route in report.routes] == ["queue"], report.routes
    assert (report.route["Category"], report.queue, report.answered) == ("kecelakaan", "q-psc119", True)
    # Its record was the killed service's to write: rebuilt from Asterisk's records, with the category.
    row = await synced_row(given_records(stack), stack, f"{report.channel}-in", queue_outcome="answered")
    assert (row["outcome"], row["category"], row["queue"]) == ("routed", "kecelakaan", "q-psc119")
