"""``GET /metrics`` (ivr.web.metrics, ivr.reports.metrics): Prometheus' text format, parsed with
prometheus-client's own parser; counts match the store's rows (the January rows of
test_reports_aggregate, answers by hand) and the fake app_queue's live state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from ivr.agi.server import AgiServer
from ivr.reports.metrics import LiveSnapshot, StoreTotals, families
from ivr.settings import Settings
from ivr.store.asterisk_records import QueueVisit
from ivr.web.app import build_web_app
from ivr.web.console import Console
from ivr.web.metrics import Metrics
from tests.fakes.app_queue import until
from tests.fakes.floor_kit import BUDI, DEWI, FloorKit, given_call, open_floor
from tests.unit.test_console_web import ALT, PASSWORDS, Client, Clock, PasswordBook, PhoneBook, live_config, no_agi
from tests.unit.test_reports_web import given_january


@dataclass
class FakeAgi:
    """``AgiStats``: what AgiServer reports."""

    active_sessions: int = 2
    open_connections: int = 3


@dataclass
class Ami:
    """``AmiStatus``."""

    ready: bool


@dataclass
class Scrape:
    client: Client
    kit: FloorKit
    metrics: Metrics


@pytest.fixture
async def scrape(tmp_path: Path) -> AsyncIterator[Scrape]:
    kit = await open_floor(tmp_path)
    given_january(kit)
    # Timed out of q-damkar: the dialplan moves it on, so it is no final outcome and not counted.
    given_call(kit.calls, "t1", queue="q-damkar", started_at="2025-01-09T00:00:00+00:00")
    kit.calls.apply_queue_visit(QueueVisit("t1", "q-damkar", datetime(2025, 1, 9, tzinfo=UTC), "timeout", 15.0))
    console = Console(kit.floor, kit.console, PasswordBook(dict(PASSWORDS)), PhoneBook(), clock=Clock())
    app = build_web_app(Settings(root=ALT), live_config(), AgiServer(no_agi), None, None, console=console)
    metrics = Metrics(FakeAgi(), kit.fake, kit.live, kit.calls, lambda: kit.config, process_metrics=False)
    metrics.routes(app)
    client: Client = TestClient(TestServer(app))
    await client.start_server()
    yield Scrape(client, kit, metrics)
    await client.close()
    await kit.close()


async def samples(client: Client) -> tuple[str, dict[str, list[Sample]]]:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = await response.text()
    found: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        found.setdefault(family.name, []).extend(family.samples)
    return text, found


def by_labels(found: list[Sample], name: str, *labels: str) -> dict[tuple[str, ...], float]:
    return {tuple(s.labels[label] for label in labels): s.value for s in found if s.name == name}


async def test_calls_by_queue_and_final_outcome_match_the_store(scrape: Scrape) -> None:
    """Without a login: siaga_calls_total per (queue, outcome) as the rows say (a timeout is not final, so not
    counted); the menu's abandon is counted apart."""
    _text, found = await samples(scrape.client)
    calls = by_labels(found["siaga_calls"], "siaga_calls_total", "queue", "outcome")
    assert calls == {
        ("q-bpbd", "answered"): 1,
        ("q-damkar", "answered"): 2,
        ("q-polresta", "abandoned"): 1,
        ("q112", "answered"): 3,
    }
    assert found["siaga_calls_abandoned_in_ivr"][0].value == 1


async def test_the_answer_delay_histogram_has_the_nena_buckets(scrape: Scrape) -> None:
    """q112 answered after 15, 20 and 20.1 s: le=15 holds 1, le=20 holds 2 (bounds inclusive), +Inf 3, sum 55.1."""
    _text, found = await samples(scrape.client)
    delay = found["siaga_answer_delay_seconds"]
    q112 = {s.labels["le"]: s.value for s in delay if s.name.endswith("_bucket") and s.labels["queue"] == "q112"}
    assert (q112["10.0"], q112["15.0"], q112["20.0"], q112["30.0"], q112["+Inf"]) == (0, 1, 2, 3, 3)
    sums = by_labels(delay, "siaga_answer_delay_seconds_sum", "queue")
    counts = by_labels(delay, "siaga_answer_delay_seconds_count", "queue")
    assert sums[("q112",)] == pytest.approx(55.1) and counts[("q112",)] == 3
    assert sums[("q-damkar",)] == pytest.approx(65.0) and counts[("q-damkar",)] == 2


def test_calls_with_the_same_wait_weigh_in_the_sum_and_the_buckets() -> None:
    """Three calls answered after 12 s (one row of the store's count): le=15 holds 3, the sum is 36 s."""
    metric = {m.name: m for m in families(LiveSnapshot(0, 0, False), StoreTotals((), (("q112", 12.0, 3),)), ["q112"])}
    delay = metric["siaga_answer_delay_seconds"].samples
    assert [s.value for s in delay if s.labels.get("le") in ("10.0", "15.0")] == [0, 3]
    assert [s.value for s in delay if s.name.endswith("_sum")] == [36.0]


async def test_live_queue_and_operator_state_at_scrape_time(scrape: Scrape) -> None:
    """A caller waiting in q-damkar, budi available, dewi paused: the gauges say so; no number in the text."""
    kit = scrape.kit
    await kit.agents.available(BUDI)
    await kit.agents.pause(DEWI, "Sholat")
    kit.fake.join("1733000000.9", "q-damkar", "081299998888", "Pak Penelepon")
    await until(lambda: kit.live.queues["q-damkar"].waiting == 1, what="the caller in the live view")
    text, found = await samples(scrape.client)
    waiting = by_labels(found["siaga_queue_callers_waiting"], "siaga_queue_callers_waiting", "queue")
    assert waiting[("q-damkar",)] == 1 and waiting[("q112",)] == 0 and len(waiting) == 8
    longest = by_labels(found["siaga_queue_longest_wait_seconds"], "siaga_queue_longest_wait_seconds", "queue")
    assert longest[("q-damkar",)] >= 0 and longest[("q112",)] == 0
    states = by_labels(found["siaga_operators"], "siaga_operators", "state")
    assert (states[("available",)], states[("paused",)], states[("logged_out",)], states[("on_call",)]) == (1, 1, 2, 0)
    per_queue = by_labels(found["siaga_queue_operators"], "siaga_queue_operators", "queue", "state")
    assert per_queue[("q112", "available")] == 1 and per_queue[("q112", "paused")] == 1
    assert per_queue[("q-damkar", "paused")] == 1 and per_queue[("q-damkar", "available")] == 0
    assert found["siaga_ami_connected"][0].value == 1
    assert found["siaga_agi_sessions_active"][0].value == 2
    assert found["siaga_agi_connections_open"][0].value == 3
    assert "081299998888" not in text and "Penelepon" not in text and "1733000000.9" not in text
    assert "0812777700" not in text and "Budi" not in text


async def test_live_figures_are_left_out_while_ami_is_down(scrape: Scrape) -> None:
    """AMI not logged in: siaga_ami_connected 0, no queue or operator series (stale), the store's counts stay."""
    scrape.metrics.ami = Ami(ready=False)
    _text, found = await samples(scrape.client)
    assert found["siaga_ami_connected"][0].value == 0
    assert found["siaga_queue_callers_waiting"] == [] and found["siaga_operators"] == []
    assert found["siaga_queue_operators"] == [] and found["siaga_queue_longest_wait_seconds"] == []
    assert len(found["siaga_calls"]) == 4


async def test_the_process_metrics_come_along(tmp_path: Path) -> None:
    """By default the process' CPU and memory are exposed too (prometheus-client's ProcessCollector)."""
    kit = await open_floor(tmp_path)
    try:
        app = build_web_app(Settings(root=ALT), live_config(), AgiServer(no_agi), None, None)
        Metrics(FakeAgi(), None, None, kit.calls, lambda: kit.config).routes(app)
        client: Client = TestClient(TestServer(app))
        await client.start_server()
        try:
            _text, found = await samples(client)
        finally:
            await client.close()
    finally:
        await kit.close()
    assert found["process_resident_memory_bytes"][0].value > 0
    assert found["siaga_ami_connected"][0].value == 0 and found["siaga_calls"] == []
