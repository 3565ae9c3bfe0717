"""Engine (b): the load model through the real Asterisk and `ivr serve`, against the SimPy engine at one
shared point.

    python -m bench.loadmodel.asterisk_run [--quick] [--scenario surge20] [--compress 10] [--hours 3]

On a bench copy of the configuration (bench/build/loadmodel-root: the shipped dialplan and SOP, the
roster cut to the model's shift: its central call-takers and the agencies' operators, the wrap-up
compressed), a real Asterisk and `ivr serve` run the line. Callers of the model's scenario (its surge
hour, time-compressed: bench/loadmodel/point.py) are placed by AMI Originate at their arrival second,
press their keys when the SimPy engine's caller does, and hang up when their patience runs out (a
genuine one may call again). Simulated operators (bench/loadmodel/operator.py) log in to the console,
register a SIP phone with the session's credential, answer, talk, hang up and give each call its
outcome, so triage learns as in production. Then the SimPy engine runs the same callers on the same
compressed figures, its clock set to the real run's, and both are reported side by side with the
genuine callers' time to a human (p50, p95) and the relative difference (target: within 15%).

Holds /tmp/siaga-asterisk.lock for the real run. Writes bench/results/loadmodel_asterisk.md (--out).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shlex
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from bench.loadmodel.engine import Arrivals, Caller, CallResult, Run
from bench.loadmodel.model import DEFAULT_MODEL, JUNK, Model, load_model
from bench.loadmodel.operator import POP_SECONDS, CallBook, ConsoleOperator
from bench.loadmodel.point import (
    LINE_POLICY,
    Window,
    compress_categories,
    compressed,
    presses,
    simulate_window,
    window_callers,
    wrapup_seconds,
)
from bench.loadmodel.report import Figures, figures, table
from bench.run_asterisk import given_root, given_settings
from bench.run_surge import CALLER_CONTEXT, CALLER_DIALPLAN, OURS_ENTRY, Calls, Script, asterisk_lock, start_serve
from ivr.ami.client import AmiClient, AmiError
from ivr.asterisk import process
from ivr.asterisk.phones import PHONES_FILE
from ivr.asterisk.provision import find_or_provision
from ivr.asterisk.render import load_secrets, render, runtime_dirs
from ivr.check import prompt_timings
from ivr.config import Config, load_config
from ivr.config.sop import CATEGORY
from ivr.operators.passwords import PasswordFile
from ivr.prompts.build import build_all
from ivr.settings import Settings

REPO = Path(__file__).resolve().parents[2]
TARGET = 0.15  # the two engines agree within this on genuine callers' time to a human (issue 12)
DRAIN_SECONDS = 180.0  # after the last arrival, the longest the run waits for the calls still going
# After the last caller, the longest the run waits for operators to post the outcomes of the calls they had.
SETTLE_SECONDS = 2 * POP_SECONDS


def bench_roster(config: Config, central: int) -> dict[str, Any]:
    """sop/operators.yaml of the bench: ``central`` call-takers on the central queue (the model's shift)
    and every agency operator of the shipped roster; nobody else (no supervisor taking calls)."""
    sop = config.sop
    centre = sop.agency_of(sop.central_queue.name)
    assert centre is not None
    takers = [op for op in sop.operators.values() if op.agency == centre.name and op.role == "operator"]
    if len(takers) < central:
        raise ValueError(f"the shipped roster has {len(takers)} central call-takers, the model wants {central}")
    chosen = takers[:central] + [op for op in sop.operators.values() if op.agency != centre.name and op.queues]
    return {"operators": {op.id: {"name": op.name, "agency": op.agency, "queues": list(op.queues)} for op in chosen}}


def plain_operator_phones(settings: Settings) -> None:
    """The rendered browser endpoints (``op-<id>``) as plain UDP phones for the bench's SIP phones: no
    WebRTC (DTLS-SRTP, ICE) and no RTP timeout, which only a browser can satisfy. Everything the console,
    the queues and the floor see (the interface ``PJSIP/op-<id>``, the session's credential) is as shipped."""
    path = settings.asterisk_dir / "etc" / PHONES_FILE
    out, section = [], ""
    for line in path.read_text().splitlines():
        if line.startswith("["):
            section = line
        if section.startswith("[op-") and line.startswith(("webrtc", "rtp_timeout")):
            continue
        out.append(line)
        if section.startswith("[op-") and line == "type = endpoint":
            out.append("transport = transport-udp")
    path.write_text("\n".join(out) + "\n")


class RungCalls(Calls):
    """run_surge's per-call AMI record, plus the moment an operator's phone first rang for the call."""

    def __call__(self, fields: dict[str, str]) -> None:
        super().__call__(fields)
        call = self.calls.get(fields.get("Linkedid", ""))
        if call is not None and fields.get("Event") == "AgentCalled" and fields.get("Uniqueid") == call["entry"]:
            call.setdefault("rung", float(fields.get("Timestamp", "0") or 0))


class RealLine:
    def __init__(self, model: Model, window: Window, seed: int, k: float, name: str = "loadmodel-root") -> None:
        self.model, self.window, self.seed, self.k = model, window, seed, k
        self.root = given_root(name)
        shipped = load_config(self.root)
        (self.root / "sop" / "operators.yaml").write_text(
            yaml.safe_dump(bench_roster(shipped, model.central_operators), sort_keys=False)
        )
        default_wrapup = int(CATEGORY.default("wrapup_seconds"))
        compress_categories(self.root / "sop" / "categories.yaml", wrapup_seconds(default_wrapup, k))
        templates = self.root / "asterisk-config"
        (templates / "extensions_bench.conf").write_text(CALLER_DIALPLAN)
        with (templates / "extensions.conf").open("a") as extensions:
            extensions.write("\n#include extensions_bench.conf\n")
        self.settings = given_settings(self.root)
        self.config = load_config(self.root)
        build_all(
            self.config.prompts,
            self.settings.sounds_dir,
            self.root / "dialplan" / "recordings",
            runtime_dirs(self.settings)["moh_dir"],
        )
        self.timings, _ = prompt_timings(self.config, self.settings.sounds_dir)
        self.passwords = {op_id: secrets.token_urlsafe(18) for op_id in self.config.sop.operators}
        store = PasswordFile(self.settings.passwords_file)
        for op_id, password in self.passwords.items():
            store.set(op_id, password)
        self.book = CallBook(talk_factor=lambda caller: model.kinds[caller.kind].flagged.talk_factor)
        central = self.config.sop.central_queue.name
        self.central_ids = {op.id for op in self.config.sop.operators.values() if central in op.queues}
        self.central_busy = 0.0
        self.calls = RungCalls()
        self.started = datetime.now(UTC)

    async def run(self) -> list[CallResult]:
        install = find_or_provision()
        conf = render(self.settings, self.config.sop, install, config=self.config)
        plain_operator_phones(self.settings)
        await asyncio.to_thread(process.start, self.settings, install, conf, 60)
        keys = load_secrets(self.settings, create=False)
        ami = AmiClient("127.0.0.1", self.settings.ami_port, keys.test_ami_user, keys.test_ami_secret)
        ami.on("*", self.calls)
        serve = None
        shifts: list[asyncio.Task[None]] = []
        try:
            await ami.connect(timeout=20)
            await ami.action({"Action": "Events", "EventMask": "call,agent,dtmf"})
            serve = await start_serve(self.root, self.settings, REPO / "bench" / "build" / "loadmodel-serve.stderr")
            web, sip = f"http://127.0.0.1:{self.settings.web_port}", ("127.0.0.1", self.settings.sip_port)
            readies = []
            for op_id, password in self.passwords.items():
                ready = asyncio.Event()
                readies.append(ready)
                shifts.append(asyncio.create_task(ConsoleOperator(op_id, password, web, sip, self.book).shift(ready)))
            await _all_ready(readies, shifts)
            await asyncio.sleep(1.0)  # `ivr serve`'s live queue state has seen every member
            results = await self._callers(ami)
            # The last callers are gone; their operators may still be posting the outcome (the pop of
            # the call's end can lag its hang-up): ending their shifts now would lose those outcomes.
            await _until(lambda: self.book.in_hand() == 0, SETTLE_SECONDS)
            return results
        finally:
            for shift in shifts:
                shift.cancel()
            await asyncio.gather(*shifts, return_exceptions=True)
            if serve is not None:
                serve.terminate()
                serve.wait(10)
            await ami.close()
            await asyncio.to_thread(process.stop, self.settings)

    async def _callers(self, ami: AmiClient) -> list[CallResult]:
        arrivals, first = window_callers(self.model, self.window, self.seed)
        self.started = datetime.now(UTC)
        zero = time.time() - self.window.start
        pending = [asyncio.create_task(self._call(ami, arrivals, caller, zero)) for caller in first]
        results: list[CallResult] = []
        while pending:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                pending.remove(task)
                result, again = task.result()
                results.append(result)
                if again is not None:
                    pending.append(asyncio.create_task(self._call(ami, arrivals, again, zero)))
        return results

    async def _call(
        self, ami: AmiClient, arrivals: Arrivals, caller: Caller, zero: float
    ) -> tuple[CallResult, Caller | None]:
        """One attempt: placed at its second, hung up at its patience unless an operator has it."""
        await asyncio.sleep(max(0.0, zero + caller.arrival - time.time()))
        flow = self.config.flows["112"]
        keys = presses(flow, self.timings, caller.keys)
        call_id = f"lm-{secrets.token_hex(5)}"
        entry = f"{call_id}-in"
        self.book.callers[entry] = caller
        self.calls.calls[call_id] = {"entry": entry}
        script = Script(caller.kind, caller.keys, flow.default_language, tuple(keys), "", 0.0, True)
        placed_at = time.time()
        await ami.action(
            {
                "Action": "Originate",
                "Channel": f"Local/112@{OURS_ENTRY}",
                "Context": CALLER_CONTEXT,
                "Exten": "s",
                "Priority": "1",
                "CallerID": f"Bench <{caller.number}>",
                "Codecs": "alaw",
                "Async": "true",
                "ChannelId": call_id,
                "OtherChannelId": entry,
                "Timeout": "30000",
                "Variable": [*script.variables(), f"SIM_CALLER_NUM={caller.number}", "BENCH_HOLD=7200"],
            },
            timeout=30,
        )
        record = self.calls.calls[call_id]
        answered = await _until(lambda: record.get("answered_at"), 30) or placed_at
        # Patience counts from the answer; a caller an operator's phone is ringing for is served.
        await _until(lambda: record.get("rung") or record.get("gone"), answered + caller.patience - time.time())
        gave_up = not record.get("rung") and not record.get("gone")
        if gave_up:
            try:
                await ami.action({"Action": "Hangup", "Channel": call_id}, timeout=10)
            except AmiError:
                pass  # gone meanwhile
        await _until(lambda: record.get("gone"), DRAIN_SECONDS + caller.talk)
        result = self._result(caller, entry, record, "".join(key for _at, key in keys))
        again = None
        if result.abandoned:
            mix = self.window.scenario.surge.mix if self.window.scenario.surge else self.window.scenario.mix
            again = arrivals.redial(caller, mix)
        return result, again

    def _result(self, caller: Caller, entry: str, record: dict[str, Any], pressed: str) -> CallResult:
        answered = record.get("answered_at", 0.0)
        handled = self.book.handled.get(entry)
        result = CallResult(caller, pressed=pressed, queues=[record["queue"]] if "queue" in record else [])
        if "joined_at" in record:
            result.ivr_seconds = record["joined_at"] - answered
        if "operator_at" in record and handled is not None:
            result.to_human = record["operator_at"] - answered
            result.queue_wait = record["operator_at"] - record["joined_at"] - caller.answer_delay
            result.flagged = handled.flagged
            wrapup = (
                0.0 if caller.kind in JUNK else float(wrapup_seconds(int(CATEGORY.default("wrapup_seconds")), self.k))
            )
            result.operator_seconds = handled.hung_up_at - handled.answered_at + caller.answer_delay + wrapup
            if handled.operator in self.central_ids:
                self.central_busy += result.operator_seconds
        else:
            result.abandoned = "queue" if "joined_at" in record else "menu"
        return result


async def _until(check: Any, seconds: float) -> Any:
    deadline = time.monotonic() + max(0.0, seconds)
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        await asyncio.sleep(0.05)


async def _all_ready(readies: list[asyncio.Event], shifts: list[asyncio.Task[None]], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not all(ready.is_set() for ready in readies):
        failed = [shift for shift in shifts if shift.done()]
        if failed:
            failed[0].result()  # raises the operator's failure
            raise RuntimeError("an operator's shift ended before it was ready")
        if time.monotonic() > deadline:
            raise TimeoutError(f"operators not ready within {seconds}s")
        await asyncio.sleep(0.1)


def _relative(real: float, simulated: float) -> float:
    return abs(real - simulated) / simulated if simulated else float("inf")


def agreement(real: Figures, simulated: Figures) -> list[str]:
    lines = []
    for share, label in ((0.5, "p50"), (0.95, "p95")):
        a, s = real.p(share), simulated.p(share)
        diff = _relative(a, s)
        verdict = "**within 15%**" if diff <= TARGET else "**NOT within 15%**"
        lines.append(
            f"- genuine time to a human {label}: Asterisk {a:.1f} s, SimPy {s:.1f} s: "
            f"{100 * diff:.1f}% apart {verdict}."
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadmodel.asterisk_run", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--scenario", default="surge20", help="a scenario of the model (its surge hour is the window)")
    parser.add_argument(
        "--compress", type=float, default=10.0, help="k: arrivals k times as fast, talk and wrap-up 1/k"
    )
    parser.add_argument("--hours", type=float, default=3.0, help="model hours of the scenario's window (compressed)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="one model hour at k=20 (about 4 minutes)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "loadmodel_asterisk.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.compress, args.hours = 20.0, 1.0
    began = time.monotonic()
    model = compressed(load_model(args.model), args.compress)
    scenario = model.scenarios[args.scenario]
    hour = scenario.surge.hour if scenario.surge else 19
    window = Window(scenario, hour, args.hours * 3600.0 / args.compress)
    line = RealLine(model, window, args.seed, args.compress)
    with asterisk_lock():
        locked = time.monotonic()
        results = asyncio.run(line.run())
    waited, wall = locked - began, time.monotonic() - locked
    # Operators' busy share over the window alone, in both engines (SimPy's clock runs from midnight).
    real_run = Run("asterisk", results, 0, line.central_busy, window.seconds)
    simulated = simulate_window(model, line.config, line.timings, window, args.seed, line.started)
    rows = [
        figures(replace(simulated, policy="simpy", model_seconds=window.seconds), model.central_operators),
        figures(real_run, model.central_operators),
    ]
    command = (
        "python -m bench.loadmodel.asterisk_run " + shlex.join(argv if argv is not None else sys.argv[1:])
    ).strip()
    text = report(command, args, window, rows, line, wall, waited)
    args.out.write_text(text)
    print(text)
    return 0


def report(
    command: str,
    args: argparse.Namespace,
    window: Window,
    rows: list[Figures],
    line: RealLine,
    wall: float,
    waited: float,
) -> str:
    simulated, real = rows
    errors = line.book.errors
    return "\n".join(
        [
            "# The load model through the real Asterisk, against the SimPy engine",
            "",
            f"Command: `{command}`  ",
            f"Wall time {wall:.0f} s with the Asterisk lock held "
            f"({waited:.0f} s before: prompts, waiting for the lock); "
            f"{os.cpu_count()} cores (shared); scenario {args.scenario}, its "
            f"{window.hour:02d}:00 hour, {args.hours:g} model hour(s) compressed {args.compress:g}x into "
            f"{window.seconds:.0f} s; seed {args.seed}; policy '{LINE_POLICY}' (the shipped flow and SOP, "
            "triage learning from the operators' outcomes).  ",
            f"Operators: {len(line.passwords)} simulated at the console (the model's central shift and the "
            "agencies' operators), each with a SIP phone registered with the console session's credential.",
            "",
            "## Agreement (genuine callers, time from Asterisk's answer to an operator's)",
            "",
            *agreement(real, simulated),
            "",
            *table(rows),
            "",
            f"Console errors seen by the simulated operators: {len(errors)}"
            + (f" (first: {errors[0]})" if errors else "")
            + ".",
            "",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
