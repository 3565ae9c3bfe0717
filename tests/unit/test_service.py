"""CallService over a scripted fake Asterisk session: one typed outcome per call, and a failing store
costs history or a record, never the menu or the route."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from ivr.agi.channel import LAST_MENU_ROUTES
from ivr.agi.protocol import Reply
from ivr.agi.server import AgiEnvironment, ChannelHungUp
from ivr.config import Config, load_config
from ivr.routing.decide import Decision, decide
from ivr.routing.route_variable import ROUTE_VARIABLE, split_route
from ivr.routing.triage import CallerHistory, Flag
from ivr.service import SLOW_DECISION_MS, CallService
from ivr.store.calls import CallStore, IvrRecord
from tests.fakes.last_menu import asterisk_runs_last_menu

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)  # 10:00 in Tangerang, a Wednesday
SET_VARIABLE = re.compile(r'SET VARIABLE (\w+) "(.*)"')


@dataclass
class FakeAsterisk:
    """Answers commands as Asterisk would for a caller who presses ``keys`` one per prompt/wait."""

    keys: list[str]
    uniqueid: str = "1700000000.1"
    caller: str = "+62 812-3456-7890"
    hang_up_at_command: int | None = None
    env: AgiEnvironment = field(init=False)
    summary: dict[str, Any] = field(default_factory=dict)
    hung_up: bool = False
    sent: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    last_command: str = ""  # the command sent as the session's last (the caller's side closed)
    sent_at: float = 0.0

    def __post_init__(self) -> None:
        self.env = AgiEnvironment(
            {
                "agi_uniqueid": self.uniqueid,
                "agi_callerid": self.caller,
                "agi_calleridname": "Warga",
                "agi_network_script": "112",
            }
        )

    async def command(self, line: str, timeout: float = 30.0, last: bool = False) -> Reply:
        assert not self.last_command, f"{line!r} sent after the last command {self.last_command!r}"
        self.sent.append(line)
        if last:
            self.last_command = line
        if self.hang_up_at_command is not None and len(self.sent) >= self.hang_up_at_command:
            self.hung_up = True
            raise ChannelHungUp("511 Command Not Permitted on a dead channel")
        if line.startswith(("STREAM FILE", "WAIT FOR DIGIT")):
            key = self.keys.pop(0) if self.keys else ""
            return Reply(200, str(ord(key)) if key else "0")
        set_variable = SET_VARIABLE.fullmatch(line)
        if set_variable:
            self.variables[set_variable[1]] = set_variable[2]
            if set_variable[1] == ROUTE_VARIABLE:  # what the dialplan's ARRAY() split makes of it
                self.variables.update(split_route(set_variable[2]))
        return Reply(200, "1")

    async def last_batch(
        self, lines: list[str], timeout: float = 30.0, proceed: Callable[[], bool] | None = None
    ) -> list[Reply] | None:
        """A last menu handed to Asterisk: Read() takes the next key, the dialplan the route."""
        assert not self.last_command, f"{lines!r} sent after the last command {self.last_command!r}"
        if proceed is not None and not proceed():
            return None
        self.sent.extend(lines)
        self.last_command = lines[-1]
        if self.hang_up_at_command is not None and len(self.sent) >= self.hang_up_at_command:
            self.hung_up = True
            raise ChannelHungUp("511 Command Not Permitted on a dead channel")
        replies = asterisk_runs_last_menu(lines, self.keys.pop(0) if self.keys else "", self.variables)
        self.variables.update(split_route(self.variables[ROUTE_VARIABLE]))
        return replies

    @property
    def set_order(self) -> list[str]:
        return [match[1] for line in self.sent if (match := SET_VARIABLE.fullmatch(line))]


@dataclass
class FakeStore:
    """A store whose parts can be made to fail or stall."""

    records: list[IvrRecord] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    dispositions: list[tuple[datetime, str]] = field(default_factory=list)
    history_error: Exception | None = None
    history_stall: float = 0.0
    record_error: Exception | None = None

    async def record(self, record: IvrRecord) -> None:
        if self.record_error is not None:
            raise self.record_error
        self.records.append(record)

    def history(self, caller: str, since: datetime) -> CallerHistory:
        if self.history_stall:
            import time

            time.sleep(self.history_stall)
        if self.history_error is not None:
            raise self.history_error
        return CallerHistory(caller, list(self.dispositions), list(self.flags))

    def add_flag(self, caller: str, flag: Flag) -> None:
        self.flags.append(flag)


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Config, Path]]:
    """The shipped configuration, with an (empty) audio file for every prompt so none is skipped."""
    config = load_config(Path(__file__).resolve().parents[2])
    sounds = tmp_path_factory.mktemp("sounds")
    for prompt, texts in config.prompts.items():
        for language in texts:
            (sounds / language).mkdir(exist_ok=True)
            (sounds / language / f"{prompt}.wav").write_bytes(b"")
    yield config, sounds


def given_service(shipped: tuple[Config, Path], store: FakeStore | None) -> CallService:
    config, sounds = shipped
    return CallService(lambda: config, sounds, store, clock=lambda: NOW)


async def test_fire_caller_is_routed_recorded_and_the_route_is_set_in_one_variable(
    shipped: tuple[Config, Path],
) -> None:
    """Keys 1 1: the fire queue, one record with the outcome, and the routes set in one variable."""
    _config, sounds = shipped
    store = FakeStore()
    session = FakeAsterisk(keys=["1", "1"])
    await given_service(shipped, store).handle(session)
    assert session.variables["IVR_TARGET"] == "q-damkar"
    # The darurat menu is a last menu: Asterisk plays it and takes the route of the key from the one
    # variable the session set, in the batch that ends the session (the dialplan's pick: the fake's).
    assert session.set_order == [LAST_MENU_ROUTES] and session.variables["IVR_ACTION"] == "queue"
    assert session.sent[-3:] == [
        f'SET VARIABLE {LAST_MENU_ROUTES} "{session.variables[LAST_MENU_ROUTES]}"',
        f'EXEC Read "IVR_MENU_KEY,{sounds}/id/menu-darurat,1,,1,2.5"',
        'GET FULL VARIABLE "${READSTATUS},${IVR_MENU_KEY}"',
    ]
    assert session.last_command == session.sent[-1]
    [record] = store.records
    assert (record.outcome, record.keys, record.category, record.queue, record.caller) == (
        "routed",
        "11",
        "kebakaran",
        "q-damkar",
        "081234567890",
    )
    assert record.reason_id.endswith(
        "antrean q-damkar (Dinas Pemadam Kebakaran dan Penyelamatan): "
        "tunggu paling lama 30 detik, lalu langkah berikutnya"
    )
    assert (session.summary["ivr_outcome"], session.summary["queue"]) == ("routed", "q-damkar")


async def test_history_failure_costs_history_not_the_menu(shipped: tuple[Config, Path]) -> None:
    """A store that cannot read history: the caller still hears the menu and reaches the chosen queue."""
    store = FakeStore(history_error=OSError("disk I/O error"))
    session = FakeAsterisk(keys=["1", "1"])
    await given_service(shipped, store).handle(session)
    assert session.variables["IVR_TARGET"] == "q-damkar"
    assert session.summary["degraded"] == ["history_unavailable"]
    assert store.records[0].outcome == "routed"


async def test_a_stalled_history_lookup_is_given_up(
    shipped: tuple[Config, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """History that takes longer than its deadline is dropped; the route does not wait for it."""
    monkeypatch.setattr("ivr.service.HISTORY_DEADLINE", 0.05)
    store = FakeStore(history_stall=0.5)
    session = FakeAsterisk(keys=["1", "1"])
    started = asyncio.get_running_loop().time()
    await given_service(shipped, store).handle(session)
    assert asyncio.get_running_loop().time() - started < 0.4
    assert session.variables["IVR_TARGET"] == "q-damkar"
    assert session.summary["degraded"] == ["history_unavailable"]


async def test_a_failed_record_write_is_logged_and_the_route_stands(shipped: tuple[Config, Path]) -> None:
    """The record cannot be written: the route was already published, the loss is logged as an error."""
    store = FakeStore(record_error=OSError("database is locked"))
    session = FakeAsterisk(keys=["1", "2"])
    with capture_logs() as logs:
        await given_service(shipped, store).handle(session)
    assert session.variables["IVR_ACTION"] == "queue" and session.variables["IVR_TARGET"] == "q-psc119"
    assert [entry["event"] for entry in logs if entry["log_level"] == "error"] == ["call_record_lost"]


async def test_caller_who_hangs_up_in_the_menu_is_recorded_as_abandoned(shipped: tuple[Config, Path]) -> None:
    """A hang-up during the second prompt: no route, a record 'abandoned_in_ivr' with the keys so far."""
    store = FakeStore()
    session = FakeAsterisk(keys=["1"], hang_up_at_command=2)
    with pytest.raises(ChannelHungUp):
        await given_service(shipped, store).handle(session)
    [record] = store.records
    assert (record.outcome, record.keys, record.queue) == ("abandoned_in_ivr", "1", "")
    assert "IVR_ACTION" not in session.variables


async def test_silent_caller_goes_to_the_emergency_call_takers(shipped: tuple[Config, Path]) -> None:
    """No key at all: the central queue at an emergency's priority (staying on the line is darurat)."""
    store = FakeStore()
    session = FakeAsterisk(keys=[])
    await given_service(shipped, store).handle(session)
    config, _ = shipped
    assert session.variables["IVR_TARGET"] == config.sop.central_queue.name
    assert store.records[0].exit == "silence"
    assert int(session.variables["IVR_PRIORITY"]) >= max(
        c.priority for c in config.sop.categories.values() if not c.emergency
    )


async def test_flagged_number_hears_the_warning_and_waits_last(shipped: tuple[Config, Path]) -> None:
    """A number with an active prank flag: the warning prompt plays, priority drops, still queued."""
    config, _ = shipped
    store = FakeStore(flags=[Flag(1, NOW - timedelta(hours=1), NOW + timedelta(hours=23), "3 prank")])
    session = FakeAsterisk(keys=["1", "1"])
    await given_service(shipped, store).handle(session)
    assert any(config.sop.prank.warning_prompt in line for line in session.sent if line.startswith("STREAM FILE"))
    assert session.variables["IVR_PRIORITY"] == str(config.sop.prank.priority)
    assert session.variables["IVR_ACTION"] == "queue"
    assert store.records[0].priority == config.sop.prank.priority
    # The warning plays after the key, which only our session can do: the menu was not handed over.
    assert not [line for line in session.sent if line.startswith("EXEC")]


@pytest.mark.parametrize(
    ("key", "keys", "exit", "category"),
    [("4", "14", "selected", "bencana"), ("#", "1#", "invalid", "darurat-umum"), ("7", "17", "invalid", "darurat-umum"),
     ("", "1", "silence", "darurat-umum")],
)  # fmt: skip
async def test_the_last_menu_is_recorded_as_asterisk_read_it(
    shipped: tuple[Config, Path], key: str, keys: str, exit: str, category: str
) -> None:
    """The darurat menu handed to Asterisk: the record has the key Read() took, how the caller left
    the menu and the route the dialplan took for it, and the session ends with the batch."""
    store = FakeStore()
    session = FakeAsterisk(keys=["1", key])
    await given_service(shipped, store).handle(session)
    [record] = store.records
    assert (record.keys, record.exit, record.category, record.queue) == (
        keys,
        exit,
        category,
        session.variables["IVR_TARGET"],
    )
    assert session.variables["IVR_CATEGORY"] == category
    assert (record.outcome, session.summary["last_menu"], session.last_command) == (
        "routed", "darurat", 'GET FULL VARIABLE "${READSTATUS},${IVR_MENU_KEY}"'
    )  # fmt: skip


async def test_a_caller_who_hangs_up_in_the_last_menu_is_recorded_as_abandoned(shipped: tuple[Config, Path]) -> None:
    store = FakeStore()
    session = FakeAsterisk(keys=["1"], hang_up_at_command=2)  # the batch is commands 2-4
    with pytest.raises(ChannelHungUp):
        await given_service(shipped, store).handle(session)
    assert session.sent[-1].startswith("GET FULL VARIABLE")
    assert (store.records[0].outcome, store.records[0].keys) == ("abandoned_in_ivr", "1")


async def test_service_without_a_store_still_routes(shipped: tuple[Config, Path]) -> None:
    """No store configured at all: routing does not depend on it."""
    session = FakeAsterisk(keys=["2", "4"])
    await given_service(shipped, None).handle(session)
    assert session.variables["IVR_CATEGORY"] == "informasi"


def raw_arg(number: bytes, name: bytes) -> str:
    """agi_arg_1 as the dialplan builds it: base64 of the %-escaped values, joined by ':'."""
    import base64
    from urllib.parse import quote_from_bytes

    return ":".join(base64.b64encode(quote_from_bytes(value, safe="").encode()).decode() for value in (number, name))


async def test_the_original_caller_id_is_recorded_escaped(shipped: tuple[Config, Path]) -> None:
    """A number carrying a newline and an expression: routed on the clean number, the original kept
    as inert text, and its history key is its own (not the clean digits another sender has)."""
    store = FakeStore()
    session = FakeAsterisk(keys=["1", "1"], caller="0812")
    session.env.headers["agi_arg_1"] = raw_arg(b"0812\n${SHELL(id)}", b"Budi\xff")
    await given_service(shipped, store).handle(session)
    [record] = store.records
    assert (record.caller_raw, record.caller_name_raw) == ("0812\\x0a${SHELL(id)}", "Budi\\xff")
    assert record.caller.startswith("x-") and record.caller != "0812"
    assert session.variables["IVR_TARGET"] == "q-damkar"


async def test_a_plain_number_keys_history_by_its_digits(shipped: tuple[Config, Path]) -> None:
    """'+62 812-3456-7890' as sent by the trunk: the usual history key, 081234567890."""
    store = FakeStore()
    session = FakeAsterisk(keys=["1", "1"], caller="+6281234567890")
    session.env.headers["agi_arg_1"] = raw_arg(b"+62 812-3456-7890", b"Warga")
    await given_service(shipped, store).handle(session)
    assert (store.records[0].caller, store.records[0].caller_raw) == ("081234567890", "+62 812-3456-7890")


async def test_a_routing_decision_that_raises_sends_the_caller_to_central(
    shipped: tuple[Config, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in routing: the caller still gets a route, the central call-takers, and the log says why."""

    def broken(*_args: Any) -> None:
        raise KeyError("q-ghost")

    monkeypatch.setattr("ivr.service.decide", broken)
    session = FakeAsterisk(keys=["1", "1"])
    store = FakeStore()
    with capture_logs() as logs:
        await given_service(shipped, store).handle(session)
    config, _ = shipped
    central = config.sop.central_queue.name
    assert (session.variables["IVR_ACTION"], session.variables["IVR_TARGET"]) == ("queue", central)
    assert session.variables["IVR_CATEGORY"] == "kebakaran"
    assert store.records[0].reason_id.startswith("perutean gagal (KeyError): langsung ke petugas pusat; antrean")
    # The last menu's routes are decided for each of its categories, each failing to the central queue.
    errors = [(entry["event"], entry["category"]) for entry in logs if entry["log_level"] == "error"]
    assert sorted(errors) == [
        ("routing_failed_central_fallback", category)
        for category in ("bencana", "darurat-umum", "kebakaran", "kecelakaan", "kejahatan")
    ]


async def test_a_slow_routing_decision_is_logged_and_its_route_kept(
    shipped: tuple[Config, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A decision slower than SLOW_DECISION_MS held every call on the loop: the log says so, and the
    caller still gets the route it decided (routing runs inline, ending by construction)."""
    import time as clock

    def slow(*args: Any) -> Decision:
        clock.sleep(SLOW_DECISION_MS * 2 / 1000)
        return decide(*args)

    monkeypatch.setattr("ivr.service.decide", slow)
    session = FakeAsterisk(keys=["1", "2"])
    with capture_logs() as logs:
        await given_service(shipped, FakeStore()).handle(session)
    assert session.variables["IVR_TARGET"] == "q-psc119"
    # One decision per category of the last menu (darurat), each as slow.
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert {(warning["event"], warning["category"]) for warning in warnings} >= {
        ("routing_decision_slow", "kecelakaan")
    }
    assert {warning["event"] for warning in warnings} == {"routing_decision_slow"}
    assert min(warning["ms"] for warning in warnings) >= SLOW_DECISION_MS


async def test_a_quick_routing_decision_logs_nothing(shipped: tuple[Config, Path]) -> None:
    """The shipped SOP decides well within SLOW_DECISION_MS: no warning on an ordinary call."""
    session = FakeAsterisk(keys=["1", "2"])
    with capture_logs() as logs:
        await given_service(shipped, FakeStore()).handle(session)
    assert session.variables["IVR_TARGET"] == "q-psc119"
    assert [entry["event"] for entry in logs if entry["log_level"] != "info"] == []


async def test_a_number_flagged_through_one_service_is_flagged_for_a_call_through_the_other(
    shipped: tuple[Config, Path], postgres_dsn: str
) -> None:
    """Two services on one PostgreSQL: three calls of a number through A are closed as prank, A's next
    call flags it; a call of the same number through B then hears the warning at the prank priority,
    and B adds no second flag."""
    config, sounds = shipped
    store_a, store_b = CallStore(postgres_dsn), CallStore(postgres_dsn)
    service_a = CallService(lambda: config, sounds, store_a, clock=lambda: NOW)
    service_b = CallService(lambda: config, sounds, store_b, clock=lambda: NOW)
    try:
        for n in range(3):
            await service_a.handle(FakeAsterisk(keys=["1", "1"], uniqueid=f"a.{n}"))
            assert store_a.set_disposition(f"a.{n}", "prank")  # an operator at A's console
        await service_a.handle(FakeAsterisk(keys=["1", "1"], uniqueid="a.3"))
        on_b = FakeAsterisk(keys=["1", "1"], uniqueid="b.0")
        await service_b.handle(on_b)
        assert any(config.sop.prank.warning_prompt in line for line in on_b.sent if line.startswith("STREAM FILE"))
        assert on_b.variables["IVR_PRIORITY"] == str(config.sop.prank.priority)
        record = store_b.get("b.0")
        assert record is not None and (record["priority"], record["queue"]) == (config.sop.prank.priority, "q-damkar")
        assert [flag.level for flag in store_b.history("081234567890", NOW - timedelta(days=1)).flags] == [1]
    finally:
        store_a.close()
        store_b.close()
