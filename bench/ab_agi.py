"""The FastAGI guard on a noisy host: our server at an earlier commit, ours now and panoramisk,
interleaved in short slices at one concurrency, so the three share the host's weather.

    .venv/bin/python bench/ab_agi.py --base f1e9d06 --rounds 5   # writes bench/results/agi_ab.{json,md}

bench/run_agi.py measures every server at every concurrency one after the other; on a host whose
speed moves by a third between minutes (other guests: /proc/stat's steal) its ratios move with it.
And within minutes: on 2026-12-04 the same server, 3 s runs a few seconds apart, differed by up to
a fifth with no steal at all. So each round starts the three servers (fresh processes, pinned as in
run_agi.py) and then runs ``--cycles`` cycles; in a cycle each server in turn gets the load
generator for ``--seconds`` after a short warm-up, the order rotating from cycle to cycle. A
cycle's ratios compare runs a second or two apart; the verdict is the median of all cycles'
ratios. The base commit's server runs from a git worktree under bench/build/, its own
bench/agi_servers.py and ivr/ (that script puts its tree first on sys.path).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from bench.run_agi import BUILD, RESULTS, ROOT, Server, loadgen, machine, throughput
from bench.run_surge import steal_seconds


def worktree(commit: str) -> Path:
    """The commit's tree, checked out once under bench/build/ (detached, never committed to)."""
    sha = subprocess.run(["git", "rev-parse", commit], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    path = BUILD / f"ab-{sha.strip()[:12]}"
    if not (path / "bench" / "agi_servers.py").exists():
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, check=True)
        subprocess.run(["git", "worktree", "add", "--detach", "-f", str(path), sha.strip()], cwd=ROOT, check=True)
    return path


def ours_at() -> str:
    """The commit "ours" ran from, marked when the server's files differed from it."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True, capture_output=True, text=True)
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--", "ivr", "bench/agi_servers.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return head.stdout.strip() + (" with uncommitted changes" if changed.stdout.strip() else "")


def run(base: str, rounds: int, cycles: int, concurrency: int, seconds: float, warmup: float) -> dict[str, Any]:
    gen = loadgen()
    variants = {
        f"ours@{base}": (worktree(base) / "bench" / "agi_servers.py", "ours"),
        "ours": (BENCH / "agi_servers.py", "ours"),
        "panoramisk": (BENCH / "agi_servers.py", "panoramisk"),
    }
    names = list(variants)
    rows: list[dict[str, Any]] = []
    for number in range(rounds):
        servers: dict[str, Server] = {}
        try:
            for name, (script, kind) in variants.items():
                servers[name] = Server(kind, "uvloop", script, label=f"ab-{name.replace('@', '-')}")
            for cycle in range(cycles):
                turn = cycle % len(names)
                for name in names[turn:] + names[:turn]:
                    stolen = steal_seconds()
                    result = throughput(gen, servers[name], concurrency, seconds, warmup)
                    stolen = steal_seconds() - stolen
                    row = {"round": number + 1, "cycle": cycle + 1, "server": name, **result}
                    row["steal_s"] = round(stolen, 2)
                    rows.append(row)
                    shown = ("round", "cycle", "server", "calls_per_s", "errors")
                    print(json.dumps({key: row[key] for key in shown}), flush=True)
        finally:
            for server in servers.values():
                server.stop()
    return {
        "command": " ".join(["bench/ab_agi.py", *sys.argv[1:]]),
        "machine": machine(),
        "ours_at": ours_at(),
        "base": base,
        "concurrency": concurrency,
        "seconds": seconds,
        "warmup": warmup,
        "cycles": cycles,
        "rows": rows,
    }


def report(results: dict[str, Any]) -> str:
    rows = results["rows"]
    base = f"ours@{results['base']}"
    servers = [base, "ours", "panoramisk"]
    # Results from before the slices (2026-12-04 and earlier) have one cycle per round.
    by_cycle: dict[tuple[int, int], dict[str, float]] = {}
    for row in rows:
        by_cycle.setdefault((row["round"], row.get("cycle", 1)), {})[row["server"]] = row["calls_per_s"]
    ratios = {key: got["ours"] / got["panoramisk"] for key, got in by_cycle.items()}
    regressions = {key: got["ours"] / got[base] for key, got in by_cycle.items()}
    base_ratios = {key: got[base] / got["panoramisk"] for key, got in by_cycle.items()}
    cycles = results.get("cycles", 1)
    lines = [
        "# FastAGI guard, interleaved: our server before and now, and panoramisk",
        "",
        f"Command: `.venv/bin/python {results['command']}`  ",
        f"Machine: {results['machine']}  ",
        f"Ours: the tree at {results.get('ours_at', 'a commit not recorded')}.  ",
        f"uvloop, {results['concurrency']} sessions; each round starts the three servers (fresh processes, core 1; "
        f"the C load generator on core 0) and runs {cycles} cycle(s), in which each server in turn takes the load "
        f"for {results['seconds']} s after a {results.get('warmup', 1.0)} s warm-up, the order rotating; one call = "
        "10 commands (bench/agi_servers.py). A cycle's ratios compare runs seconds apart. Steal: the seconds the "
        "host ran other guests during the runs.",
        "",
        "| round | " + " | ".join(f"{name} calls/s" for name in servers) + " | ours / panoramisk | ours / base |",
        "| ---: | " + " | ".join("---:" for _ in servers) + " | ---: | ---: |",
    ]
    for number in sorted({row["round"] for row in rows}):
        keys = [key for key in by_cycle if key[0] == number]
        cells = " | ".join(f"{statistics.median(by_cycle[key][name] for key in keys):.0f}" for name in servers)
        ratio = statistics.median(ratios[key] for key in keys)
        against_base = statistics.median(regressions[key] for key in keys)
        lines.append(f"| {number} | {cells} | {ratio:.2f} | {against_base:.2f} |")
    medians = {name: statistics.median(r["calls_per_s"] for r in rows if r["server"] == name) for name in servers}
    errors = sum(r["errors"] for r in rows)
    steal = sum(r["steal_s"] for r in rows)
    spread = sorted(ratios.values())
    lines += [
        "",
        "Each round's cells are the medians over its cycles.  ",
        "Medians (calls/s): " + ", ".join(f"{name} {value:.0f}" for name, value in medians.items()) + ".  ",
        "Server CPU per call (µs, medians): "
        + ", ".join(
            f"{name} {statistics.median(r['cpu_us_per_call'] for r in rows if r['server'] == name):.0f}"
            for name in servers
        )
        + ".  ",
        f"Median of the {len(ratios)} cycles' ratios: ours / panoramisk **{statistics.median(spread):.2f}x** "
        f"(target ≥ 1.3x; quartiles {_quartiles(spread)}), ours / ours@{results['base']} "
        f"**{statistics.median(regressions.values()):.2f}x** (1: unchanged; quartiles "
        f"{_quartiles(sorted(regressions.values()))}); the base in the same cycles: ours@{results['base']} / "
        f"panoramisk {statistics.median(base_ratios.values()):.2f}x "
        f"(quartiles {_quartiles(sorted(base_ratios.values()))}).  ",
        f"Errors over all runs: {errors}. Steal over all runs: {steal:.1f} s.",
        "",
    ]
    return "\n".join(lines)


def _quartiles(values: list[float]) -> str:
    if len(values) < 4:
        return "too few cycles"
    first, _median, third = statistics.quantiles(values, n=4)
    return f"{first:.2f}-{third:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="the commit whose server is the baseline (e.g. agi.md's)")
    parser.add_argument("--rounds", type=int, default=5, help="fresh server processes for each round")
    parser.add_argument("--cycles", type=int, default=6, help="turns of the three servers in each round")
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=1.0, help="measured seconds per server per cycle")
    parser.add_argument("--warmup", type=float, default=0.3, help="seconds of load before each measurement")
    parser.add_argument("--name", default="agi_ab", help="basename of the result files in bench/results/")
    args = parser.parse_args()
    results = run(args.base, args.rounds, args.cycles, args.concurrency, args.seconds, args.warmup)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / f"{args.name}.md").write_text(report(results))
    print(report(results))


if __name__ == "__main__":
    main()
