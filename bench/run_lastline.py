"""What one call costs the last line (ivr/agi/lastline.py, a classic AGI script: a process per call):
CPU seconds and wall time, measured on the script itself with Asterisk's side played over real pipes
(bench's ScriptedAsterisk: instant replies, the caller presses 1 1). So the numbers are the script's
own overhead: interpreter start, imports, reading dialplan/ and sop/, the flow, the decision; the
prompts' playing time (real calls) comes on top and costs no CPU of ours.

    .venv/bin/python bench/run_lastline.py [--calls 50]
    flock /tmp/siaga-asterisk.lock .venv/bin/python bench/run_lastline.py --calls 50 --asterisk-calls 10

Both ways Asterisk may run it: with the host's Python (Asterisk on PATH), and inside the provisioned
Debian sid root (its python3 and our modules bound read-only). For the root, every run is one
bubblewrap start too, which a real call does not pay (Asterisk is in the root already): that is
measured alone (/bin/true in the same sandbox) and subtracted. For scale: our FastAGI service
spends about 3.4 ms of CPU per call (ASTERISK.md: 0.17 s for 50 calls). Writes
bench/results/lastline.md and bench/results/lastline.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench.run_agi import machine
from ivr.asterisk import process
from ivr.asterisk.lastline import launcher, read_only_binds
from ivr.asterisk.provision import AsteriskInstall, find_or_provision
from ivr.config import load_config
from ivr.prompts.build import build_all
from ivr.routing.route_variable import ROUTE_VARIABLE, split_route
from ivr.settings import Settings
from tests.fakes.classic_agi import ScriptedAsterisk
from tests.integration.conftest import Stack


def one_call(argv: list[str], keys: str) -> dict[str, float | str]:
    """Run the script once as Asterisk would; wall from exec to exit, CPU of it and its children."""
    asterisk = ScriptedAsterisk(keys=keys)
    started = time.monotonic()
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdin and process.stdout and process.stderr
    process.stdin.write(asterisk.environment())
    process.stdin.flush()
    first_command = None
    for line in process.stdout:
        if first_command is None:
            first_command = time.monotonic() - started
        process.stdin.write(asterisk.reply(line.rstrip("\n")))
        process.stdin.flush()
    process.stdin.close()
    errors = process.stderr.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    route = split_route(asterisk.variables.get(ROUTE_VARIABLE, ""))
    if process.returncode != 0 or route["IVR_TARGET"] != "q-damkar":
        raise SystemExit(f"the script did not route 1 1 to q-damkar (exit {process.returncode}):\n{errors[-2000:]}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "first_command": first_command or wall,
        "max_rss_kib": usage.ru_maxrss,
    }


def baseline(argv: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    started = time.monotonic()
    process = subprocess.Popen(argv, env=env)
    _pid, _status, usage = os.wait4(process.pid, 0)
    return {"wall": time.monotonic() - started, "cpu": usage.ru_utime + usage.ru_stime}


def breakdown(root: Path, calls: int) -> dict[str, float]:
    """Where a call's CPU goes (host Python, bytecode cached): interpreter start, the imports, reading
    dialplan/ and sop/; the rest (flow, decision, pipes) is the difference to the whole call."""
    steps = {
        "interpreter": "pass",
        "imports": "import ivr.agi.lastline",
        "imports_and_config": f"import pathlib, ivr.agi.lastline as s; s.load_config(pathlib.Path({str(root)!r}))",
    }
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": ""}
    found = {}
    for name, code in steps.items():
        subprocess.run([sys.executable, "-c", code], env=env, check=True)  # warm
        found[name] = round(
            statistics.fmean(baseline([sys.executable, "-c", code], env)["cpu"] for _ in range(calls)), 4
        )
    return found


def summary(samples: list[dict[str, float]], key: str) -> dict[str, float]:
    values = sorted(sample[key] for sample in samples)
    return {
        "mean": round(statistics.fmean(values), 4),
        "p50": round(values[len(values) // 2], 4),
        "p95": round(values[min(len(values) - 1, int(len(values) * 0.95))], 4),
    }


def measure(name: str, argv: list[str], calls: int, sandbox: list[str] | None) -> dict[str, object]:
    one_call(argv, "11")  # warm: bytecode cache written, files in the page cache
    samples = [one_call(argv, "11") for _ in range(calls)]
    result: dict[str, object] = {
        "wall_s": summary(samples, "wall"),
        "cpu_s": summary(samples, "cpu"),
        "first_command_s": summary(samples, "first_command"),
        "max_rss_mib": round(max(float(s["max_rss_kib"]) for s in samples) / 1024, 1),
    }
    if sandbox is not None:
        empty = [baseline(sandbox) for _ in range(calls)]
        sandbox_cost = {"wall_s": summary(empty, "wall"), "cpu_s": summary(empty, "cpu")}
        result["sandbox_only"] = sandbox_cost
        result["net_of_sandbox"] = {
            key: round(result[key]["mean"] - sandbox_cost[key]["mean"], 4)  # type: ignore[index]
            for key in ("wall_s", "cpu_s")
        }
    print(name, json.dumps(result))
    return result


def group_cpu(leader: int) -> float:
    """CPU seconds of Asterisk's process group, its reaped children (the AGI scripts) included."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == leader:
            total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def through_asterisk(calls: int) -> dict[str, object]:
    """``calls`` callers pressing 1 1 through the real Asterisk, one after the other: first routed by our
    FastAGI service, then (nothing listening) by the last line. Asterisk's CPU per call, the scripts
    reaped by it included, and what each script logged of itself."""
    from tests.integration.conftest import given_root, start_stack, stop_stack

    target = BENCH / "build" / "lastline-asterisk"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    stack = start_stack(given_root(target))
    try:
        found = asyncio.run(_calls(stack, calls))
        console = stack.settings.asterisk_dir / "log" / "console.log"
        logged = [
            json.loads(line[line.index('{"') :])
            for line in console.read_text(errors="replace").splitlines()
            if '"event": "lastline_call_end"' in line
        ]
        assert len(logged) == calls, len(logged)
        found["last_line_logged"] = {
            "cpu_s_mean": round(statistics.fmean(float(line["cpu_seconds"]) for line in logged), 4),
            "call_s_mean": round(statistics.fmean(float(line["call_seconds"]) for line in logged), 2),
        }
    finally:
        stop_stack(stack)
    print("through asterisk", json.dumps(found))
    return found


async def _calls(stack: Stack, calls: int) -> dict[str, object]:
    from ivr.ami.testcall import place_call
    from tests.integration.conftest import connected_ami, serving_agi

    leader = process.running_pid(stack.settings)
    assert leader is not None
    found: dict[str, object] = {}
    async with connected_ami(stack) as (client, live):
        for way in ("fastagi", "last_line"):
            seconds: list[float] = []
            before = group_cpu(leader)
            for _ in range(calls):
                if way == "fastagi":
                    async with serving_agi(stack, live):
                        report = await place_call(client, "11", first_delay=2.0)
                else:
                    report = await place_call(client, "11", first_delay=2.0)
                assert (report.queue, report.answered) == ("q-damkar", True), report.routes
                assert report.seconds_to_answer is not None
                seconds.append(report.seconds_to_answer)
            found[way] = {
                "asterisk_cpu_s_per_call": round((group_cpu(leader) - before) / calls, 4),
                "seconds_to_answer_mean": round(statistics.fmean(seconds), 2),
            }
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument(
        "--asterisk-calls",
        type=int,
        default=0,
        help="also this many calls through the real Asterisk, each way (run under flock /tmp/siaga-asterisk.lock)",
    )
    args = parser.parse_args()
    root = BENCH / "build" / "lastline-root"
    shutil.rmtree(root, ignore_errors=True)
    for name in ("dialplan", "sop"):
        shutil.copytree(ROOT / name, root / name)
    settings = Settings(root=root)
    (settings.var / "lastline" / "pycache").mkdir(parents=True)
    build_all(load_config(root).prompts, settings.sounds_dir, root / "dialplan" / "recordings")
    results: dict[str, object] = {
        "machine": machine(),
        "calls": args.calls,
        "keys": "11",
        "load_before": os.getloadavg(),
    }

    host = settings.var / "launcher-host"
    host.write_text(launcher(settings, AsteriskInstall("/usr/sbin/asterisk", "", "")))
    results["host_python"] = measure(f"host python {sys.version.split()[0]}", ["/bin/sh", str(host)], args.calls, None)

    results["host_breakdown_cpu_s"] = breakdown(root, args.calls)
    install = find_or_provision()
    if install.rootfs is not None:
        in_root = settings.var / "launcher-root"
        in_root.write_text(launcher(settings, install))
        shell = AsteriskInstall("/bin/sh", "", "", rootfs=install.rootfs)
        sandbox = shell.command([str(in_root)], shared_dirs=[settings.var], read_only=read_only_binds(settings))
        empty = AsteriskInstall("/bin/true", "", "", rootfs=install.rootfs)
        version = subprocess.run(
            shell.command(["-c", "python3 -V"]), capture_output=True, text=True, check=True
        ).stdout.strip()
        results["sid_root_python"] = measure(
            f"sid root {version}",
            sandbox,
            args.calls,
            empty.command([], shared_dirs=[settings.var], read_only=read_only_binds(settings)),
        )
        results["sid_root_python"]["python"] = version  # type: ignore[index]
    if args.asterisk_calls:
        results["through_asterisk"] = through_asterisk(args.asterisk_calls)
    out = BENCH / "results" / "lastline.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
