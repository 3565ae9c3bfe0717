"""Soak through `ivr up --demo` as a center's worst half hour: a steady stream of calls while our service
is killed (kill -9) and restarted every few minutes and Asterisk is killed once; then every call
placed is looked up in our store.

    .venv/bin/python bench/soak.py [--minutes 30] [--per-minute 60] [--kill-every 300] [--asterisk-kill-at 900]

A call counts as answered when a (simulated) operator took it; as recorded when our store has its row
(written by our service, or rebuilt from Asterisk's CDR and queue_log when our service was down).
Calls in progress when Asterisk itself is killed are cut by the kill: they are counted apart.
Writes bench/results/soak.md and soak.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench.run_agi import free_port, machine
from ivr.ami.client import AmiClient, AmiError
from ivr.ami.testcall import CallReport, place_call
from ivr.asterisk import process
from ivr.asterisk.render import load_secrets
from ivr.settings import Settings

# What callers press, roughly as the line sees it: silence and single keys dominate (DOMAIN.md).
MIX = [
    ("", 40),
    ("1", 10),
    ("11", 8),
    ("12", 8),
    ("13", 4),
    ("14", 4),
    ("21", 4),
    ("22", 4),
    ("24", 10),
    ("9", 3),
    ("55", 2),
    ("7", 3),
]


def given_root() -> Path:
    root = BENCH / "build" / "soak-root"
    shutil.rmtree(root, ignore_errors=True)
    for name in ("dialplan", "sop", "asterisk-config"):
        shutil.copytree(ROOT / name, root / name)
    return root


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.HTTPError):
        return False


class Line:
    """The `ivr up --demo` process, killed and started again as the soak says."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.env = root, env
        self.child: subprocess.Popen[bytes] | None = None
        self.log = open(BENCH / "build" / "soak-up.log", "ab")  # kept open for the whole soak

    def start(self) -> None:
        self.child = subprocess.Popen(
            [sys.executable, "-m", "ivr", "--root", str(self.root), "--log-format", "json", "up", "--demo"],
            env=self.env,
            stdout=self.log,
            stderr=self.log,
        )

    def kill(self) -> None:
        if self.child is not None:
            self.child.send_signal(signal.SIGKILL)
            self.child.wait()

    def stop(self) -> None:
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signal.SIGINT)
            try:
                self.child.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


async def wait_healthy(url: str, timeout: float = 90.0) -> float:
    started = time.monotonic()
    while not await asyncio.to_thread(healthy, url):
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"ivr up not healthy within {timeout:.0f} s")
        await asyncio.sleep(0.5)
    return time.monotonic() - started


async def run(minutes: float, per_minute: int, kill_every: float, asterisk_kill_at: float) -> dict[str, Any]:
    root = given_root()
    ports = {
        name: str(free_port())
        for name in ("IVR_AGI_PORT", "IVR_WEB_PORT", "IVR_AMI_PORT", "IVR_SIP_PORT", "IVR_WSS_PORT")
    }
    env = {**{k: v for k, v in os.environ.items() if k != "IVR_SIM_OPERATORS"}, **ports}
    os.environ.update(ports)  # Settings.load below reads the same ports
    settings = Settings.load(root)
    health = f"http://127.0.0.1:{ports['IVR_WEB_PORT']}/healthz"
    line = Line(root, env)
    line.start()
    events: list[dict[str, Any]] = []
    started = time.monotonic()

    def note(what: str, **fields: Any) -> None:
        events.append({"at_s": round(time.monotonic() - started, 1), "event": what, **fields})
        print(json.dumps(events[-1]), flush=True)

    note("ivr_up_started", seconds_to_healthy=round(await wait_healthy(health), 1))
    keys = load_secrets(settings, create=False)
    ami = AmiClient("127.0.0.1", settings.ami_port, keys.test_ami_user, keys.test_ami_secret)
    await ami.connect(timeout=30)
    calls: list[tuple[float, str, asyncio.Task[CallReport]]] = []
    rng = random.Random(112)
    choices, weights = zip(*MIX, strict=True)
    asterisk_killed_at: float | None = None
    next_kill = kill_every
    n = 0
    try:
        while time.monotonic() - started < minutes * 60:
            elapsed = time.monotonic() - started
            if elapsed >= next_kill:
                line.kill()
                note("ivr_up_killed")
                await asyncio.sleep(5)  # five seconds with no service: the dialplan alone answers
                line.start()
                note("ivr_up_restarted", seconds_to_healthy=round(await wait_healthy(health), 1))
                next_kill += kill_every
            if asterisk_killed_at is None and elapsed >= asterisk_kill_at:
                leader = process.running_pid(settings)
                pid = process._asterisk_pid(leader) if leader else None
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
                    asterisk_killed_at = time.monotonic() - started
                    note("asterisk_killed", pid=pid)
                    while process.running_pid(settings) in (None, leader):  # ivr up restarts it
                        await asyncio.sleep(0.2)
                    back = time.monotonic() - started - asterisk_killed_at
                    note(
                        "asterisk_back",
                        seconds_after_kill=round(back, 1),
                        seconds_to_healthy=round(await wait_healthy(health), 1),
                    )
            n += 1
            pressed = rng.choices(choices, weights)[0]
            task = asyncio.create_task(place_call(ami, pressed, caller=f"0899{n:07d}", gap=1.0, answer_timeout=90))
            calls.append((time.monotonic() - started, pressed, task))
            await asyncio.sleep(60 / per_minute)
        note("calls_done_placing", calls=n)
        reports: list[CallReport | BaseException] = list(
            await asyncio.gather(*(task for _, _, task in calls), return_exceptions=True)
        )
        await asyncio.sleep(8)  # the last CDRs, and our reconcile loop's next round
    finally:
        await ami.close()
        line.stop()
        await asyncio.to_thread(process.stop, settings)
    return summarise(
        settings,
        calls,
        reports,
        events,
        asterisk_killed_at,
        {
            "minutes": minutes,
            "per_minute": per_minute,
            "kill_every_s": kill_every,
            "asterisk_kill_at_s": asterisk_kill_at,
        },
    )


def summarise(
    settings: Settings,
    calls: list[tuple[float, str, asyncio.Task[CallReport]]],
    reports: list[CallReport | BaseException],
    events: list[dict[str, Any]],
    asterisk_killed_at: float | None,
    plan: dict[str, Any],
) -> dict[str, Any]:
    with sqlite3.connect(settings.store_file) as db:
        rows = {
            uid: (outcome, queue_outcome)
            for uid, outcome, queue_outcome in db.execute("SELECT uniqueid, outcome, queue_outcome FROM calls")
        }
    placed = answered = recorded = failed_to_place = cut_by_asterisk_kill = 0
    missing: list[dict[str, Any]] = []
    unanswered: list[dict[str, Any]] = []
    outcomes: dict[str, int] = {}
    for (at, pressed, _task), report in zip(calls, reports, strict=True):
        if isinstance(report, BaseException):
            failed_to_place += 1
            continue
        placed += 1
        answered += report.answered
        row = rows.get(f"{report.channel}-in")
        if not report.answered:
            unanswered.append(
                {
                    "at_s": round(at, 1),
                    "pressed": pressed,
                    "queue": report.queue,
                    "hung_up": report.hung_up,
                    "record": row,
                }
            )
        near_kill = asterisk_killed_at is not None and -120 <= at - asterisk_killed_at <= 20
        if row is None:
            if near_kill and not report.answered:
                cut_by_asterisk_kill += 1
            else:
                missing.append({"at_s": round(at, 1), "pressed": pressed, "answered": report.answered})
            continue
        recorded += 1
        outcomes[row[0]] = outcomes.get(row[0], 0) + 1
    return {
        "command": " ".join(["bench/soak.py", *sys.argv[1:]]),
        "machine": machine(),
        "plan": plan,
        "calls_attempted": len(calls),
        "calls_placed": placed,
        "failed_to_place": failed_to_place,
        "answered_by_an_operator": answered,
        "recorded_in_store": recorded,
        "cut_by_the_asterisk_kill": cut_by_asterisk_kill,
        "missing_records": missing,
        "unanswered": unanswered,
        "outcomes": outcomes,
        "events": events,
    }


def write(results: dict[str, Any]) -> None:
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    (out / "soak.json").write_text(json.dumps(results, indent=2) + "\n")
    plan = results["plan"]
    lines = [
        "# Soak through `ivr up --demo`",
        "",
        f"Command: `.venv/bin/python {results['command']}`  ",
        f"Machine: {results['machine']}  ",
        f"Plan: {plan['minutes']} min at {plan['per_minute']} calls a minute; `ivr up` killed (-9) every "
        f"{plan['kill_every_s']:.0f} s and started again 5 s later; Asterisk killed (-9) once at "
        f"{plan['asterisk_kill_at_s']:.0f} s (ivr up restarts it).",
        "",
        "| calls placed | answered by an operator | recorded in our store | cut by the Asterisk kill |"
        " missing records | failed to place |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {results['calls_placed']} | {results['answered_by_an_operator']} | {results['recorded_in_store']} | "
        f"{results['cut_by_the_asterisk_kill']} | {len(results['missing_records'])} | {results['failed_to_place']} |",
        "",
        f"Outcomes in the store: {results['outcomes']}",
        "",
        "Events:",
        "",
        *[
            f"- {event['at_s']} s: {event['event']}"
            + (
                f" ({', '.join(f'{k}={v}' for k, v in event.items() if k not in ('at_s', 'event'))})"
                if len(event) > 2
                else ""
            )
            for event in results["events"]
        ],
    ]
    if results["unanswered"]:
        lines += [
            "",
            "Not answered (with their record: outcome, queue outcome):",
            "",
            *[f"- {json.dumps(u)}" for u in results["unanswered"]],
        ]
    if results["missing_records"]:
        lines += ["", "Missing records:", "", *[f"- {json.dumps(m)}" for m in results["missing_records"]]]
    (out / "soak.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--per-minute", type=int, default=60)
    parser.add_argument("--kill-every", type=float, default=300, help="seconds between kills of ivr up")
    parser.add_argument("--asterisk-kill-at", type=float, default=900, help="second of the soak Asterisk is killed")
    args = parser.parse_args()
    try:
        write(asyncio.run(run(args.minutes, args.per_minute, args.kill_every, args.asterisk_kill_at)))
    except AmiError as error:
        raise SystemExit(f"soak: AMI failed: {error}") from error


if __name__ == "__main__":
    main()
