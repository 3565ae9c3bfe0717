"""N simultaneous calls through the real Asterisk, the whole IVR, into a queue of simulated operators.

    .venv/bin/python bench/run_asterisk.py [--steps 25 50 100 200 300] [--gap-ms 250] [--ledger both]

Every caller presses 1 (darurat) then 1 (kebakaran), --gap-ms apart, and should reach q-damkar and an
operator. Keys lost = keys Asterisk read (AMI DTMFEnd) that the flow never got (our store), per menu.
--ledger both runs every step twice: with `ivr serve` taking keys from AGI alone (IVR_DTMF_LEDGER=0,
the code before issue 14) and from the AMI key ledger (the default).
Per step: calls routed correctly, misrouted, lost; CPU of Asterisk and of `ivr serve`; and the IVR
overhead per call: from the moment the caller's last key ended the prompt it interrupted (AGI
command end) to the caller joining the queue (route decided, variables set, dialplan to Queue),
from AMI event timestamps.
Steps go up until the first step that loses or misroutes a call. Writes bench/results/asterisk.*.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench.run_agi import cpu_seconds, free_port, machine
from ivr.ami.client import AmiClient, AmiError
from ivr.ami.operators import sim_interface
from ivr.asterisk import process
from ivr.asterisk.provision import find_or_provision
from ivr.asterisk.render import load_secrets, render, runtime_dirs
from ivr.config import load_config
from ivr.prompts.build import build_all
from ivr.settings import Settings

QUEUE = "q-damkar"
KEYS, FIRST_DELAY = "11", 1.5


def given_root(name: str = "asterisk-root") -> Path:
    """The shipped configuration, but every queue rings one operator at a time (rrmemory): with hundreds
    of simulated operators, 'ringall' would ring every one of them for every caller (N x N channels)."""
    root = BENCH / "build" / name
    shutil.rmtree(root, ignore_errors=True)
    for part in ("dialplan", "sop", "asterisk-config"):
        shutil.copytree(ROOT / part, root / part)
    agencies = root / "sop" / "agencies.yaml"
    agencies.write_text(agencies.read_text().replace("strategy: ringall", "strategy: rrmemory"))
    return root


def add_bench_dialplan(root: Path, text: str) -> None:
    """Contexts of a bench's own, in the root's copy of the configuration only (never shipped)."""
    templates = root / "asterisk-config"
    (templates / "extensions_bench.conf").write_text(text)
    with (templates / "extensions.conf").open("a") as extensions:
        extensions.write("\n#include extensions_bench.conf\n")


def given_settings(root: Path) -> Settings:
    """The root's settings on free ports, without simulated operators (the bench logs its own in)."""
    return replace(
        Settings.load(root),
        agi_port=free_port(),
        ami_port=free_port(),
        sip_port=free_port(),
        web_port=free_port(),
        wss_port=free_port(),
        sim_operators=0,
    )


def serve_env(settings: Settings) -> dict[str, str]:
    """The environment of an `ivr serve` on ``settings``' ports, without simulated operators."""
    return {
        **os.environ,
        "IVR_AGI_PORT": str(settings.agi_port),
        "IVR_AMI_PORT": str(settings.ami_port),
        "IVR_WEB_PORT": str(settings.web_port),
        "IVR_WSS_PORT": str(settings.wss_port),
        "IVR_SIM_OPERATORS": "0",
    }


class Collector:
    """One AMI listener for all calls, keyed by the caller's Linkedid (cheap at hundreds of calls)."""

    def __init__(self) -> None:
        self.calls: dict[str, dict[str, Any]] = {}

    def __call__(self, fields: dict[str, str]) -> None:
        call = self.calls.get(fields.get("Linkedid", ""))
        if call is None:
            return
        name, stamp = fields.get("Event"), float(fields.get("Timestamp", "0") or 0)
        entry = fields.get("Uniqueid") == call["entry"]
        if name == "Newstate" and entry and fields.get("ChannelState") == "6":
            call.setdefault("answered_at", stamp)
        elif name == "AGIExecEnd" and entry and fields.get("Command", "").startswith(("STREAM FILE", "EXEC Read")):
            call["last_key_at"] = stamp  # the prompt (or the last menu's Read) the caller's last key ended
        elif name == "QueueCallerJoin" and entry:
            call["queue"], call["joined_at"] = fields.get("Queue"), stamp
        elif name == "AgentConnect" and entry:
            call["operator_at"] = stamp
        elif name == "DTMFEnd" and entry and fields.get("Direction") == "Received":
            call["keys_seen"] = call.get("keys_seen", "") + fields.get("Digit", "")


def pid_of_asterisk(settings: Settings) -> int:
    leader = process.running_pid(settings)
    assert leader is not None
    return process._asterisk_pid(leader) or leader


def flow_keys(settings: Settings, entries: list[str]) -> dict[str, str]:
    """The keys our flow got, per call, from the store `ivr serve` wrote."""
    with sqlite3.connect(settings.store_file) as db:
        marks = ",".join("?" * len(entries))
        return dict(db.execute(f"SELECT uniqueid, keys FROM calls WHERE uniqueid IN ({marks})", entries).fetchall())


async def step(
    ami: AmiClient, collector: Collector, settings: Settings, serve_pid: int, n: int, gap_ms: int
) -> dict[str, Any]:
    for seat in range(1, n + 1):
        await ami.action(
            {
                "Action": "QueueAdd",
                "Queue": QUEUE,
                "Interface": sim_interface(QUEUE, seat),
                "MemberName": f"Simulasi {seat}",
            }
        )
    asterisk_pid = pid_of_asterisk(settings)
    cpu_a, cpu_s, started = cpu_seconds(asterisk_pid), cpu_seconds(serve_pid), time.monotonic()
    ids = []
    for _ in range(n):
        call_id = f"bench-{secrets.token_hex(5)}"
        collector.calls[call_id] = {"entry": f"{call_id}-in"}
        ids.append(call_id)
        await ami.action(
            {
                "Action": "Originate",
                "Channel": "Local/112@siaga-sim-entry",
                "Context": "siaga-sim-caller",
                "Exten": "s",
                "Priority": "1",
                "CallerID": "Bench <0811000000>",
                "Async": "true",
                "ChannelId": call_id,
                "OtherChannelId": f"{call_id}-in",
                "Timeout": "30000",
                "Variable": [
                    f"SIM_DIGITS={KEYS}",
                    f"SIM_FIRST_DELAY={FIRST_DELAY}",
                    "SIM_HOLD=120",
                    f"SIM_DTMF_GAP_MS={gap_ms}",
                    "SIM_CALLER_NUM=0811000000",
                ],
            },
            timeout=30,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all("operator_at" in collector.calls[i] for i in ids):
        await asyncio.sleep(0.2)
    elapsed = time.monotonic() - started
    cpu_a, cpu_s = cpu_seconds(asterisk_pid) - cpu_a, cpu_seconds(serve_pid) - cpu_s
    calls = [collector.calls[i] for i in ids]
    unanswered_actions = 0
    for call_id in ids:
        try:
            await ami.action({"Action": "Hangup", "Channel": call_id}, timeout=10)
        except AmiError:
            unanswered_actions += 1  # an overloaded Asterisk stops answering AMI in time: say so
    for seat in range(1, n + 1):
        try:
            await ami.action({"Action": "QueueRemove", "Queue": QUEUE, "Interface": sim_interface(QUEUE, seat)})
        except AmiError:
            unanswered_actions += 1
    await asyncio.sleep(3)
    got = flow_keys(settings, [collector.calls[i]["entry"] for i in ids])
    lost_first = lost_second = 0
    for call in calls:
        seen, flow = call.get("keys_seen", ""), got.get(call["entry"], "")
        if len(seen) > len(flow):  # Asterisk read more keys than the flow got: lost in a gap
            lost_first += flow == ""
            lost_second += len(seen) - len(flow) - (flow == "")
    overheads = sorted(
        (c["joined_at"] - c["last_key_at"]) * 1000 for c in calls if "joined_at" in c and "last_key_at" in c
    )
    to_queue = sorted(c["joined_at"] - c["answered_at"] for c in calls if "joined_at" in c and "answered_at" in c)
    return {
        "calls": n,
        "ami_actions_unanswered": unanswered_actions,
        "routed_and_answered": sum(1 for c in calls if c.get("queue") == QUEUE and "operator_at" in c),
        "misrouted": sum(1 for c in calls if c.get("queue") not in (None, QUEUE)),
        "lost": sum(1 for c in calls if "operator_at" not in c),
        "keys_seen_by_asterisk": sum(len(c.get("keys_seen", "")) for c in calls),
        "keys_lost_first_menu": lost_first,
        "keys_lost_second_menu": lost_second,
        "seconds_to_all_answered": round(elapsed, 1),
        "asterisk_cpu_pct_of_one_core": round(cpu_a / elapsed * 100, 1),
        "serve_cpu_pct_of_one_core": round(cpu_s / elapsed * 100, 1),
        "serve_cpu_ms_per_call": round(cpu_s / n * 1000, 2),
        "answer_to_queue_s_p50": round(statistics.median(to_queue), 2) if to_queue else None,
        "ivr_overhead_ms_p50": round(statistics.median(overheads), 1) if overheads else None,
        "ivr_overhead_ms_p95": round(overheads[int(len(overheads) * 0.95) - 1], 1) if overheads else None,
        "ivr_overhead_ms_p99": round(overheads[max(0, int(len(overheads) * 0.99) - 1)], 1) if overheads else None,
        "ivr_overhead_ms_max": round(overheads[-1], 1) if overheads else None,
    }


async def run(steps: list[int], gap_ms: int, modes: list[str]) -> dict[str, Any]:
    root = given_root()
    settings = given_settings(root)
    config = load_config(root)
    build_all(config.prompts, settings.sounds_dir, root / "dialplan" / "recordings", runtime_dirs(settings)["moh_dir"])
    install = find_or_provision()
    await asyncio.to_thread(process.start, settings, install, render(settings, config.sop, install), 60)
    keys = load_secrets(settings, create=False)
    ami = AmiClient("127.0.0.1", settings.ami_port, keys.test_ami_user, keys.test_ami_secret)
    collector = Collector()
    ami.on("*", collector)
    results: dict[str, Any] = {
        "command": " ".join(["bench/run_asterisk.py", *sys.argv[1:]]),
        "machine": machine(),
        "asterisk": install.version,
        "keys": KEYS,
        "gap_ms": gap_ms,
        "queue": QUEUE,
        "steps": [],
    }
    try:
        await ami.connect(timeout=20)
        for mode in modes:
            env = {**serve_env(settings), "IVR_DTMF_LEDGER": "1" if mode == "ledger" else "0"}
            serve = subprocess.Popen(
                [sys.executable, "-m", "ivr", "--root", str(root), "--log-level", "warning", "serve"],
                env=env,
                stderr=open(BENCH / "build" / f"serve-{mode}.stderr", "wb"),
            )
            try:
                await asyncio.sleep(3)  # ivr serve up, AMI logged in
                for n in steps:
                    outcome = {"keys_from": mode, **await step(ami, collector, settings, serve.pid, n, gap_ms)}
                    results["steps"].append(outcome)
                    print(json.dumps(outcome), flush=True)
                    # Misrouted callers are what this measures; a lost call or a drowned AMI ends the mode.
                    if outcome["lost"] or outcome["ami_actions_unanswered"]:
                        break
            finally:
                serve.terminate()
                serve.wait(10)
    finally:
        await ami.close()
        await asyncio.to_thread(process.stop, settings)
    return results


def write(results: dict[str, Any]) -> None:
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    (out / "asterisk.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# Calls through the real Asterisk",
        "",
        f"Command: `.venv/bin/python {results['command']}`  ",
        f"Machine: {results['machine']}; {results['asterisk']}  ",
        f"Each caller presses {' then '.join(results['keys'])}, {results['gap_ms']} ms apart, and must reach"
        f" {results['queue']} and an operator (one simulated operator per caller; the queue rings one at a"
        " time). Keys from: `agi` = the keys AGI commands return (before issue 14), `ledger` = Asterisk's own"
        " key stream from AMI. Keys lost = keys Asterisk read that the flow never got (first menu / second"
        " menu). IVR overhead = from the end of the prompt the last key interrupted to the queue join (AMI"
        " timestamps): the route decision, setting the route, the dialplan up to Queue().",
        "",
        "| keys from | calls | routed+answered | misrouted | lost | keys lost 1st / 2nd menu |"
        " s to all answered | Asterisk CPU % | serve CPU % |"
        " serve ms/call | answer→queue p50 s | overhead p50 ms | p95 ms | p99 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in results["steps"]:
        lines.append(
            f"| {s['keys_from']} | {s['calls']} | {s['routed_and_answered']} | {s['misrouted']} | "
            f"{s['lost']} | "
            f"{s['keys_lost_first_menu']} / {s['keys_lost_second_menu']} | "
            f"{s['seconds_to_all_answered']} | {s['asterisk_cpu_pct_of_one_core']} | "
            f"{s['serve_cpu_pct_of_one_core']} | {s['serve_cpu_ms_per_call']} | "
            f"{s['answer_to_queue_s_p50']} | {s['ivr_overhead_ms_p50']} | "
            f"{s['ivr_overhead_ms_p95']} | {s['ivr_overhead_ms_p99']} | {s['ivr_overhead_ms_max']} |"
        )
    (out / "asterisk.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, nargs="*", default=[25, 50, 100, 200, 300])
    parser.add_argument("--gap-ms", type=int, default=250, help="between the caller's two keys")
    parser.add_argument(
        "--ledger",
        choices=("agi", "ledger", "both"),
        default="both",
        help="where ivr serve takes keys from (both: the same steps twice, agi first)",
    )
    args = parser.parse_args()
    modes = ["agi", "ledger"] if args.ledger == "both" else [args.ledger]
    write(asyncio.run(run(args.steps, args.gap_ms, modes)))


if __name__ == "__main__":
    main()
