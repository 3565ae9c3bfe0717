"""``GET /metrics``: the service's figures in Prometheus' text format (PyPI ``prometheus-client``).

What it exposes (the families are described in ``ivr.reports.metrics``): whether AMI is logged in;
FastAGI sessions and open connections; per queue the callers waiting and the longest wait; roster
operators by ACD state (in all, and per queue); calls by queue and final outcome, calls abandoned in
the menu, and a histogram of answer delays with buckets at the NENA lines (15 s, 20 s); and this
process' CPU, memory and file descriptors. FastAGI errors are not counted by ``AgiServer`` (each
session's outcome is only logged, ``agi_call_end``), so there is no metric of them yet. The table
of names is in docs/reports-api.md.

Why no caller data is in it: every label is a queue, a state or an outcome, taken from the SOP and
from Asterisk's fixed vocabularies; operators are counted, not named. No caller number, name, key
pressed or call id appears, so the endpoint may go without a login, as monitoring endpoints usually
do. It is served on the console's web port, which binds to 127.0.0.1 unless configured
(``Settings.service_host``): a Prometheus server on another machine reaches it through a reverse proxy
or a tunnel that passes only ``/metrics``, not by binding the console to every interface.

Nothing runs in the background: each scrape reads the live state as it is (a custom Collector) and
asks the store for its totals in a worker thread, so a slow disk never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import Metric

from ivr.ami.live import LiveQueues
from ivr.config import Config
from ivr.config.roster import Operator
from ivr.operators.states import agent_state
from ivr.reports.metrics import LiveSnapshot, OperatorLive, QueueLive, StoreTotals, families

# The classic text format (0.0.4): every Prometheus server reads it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class AgiStats(Protocol):
    """``ivr.agi.server.AgiServer``."""

    @property
    def active_sessions(self) -> int: ...

    @property
    def open_connections(self) -> int: ...


class AmiStatus(Protocol):
    """``ivr.ami.client.AmiClient``."""

    @property
    def ready(self) -> bool: ...


class CallTotals(Protocol):
    """``ivr.store.calls.CallStore``."""

    def outcome_counts(self) -> list[tuple[str, str, str, int]]: ...

    def answer_waits(self) -> list[tuple[str, float, int]]: ...


class SiagaCollector:
    """A prometheus-client Collector: the live state read when the registry collects, the store's
    totals as read by the scrape that made it."""

    def __init__(self, live: Callable[[], LiveSnapshot], totals: StoreTotals, queues: Iterable[str]) -> None:
        self.live = live
        self.totals = totals
        self.queues = tuple(queues)

    def collect(self) -> Iterable[Metric]:
        return families(self.live(), self.totals, self.queues)


class Metrics:
    def __init__(
        self,
        agi: AgiStats,
        ami: AmiStatus | None,
        live: LiveQueues | None,
        store: CallTotals,
        config: Callable[[], Config],
        process_metrics: bool = True,
    ) -> None:
        self.agi = agi
        self.ami = ami
        self.live = live
        self.store = store
        self.config = config
        self.process_metrics = process_metrics

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/metrics", self.metrics)

    async def metrics(self, _request: web.Request) -> web.Response:
        totals = await asyncio.to_thread(self.store_totals)
        registry = CollectorRegistry()
        registry.register(SiagaCollector(self.snapshot, totals, self.config().sop.queues))
        if self.process_metrics:
            ProcessCollector(registry=registry)
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})

    def store_totals(self) -> StoreTotals:
        """Blocking SQLite reads: run in a worker thread."""
        return StoreTotals(tuple(self.store.outcome_counts()), tuple(self.store.answer_waits()))

    def snapshot(self) -> LiveSnapshot:
        """The live state now. Queues and operators only while AMI is logged in and resynced: a stale
        picture would show a dead center as a calm one."""
        connected = bool(self.ami is not None and self.ami.ready)
        base = LiveSnapshot(self.agi.active_sessions, self.agi.open_connections, connected)
        live = self.live
        if live is None or not connected or not live.synced:
            return base
        now = time.monotonic()
        queues = tuple(QueueLive(name, view.waiting, view.longest_wait(now)) for name, view in live.queues.items())
        return LiveSnapshot(
            base.agi_sessions,
            base.agi_connections,
            connected,
            queues,
            tuple(_operators(live, self.config().sop.operators)),
        )


def _operators(live: LiveQueues, roster: Mapping[str, Operator]) -> list[OperatorLive]:
    result = []
    for operator in roster.values():
        memberships = live.memberships(operator.interface)
        state = agent_state(memberships)
        result.append(OperatorLive(operator.id, state.state, tuple(queue for queue, _member in memberships)))
    return result
