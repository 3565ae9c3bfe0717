"""Routing tables over a fixed clock, fake live queue state and caller standing."""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr.config import Config, load_config
from ivr.config.sop import Agency, Bridge, Category, Hours, Queue, Sop
from ivr.routing.decide import Decision, QueueState, Standing, decide, fallback_decision

WIB = ZoneInfo("Asia/Jakarta")
REPO = Path(__file__).resolve().parents[2]
TUESDAY_NOON = datetime(2026, 12, 1, 12, 0, tzinfo=WIB)
TUESDAY_NIGHT = datetime(2026, 12, 1, 23, 30, tzinfo=WIB)
INDEPENDENCE_DAY = datetime(2026, 8, 17, 10, 0, tzinfo=WIB)  # a Monday, and a holiday


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(REPO)


@pytest.mark.parametrize(
    ("category", "at", "queue", "timeout", "priority"),
    [
        ("kebakaran", TUESDAY_NIGHT, "q-damkar", 30, 10),
        ("kecelakaan", TUESDAY_NOON, "q-psc119", 30, 10),
        ("darurat-umum", TUESDAY_NIGHT, "q112", 0, 10),
        ("informasi", TUESDAY_NOON, "q112", 0, 1),
        ("lalu-lintas", TUESDAY_NOON, "q-dishub", 120, 3),
        ("lalu-lintas", TUESDAY_NIGHT, "q112", 0, 3),  # Dishub closed at night → central
        ("lalu-lintas", INDEPENDENCE_DAY, "q112", 0, 3),  # ... and on a holiday
        ("sosial", TUESDAY_NIGHT, "q112", 0, 2),  # Dinsos after hours → Satpol PP → closed too → central
        ("sosial", datetime(2026, 12, 1, 18, 0, tzinfo=WIB), "q-satpolpp", 120, 2),  # Dinsos closed, Satpol PP open
        ("", TUESDAY_NOON, "q112", 0, 10),  # nothing chosen: central, as an emergency
    ],
)
def test_routing_table(config: Config, category: str, at: datetime, queue: str, timeout: int, priority: int) -> None:
    """Category and clock decide the queue, its time limit and the priority."""
    decision = decide(category, config.sop, at)
    assert (decision.action, decision.target, decision.timeout, decision.priority) == (
        "queue",
        queue,
        timeout,
        priority,
    )


def test_holiday_is_named_in_the_reason(config: Config) -> None:
    """The reason says why: the holiday by name."""
    assert "holiday: Hari Kemerdekaan Republik Indonesia" in decide("lalu-lintas", config.sop, INDEPENDENCE_DAY).reason


def test_overflow_chain_steps_in_order(config: Config) -> None:
    """bencana: q-bpbd, then q-damkar, then central — each step after the last one tried."""
    first = decide("bencana", config.sop, TUESDAY_NOON)
    second = decide("bencana", config.sop, TUESDAY_NOON, tried=first.tried)
    third = decide("bencana", config.sop, TUESDAY_NOON, tried=second.tried)
    assert [first.target, second.target, third.target] == ["q-bpbd", "q-damkar", "q112"]
    assert third.timeout == 0 and "after q-bpbd, q-damkar" in third.reason


def test_empty_or_paused_queue_is_skipped_at_once(config: Config) -> None:
    """No operator ready in q-bpbd (none logged in, or all paused): straight to the next step."""
    live = {"q-bpbd": QueueState("q-bpbd", members=2, ready=0), "q-damkar": QueueState("q-damkar", 0, 0)}
    decision = decide("bencana", config.sop, TUESDAY_NOON, live=live)
    assert decision.target == "q112"
    assert "q-bpbd: no operator ready (2 logged in" in decision.reason
    assert "q-damkar: no operator ready (0 logged in" in decision.reason


def test_a_busy_agency_queue_is_passed_over_at_once(config: Config) -> None:
    """bencana in a flood: BPBD's one operator is on a call, so the caller goes on to Damkar now, not after
    45 s; the reason says why."""
    live = {"q-bpbd": QueueState("q-bpbd", members=1, ready=1, on_call=1)}
    decision = decide("bencana", config.sop, TUESDAY_NOON, live=live)
    assert (decision.target, decision.timeout, decision.tried) == ("q-damkar", 45, ("q-damkar",))
    assert decision.reason == (
        "bencana (Bencana (banjir, puting beliung, pohon tumbang)); "
        "q-bpbd: busy, its one ready operator on a call: next step at once; "
        "queue q-damkar (Dinas Pemadam Kebakaran dan Penyelamatan): wait at most 45 s, then the next step"
    )


@pytest.mark.parametrize(
    ("state", "busy"),
    [
        (QueueState("q-damkar", members=2, ready=2, on_call=2), "all 2 ready operators on a call"),
        # One free, but a caller already waits for them (ringing): a new caller would wait too.
        (QueueState("q-damkar", 2, 2, waiting=1, on_call=1), "1 of 2 ready operators on a call, 1 already waiting"),
        (QueueState("q-damkar", 3, 2, waiting=2, on_call=0), "0 of 2 ready operators on a call, 2 already waiting"),
    ],
)
def test_a_queue_is_busy_when_no_ready_operator_is_left_for_a_new_caller(
    config: Config, state: QueueState, busy: str
) -> None:
    """Busy: every ready operator is on a call or due to a caller already waiting there."""
    decision = decide("kebakaran", config.sop, TUESDAY_NOON, live={"q-damkar": state})
    assert decision.target == "q112"
    assert f"q-damkar: busy, {busy}: next step at once" in decision.reason


@pytest.mark.parametrize(
    "state",
    [
        QueueState("q-damkar", members=2, ready=2, on_call=1),  # one free operator
        QueueState("q-damkar", members=2, ready=2, waiting=1),  # two ringing or free for one waiting caller
        QueueState("q-damkar", members=3, ready=1, on_call=0),  # two paused, one free
    ],
)
def test_a_queue_with_an_operator_left_for_a_new_caller_is_kept(config: Config, state: QueueState) -> None:
    """Not busy: at least one ready operator is neither on a call nor due to a caller ahead."""
    decision = decide("kebakaran", config.sop, TUESDAY_NOON, live={"q-damkar": state})
    assert (decision.target, decision.timeout) == ("q-damkar", 30)
    assert "busy" not in decision.reason


def test_a_category_with_skip_busy_false_waits_for_its_busy_agency(config: Config) -> None:
    """pengaduan (shipped skip_busy: false): Satpol PP's operator is on a call, the caller waits there
    up to max_wait rather than take a central call-taker; the reason says so."""
    live = {"q-satpolpp": QueueState("q-satpolpp", members=1, ready=1, on_call=1)}
    decision = decide("pengaduan", config.sop, TUESDAY_NOON, live=live)
    assert (decision.target, decision.timeout) == ("q-satpolpp", 120)
    assert decision.reason == (
        "pengaduan (Pengaduan ketertiban umum); q-satpolpp: busy, its one ready operator on a call, waiting "
        "anyway (skip_busy: false); queue q-satpolpp (Satuan Polisi Pamong Praja): wait at most 120 s, then "
        "the next step"
    )


def test_every_shipped_darurat_category_passes_over_a_busy_agency(config: Config) -> None:
    """The shipped SOP: darurat categories skip a busy agency queue; the non-darurat ones wait for it."""
    skipping = {name for name, category in config.sop.categories.items() if category.skip_busy}
    emergencies = {name for name, category in config.sop.categories.items() if category.emergency}
    assert emergencies <= skipping
    assert {"pengaduan", "lalu-lintas", "sosial"}.isdisjoint(skipping)


def test_central_is_never_skipped_even_busy(config: Config) -> None:
    """Every central call-taker on a call and callers waiting: the caller still queues there, no time limit."""
    live = {
        "q-bpbd": QueueState("q-bpbd", 1, 1, on_call=1),
        "q-damkar": QueueState("q-damkar", 2, 2, on_call=2),
        "q112": QueueState("q112", 3, 3, waiting=5, on_call=3),
    }
    decision = decide("bencana", config.sop, TUESDAY_NOON, live=live)
    assert (decision.target, decision.timeout) == ("q112", 0)
    assert "q112: busy" not in decision.reason


def test_central_is_never_skipped(config: Config) -> None:
    """Even with nobody ready in the central queue, the caller waits there for a human."""
    decision = decide("darurat-umum", config.sop, TUESDAY_NOON, live={"q112": QueueState("q112", 0, 0)})
    assert decision.target == "q112"


def test_flagged_number_is_queued_last_but_queued(config: Config) -> None:
    """A flagged number: lowest priority, a warning, still a queue (also for darurat)."""
    standing = Standing(flagged=True, level=1, until=TUESDAY_NIGHT)
    decision = decide("kebakaran", config.sop, TUESDAY_NOON, standing=standing)
    assert (decision.target, decision.priority, decision.warn) == ("q-damkar", 0, True)
    whitelisted = decide("kebakaran", config.sop, TUESDAY_NOON, standing=Standing(True, 1, None, whitelisted=True))
    assert (whitelisted.priority, whitelisted.warn) == (10, False)


def test_a_number_flagged_for_silent_calls_alone_waits_last_without_the_warning(config: Config) -> None:
    """Flagged for silent calls and no prank: lowest priority, no prank warning; one prank brings the warning back."""
    silent = decide("darurat-umum", config.sop, TUESDAY_NOON, standing=Standing(True, 1, TUESDAY_NIGHT, silent=2))
    assert (silent.target, silent.priority, silent.warn) == ("q112", 0, False)
    assert "flagged for silent calls, no warning" in silent.reason
    assert "ditandai panggilan diam, tanpa peringatan" in silent.reason_id
    mixed = Standing(True, 1, TUESDAY_NIGHT, pranks=1, silent=2)
    assert decide("darurat-umum", config.sop, TUESDAY_NOON, standing=mixed).warn


def test_bridge_first_then_the_queue_chain(alt_config: Config) -> None:
    """route: bridge dials the agency first; unanswered, the same chain as a queue route follows."""
    bridge = decide("medis", alt_config.sop, TUESDAY_NOON)
    assert (bridge.action, bridge.target, bridge.timeout) == ("bridge", "Local/posko@siaga-sim-bridge", 8)
    after = decide("medis", alt_config.sop, TUESDAY_NOON, tried=bridge.tried)
    assert (after.action, after.target) == ("queue", "ambulans-x")


def test_fallback_decision_is_the_central_queue_at_emergency_priority(config: Config) -> None:
    """When routing fails, the caller goes to the central queue at the darurat priority, saying why."""
    decision = fallback_decision(config.sop, "lalu-lintas", "routing overran 0.2 s", "perutean terlalu lama 0,2 s")
    assert decision == Decision(
        "queue",
        "q112",
        10,
        "lalu-lintas",
        0,
        "routing overran 0.2 s; queue q112: the central call-takers, 24/7, no time limit",
        False,
        ("q112",),
        "perutean terlalu lama 0,2 s; antrean q112: petugas pusat, 24 jam, tanpa batas waktu",
    )
    assert fallback_decision(config.sop, "nope", "decide raised KeyError").category == ""


CENTRAL_REASON = "queue q112: the central call-takers, 24/7, no time limit"


@pytest.mark.parametrize(
    ("category", "at", "standing", "reason", "name"),
    [
        (
            "sosial",
            TUESDAY_NIGHT,
            None,
            "sosial (Orang terlantar / ODGJ); Dinas Sosial closed now (hours mon-fri 08:00-16:00): its calls go to "
            "q-satpolpp; Satuan Polisi Pamong Praja closed now (hours mon-sat 07:00-22:00): its calls go to q112; "
            f"{CENTRAL_REASON}",
            "sosial",
        ),
        ("nope", TUESDAY_NIGHT, None, f"category 'nope' not in the SOP; {CENTRAL_REASON}", ""),
        ("", TUESDAY_NIGHT, None, f"no category chosen; {CENTRAL_REASON}", ""),
        (
            "kebakaran",
            TUESDAY_NOON,
            Standing(True, 2, TUESDAY_NIGHT),
            "kebakaran (Kebakaran); number flagged for pranks (level 2, until 2026-12-01T23:30+07:00): "
            "priority 0, still queued for a human; queue q-damkar (Dinas Pemadam Kebakaran dan "
            "Penyelamatan): wait at most 30 s, then the next step",
            "kebakaran",
        ),
        (
            "kebakaran",
            TUESDAY_NOON,
            Standing(True, 1, None),
            "kebakaran (Kebakaran); number flagged for pranks (level 1, until ?): priority 0, still queued "
            "for a human; queue q-damkar (Dinas Pemadam Kebakaran dan Penyelamatan): wait at most 30 s, "
            "then the next step",
            "kebakaran",
        ),
    ],
)
def test_reason_and_category_are_exact(
    config: Config, category: str, at: datetime, standing: Standing | None, reason: str, name: str
) -> None:
    """The operator and the log read exactly why; IVR_CATEGORY is the SOP's name, or empty when none was chosen."""
    decision = decide(category, config.sop, at, standing=standing)
    assert (decision.reason, decision.category) == (reason, name)


def test_the_call_taker_reads_the_reason_in_indonesian(config: Config) -> None:
    """The console shows the Indonesian explanation, part for part the English one of the records."""
    busy = {"q-damkar": QueueState("q-damkar", members=1, ready=1, waiting=1, on_call=1)}
    decision = decide("kebakaran", config.sop, TUESDAY_NOON, busy, Standing(True, 1, None))
    assert decision.reason_id == (
        "kebakaran (Kebakaran); nomor ditandai iseng (tingkat 1, sampai ?): prioritas 0, tetap diantrekan ke "
        "petugas; q-damkar: sibuk, satu-satunya petugas siapnya sedang menerima panggilan, 1 penelepon sudah "
        "menunggu: langsung ke langkah berikutnya; antrean q112: petugas pusat, 24 jam, tanpa batas waktu"
    )


ENGLISH_WORDS = ("queue ", "busy", "wait ", "operator", "closed", "after ", "flagged", "no time", "category", "dial ")


@pytest.mark.parametrize(
    ("category", "at", "live", "standing"),
    [
        ("sosial", TUESDAY_NIGHT, None, None),
        ("nope", TUESDAY_NIGHT, None, None),
        ("", TUESDAY_NIGHT, None, None),
        ("kebakaran", TUESDAY_NOON, None, Standing(True, 2, TUESDAY_NIGHT)),
        ("kebakaran", TUESDAY_NOON, {"q-damkar": QueueState("q-damkar", 2, 0)}, None),
        ("kebakaran", TUESDAY_NOON, {"q-damkar": QueueState("q-damkar", 3, 3, 0, 2)}, None),
        ("kebakaran", TUESDAY_NOON, {"q-damkar": QueueState("q-damkar", 3, 3, 2, 3)}, None),
    ],
)
def test_every_part_of_the_reason_is_said_in_indonesian(
    config: Config, category: str, at: datetime, live: dict[str, QueueState] | None, standing: Standing | None
) -> None:
    decision = decide(category, config.sop, at, live, standing)
    english, indonesian = decision.reason.split("; "), decision.reason_id.split("; ")
    assert len(indonesian) == len(english), (decision.reason, decision.reason_id)
    assert not [word for word in ENGLISH_WORDS if word in decision.reason_id], decision.reason_id


def test_a_bridge_and_a_holiday_are_said_in_indonesian() -> None:
    assert decide("lapor", given_sop(), datetime(2026, 8, 18, 10, 0, tzinfo=WIB)).reason_id == (
        "lapor (Lapor); panggil Meja di PJSIP/meja, berdering 20 detik"
    )
    decision = decide("lapor", given_sop(), INDEPENDENCE_DAY)
    assert decision.reason_id == (
        "lapor (Lapor); Meja tutup, tanpa sambungan langsung; Meja tutup sekarang (hari libur: Hari Kemerdekaan): "
        "panggilannya ke q0; antrean q0: petugas pusat, 24 jam, tanpa batas waktu"
    )


def test_queue_without_time_limit_says_so(alt_config: Config) -> None:
    """A category queue with max_wait 0 is a wait with no limit, and the reason says so."""
    decision = decide("api", alt_config.sop, TUESDAY_NOON)
    assert (decision.target, decision.timeout) == ("regu-api-1", 0)
    assert decision.reason == "api (Api); queue regu-api-1 (Regu Api): no time limit"


OFFICE = Hours(False, ((frozenset(range(5)), time(8), time(16)),), "mon-fri 08:00-16:00")


def given_sop(overflow: tuple[str, ...] = (), categories: dict[str, Category] | None = None) -> Sop:
    """A central queue, and a desk (with a bridge) that keeps office hours."""
    return Sop(
        {
            "pusat": Agency("pusat", "Pusat", (Queue("q0", "pusat"),), central=True),
            "meja": Agency("meja", "Meja", (Queue("q-meja", "meja"),), hours=OFFICE, bridge=Bridge("PJSIP/meja", 20)),
        },
        categories
        if categories is not None
        else {"lapor": Category("lapor", "Lapor", False, 3, "q-meja", route="bridge", overflow=overflow)},
        holidays={INDEPENDENCE_DAY.date(): "Hari Kemerdekaan"},
    )


def test_no_bridge_to_a_desk_closed_for_a_holiday() -> None:
    """On a holiday an office-hours desk is not dialled (20 s of ringing nobody answers): straight to central."""
    assert decide("lapor", given_sop(), datetime(2026, 8, 18, 10, 0, tzinfo=WIB)).action == "bridge"  # a Tuesday
    decision = decide("lapor", given_sop(), INDEPENDENCE_DAY)
    assert (decision.action, decision.target) == ("queue", "q0")
    assert "Meja closed, no bridge" in decision.reason


def test_a_queue_no_agency_owns_is_skipped_not_the_end_of_the_chain() -> None:
    """An unknown queue in an overflow (refused by ivr check) is passed over; the chain goes on to the next one."""
    sop = given_sop(categories={"x": Category("x", "X", False, 3, "q-gone", overflow=("q-meja",))})
    decision = decide("x", sop, TUESDAY_NOON)
    assert decision.target == "q-meja"
    assert "q-gone: not a queue of the SOP, skipped" in decision.reason


def test_fallback_priority_without_darurat_categories_is_10() -> None:
    """With no darurat category to copy, a fallback call still gets priority 10."""
    assert fallback_decision(given_sop(), "lapor", "x").priority == 10
