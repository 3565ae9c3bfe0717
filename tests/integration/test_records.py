"""Every call that reached Asterisk ends up in our store with its real outcome, rebuilt from
Asterisk's own records (queue_log, CDR) where our service did not see it."""

from __future__ import annotations

import asyncio

from ivr.ami.client import AmiClient
from ivr.ami.operators import sim_interface
from ivr.ami.testcall import hang_up
from tests.integration.conftest import (
    SEATS,
    AgiSwitch,
    Caller,
    Stack,
    fallback_route,
    given_records,
    last_line_broken,
    synced_row,
)

NEVER_ANSWERS = "Local/desk@siaga-sim-bridge/n"
DAMKAR = "q-damkar"


async def test_a_call_our_service_never_saw_is_rebuilt_from_the_cdr(call: Caller, agi: AgiSwitch, stack: Stack) -> None:
    """Our service down (and the last line): the dialplan queues the caller centrally; the store still
    gets the call, as 'fallback', with the queue it reached and who answered."""
    records = given_records(stack)
    records.sync()  # everything before this test
    await agi.stop()
    try:
        with last_line_broken(stack):
            report = await call("1", caller="081299990001")
    finally:
        await agi.start_real()
    assert report.route == fallback_route("NOTFOUND") and report.answered
    row = await synced_row(records, stack, f"{report.channel}-in", outcome="fallback")
    assert (row["caller"], row["queue"], row["queue_outcome"]) == ("081299990001", "q112", "answered")
    assert str(row["answered_by"]).startswith("Simulasi q112")


async def test_a_call_the_last_line_routed_is_rebuilt_with_the_callers_category(
    call: Caller, agi: AgiSwitch, stack: Stack
) -> None:
    """Our FastAGI services down: the last line (no store) plays the menu and routes 1-1 to Damkar. Its
    record is rebuilt from Asterisk's records with the category the caller chose (the route's queue_log
    line), not as a call nobody asked."""
    records = given_records(stack)
    records.sync()
    await agi.stop()
    try:
        report = await call("11", caller="081299990002", gap=1.0)
    finally:
        await agi.start_real()
    assert (report.route.get("Category"), report.queue, report.answered) == ("kebakaran", DAMKAR, True)
    row = await synced_row(records, stack, f"{report.channel}-in", queue_outcome="answered")
    assert (row["outcome"], row["category"], row["queue"], row["caller"]) == (
        "routed",
        "kebakaran",
        DAMKAR,
        "081299990002",
    )


async def test_a_caller_who_hangs_up_while_queued_is_recorded_as_abandoned(
    call: Caller, ami: AmiClient, stack: Stack
) -> None:
    """Routed to Damkar, where only a desk that never answers rings; the caller gives up: our record
    of the call says 'abandoned' after the seconds waited."""
    records = given_records(stack)
    records.sync()
    for seat in range(1, SEATS + 1):
        await ami.action(
            {"Action": "QueuePause", "Queue": DAMKAR, "Interface": sim_interface(DAMKAR, seat), "Paused": "true"}
        )
    await ami.action({"Action": "QueueAdd", "Queue": DAMKAR, "Interface": NEVER_ANSWERS, "MemberName": "Meja"})
    try:
        report = await call("11", gap=1.0, until="queued", answer_timeout=40, hangup=False)
        assert report.queue == DAMKAR
        await asyncio.sleep(2)  # waiting in the queue, then the caller gives up
        await hang_up(ami, report.channel)
    finally:
        await ami.action({"Action": "QueueRemove", "Queue": DAMKAR, "Interface": NEVER_ANSWERS})
        for seat in range(1, SEATS + 1):
            await ami.action(
                {"Action": "QueuePause", "Queue": DAMKAR, "Interface": sim_interface(DAMKAR, seat), "Paused": "false"}
            )
    row = await synced_row(records, stack, f"{report.channel}-in", queue_outcome="abandoned")
    assert (row["outcome"], row["category"], row["queue"]) == ("routed", "kebakaran", DAMKAR)
    assert float(str(row["queue_wait"])) >= 1.0
