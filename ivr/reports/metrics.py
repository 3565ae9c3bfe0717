"""The center's live figures as Prometheus metric families: pure, from snapshots taken by the caller.

``ivr.web.metrics`` takes the snapshots at scrape time (live queue state, the store's totals) and
serves the text format. Names follow Prometheus' naming guide: the ``siaga_`` prefix, base units
(seconds), ``_total`` on counters (the client adds it). Labels are queues, states and outcomes: small,
fixed sets from the SOP and Asterisk, never a caller's number or anything a caller typed.

Counters come from the store, not from memory: they survive a restart of the service and count the
calls our service never saw (rebuilt from Asterisk's CDR). Only final outcomes are counted (answered,
abandoned in a queue, abandoned in the menu): a call that timed out of one queue is moved on by the
dialplan and its record then tells the next queue's outcome, so counting a timeout would count a
call that later moves to another series.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from ivr.operators.states import AVAILABLE, LOGGED_OUT, ON_CALL, PAUSED, PHONE_OFFLINE, RINGING, WRAP_UP

OPERATOR_STATES = (LOGGED_OUT, AVAILABLE, RINGING, ON_CALL, WRAP_UP, PAUSED, PHONE_OFFLINE)
# Seconds; 15 and 20 are the NENA call answering standard's lines (90% and 95% of calls).
ANSWER_DELAY_BUCKETS = (2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0)
FINAL_QUEUE_OUTCOMES = ("answered", "abandoned")


@dataclass(frozen=True)
class QueueLive:
    name: str
    waiting: int
    longest_wait: float  # seconds


@dataclass(frozen=True)
class OperatorLive:
    """One roster operator: their ACD state and the queues they are a member of now (no name, no number)."""

    id: str
    state: str
    queues: tuple[str, ...]


@dataclass(frozen=True)
class LiveSnapshot:
    agi_sessions: int
    agi_connections: int
    ami_connected: bool
    # None while the live state is not to be trusted (AMI down or not resynced): nothing is shown then.
    queues: tuple[QueueLive, ...] | None = None
    operators: tuple[OperatorLive, ...] | None = None


@dataclass(frozen=True)
class StoreTotals:
    outcomes: tuple[tuple[str, str, str, int], ...]  # (queue, queue_outcome, ivr outcome, calls)
    answer_waits: tuple[tuple[str, float, int], ...]  # (queue, seconds waited, answered calls)


def families(live: LiveSnapshot, totals: StoreTotals, queues: Iterable[str]) -> list[Metric]:
    """Every family, always present (a gauge with no series tells a reader "no data", not "no metric")."""
    known_queues = sorted(set(queues) | {queue.name for queue in live.queues or ()})
    result: list[Metric] = [
        _gauge(
            "siaga_ami_connected", "1 while the AMI connection to Asterisk is logged in, else 0.", live.ami_connected
        ),
        _gauge("siaga_agi_sessions_active", "FastAGI sessions running now (calls in our menu).", live.agi_sessions),
        _gauge(
            "siaga_agi_connections_open",
            "FastAGI connections counted against the cap (sessions plus those still sending headers).",
            live.agi_connections,
        ),
    ]
    waiting = GaugeMetricFamily("siaga_queue_callers_waiting", "Callers waiting in the queue now.", labels=["queue"])
    longest = GaugeMetricFamily(
        "siaga_queue_longest_wait_seconds",
        "How long the longest-waiting caller in the queue has waited.",
        labels=["queue"],
    )
    if live.queues is not None:
        by_name = {queue.name: queue for queue in live.queues}
        for name in known_queues:
            view = by_name.get(name, QueueLive(name, 0, 0.0))
            waiting.add_metric([name], view.waiting)
            longest.add_metric([name], round(view.longest_wait, 1))
    operators = GaugeMetricFamily(
        "siaga_operators", "Roster operators in each ACD state (each counted once).", labels=["state"]
    )
    per_queue = GaugeMetricFamily(
        "siaga_queue_operators",
        "Roster operators who are members of the queue, by their ACD state.",
        labels=["queue", "state"],
    )
    if live.operators is not None:
        states: dict[str, int] = dict.fromkeys(OPERATOR_STATES, 0)
        queue_states: dict[tuple[str, str], int] = {
            (queue, state): 0 for queue in known_queues for state in OPERATOR_STATES if state != LOGGED_OUT
        }
        for operator in live.operators:
            states[operator.state] = states.get(operator.state, 0) + 1
            for queue in operator.queues:
                queue_states[queue, operator.state] = queue_states.get((queue, operator.state), 0) + 1
        for state, count in states.items():
            operators.add_metric([state], count)
        for (queue, state), count in sorted(queue_states.items()):
            per_queue.add_metric([queue, state], count)
    result += [waiting, longest, operators, per_queue]
    result += _store_families(totals)
    return result


def _store_families(totals: StoreTotals) -> list[Metric]:
    calls = CounterMetricFamily(
        "siaga_calls",
        "Calls that reached a final outcome in a queue (answered, abandoned), by the queue it ended in.",
        labels=["queue", "outcome"],
    )
    in_ivr = CounterMetricFamily(
        "siaga_calls_abandoned_in_ivr", "Calls whose caller hung up in our menu, before any queue."
    )
    counted: dict[tuple[str, str], int] = defaultdict(int)
    abandoned_in_ivr = 0
    for queue, queue_outcome, outcome, count in totals.outcomes:
        if queue_outcome in FINAL_QUEUE_OUTCOMES:
            counted[queue, queue_outcome] += count
        elif outcome == "abandoned_in_ivr":
            abandoned_in_ivr += count
    for (queue, outcome), count in sorted(counted.items()):
        calls.add_metric([queue, outcome], count)
    in_ivr.add_metric([], abandoned_in_ivr)
    delay = HistogramMetricFamily(
        "siaga_answer_delay_seconds",
        "Seconds answered callers waited in the queue before an operator answered (NENA lines: 15 s, 20 s).",
        labels=["queue"],
    )
    waits: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for queue, wait, count in totals.answer_waits:
        waits[queue].append((wait, count))
    for queue, pairs in sorted(waits.items()):
        buckets = [(_le(bound), sum(n for wait, n in pairs if wait <= bound)) for bound in ANSWER_DELAY_BUCKETS]
        buckets.append(("+Inf", sum(n for _wait, n in pairs)))
        delay.add_metric([queue], buckets, sum_value=sum(wait * n for wait, n in pairs))
    return [calls, in_ivr, delay]


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


def _le(bound: float) -> str:
    return str(float(bound))
