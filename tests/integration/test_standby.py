"""Standby (issue 13, item 3): two `ivr serve` on one PostgreSQL, both in the dialplan's list of
FastAGI services, through the real Asterisk.

The first service in the list (A) takes every call while it lives; it is killed with SIGKILL while
50 callers are in its menus. Each caller goes on at once to the second service (B), which plays the
menu again and takes the keys already pressed from AMI's key stream. Where each call went comes from
AMI's events (the queue app_queue put it in, the member that answered); every outcome from the shared
store; who does the single-active duties (ivr.store.lease) and when, from the services' own logs.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ivr.ami.client import AmiClient
from ivr.ami.operators import login_sim_operators, logout_sim_operators
from ivr.ami.testcall import CallReport, place_call
from ivr.flow.simulate import simulate
from ivr.store.calls import CallStore
from tests.integration.conftest import SEATS, AgiSwitch, Stack, free_port, start_serve, until, wait_for_port

CALLS = 50
# Menu paths that end in a queue within the test's AGI session bound, replayed from the start on B.
KEYS = ("11", "12", "13", "14", "21", "3", "1", "")
# Simulated operators per queue during the burst (each call hangs up as soon as it is answered).
BURST_SEATS = 12


EARLY = 1.5  # seconds: these callers' first key reaches A's menu; A is killed once Asterisk has it


def caller_plan(n: int) -> tuple[str, float, float]:
    """Caller ``n``'s keys, when it starts pressing, and the gap between its keys (seconds from its
    start). The early ones press their first key into A's menu (B must take it from AMI's key stream),
    the others after the kill (B's menu hears them). Early only where a second key comes well after
    the kill: a caller whose keys all land before it would be routed by A itself."""
    keys = KEYS[n % len(KEYS)]
    if len(keys) == 2:
        first, gap = ((EARLY, 4.0), (3.0, 2.0), (6.0, 2.0))[n % 3]
        return keys, first, gap
    return keys, (6.0, 7.5)[n % 2], 2.0


@dataclass
class Instance:
    """One `ivr serve` child: its FastAGI port and its JSON log."""

    name: str
    agi_port: int
    log: Path
    process: asyncio.subprocess.Process

    def events(self, event: str) -> list[dict[str, Any]]:
        lines = self.log.read_text(errors="replace").splitlines()
        return [entry for line in lines if line.startswith("{") and (entry := json.loads(line))["event"] == event]


async def start_instance(stack: Stack, name: str, agi_port: int, dsn: str, logs: Path) -> Instance:
    """`ivr serve` on ``agi_port`` and the shared store; returns once it takes calls and its AMI is in."""
    log = logs / f"{name}.log"
    with log.open("ab") as stderr:  # the child keeps its own descriptor
        process = await start_serve(
            stack,
            free_port(),
            stderr=stderr,
            agi_port=agi_port,
            more_env={"IVR_STORE_DSN": dsn, "IVR_FASTAGI_URLS": ",".join(stack.settings.agi_urls)},
        )
    instance = Instance(name, agi_port, log, process)
    await wait_for_port(agi_port, timeout=30)
    await until(lambda: instance.events("ami_logged_in"), timeout=30)
    return instance


async def stop(instance: Instance) -> None:
    if instance.process.returncode is None:
        instance.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(instance.process.wait(), 15)
        except TimeoutError:
            instance.process.kill()
            await instance.process.wait()


async def expected_queue(stack: Stack, keys: str) -> tuple[str, str]:
    """(category, queue) the real flow and routing give ``keys`` now (every queue staffed, no history)."""
    # In a thread: ``simulate`` runs the flow engine on an event loop of its own.
    decision = await asyncio.to_thread(simulate, stack.config.current(), keys, at=datetime.now().astimezone())
    assert decision["route"]["action"] == "queue", decision
    return decision["category"], decision["route"]["target"]


def how_it_went(report: CallReport, b: Instance) -> dict[str, Any]:
    """A call that did not reach its queue, for the failure message: B's summary of it, the dialplan's
    route events, app_queue's events."""
    return {
        "pressed": report.pressed,
        "b_summary": [entry for entry in b.events("agi_call_end") if entry["uniqueid"] == f"{report.channel}-in"],
        "routes": report.routes,
        "queue_events": [
            (event.get("Event"), event.get("Queue"), event.get("MemberName"))
            for event in report.events
            if event.get("Event", "").startswith(("Queue", "Agent"))
        ],
    }


def logged_at(entry: dict[str, Any]) -> float:
    return datetime.fromisoformat(entry["timestamp"]).timestamp()


async def test_killing_the_first_service_mid_menu_loses_no_caller_and_no_record(
    stack: Stack, agi: AgiSwitch, ami: AmiClient, postgres_dsn: str, tmp_path: Path
) -> None:
    """A (first in the list, holding the duties) is killed with SIGKILL while 50 callers are in its
    menus: all 50 reach an operator of the queue the routing gives their keys, B records every route,
    B takes the duties over within seconds; A, started again, takes calls again (and stays standby)."""
    queues = sorted(stack.config.current().sop.queues)
    await agi.stop()  # the session's in-process service leaves the first port to A
    await login_sim_operators(ami, queues, BURST_SEATS)
    a = b = None
    try:
        a = await start_instance(stack, "a", stack.settings.agi_port, postgres_dsn, tmp_path)
        await until(lambda: a.events("duties_taken"), timeout=10)  # A holds the lease before B exists
        b = await start_instance(stack, "b", stack.second_agi_port, postgres_dsn, tmp_path)

        plan = [caller_plan(n) for n in range(CALLS)]
        expected = {keys: await expected_queue(stack, keys) for keys in KEYS}
        early = sum(first == EARLY for _keys, first, _gap in plan)
        in_menu: set[str] = set()
        pressed: set[str] = set()

        def on_agi(fields: dict[str, str]) -> None:
            if fields.get("Command", "").startswith("STREAM FILE"):
                in_menu.add(fields.get("Uniqueid", ""))

        def on_key(fields: dict[str, str]) -> None:
            if fields.get("Direction") == "Received" and fields.get("Uniqueid", "").endswith("-in"):
                pressed.add(fields["Uniqueid"])

        unsubscribes = [ami.on("AGIExecStart", on_agi), ami.on("DTMFEnd", on_key)]
        try:
            placing = [
                asyncio.ensure_future(place_call(ami, keys, caller=f"0812000{n:05d}", first_delay=first, gap=gap))
                for n, (keys, first, gap) in enumerate(plan)
            ]
            placed_at = time.time()
            # Every caller hears A's menu (nothing else serves before the kill), the early ones have
            # pressed their first key into it: then A dies.
            await until(lambda: len(in_menu) >= CALLS and len(pressed) >= early, timeout=30)
            a.process.send_signal(signal.SIGKILL)
            killed_at, pressed_into_a = time.time(), len(pressed)
            await a.process.wait()
            reports: list[CallReport] = await asyncio.gather(*placing)
        finally:
            for unsubscribe in unsubscribes:
                unsubscribe()

        first_service_died = {"Action": "agi-failed", "Script": "112", "Service": "1", "AgiStatus": "SUCCESS"}
        # An early caller whose first key was 1 may have been handed the darurat menu (a last menu)
        # before A died: Asterisk plays it, reads the key and routes it from A's routes alone, first
        # try. Every other caller was in A's own menu and went on to B.
        handed = [report.routes[0] != first_service_died for report in reports]
        assert [
            (keys[0], first) for (keys, first, _gap), was_handed in zip(plan, handed, strict=True) if was_handed
        ] == [("1", EARLY)] * sum(handed), [report.routes[0] for report in reports]
        assert all(report.routes[0]["Hop"] == "1" for report, was in zip(reports, handed, strict=True) if was)
        reached = [(report.route.get("Category"), report.queue, report.answered) for report in reports]
        wanted = [(*expected[keys], True) for keys, _first, _gap in plan]
        assert reached == wanted, [
            how_it_went(report, b) for report, got, want in zip(reports, reached, wanted, strict=True) if got != want
        ]
        assert all(report.operator.startswith(f"Simulasi {report.queue} ") for report in reports)

        store = CallStore(postgres_dsn)
        try:
            rows = [await until(lambda r=report: store.get(f"{r.channel}-in"), timeout=15) for report in reports]
        finally:
            store.close()
        # A handed-over call's record was A's to write after the menu, and A is dead: B rebuilds it
        # from Asterisk's own records once the call ends, its category from the route's queue_log line.
        assert [(row["outcome"], row["category"], row["queue"]) for row in rows] == [
            ("routed", *expected[keys]) for keys, _first, _gap in plan
        ]
        assert [str(row["reason"]).startswith("rebuilt") for row in rows] == handed
        routed_by_b = {entry["uniqueid"]: entry for entry in b.events("agi_call_end") if entry.get("queue")}
        assert {f"{report.channel}-in" for report, was in zip(reports, handed, strict=True) if not was} <= set(
            routed_by_b
        )
        # The keys pressed into A's menu: B took them from AMI's key stream instead of asking again.
        early_sessions = [
            routed_by_b[f"{report.channel}-in"]
            for report, (_keys, first, _gap), was in zip(reports, plan, handed, strict=True)
            if first == EARLY and not was
        ]
        assert [entry["keys_recovered"] >= 1 for entry in early_sessions] == [True] * (early - sum(handed))

        taken = await until(lambda: b.events("duties_taken"), timeout=10)
        takeover = logged_at(taken[0]) - killed_at
        assert 0 < takeover < 5, takeover

        # A again: the first in the list, it routes the next call itself; B keeps the duties.
        a = await start_instance(stack, "a", stack.settings.agi_port, postgres_dsn, tmp_path)
        sessions_before = len(a.events("agi_call_end"))
        again = await place_call(ami, "11", gap=1.0)
        assert (again.routes[0].get("Action"), again.queue, again.answered) == ("queue", expected["11"][1], True)
        routed_by_a = await until(lambda: a.events("agi_call_end")[sessions_before:], timeout=10)
        assert routed_by_a[0]["uniqueid"] == f"{again.channel}-in"
        assert (len(a.events("duties_taken")), len(b.events("duties_taken"))) == (1, 1)  # A's first run, B
        answered = max(report.seconds_to_answer or 0.0 for report in reports)
        print(
            f"standby: {CALLS} calls, A killed {killed_at - placed_at:.1f} s after placing them "
            f"({pressed_into_a} callers had pressed a key into its menu, {sum(handed)} of them were in the "
            f"darurat menu A had handed to Asterisk), all answered by {answered:.1f} s, "
            f"duties taken over by B {takeover:.2f} s after the kill"
        )
    finally:
        for instance in (a, b):
            if instance is not None:
                await stop(instance)
        for queue in queues:
            await logout_sim_operators(ami, queue, BURST_SEATS)
        await login_sim_operators(ami, queues, SEATS)
        await agi.start_real()
