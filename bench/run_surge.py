"""Surge capacity: our IVR against the same menu in plain dialplan, on the same real Asterisk.

    nice .venv/bin/python bench/run_surge.py [--quick] [--steps 10 25 50 100 150 200] [--codec alaw]

Two parts, both through the real Asterisk with the shipped [siaga-112] (AGI to `ivr serve`) and the
menu rendered as plain dialplan from the same YAML (bench/plain_dialplan.py), each in its own context:

1. Surge: at each concurrency N, N callers dial at once, first into our IVR, then (same Asterisk) into
   the plain menu. Callers follow a flood-hour mix of darurat paths (bench/loadmodel/model.yaml's
   genuine flood keys), each key pressed when `ivr check`'s timing model says the caller presses it,
   with the trunk's codec (--codec, alaw: Originate's Codecs) so prompts cost what they cost on a
   trunk. Every queue has more simulated operators than callers sent to it (a static menu knows no
   busy queue; ours would pass over one, which would count as misrouted here). Per call, from AMI
   event timestamps (timestampevents=yes): IVR overhead = the caller's last key (DTMFEnd) to
   QueueCallerJoin, for paths that end on a key; lost = never joined a queue; misrouted = joined
   another queue than the keys' category's. Asterisk CPU per call = utime+stime of the Asterisk
   process over the step (first Originate to the last operator answering), over N.
2. Darurat paths: every emergency path `ivr check` lists from answer (no back key), one caller
   each, all at once (low load): seconds from answer to QueueCallerJoin, measured, beside `ivr check`'s.

Each menu's run starts its own Asterisk (and, for ours, `ivr serve`); each step (both menus) holds
/tmp/siaga-asterisk.lock, released between steps. Writes bench/results/surge.{json,md} and surge_overhead.svg.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench.plain_dialplan import ENTRY as PLAIN_ENTRY
from bench.plain_dialplan import render_plain
from bench.run_agi import CLK_TCK, cpu_seconds, listening, machine
from bench.run_asterisk import add_bench_dialplan, given_root, given_settings, pid_of_asterisk, serve_env
from bench.surge_report import aggregate, percentile, write_report
from ivr.ami.client import AmiClient, AmiError
from ivr.asterisk import process
from ivr.asterisk.provision import file_lock, find_or_provision
from ivr.asterisk.render import load_secrets, render, runtime_dirs
from ivr.check import prompt_timings
from ivr.config import load_config
from ivr.config.flow import Flow, MenuNode
from ivr.flow.analysis import TimedPath, digit_wait, timed_paths
from ivr.prompts.build import build_all
from ivr.settings import Settings

LOCK = "/tmp/siaga-asterisk.lock"
DTMF_MS = 100  # each simulated key lasts this long (SendDTMF's duration), as a phone's RFC 4733 key
# SendDTMF (main/app.c dtmf_stream) sleeps 100 ms before the first key and, after each, its interval
# (0 means 250 ms; 1 ms is the least): the waits account for both, so a key begins when scheduled.
SEND_DTMF_LEAD_S, SEND_DTMF_INTERVAL_MS = 0.1, 1
CALLER_CONTEXT = "bench-caller"
OPERATOR_CONTEXT = "bench-operator"
EVENT_CLASSES = "call,agent,dtmf,user"
OURS_ENTRY = "siaga-sim-entry"
# --syscalls: what Asterisk's threads do for a call, counted rather than timed (the CPU time of a round
# moves by a fifth with the host's weather; these counts by about 1%): every system call, every switch of a
# thread off a core, and tgkill, with which Asterisk wakes each logged-in AMI session for every event.
SYSCALL_EVENTS = {
    "raw_syscalls:sys_enter": "syscalls",
    "sched:sched_switch": "switches",
    "syscalls:sys_enter_tgkill": "tgkills",
}
# --serve-cost: the plain menu while `ivr serve` runs beside it (its AMI session, its reading of
# Asterisk's records), which tells our AGI's share of the CPU from the share of serve's AMI feed.
PLAIN_WITH_SERVE = "plain+serve"
# The flood hour's genuine callers (model.yaml mixes.flood.keys.genuine, rounded to ten callers): the
# order callers are dealt in, so every step has the same mix: each path as the menus' choices.
SURGE_MIX = ("1 4", "1 4", "1 4", "1 4", "1 4", "1 2", "1 1", "1 3", "1 silence", "silence")
# Bench callers: wait, press one key, wait, ... (keys and waits as Originate variables), then hold.
CALLER_DIALPLAN = f"""
; Bench only (bench/run_surge.py): a caller who presses BENCH_KEY<i> after BENCH_WAIT<i> seconds,
; then holds BENCH_HOLD seconds (default 120).
[{CALLER_CONTEXT}]
exten => s,1,Set(BENCH_I=1)
 same => n(next),GotoIf($["${{BENCH_KEY${{BENCH_I}}}}" = ""]?hold)
 same => n,Wait(${{BENCH_WAIT${{BENCH_I}}}})
 same => n,SendDTMF(${{BENCH_KEY${{BENCH_I}}}},{SEND_DTMF_INTERVAL_MS},{DTMF_MS})
 same => n,UserEvent(BenchKey,At: ${{STRFTIME(,,%s.%6q)}})
 same => n,Set(BENCH_I=$[${{BENCH_I}} + 1])
 same => n,Goto(next)
 same => n(hold),Wait(${{IF($[${{LEN(${{BENCH_HOLD}})}} > 0]?${{BENCH_HOLD}}:120)}})
 same => n,Hangup()

; Bench only: the simulated operators' seats, which say when app_queue rang them, then answer as the
; shipped [siaga-sim-operator] does.
[{OPERATOR_CONTEXT}]
exten => _op-.,1,UserEvent(BenchRung,At: ${{STRFTIME(,,%s.%6q)}})
 same => n,Goto(siaga-sim-operator,${{EXTEN}},1)
"""


@dataclass(frozen=True)
class Script:
    """One caller: the path it takes, its keys with the moment (s from answer) each is pressed."""

    name: str
    choices: str  # the choice made at each menu: "1 4", "1 silence"
    language: str
    presses: tuple[tuple[float, str], ...]
    queue: str
    predicted_s: float
    ends_on_key: bool

    def variables(self) -> list[str]:
        out, before = [], 0.0
        for index, (at, key) in enumerate(self.presses, 1):
            wait = max(0.0, at - before - SEND_DTMF_LEAD_S)
            out += [f"BENCH_KEY{index}={key}", f"BENCH_WAIT{index}={wait:.3f}"]
            before = at + (DTMF_MS + SEND_DTMF_INTERVAL_MS) / 1000
        return out


def script_of(flow: Flow, sop_queue: dict[str, str], path: TimedPath) -> Script:
    """The scripted caller of `ivr check`: each key when announced plus the reaction time (each further
    key of "55" a reaction later, where the model allows the whole inter-digit wait), a wrong key after
    the whole prompt plus a reaction."""
    presses: list[tuple[float, str]] = []
    elapsed = 0.0
    for step in path.steps:
        node = flow.nodes[step.node]
        if step.choice in ("silence", "next") or not isinstance(node, MenuNode):
            elapsed += step.seconds
            continue
        if step.choice == "invalid":
            longest = max(len(key) for key in node.options)
            wrong = next(d for d in "7863" if not any(key.startswith(d) for key in node.options))
            elapsed += step.seconds - (longest - 1) * digit_wait(flow, node)
            presses.append((round(elapsed, 3), wrong))
            continue
        first = step.seconds - (len(step.choice) - 1) * digit_wait(flow, node)
        for index, key in enumerate(step.choice):
            elapsed += first if index == 0 else flow.reaction_time
            presses.append((round(elapsed, 3), key))
    return Script(
        path.describe(),
        " ".join(step.choice for step in path.steps),
        path.language,
        tuple(presses),
        sop_queue[path.category],
        path.from_answer,
        path.steps[-1].choice not in ("silence", "next"),
    )


class Calls:
    """Per call (keyed by Linkedid), what AMI reported of its entry channel, with event timestamps."""

    def __init__(self) -> None:
        self.calls: dict[str, dict[str, Any]] = {}

    def __call__(self, fields: dict[str, str]) -> None:
        call = self.calls.get(fields.get("Linkedid", ""))
        if call is None:
            return
        name, stamp = fields.get("Event"), float(fields.get("Timestamp", "0") or 0)
        if name == "UserEvent" and fields.get("UserEvent") in ("BenchKey", "BenchRung"):
            at = float(fields["At"])
            if fields["UserEvent"] == "BenchKey":
                call["key_sent_at"] = at
            else:
                call.setdefault("rung_at", at)
            return
        if fields.get("Uniqueid") != call["entry"]:
            return
        if name == "Newstate" and fields.get("ChannelState") == "6":
            call.setdefault("answered_at", stamp)
        elif name == "DTMFEnd" and fields.get("Direction") == "Received":
            call["last_key_at"] = stamp
        elif name == "QueueCallerJoin":
            call.setdefault("queue", fields.get("Queue"))
            call.setdefault("joined_at", stamp)
        elif name == "AGIExecEnd" and fields.get("Command", "").startswith(("STREAM FILE", "EXEC Read")):
            call["stream_end_at"] = stamp  # --trace: the prompt (the last menu's Read) the last key ended
        elif name == "AGIExecStart" and fields.get("Command", "").startswith("SET VARIABLE IVR_ROUTE "):
            call["route_at"] = stamp  # --trace: our route reached Asterisk
        elif name == "MusicOnHoldStart":
            call["moh_starts"] = call.get("moh_starts", 0) + 1  # hold music before the queue's own
        elif name == "AgentConnect":
            call.setdefault("operator_at", stamp)
        elif name == "Hangup":
            call["gone"] = True


def bench_seat(queue: str, seat: int) -> str:
    """A simulated operator's seat that reports when app_queue rings it (OPERATOR_CONTEXT)."""
    return f"Local/op-{queue}-{seat}@{OPERATOR_CONTEXT}/n"


def steal_seconds() -> float:
    """CPU seconds the hypervisor gave other guests while this machine wanted to run (/proc/stat's steal)."""
    return int(Path("/proc/stat").read_text().split("\n", 1)[0].split()[8]) / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used (/proc/stat's first line: all but idle and iowait)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(field) for field in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def asterisk_lock() -> AbstractContextManager[None]:
    """The lock every real-Asterisk run on this machine takes (tests, helpers, benches)."""
    return file_lock(Path(LOCK))


async def start_serve(root: Path, settings: Settings, stderr: Path) -> subprocess.Popen[bytes]:
    """`ivr serve` on ``root`` as a center runs it (no simulated operators), once it listens for FastAGI."""
    serve = subprocess.Popen(
        [sys.executable, "-m", "ivr", "--root", str(root), "--log-level", "warning", "serve"],
        env=serve_env(settings),
        stderr=stderr.open("ab"),
    )
    deadline = time.monotonic() + 30
    while not listening(settings.agi_port):
        if time.monotonic() > deadline or serve.poll() is not None:
            raise RuntimeError(f"ivr serve did not start: {stderr}")
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)  # its AMI login and queue resync
    return serve


class Bench:
    def __init__(
        self, codec: str, wav_only: bool, trace: bool, syscalls: bool = False, disabled_events: tuple[str, ...] = ()
    ) -> None:
        self.codec, self.trace = codec, trace
        self.syscalls, self.disabled_events = syscalls, disabled_events
        self.root = given_root("surge-root")
        self.settings = given_settings(self.root)
        self.config = load_config(self.root)
        self.flow = self.config.flows["112"]
        build_all(
            self.config.prompts,
            self.settings.sounds_dir,
            self.root / "dialplan" / "recordings",
            runtime_dirs(self.settings)["moh_dir"],
        )
        if wav_only:  # as before the prompts had their trunk copies: Asterisk transcodes the wav
            for copy in [*self.settings.sounds_dir.rglob("*.alaw"), *self.settings.sounds_dir.rglob("*.ulaw")]:
                copy.unlink()
            for copy in [*runtime_dirs(self.settings)["moh_dir"].glob("*.?law")]:
                copy.unlink()
        add_bench_dialplan(
            self.root, render_plain(self.flow, self.config.sop, self.settings.sounds_dir) + CALLER_DIALPLAN
        )
        self.install = find_or_provision()
        timings, _ = prompt_timings(self.config, self.settings.sounds_dir)
        queues = {name: category.queue for name, category in self.config.sop.categories.items()}
        self.paths = [
            script_of(self.flow, queues, path)
            for path in timed_paths(self.flow, self.config.sop, timings)
            if path.emergency and not path.came_back
        ]

    def script(self, choices: str) -> Script:
        """The default-language emergency path that makes ``choices`` on its menus."""
        for candidate in self.paths:
            if candidate.choices == choices and candidate.language == self.flow.default_language:
                return candidate
        raise LookupError(f"no emergency path {choices!r}")

    async def session(self, runs: list[tuple[str, list[Script]]]) -> list[dict[str, Any]]:
        """Each run on a freshly started Asterisk (no leftovers of the other menu's calls), with
        `ivr serve` only for ours: the plain menu is Asterisk alone, as a center would run it."""
        results = []
        for menu, scripts in runs:
            results.append({"menu": menu, **await self.fresh_run(menu, scripts)})
            print(json.dumps({k: v for k, v in results[-1].items() if k != "per_call"}), flush=True)
        return results

    async def fresh_run(self, menu: str, scripts: list[Script]) -> dict[str, Any]:
        dirs = runtime_dirs(self.settings)
        for leftover in (dirs["log_dir"] / "queue_log", dirs["cdr_csv_dir"] / "Master.csv", self.settings.store_file):
            leftover.unlink(missing_ok=True)
        conf = render(self.settings, self.config.sop, self.install, config=self.config)
        if self.disabled_events:
            disable_events(conf.parent / "manager.conf", self.disabled_events)
        await asyncio.to_thread(process.start, self.settings, self.install, conf, 60)
        keys = load_secrets(self.settings, create=False)
        ami = AmiClient("127.0.0.1", self.settings.ami_port, keys.test_ami_user, keys.test_ami_secret)
        calls = Calls()
        ami.on("*", calls)
        serve = None
        try:
            await ami.connect(timeout=20)
            # Only the event classes the bench reads: the test account may read every class, and
            # Asterisk's cost of a Newexten or VarSet per dialplan line would count against the
            # longer dialplan (ours) and is not a cost a center pays (`ivr serve` reads system,agent,dtmf).
            await ami.action({"Action": "Events", "EventMask": EVENT_CLASSES + (",agi" if self.trace else "")})
            if menu in ("ours", PLAIN_WITH_SERVE):
                serve = await self.start_serve()
            return await self.run(ami, calls, serve.pid if serve else None, menu, scripts)
        finally:
            if serve is not None:
                serve.terminate()
                serve.wait(10)
            await ami.close()
            await asyncio.to_thread(process.stop, self.settings)

    async def start_serve(self) -> subprocess.Popen[bytes]:
        return await start_serve(self.root, self.settings, BENCH / "build" / "surge-serve.stderr")

    async def run(
        self, ami: AmiClient, calls: Calls, serve_pid: int | None, menu: str, scripts: list[Script]
    ) -> dict[str, Any]:
        wanted = Counter(script.queue for script in scripts)
        members = [(queue, seat) for queue, n in wanted.items() for seat in range(1, n + n // 4 + 3)]
        for queue, seat in members:
            await ami.action({"Action": "QueueAdd", "Queue": queue, "Interface": bench_seat(queue, seat)})
        await asyncio.sleep(0.5)  # ivr serve's live state has seen the members
        asterisk_pid = pid_of_asterisk(self.settings)
        load_before = os.getloadavg()[0]
        serve_cpu = cpu_seconds(serve_pid) if serve_pid else 0.0
        busy, own, stolen = machine_busy_seconds(), time.process_time(), steal_seconds()
        counting = await start_counting(asterisk_pid) if self.syscalls else None
        cpu_a, started = cpu_seconds(asterisk_pid), time.monotonic()
        ids = []
        entry = OURS_ENTRY if menu == "ours" else PLAIN_ENTRY
        for script in scripts:
            call_id = f"surge-{secrets.token_hex(5)}"
            calls.calls[call_id] = {"entry": f"{call_id}-in", "script": script}
            ids.append(call_id)
            number = f"0812{secrets.randbelow(10**8):08d}"  # a fresh number: no caller history
            await ami.action(
                {
                    "Action": "Originate",
                    "Channel": f"Local/112@{entry}",
                    "Context": CALLER_CONTEXT,
                    "Exten": "s",
                    "Priority": "1",
                    "CallerID": f"Bench <{number}>",
                    "Codecs": self.codec,
                    "Async": "true",
                    "ChannelId": call_id,
                    "OtherChannelId": f"{call_id}-in",
                    "Timeout": "30000",
                    "Variable": [*script.variables(), f"SIM_CALLER_NUM={number}"],
                },
                timeout=30,
            )
        longest = max(script.predicted_s for script in scripts)
        deadline = time.monotonic() + longest + 40
        while time.monotonic() < deadline and not all("operator_at" in calls.calls[i] for i in ids):
            await asyncio.sleep(0.2)
        elapsed = time.monotonic() - started
        cpu_a = cpu_seconds(asterisk_pid) - cpu_a
        counts = await asyncio.to_thread(stop_counting, counting) if counting else {}
        cpu_s = cpu_seconds(serve_pid) - serve_cpu if serve_pid else 0.0
        # What everything else on the shared machine used meanwhile (other helpers' work): not this
        # Asterisk, not `ivr serve`, not this bench.
        others = machine_busy_seconds() - busy - cpu_a - cpu_s - (time.process_time() - own)
        stolen = steal_seconds() - stolen
        load_after = os.getloadavg()[0]
        for call_id in ids:
            try:
                await ami.action({"Action": "Hangup", "Channel": call_id}, timeout=10)
            except AmiError:
                pass  # already gone
        for queue, seat in members:
            await ami.action({"Action": "QueueRemove", "Queue": queue, "Interface": bench_seat(queue, seat)})
        gone = time.monotonic() + 20
        while time.monotonic() < gone and not all(calls.calls[i].get("gone") for i in ids):
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)
        per_call = []
        for call_id in ids:
            call = calls.calls.pop(call_id)
            script = call["script"]
            joined, answered, key = call.get("joined_at"), call.get("answered_at"), call.get("last_key_at")
            per_call.append(
                {
                    "path": script.name,
                    "expected_queue": script.queue,
                    "queue": call.get("queue"),
                    "predicted_s": script.predicted_s,
                    "answer_to_queue_s": round(joined - answered, 3) if joined and answered else None,
                    "overhead_ms": round((joined - key) * 1000, 1) if joined and key and script.ends_on_key else None,
                    "key_to_ring_ms": round((call["rung_at"] - call["key_sent_at"]) * 1000, 1)
                    if script.ends_on_key and "rung_at" in call and "key_sent_at" in call
                    else None,
                    "operator": "operator_at" in call,
                    "moh_starts": call.get("moh_starts", 0),
                    **_trace(call),
                }
            )
        overheads = [c["overhead_ms"] for c in per_call if c["overhead_ms"] is not None]
        rings = [c["key_to_ring_ms"] for c in per_call if c["key_to_ring_ms"] is not None]
        return {
            "calls": len(scripts),
            "codec": self.codec,
            "lost": sum(1 for c in per_call if c["queue"] is None),
            "misrouted": sum(1 for c in per_call if c["queue"] not in (None, c["expected_queue"])),
            "no_operator": sum(1 for c in per_call if not c["operator"]),
            "seconds": round(elapsed, 1),
            "asterisk_cpu_ms_per_call": round(cpu_a / len(scripts) * 1000, 1),
            "serve_cpu_ms_per_call": round(cpu_s / len(scripts) * 1000, 1),
            "overhead_ms_p50": percentile(overheads, 0.5),
            "overhead_ms_p95": percentile(overheads, 0.95),
            "overhead_ms_p99": percentile(overheads, 0.99),
            "overhead_ms_max": percentile(overheads, 1.0),
            "key_to_ring_ms_p50": percentile(rings, 0.5),
            "key_to_ring_ms_p95": percentile(rings, 0.95),
            "key_to_ring_ms_p99": percentile(rings, 0.99),
            "load_before": round(load_before, 2),
            "load_after": round(load_after, 2),
            "others_cpu_share": round(max(0.0, others) / (elapsed * (os.cpu_count() or 1)), 3),
            # Of which the host's other guests (the VM's steal time): not a process on this machine at all.
            "steal_share": round(stolen / (elapsed * (os.cpu_count() or 1)), 3),
            **{f"asterisk_{name}_per_call": round(n / len(scripts)) for name, n in counts.items()},
            "per_call": per_call,
        }


def _trace(call: dict[str, Any]) -> dict[str, float]:
    """With --trace, where our overhead goes: key → prompt ended → route set → in the queue (ms)."""
    if not all(name in call for name in ("last_key_at", "stream_end_at", "route_at", "joined_at")):
        return {}
    return {
        "key_to_prompt_end_ms": round((call["stream_end_at"] - call["last_key_at"]) * 1000, 1),
        "prompt_end_to_route_ms": round((call["route_at"] - call["stream_end_at"]) * 1000, 1),
        "route_to_queue_ms": round((call["joined_at"] - call["route_at"]) * 1000, 1),
    }


def disable_events(manager_conf: Path, names: tuple[str, ...]) -> None:
    """The bench's copy only: Asterisk makes none of these events (added to manager.conf's disabledevents)."""
    lines = manager_conf.read_text().splitlines()
    found = [i for i, line in enumerate(lines) if line.startswith("disabledevents =")]
    if len(found) != 1:
        raise SystemExit(f"{manager_conf}: expected one 'disabledevents =' line, found {len(found)}")
    lines[found[0]] += "," + ",".join(names)
    manager_conf.write_text("\n".join(lines) + "\n")


async def start_counting(pid: int) -> subprocess.Popen[str]:
    """perf stat on every thread of Asterisk, those it starts meanwhile included, until stop_counting."""
    counting = subprocess.Popen(
        ["perf", "stat", "-x", ",", "-e", ",".join(SYSCALL_EVENTS), "-p", str(pid)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    await asyncio.sleep(0.2)  # attached before the first call
    if counting.poll() is not None:
        raise SystemExit(f"--syscalls: perf stat failed: {counting.stderr.read() if counting.stderr else ''}")
    return counting


def stop_counting(counting: subprocess.Popen[str]) -> dict[str, int]:
    counting.send_signal(signal.SIGINT)
    _out, err = counting.communicate(timeout=30)
    return perf_counts(err)


def perf_counts(err: str) -> dict[str, int]:
    """SYSCALL_EVENTS' counts from `perf stat -x ,`'s output; all of them or SystemExit."""
    counts = {}
    for line in err.splitlines():  # count,unit,event,...; a counter that failed reads <not counted>
        fields = line.split(",")
        if len(fields) > 2 and fields[2] in SYSCALL_EVENTS and fields[0].isdigit():
            counts[SYSCALL_EVENTS[fields[2]]] = int(fields[0])
    if len(counts) != len(SYSCALL_EVENTS):
        raise SystemExit(f"--syscalls: perf stat printed no counts for {sorted(SYSCALL_EVENTS)}: {err[-500:]}")
    return counts


def _compact(run: dict[str, Any]) -> dict[str, Any]:
    """A surge run as committed: its overheads, not every call (the darurat runs keep theirs); with
    --trace also each call's split (last key → route set, route set → in the queue, ms)."""
    calls = run.pop("per_call")
    compact = {
        **run,
        "overheads_ms": [c["overhead_ms"] for c in calls if c["overhead_ms"] is not None],
        "key_to_ring_ms": [c["key_to_ring_ms"] for c in calls if c["key_to_ring_ms"] is not None],
    }
    traced = [c for c in calls if "route_to_queue_ms" in c and c["overhead_ms"] is not None]
    if traced:
        compact["trace_ms"] = [
            [round(c["key_to_prompt_end_ms"] + c["prompt_end_to_route_ms"], 1), c["route_to_queue_ms"]] for c in traced
        ]
    return compact


def surge_scripts(bench: Bench, n: int) -> list[Script]:
    return [bench.script(SURGE_MIX[i % len(SURGE_MIX)]) for i in range(n)]


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    disabled = tuple(name for name in args.disable_events.split(",") if name)
    bench = Bench(args.codec, args.wav_only, args.trace, args.syscalls, disabled)
    results: dict[str, Any] = {
        "command": " ".join(["bench/run_surge.py", *sys.argv[1:]]),
        "machine": machine(),
        "asterisk": bench.install.version,
        "codec": args.codec,
        "prompts": "wav only (transcoded per call)" if args.wav_only else "wav + alaw + ulaw copies",
        "disabled_events": list(disabled),
        "mix": list(SURGE_MIX),
        "rounds": args.rounds,
        "load_at_start": [round(x, 2) for x in os.getloadavg()],
        "surge": [],
        "darurat": [],
    }
    if not args.skip_darurat:
        with asterisk_lock():
            results["darurat"] = await bench.session([(menu, bench.paths) for menu in ("ours", "plain")])
    if args.serve_cost:
        with asterisk_lock():
            menus = ("ours", "plain", PLAIN_WITH_SERVE) * args.rounds
            results["serve_cost"] = await bench.session(
                [(menu, surge_scripts(bench, args.serve_cost)) for menu in menus]
            )
    for n in args.steps:
        # Rounds alternate which menu goes first (ours, plain, plain, ours, ...).
        order = [
            menu
            for r in range(args.rounds)
            for menu in (("ours", "plain") if r % 2 == 0 else ("plain", "ours"))
            if menu in args.menus
        ]
        with asterisk_lock():
            runs = [_compact(run) for run in await bench.session([(menu, surge_scripts(bench, n)) for menu in order])]
        results["surge"] += runs
        if all((row["overhead_ms_p99"] or 0) > args.stop_ms or row["lost"] for row in aggregate(runs)):
            break  # both menus are past the knee
    results["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, nargs="*", default=[10, 25, 50, 100, 150, 200, 250, 300])
    parser.add_argument("--quick", action="store_true", help="steps 10 and 50, one round (about 4 min)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each menu per step (pooled)")
    parser.add_argument("--codec", default="alaw", help="the callers' codec, as a telco trunk sends (alaw, ulaw, slin)")
    parser.add_argument("--wav-only", action="store_true", help="delete the prompts' alaw/ulaw copies (before/after)")
    parser.add_argument("--trace", action="store_true", help="also AGI events: where our overhead goes (costs)")
    parser.add_argument("--serve-cost", type=int, default=0, help="N: ours, plain, plain with serve at N callers")
    parser.add_argument("--skip-darurat", action="store_true", help="surge steps only")
    parser.add_argument(
        "--syscalls", action="store_true", help="count Asterisk's system calls and context switches a call (perf)"
    )
    parser.add_argument(
        "--disable-events", default="", help="e.g. AGIExecStart,AGIExecEnd: Asterisk makes none (bench copy only)"
    )
    parser.add_argument(
        "--menus", nargs="+", choices=("ours", "plain"), default=["ours", "plain"], help="surge steps of these only"
    )
    parser.add_argument("--stop-ms", type=float, default=500.0, help="stop when both menus' p99 overhead passes this")
    parser.add_argument("--name", default="surge", help="basename of the result files")
    parser.add_argument("--out", default=str(BENCH / "results"), help="where surge.{json,md} and the SVG go")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.rounds = [10, 50], 1
    if args.syscalls and not shutil.which("perf"):
        parser.error("--syscalls needs perf (Debian: apt-get install linux-perf) and root for its tracepoints")
    results = asyncio.run(main_async(args))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = args.name
    (out / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    write_report(results, out, name)


if __name__ == "__main__":
    main()
