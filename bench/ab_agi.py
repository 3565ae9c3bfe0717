"""The FastAGI guard on a noisy host: our server at an earlier commit, ours now and panoramisk,
interleaved round by round at one concurrency, so the three share the host's weather.

    .venv/bin/python bench/ab_agi.py --base f1e9d06 --rounds 5   # writes bench/results/agi_ab.{json,md}

bench/run_agi.py measures every server at every concurrency one after the other; on a host whose
speed moves by a third between minutes (other guests: /proc/stat's steal) its ratios move with it.
Here each round runs the three servers back to back (3 s each after a 1 s warm-up, pinned as in
run_agi.py) and the verdict is the median of the rounds' ratios. The base commit's server runs from
a git worktree under bench/build/, its own bench/agi_servers.py and ivr/ (that script puts its tree
first on sys.path).
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


def run(base: str, rounds: int, concurrency: int, seconds: float) -> dict[str, Any]:
    gen = loadgen()
    variants = {
        f"ours@{base}": (worktree(base) / "bench" / "agi_servers.py", "ours"),
        "ours": (BENCH / "agi_servers.py", "ours"),
        "panoramisk": (BENCH / "agi_servers.py", "panoramisk"),
    }
    rows: list[dict[str, Any]] = []
    for number in range(rounds):
        for name, (servers, kind) in variants.items():
            server = Server(kind, "uvloop", servers, label=f"ab-{name.replace('@', '-')}")
            stolen = steal_seconds()
            try:
                result = throughput(gen, server, concurrency, seconds)
            finally:
                server.stop()
            stolen = steal_seconds() - stolen
            row = {"round": number + 1, "server": name, **result, "steal_s": round(stolen, 2)}
            rows.append(row)
            print(json.dumps({k: row[k] for k in ("round", "server", "calls_per_s", "errors", "steal_s")}), flush=True)
    return {
        "command": " ".join(["bench/ab_agi.py", *sys.argv[1:]]),
        "machine": machine(),
        "base": base,
        "concurrency": concurrency,
        "seconds": seconds,
        "rows": rows,
    }


def report(results: dict[str, Any]) -> str:
    rows = results["rows"]
    base = f"ours@{results['base']}"
    by_round: dict[int, dict[str, float]] = {}
    for row in rows:
        by_round.setdefault(row["round"], {})[row["server"]] = row["calls_per_s"]
    servers = [base, "ours", "panoramisk"]
    lines = [
        "# FastAGI guard, interleaved: our server before and now, and panoramisk",
        "",
        f"Command: `.venv/bin/python {results['command']}`  ",
        f"Machine: {results['machine']}  ",
        f"uvloop, {results['concurrency']} sessions, {results['seconds']} s per server per round after a 1 s "
        "warm-up, each on a fresh server process (core 1), the C load generator on core 0; one call = 10 "
        "commands (bench/agi_servers.py). Steal: the seconds the host ran other guests during that server's run.",
        "",
        "| round | " + " | ".join(f"{name} calls/s" for name in servers) + " | ours / panoramisk | ours / base |",
        "| ---: | " + " | ".join("---:" for _ in servers) + " | ---: | ---: |",
    ]
    ratios, regressions = [], []
    for number, got in sorted(by_round.items()):
        ratio, against_base = got["ours"] / got["panoramisk"], got["ours"] / got[base]
        ratios.append(ratio)
        regressions.append(against_base)
        cells = " | ".join(f"{got[name]:.0f}" for name in servers)
        lines.append(f"| {number} | {cells} | {ratio:.2f} | {against_base:.2f} |")
    medians = {name: statistics.median(r["calls_per_s"] for r in rows if r["server"] == name) for name in servers}
    errors = sum(r["errors"] for r in rows)
    steal = sum(r["steal_s"] for r in rows)
    lines += [
        "",
        "Medians (calls/s): " + ", ".join(f"{name} {value:.0f}" for name, value in medians.items()) + ".  ",
        f"Median of the rounds' ratios: ours / panoramisk **{statistics.median(ratios):.2f}x** (target ≥ 1.3x), "
        f"ours / ours@{results['base']} **{statistics.median(regressions):.2f}x** (1: unchanged).  ",
        f"Errors over all runs: {errors}. Steal over all runs: {steal:.1f} s.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="the commit whose server is the baseline (e.g. agi.md's)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--name", default="agi_ab", help="basename of the result files in bench/results/")
    args = parser.parse_args()
    results = run(args.base, args.rounds, args.concurrency, args.seconds)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / f"{args.name}.md").write_text(report(results))
    print(report(results))


if __name__ == "__main__":
    main()
