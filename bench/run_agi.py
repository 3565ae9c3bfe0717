"""FastAGI throughput, latency, memory and robustness: ours vs panoramisk 1.4 vs a bare-protocol floor.

    .venv/bin/python bench/run_agi.py            # full run (about 8 minutes), writes bench/results/agi.*
    .venv/bin/python bench/run_agi.py --quick    # one run per point, 2 s each

Each server runs in its own process pinned to core 1 (taskset); the C load generator
(bench/agi_loadgen.c) runs on core 0. Server CPU comes from /proc/PID/stat, memory from VmRSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BUILD = BENCH / "build"
RESULTS = BENCH / "results"
PYTHON = sys.executable
KINDS = ("floor", "panoramisk", "ours", "ours-full")
LOOPS = ("asyncio", "uvloop")
CONCURRENCY = (1, 50, 500, 2000)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def loadgen() -> Path:
    BUILD.mkdir(exist_ok=True)
    binary = BUILD / "agi_loadgen"
    source = BENCH / "agi_loadgen.c"
    if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
        subprocess.run(["cc", "-O2", "-Wall", "-o", str(binary), str(source)], check=True)
    return binary


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listening(port: int) -> bool:
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":
            return True
    return False


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Server:
    def __init__(self, kind: str, loop: str, servers: Path = BENCH / "agi_servers.py", label: str = "") -> None:
        """``servers``: the agi_servers.py to run (bench/ab_agi.py runs an earlier commit's)."""
        self.kind, self.loop, self.port = kind, loop, free_port()
        argv = ["taskset", "-c", "1", PYTHON, str(servers), kind, str(self.port)]
        if loop == "uvloop":
            argv.append("--uvloop")
        self.stderr = open(BUILD / f"{label or kind}-{loop}.stderr", "wb")
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self.stderr)
        deadline = time.monotonic() + 20
        # Wait for the listening socket without connecting: a connect-and-close probe is exactly
        # the early close that freezes panoramisk's FastAGI server.
        while not listening(self.port):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"{kind} server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self.stderr.close()


def throughput(gen: Path, server: Server, concurrency: int, seconds: float, warmup: float = 1.0) -> dict[str, Any]:
    """One run: connections ramp up during the warm-up, then calls, latency and CPU are measured."""
    run = subprocess.Popen(
        ["taskset", "-c", "0", str(gen), str(server.port), str(concurrency), str(seconds), str(warmup)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert run.stderr is not None
    marker = run.stderr.readline()
    assert marker.strip() == "MEASURING", marker
    cpu0 = cpu_seconds(server.process.pid)
    out, _err = run.communicate(timeout=seconds + 30)
    cpu = cpu_seconds(server.process.pid) - cpu0
    result: dict[str, Any] = json.loads(out)
    result["server_cpu_s"] = round(cpu, 3)
    result["cpu_us_per_call"] = round(cpu / result["calls"] * 1e6, 1) if result["calls"] else None
    result["rss_kib"] = rss_kib(server.process.pid)
    return result


async def idle_sessions(port: int, count: int) -> list[asyncio.StreamWriter]:
    """Connections that sent their headers and then wait (Asterisk waiting on a slow answer)."""
    writers = []
    for n in range(count):
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"agi_network: yes\nagi_network_script: 112\nagi_uniqueid: idle.{n}\n\n".encode())
        writers.append(writer)
    await asyncio.sleep(0.5)
    return writers


def memory_per_idle_session(server: Server, count: int = 2000) -> float:
    async def run() -> float:
        before = rss_kib(server.process.pid)
        writers = await idle_sessions(server.port, count)
        after = rss_kib(server.process.pid)
        for writer in writers:
            writer.close()
        return (after - before) * 1024 / count

    return round(asyncio.run(run()), 0)


def check_big_header(gen: Path, server: Server) -> dict[str, Any]:
    """A header block of 1 MiB: how fast is it refused, and what does it cost the server?"""
    cpu0 = cpu_seconds(server.process.pid)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port)) as big:
        big.settimeout(10)
        try:
            big.sendall(b"agi_x: " + b"A" * (1 << 20))
            refused = big.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            refused = True
        except TimeoutError:
            refused = False
        elapsed = time.monotonic() - started
    time.sleep(0.5)
    return {
        "header_1mib_refused": refused,
        "header_1mib_ms": round(elapsed * 1000, 1),
        "header_1mib_cpu_ms": round((cpu_seconds(server.process.pid) - cpu0) * 1000, 1),
    }


def check_silent_connection(gen: Path, server: Server) -> dict[str, Any]:
    """A connection that sends nothing: how long until the server closes it (15 s at most here)?"""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port)) as idle:
        idle.settimeout(15)
        try:
            idle.recv(1)
            return {"silent_connection_closed_after_s": round(time.monotonic() - started, 1)}
        except TimeoutError:
            return {"silent_connection_closed_after_s": "still open after 15 s"}


def check_stalled_neighbours(gen: Path, server: Server) -> dict[str, Any]:
    """Calls per second at 50 concurrent calls, alone and beside 1,000 stalled sessions."""
    alone = json.loads(
        subprocess.run(
            ["taskset", "-c", "0", str(gen), str(server.port), "50", "2", "0.5"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )["calls_per_s"]

    async def beside() -> float:
        writers = await idle_sessions(server.port, 1000)
        loaded = await asyncio.to_thread(
            subprocess.run,
            ["taskset", "-c", "0", str(gen), str(server.port), "50", "2", "0.5"],
            capture_output=True,
            text=True,
        )
        for writer in writers:
            writer.close()
        return float(json.loads(loaded.stdout)["calls_per_s"])

    return {"calls_per_s_alone": alone, "calls_per_s_beside_1000_stalled": asyncio.run(beside())}


def check_early_close(gen: Path, server: Server) -> dict[str, Any]:
    """A client that closes before the blank line (a port probe): CPU afterwards; next call served?"""
    time.sleep(1.0)  # let the fresh server finish starting before its idle CPU is measured
    with socket.create_connection(("127.0.0.1", server.port)) as early:
        early.sendall(b"agi_network: yes\nagi_uniq")
    time.sleep(0.5)
    cpu0 = cpu_seconds(server.process.pid)
    time.sleep(2.0)
    idle_pct = round((cpu_seconds(server.process.pid) - cpu0) / 2.0 * 100, 1)
    after = subprocess.run(["timeout", "10", str(gen), str(server.port), "1", "1", "0"], capture_output=True, text=True)
    return {
        "early_close_idle_cpu_pct": idle_pct,
        "early_close_next_call_served": bool(after.stdout) and json.loads(after.stdout)["calls"] > 0,
    }


def robustness(gen: Path, kind: str) -> dict[str, Any]:
    """Each check on a fresh server (uvloop), so one failure does not colour the next."""
    found: dict[str, Any] = {}
    for check in (check_big_header, check_silent_connection, check_stalled_neighbours, check_early_close):
        server = Server(kind, "uvloop")
        try:
            found.update(check(gen, server))
        finally:
            server.stop()
    return found


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    return {"cpu": model, "cores": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--robustness-only",
        action="store_true",
        help="rerun only the robustness checks into the existing bench/results/agi.json",
    )
    args = parser.parse_args()
    runs, seconds = (1, 2.0) if args.quick else (3, 3.0)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    gen = loadgen()
    subprocess.run([PYTHON, "-m", "ivr", "--root", str(ROOT), "prompts"], check=True, capture_output=True)
    from bench.report import write_agi_report

    if args.robustness_only:
        saved = json.loads((RESULTS / "agi.json").read_text())
        saved["robustness"] = {kind: robustness(gen, kind) for kind in ("ours", "panoramisk")}
        saved["robustness_command"] = " ".join(["bench/run_agi.py", *sys.argv[1:]])
        (RESULTS / "agi.json").write_text(json.dumps(saved, indent=2) + "\n")
        write_agi_report(saved, RESULTS)
        return
    report: dict[str, Any] = {
        "command": " ".join(["bench/run_agi.py", *sys.argv[1:]]),
        "machine": machine(),
        "runs_per_point": runs,
        "seconds_per_run": seconds,
        "points": [],
        "robustness": {},
        "idle_session_bytes": {},
    }
    for kind in KINDS:
        for loop in LOOPS:
            for concurrency in CONCURRENCY:
                samples = []
                for _ in range(runs):
                    # A fresh server per run: the load generator's exit closes connections mid-call,
                    # and an early close freezes panoramisk for good (measured separately below).
                    server = Server(kind, loop)
                    try:
                        samples.append(throughput(gen, server, concurrency, seconds))
                    finally:
                        server.stop()
                point = {"kind": kind, "loop": loop, "concurrency": concurrency}
                for key in (
                    "calls_per_s",
                    "cpu_us_per_call",
                    "turnaround_p50_us",
                    "turnaround_p99_us",
                    "first_command_p50_us",
                    "first_command_p99_us",
                    "rss_kib",
                    "errors",
                ):
                    values = [sample[key] for sample in samples if sample[key] is not None]
                    point[key] = statistics.median(values) if values else None
                report["points"].append(point)
                print(json.dumps(point), flush=True)
            if kind != "ours-full":
                server = Server(kind, loop)
                try:
                    report["idle_session_bytes"][f"{kind}/{loop}"] = memory_per_idle_session(server)
                finally:
                    server.stop()
        if kind in ("ours", "panoramisk"):
            report["robustness"][kind] = robustness(gen, kind)
            print(kind, json.dumps(report["robustness"][kind]), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "agi.json").write_text(json.dumps(report, indent=2) + "\n")
    write_agi_report(report, RESULTS)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
