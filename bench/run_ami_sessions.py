"""What a logged-in AMI session costs Asterisk: CPU per dialplan line with 1, 2 and 3 sessions.

    .venv/bin/python bench/run_ami_sessions.py [--rounds 5] [--lines 400] [--calls 50] [--line-events]

On one real Asterisk (the shipped configuration, as run_surge.py renders it), each of N calls runs a
context of --lines dialplan lines and hangs up; Asterisk's CPU (utime+stime) over the calls, less that
of the same calls through a one-line context, over calls x lines, is the CPU per line. Three kinds of
line: NoOp() (one Newexten event), GotoIf() (one Newexten) and Set() (Newexten and VarSet). Measured
with the bench's own AMI session alone (reading call,agent,dtmf,user as run_surge.py does), then with
`ivr serve`'s event account logged in beside it (read system,agent,dtmf,user and its eventfilter), then
with the warm-transfer account too (read system), as `ivr serve` kept it logged in before
ivr/ami/ondemand.py. Rounds alternate the order of the kinds. Takes /tmp/siaga-asterisk.lock.

The shipped manager.conf has Asterisk make neither event (disabledevents): that is measured by
default, into bench/results/ami_sessions_disabled.{md,json}. --line-events drops that line from the
bench's copy, as results/ami_sessions.{md,json} were measured (before it was shipped).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from bench.run_agi import cpu_seconds, machine
from bench.run_asterisk import add_bench_dialplan, given_root, given_settings, pid_of_asterisk
from bench.run_surge import EVENT_CLASSES, asterisk_lock
from ivr.ami.client import AmiClient
from ivr.ami.service_events import SERVICE_EVENTS
from ivr.asterisk import process
from ivr.asterisk.provision import find_or_provision
from ivr.asterisk.render import load_secrets, render
from ivr.config import load_config

KINDS = {"NoOp": "NoOp()", "GotoIf": "GotoIf($[1 = 2]?end)", "Set": "Set(BENCH_X=1)"}
SESSIONS = {
    1: "the bench's session only",
    2: "+ ivr serve's event account",
    3: "+ ivr serve's event account + the warm-transfer account",
}


def contexts(lines: int) -> str:
    text = ["; Bench only (bench/run_ami_sessions.py).", "[bench-lines-none]", "exten => s,1,Hangup()"]
    for kind, line in KINDS.items():
        text += [f"[bench-lines-{kind}]", f"exten => s,1,{line}"]
        text += [f" same => n,{line}"] * (lines - 1)
        text += [" same => n(end),Hangup()"]
    return "\n".join(text) + "\n"


async def cpu_per_call(ami: AmiClient, pid: int, context: str, calls: int) -> float:
    """Asterisk CPU ms per call of ``calls`` calls through ``context`` (each a Local channel pair)."""
    hung: list[str] = []
    unsubscribe = ami.on("Hangup", lambda fields: hung.append(fields.get("Channel", "")))
    before = cpu_seconds(pid)
    for _ in range(calls):
        channel = f"Local/s@{context}/n"
        await ami.action(
            {"Action": "Originate", "Channel": channel, "Application": "Wait", "Data": "0.01", "Async": "true"}
        )
    deadline = time.monotonic() + 60
    while len(hung) < 2 * calls and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # the last events' delivery
    unsubscribe()
    if len(hung) < 2 * calls:
        raise RuntimeError(f"{context}: {len(hung)} of {2 * calls} channels hung up within 60 s")
    return (cpu_seconds(pid) - before) / calls * 1000


async def run(args: argparse.Namespace) -> dict[str, Any]:
    root = given_root("ami-sessions-root")
    if args.line_events:
        manager = root / "asterisk-config" / "manager.conf"
        shipped = manager.read_text()
        manager.write_text("\n".join(line for line in shipped.splitlines() if not line.startswith("disabledevents")))
    settings = given_settings(root)
    config = load_config(root)
    add_bench_dialplan(root, contexts(args.lines))
    install = find_or_provision()
    conf = render(settings, config.sop, install, config=config)
    rows: dict[int, dict[str, list[float]]] = {}
    with asterisk_lock():
        await asyncio.to_thread(process.start, settings, install, conf, 60)
        clients: list[AmiClient] = []
        try:
            keys = load_secrets(settings, create=False)
            ami = AmiClient("127.0.0.1", settings.ami_port, keys.test_ami_user, keys.test_ami_secret)
            clients.append(ami)
            await ami.connect(timeout=20)
            await ami.action({"Action": "Events", "EventMask": EVENT_CLASSES})
            pid = pid_of_asterisk(settings)
            accounts = [
                (keys.ami_user, keys.ami_secret, "system,agent,dtmf,user", SERVICE_EVENTS),
                (keys.transfer_ami_user, keys.transfer_ami_secret, "system", None),
            ]
            for sessions in SESSIONS:
                if sessions > 1:
                    user, secret, events, only = accounts[sessions - 2]
                    client = AmiClient("127.0.0.1", settings.ami_port, user, secret, events=events, only_events=only)
                    clients.append(client)
                    await client.connect(timeout=20)
                per_line: dict[str, list[float]] = {kind: [] for kind in KINDS}
                for round_number in range(args.rounds):
                    kinds = list(KINDS) if round_number % 2 == 0 else list(reversed(KINDS))
                    base = await cpu_per_call(ami, pid, "bench-lines-none", args.calls)
                    for kind in kinds:
                        ms = await cpu_per_call(ami, pid, f"bench-lines-{kind}", args.calls)
                        per_line[kind].append(round((ms - base) / args.lines * 1000, 1))
                rows[sessions] = per_line
                print(json.dumps({"sessions": sessions, "us_per_line": per_line}), flush=True)
        finally:
            for client in reversed(clients):
                await client.close()
            await asyncio.to_thread(process.stop, settings)
    return {
        "command": " ".join(["bench/run_ami_sessions.py", *sys.argv[1:]]),
        "machine": machine(),
        "asterisk": install.version,
        "lines": args.lines,
        "calls": args.calls,
        "rounds": args.rounds,
        "line_events": args.line_events,
        "us_per_line": {str(sessions): per_line for sessions, per_line in rows.items()},
    }


def write_report(results: dict[str, Any], out: Path) -> None:
    rows = {int(sessions): per_line for sessions, per_line in results["us_per_line"].items()}
    line_events = results.get("line_events", True)  # the first results predate the flag: events made
    events = (
        "Each line is a Newexten event; Set() also a VarSet. None of the sessions is sent either (both are"
        " of the dialplan class), yet each logged-in session costs Asterisk CPU on every event."
        if line_events
        else "As shipped: manager.conf's disabledevents has Asterisk make no Newexten and no VarSet, so a line"
        " makes no event at all (results/ami_sessions.md: the same with them)."
    )
    lines = [
        "# What a logged-in AMI session costs Asterisk",
        "",
        f"Command: `{results['command']}`  ",
        f"Machine: {results['machine']}; {results['asterisk']}",
        "",
        f"Asterisk CPU per dialplan line (µs): {results['calls']} calls through {results['lines']} lines of each"
        " kind, less the same calls through one line, per round; the median of "
        f"{results['rounds']} rounds, every round in brackets. {events}",
        "",
        "| AMI sessions logged in | " + " | ".join(KINDS) + " |",
        "| --- | " + " | ".join("---:" for _ in KINDS) + " |",
    ]
    for sessions, per_line in sorted(rows.items()):
        cells = [f"{statistics.median(v):g} ({', '.join(f'{x:g}' for x in v)})" for v in per_line.values()]
        lines.append(f"| {sessions}: {SESSIONS[sessions]} | " + " | ".join(cells) + " |")
    if line_events:
        lines += [
            "",
            "A call through [siaga-112] made 232 events in all (a '1 4' caller, counted on one AMI session"
            " reading every class); the same caller through the plain-dialplan menu 163. Since this bench,"
            " `ivr serve` logs its warm-transfer account in only around a transfer (ivr/ami/ondemand.py): in"
            " production one session of ours is logged in between transfers, not two.",
        ]
    lines.append("")
    name = "ami_sessions" if line_events else "ami_sessions_disabled"
    (out / f"{name}.md").write_text("\n".join(lines))
    (out / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lines", type=int, default=400)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--out", default=str(BENCH / "results"))
    parser.add_argument(
        "--line-events", action="store_true", help="Newexten and VarSet made, as Asterisk's default (not shipped)"
    )
    args = parser.parse_args()
    results = asyncio.run(run(args))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_report(results, out)


if __name__ == "__main__":
    main()
