"""Every call that reached Asterisk ends up in our store with its real outcome, rebuilt from
Asterisk's own records (queue_log, CDR) where our service did not see it."""

from __future__ import annotations

import asyncio

from ivr.ami.client import AmiClient
from ivr.ami.operators import sim_interface
from ivr.ami.testcall import hang_up
from ivr.store.reconcile import AsteriskRecords
from tests.integration.conftest import SEATS, AgiSwitch, Caller, Stack, last_line_broken, until

NEVER_ANSWERS = "Local/desk@siaga-sim-bridge/n"
DAMKAR = "q-damkar"


def given_records(stack: Stack) -> AsteriskRecords:
    return AsteriskRecords(stack.store, stack.settings.asterisk_dir / "log")


async def synced_row(
    records: AsteriskRecords, stack: Stack, uniqueid: str, timeout: float = 20.0, **expected: object
) -> dict[str, object]:
    """Sync Asterisk's records into the store until the call's row shows ``expected`` (CDRs are
    written when the call ends)."""

    def matches() -> dict[str, object] | None:
        records.sync()
        row = stack.store.get(uniqueid)
        return row if row and all(row[key] == value for key, value in expected.items()) else None

    return await until(matches, timeout=timeout, interval=0.3)


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
    assert report.route == {"Action": "fallback", "AgiStatus": "NOTFOUND"} and report.answered
    row = await synced_row(records, stack, f"{report.channel}-in", outcome="fallback")
    assert (row["caller"], row["queue"], row["queue_outcome"]) == ("081299990001", "q112", "answered")
    assert str(row["answered_by"]).startswith("Simulasi q112")


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
