"""Asterisk's own records (queue_log, cdr-csv) folded into our store: queue outcomes of the calls we
routed, and the calls our service never saw."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.store.asterisk_records import QueueVisit, Routed, fold_queue_log, fold_routes, parse_cdr_rows
from ivr.store.calls import CallStore, IvrRecord
from ivr.store.db import Target
from ivr.store.reconcile import AsteriskRecords

T = 1796181710  # 2026-12-02T03:21:50Z
AT = datetime.fromtimestamp(T, UTC)

QUEUE_LOG = [
    f"{T - 5}|NONE|NONE|NONE|QUEUESTART|",
    f"{T - 4}|MANAGER|q112|Local/op-q112-1@siaga-sim-operator/n|ADDMEMBER|",
    f"{T}|c1|q-damkar|NONE|ENTERQUEUE||081234567890|1",
    f"{T + 3}|c1|q-damkar|Ani|CONNECT|3|1796181713.4|1",
    f"{T + 60}|c1|q-damkar|Ani|COMPLETECALLER|3|57|1",
    f"{T}|c2|q-bpbd|NONE|ENTERQUEUE||0811|1",
    f"{T + 30}|c2|q-bpbd|NONE|EXITWITHTIMEOUT|1|1|30",
    f"{T + 30}|c2|q112|NONE|ENTERQUEUE||0811|1",
    f"{T + 42}|c2|q112|NONE|ABANDON|1|1|12",
    "garbage without fields",
    "notatime|c3|q112|NONE|ENTERQUEUE||0|1",
]


def test_queue_log_gives_each_call_its_last_visit_and_how_it_ended() -> None:
    """Answered after 3 s by Ani; an overflowed caller who abandoned the central queue after 12 s."""
    visits = fold_queue_log(QUEUE_LOG)
    assert visits == {
        "c1": QueueVisit("c1", "q-damkar", AT, "answered", 3.0, "Ani", 1),
        "c2": QueueVisit("c2", "q112", datetime.fromtimestamp(T + 30, UTC), "abandoned", 12.0, "", 2),
    }


def test_a_caller_still_waiting_is_waiting() -> None:
    """ENTERQUEUE and nothing else yet: the visit is open."""
    assert fold_queue_log([f"{T}|c9|q112|NONE|ENTERQUEUE||0|1"])["c9"].outcome == "waiting"


def cdr_line(uniqueid: str, userfield: str = "siaga112", src: str = "0812", last_app: str = "Queue") -> str:
    return (
        f'"","{src}","112","siaga-112","""Warga"" <{src}>","PJSIP/telco-112-0001","","{last_app}","q112",'
        f'"2026-12-02 03:21:50","2026-12-02 03:21:51","2026-12-02 03:22:50",60,59,"ANSWERED",'
        f'"DOCUMENTATION","{uniqueid}","{userfield}"'
    )


def test_cdr_rows_of_112_calls_are_kept_and_others_skipped() -> None:
    """Only rows marked siaga112 with a uniqueid; a short or broken row is skipped, not fatal."""
    rows = parse_cdr_rows([cdr_line("c1"), cdr_line("c2", userfield=""), '"too","short"', cdr_line("")])
    assert [(row.uniqueid, row.caller, row.duration, row.disposition) for row in rows] == [
        ("c1", "0812", 60, "ANSWERED")
    ]
    assert rows[0].started_at == datetime(2026, 12, 2, 3, 21, 50, tzinfo=UTC)


def given_record(uniqueid: str) -> IvrRecord:
    return IvrRecord(
        uniqueid,
        "2026-12-02T03:21:40+00:00",
        "0812",
        "Warga",
        "siaga112",
        "11",
        "id",
        "selected",
        "kebakaran",
        "q-damkar",
        9,
        "routed",
        4.2,
    )


@pytest.fixture
def store(store_target: Target) -> Iterator[CallStore]:
    opened = CallStore(store_target)
    yield opened
    opened.close()


def given_logs(tmp_path: Path, queue_log: list[str], cdrs: list[str]) -> Path:
    log_dir = tmp_path / "log"
    (log_dir / "cdr-csv").mkdir(parents=True, exist_ok=True)
    with (log_dir / "queue_log").open("a") as handle:
        handle.writelines(line + "\n" for line in queue_log)
    with (log_dir / "cdr-csv" / "Master.csv").open("a") as handle:
        handle.writelines(line + "\n" for line in cdrs)
    return log_dir


def test_a_routed_call_gets_its_queue_outcome_and_an_unseen_call_is_added(store: CallStore, tmp_path: Path) -> None:
    """c1 (ours) gains 'answered by Ani after 3 s'; c2 (fallback, never seen) becomes a row of its own."""
    store.write(given_record("c1"))
    records = AsteriskRecords(store, given_logs(tmp_path, QUEUE_LOG, [cdr_line("c1"), cdr_line("c2", src="0811")]))
    result = records.sync(now=AT)
    assert (result.visits_applied, result.unseen_added) == (2, 1)
    ours, unseen = store.get("c1"), store.get("c2")
    assert ours is not None and unseen is not None
    assert (ours["outcome"], ours["queue_outcome"], ours["queue_wait"], ours["answered_by"]) == (
        "routed",
        "answered",
        3.0,
        "Ani",
    )
    assert (unseen["outcome"], unseen["caller"], unseen["queue"], unseen["queue_outcome"]) == (
        "fallback",
        "0811",
        "q112",
        "abandoned",
    )
    assert "our service has no record" in unseen["reason"]


def test_a_call_routed_by_asterisk_alone_keeps_the_category_of_its_route(store: CallStore, tmp_path: Path) -> None:
    """c3's service stopped while Asterisk read its last menu's key (or the last line routed it): no
    record of ours, but the dialplan's SIAGAROUTE line names the route, so the rebuilt row has the
    caller's category and counts as routed; c4, queued by the fallback with no route, stays unknown."""
    lines = [
        f"{T}|c3|NONE|NONE|SIAGAROUTE|queue|q-bpbd|banjir|1",
        f"{T}|c3|q-bpbd|NONE|ENTERQUEUE||0813|1",
        f"{T + 4}|c3|q-bpbd|Ani|CONNECT|4|1796181714.4|1",
        f"{T}|c4|q112|NONE|ENTERQUEUE||0814|1",
    ]
    records = AsteriskRecords(store, given_logs(tmp_path, lines, [cdr_line("c3", src="0813"), cdr_line("c4")]))
    assert records.sync(now=AT).unseen_added == 2
    routed, fallback = store.get("c3"), store.get("c4")
    assert routed is not None and fallback is not None
    assert (routed["outcome"], routed["category"], routed["queue"], routed["queue_outcome"]) == (
        "routed",
        "banjir",
        "q-bpbd",
        "answered",
    )
    assert "queue q-bpbd for banjir" in routed["reason"] and "untuk banjir" in routed["reason_id"]
    assert (fallback["outcome"], fallback["category"]) == ("fallback", "")


def test_the_last_route_of_a_call_is_the_one_kept() -> None:
    """An overflow takes a second route: the later line wins; a broken line or another event is not one."""
    routes = fold_routes(
        [
            f"{T}|c1|NONE|NONE|SIAGAROUTE|queue|q-damkar|kebakaran|1",
            f"{T + 30}|c1|NONE|NONE|SIAGAROUTE|queue|q112|kebakaran|2",
            f"{T}|c2|NONE|NONE|SIAGAROUTE|queue|q112",
            f"{T}|c3|q112|NONE|ENTERQUEUE||0|1",
        ]
    )
    assert routes == {"c1": Routed("c1", "queue", "q112", "kebakaran", 2, datetime.fromtimestamp(T + 30, UTC))}


def test_sync_reads_only_new_lines_and_is_idempotent(store: CallStore, tmp_path: Path) -> None:
    """A second round with nothing new changes nothing; a line appended later is picked up."""
    store.write(given_record("c5"))
    log_dir = given_logs(tmp_path, [f"{T}|c5|q-damkar|NONE|ENTERQUEUE||0812|1"], [])
    records = AsteriskRecords(store, log_dir)
    assert records.sync(now=AT).visits_applied == 1
    assert records.sync(now=AT).visits_applied == 0
    given_logs(tmp_path, [f"{T + 9}|c5|q-damkar|NONE|ABANDON|1|1|9"], [])
    assert records.sync(now=AT).visits_applied == 1
    row = store.get("c5")
    assert row is not None and (row["queue_outcome"], row["queue_wait"]) == ("abandoned", 9.0)


def test_a_visit_waits_for_its_row_and_a_later_service_record_keeps_it(store: CallStore, tmp_path: Path) -> None:
    """queue_log before our (spooled) record: applied once the record lands, and not wiped by it."""
    records = AsteriskRecords(store, given_logs(tmp_path, QUEUE_LOG[2:4], []))
    assert records.sync(now=AT).visits_applied == 0
    store.write(given_record("c1"))
    assert records.sync(now=AT).visits_applied == 1
    store.write(given_record("c1"))  # a spooled record written again later
    row = store.get("c1")
    assert row is not None and (row["outcome"], row["queue_outcome"]) == ("routed", "answered")


def test_a_rotated_queue_log_is_read_from_its_start(store: CallStore, tmp_path: Path) -> None:
    """logrotate replaced the file: the new file's lines are not skipped by the old offset."""
    store.write(given_record("c1"))
    log_dir = given_logs(tmp_path, QUEUE_LOG, [])
    records = AsteriskRecords(store, log_dir)
    records.sync(now=AT)
    (log_dir / "queue_log").unlink()
    store.write(given_record("c7"))
    given_logs(tmp_path, [f"{T}|c7|q112|NONE|ENTERQUEUE||0812|1"], [])
    assert records.sync(now=AT).visits_applied == 1


def test_a_partial_last_line_waits_for_the_next_round(store: CallStore, tmp_path: Path) -> None:
    """Asterisk is mid-write: the unfinished line is not parsed until its newline arrives."""
    store.write(given_record("c8"))
    log_dir = given_logs(tmp_path, [], [])
    (log_dir / "queue_log").write_text(f"{T}|c8|q112|NONE|ENTERQUEUE||0812|1\n{T + 5}|c8|q112|Ani|CONN")
    records = AsteriskRecords(store, log_dir)
    records.sync(now=AT)
    assert records.visits["c8"].outcome == "waiting"
    with (log_dir / "queue_log").open("a") as handle:
        handle.write("ECT|5|x|1\n")
    records.sync(now=AT)
    assert records.visits["c8"].outcome == "answered"


def test_our_late_record_replaces_a_row_rebuilt_from_the_cdr(store: CallStore, tmp_path: Path) -> None:
    """The store was down during the call: the CDR row came first; our spooled record then takes its
    place (outcome, keys, category) and the queue outcome from queue_log stays."""
    records = AsteriskRecords(store, given_logs(tmp_path, QUEUE_LOG[2:4], [cdr_line("c1")]))
    assert records.sync(now=AT).unseen_added == 1
    store.write(given_record("c1"))
    row = store.get("c1")
    assert row is not None
    assert (row["outcome"], row["keys"], row["category"], row["queue_outcome"], row["answered_by"]) == (
        "routed",
        "11",
        "kebakaran",
        "answered",
        "Ani",
    )


def test_a_transfer_onwards_does_not_undo_an_answer() -> None:
    """Answered in q112 after 3 s, then transferred to q-damkar where nobody took it: still answered,
    by the first operator, after 3 s (the callback list and the NENA figures rely on it)."""
    visits = fold_queue_log(
        [
            "1796195925|1700.1|q112|NONE|ENTERQUEUE||0812|1",
            "1796195928|1700.1|q112|Budi Santoso|CONNECT|3|1796195925.2|0",
            "1796195940|1700.1|q-damkar|NONE|ENTERQUEUE||0812|1",
            "1796196000|1700.1|q-damkar|NONE|EXITWITHTIMEOUT|1|1|60",
        ]
    )
    visit = visits["1700.1"]
    assert (visit.outcome, visit.answered_by, visit.wait_seconds, visit.visits) == ("answered", "Budi Santoso", 3.0, 2)


# A call whose operator's phone died mid-call: answered by Budi's browser, which was lost (cause 44),
# requeued by [siaga-operator-left] (its own REQUEUE line) and answered again by Ani.
REQUEUED = [
    "1796195925|1700.7|q112|NONE|ENTERQUEUE||0812|1",
    "1796195928|1700.7|q112|Budi Santoso|CONNECT|3|1796195925.2|0",
    "1796195988|1700.7|q112|Budi Santoso|COMPLETEAGENT|3|60|1",
    "1796195988|1700.7|q112|NONE|REQUEUE|44|1|PAUSED|PJSIP/op-budi",
    "1796195988|1700.7|q112|NONE|ENTERQUEUE||0812|1",
    "1796195989|1700.7|q112|Ani|CONNECT|1|1796195988.9|0",
]


def test_a_requeue_after_a_lost_phone_is_kept_with_the_phone_it_lost() -> None:
    """The REQUEUE line adds the lost phone's interface to the visit; the call stays answered by the
    first operator after 3 s, with its second visit counted."""
    visit = fold_queue_log(REQUEUED)["1700.7"]
    assert (visit.outcome, visit.answered_by, visit.wait_seconds, visit.visits) == ("answered", "Budi Santoso", 3.0, 2)
    assert visit.lost_phones == ("PJSIP/op-budi",)


def test_a_requeue_reaches_the_calls_record_and_the_report_columns(store: CallStore, tmp_path: Path) -> None:
    """Folded into our row (1700.7) and into a row rebuilt from the CDR alone (1700.8, our service never
    saw it): lost_phones names the lost phone; reports read it (REPORT_COLUMNS)."""
    store.write(given_record("1700.7"))
    unseen = [line.replace("1700.7", "1700.8") for line in REQUEUED]
    logs = given_logs(tmp_path, REQUEUED + unseen, [cdr_line("1700.7"), cdr_line("1700.8")])
    AsteriskRecords(store, logs).sync(now=datetime.fromtimestamp(1796195989, UTC))
    start, end = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 3, tzinfo=UTC)
    assert sorted((row["uniqueid"], row["outcome"], row["lost_phones"]) for row in store.calls_between(start, end)) == [
        ("1700.7", "routed", "PJSIP/op-budi"),
        ("1700.8", "fallback", "PJSIP/op-budi"),
    ]
