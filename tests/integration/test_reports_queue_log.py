"""The period report against the real Asterisk: calls placed through the menu and queues, folded into
the store from Asterisk's records as ``ivr serve`` does, and the report's answered and abandoned
counts and NENA shares checked against Asterisk's own queue_log, read here line by line without our
parser."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from ivr.ami.client import AmiClient
from ivr.ami.operators import sim_interface
from ivr.ami.testcall import hang_up
from ivr.reports import CallRow, Period, build_report
from ivr.store.reconcile import AsteriskRecords
from tests.integration.conftest import SEATS, Caller, Stack, until

pytestmark = pytest.mark.asterisk

NEVER_ANSWERS = "Local/desk@siaga-sim-bridge/n"
DAMKAR = "q-damkar"
QUEUE_ENDS = {"CONNECT", "ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY"}


def queue_log_endings(path: Path) -> dict[str, tuple[str, list[str]]]:
    """Each call's last queue visit's ending as Asterisk wrote it: callid → (event, data fields)."""
    endings: dict[str, tuple[str, list[str]]] = {}
    for line in path.read_text(errors="replace").splitlines():
        fields = line.split("|")
        if len(fields) < 5:
            continue
        callid, event = fields[1], fields[4]
        if event == "ENTERQUEUE":
            endings.pop(callid, None)  # a later visit (overflow) replaces the earlier one
        elif event in QUEUE_ENDS:
            endings[callid] = (event, fields[5:])
    return endings


async def test_the_report_matches_asterisks_queue_log(call: Caller, ami: AmiClient, stack: Stack) -> None:
    """Two calls answered by Damkar and PSC 119, one abandoned in q-damkar: the report's answered,
    abandoned and within-15/20 s counts equal what queue_log says of the same calls."""
    records = AsteriskRecords(stack.store, stack.settings.asterisk_dir / "log")
    records.sync()
    fire = await call("11", gap=1.0)
    ambulance = await call("12", gap=1.0)
    assert (fire.answered, fire.queue, ambulance.answered, ambulance.queue) == (True, DAMKAR, True, "q-psc119")
    for seat in range(1, SEATS + 1):
        await ami.action(
            {"Action": "QueuePause", "Queue": DAMKAR, "Interface": sim_interface(DAMKAR, seat), "Paused": "true"}
        )
    await ami.action({"Action": "QueueAdd", "Queue": DAMKAR, "Interface": NEVER_ANSWERS, "MemberName": "Meja"})
    try:
        gone = await call("11", gap=1.0, until="queued", answer_timeout=40, hangup=False)
        assert gone.queue == DAMKAR
        await hang_up(ami, gone.channel)
    finally:
        await ami.action({"Action": "QueueRemove", "Queue": DAMKAR, "Interface": NEVER_ANSWERS})
        for seat in range(1, SEATS + 1):
            await ami.action(
                {"Action": "QueuePause", "Queue": DAMKAR, "Interface": sim_interface(DAMKAR, seat), "Paused": "false"}
            )
    ours = {f"{fire.channel}-in": "answered", f"{ambulance.channel}-in": "answered", f"{gone.channel}-in": "abandoned"}

    def folded() -> bool:
        records.sync()
        rows = {uniqueid: stack.store.get(uniqueid) for uniqueid in ours}
        return all(row is not None and row["queue_outcome"] == ours[uid] for uid, row in rows.items())

    await until(folded, timeout=30, interval=0.3)

    sop = stack.config.current().sop
    zone = sop.zone()
    started = [datetime.fromisoformat(str((stack.store.get(uniqueid) or {})["started_at"])) for uniqueid in ours]
    period = Period(min(started).astimezone(zone).date(), max(started).astimezone(zone).date(), zone)
    start, end = period.bounds()
    rows = [CallRow.from_store(row) for row in stack.store.calls_between(start, end)]
    assert set(ours) <= {row.uniqueid for row in rows}
    report = build_report(rows, period, sop)

    endings = queue_log_endings(stack.settings.asterisk_dir / "log" / "queue_log")
    in_period = [endings[row.uniqueid] for row in rows if row.uniqueid in endings]
    holds = [float(data[0]) for event, data in in_period if event == "CONNECT"]
    outcomes = dict(report.queue_outcomes)
    assert outcomes["answered"] == len(holds) >= 2
    assert outcomes["abandoned"] == sum(event == "ABANDON" for event, _data in in_period) >= 1
    times = report.answer_times
    assert (times.answered, times.abandoned) == (outcomes["answered"], outcomes["abandoned"])
    assert times.within_15 == sum(hold <= 15 for hold in holds)
    assert times.within_20 == sum(hold <= 20 for hold in holds)
    assert {uniqueid: endings[uniqueid][0] for uniqueid in ours} == {
        f"{fire.channel}-in": "CONNECT",
        f"{ambulance.channel}-in": "CONNECT",
        f"{gone.channel}-in": "ABANDON",
    }
