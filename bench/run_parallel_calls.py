"""N `ivr call` commands at once against `ivr up --demo`: each one its own process and AMI login, as
a person testing the line from many terminals (issue 9 found 100 of them timing out on Originate).

    .venv/bin/python bench/run_parallel_calls.py [--calls 100]

Writes bench/results/parallel_calls.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench.run_agi import free_port, machine
from ivr.asterisk import process
from ivr.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100)
    args = parser.parse_args()
    root = BENCH / "build" / "parallel-root"
    shutil.rmtree(root, ignore_errors=True)
    for name in ("dialplan", "sop", "asterisk-config"):
        shutil.copytree(ROOT / name, root / name)
    ports = {
        name: str(free_port())
        for name in ("IVR_AGI_PORT", "IVR_WEB_PORT", "IVR_AMI_PORT", "IVR_SIP_PORT", "IVR_WSS_PORT")
    }
    env = {**os.environ, **ports, "IVR_SIM_OPERATORS": "20"}  # enough operators that nobody waits long
    with open(BENCH / "build" / "parallel-up.log", "wb") as log:
        up = subprocess.Popen(
            [sys.executable, "-m", "ivr", "--root", str(root), "up", "--demo"], env=env, stdout=log, stderr=log
        )
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{ports['IVR_WEB_PORT']}/healthz", timeout=2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("ivr up never became healthy") from None
                    time.sleep(0.5)
            time.sleep(3)  # simulated operators logged in
            started = time.monotonic()
            children = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "ivr",
                        "--root",
                        str(root),
                        "call",
                        "--json",
                        "--timeout",
                        "90",
                        "--press",
                        "1",
                        "1",
                        "--caller",
                        f"0877{n:07d}",
                    ],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
                for n in range(args.calls)
            ]
            outcomes: Counter[str] = Counter()
            errors: Counter[str] = Counter()
            for child in children:
                out, err = child.communicate(timeout=300)
                if child.returncode == 0:
                    outcomes[json.loads(out)["queue"]] += 1
                else:
                    outcomes[f"exit {child.returncode}"] += 1
                    errors[err.decode(errors="replace").strip().splitlines()[-1][:160] if err else "?"] += 1
            elapsed = time.monotonic() - started
        finally:
            up.send_signal(signal.SIGINT)
            up.wait(30)
            process.stop(Settings.load(root))
    lines = [
        "# Parallel `ivr call`s against `ivr up --demo`",
        "",
        f"Command: `.venv/bin/python bench/run_parallel_calls.py --calls {args.calls}`  ",
        f"Machine: {machine()}",
        "",
        f"{args.calls} `ivr call --press 1 1` processes started at once; all done in {elapsed:.1f} s.",
        "",
        "| outcome | calls |",
        "| --- | ---: |",
        *[f"| {outcome} | {count} |" for outcome, count in outcomes.most_common()],
    ]
    if errors:
        lines += ["", "Errors (last line of stderr):", "", *[f"- {count} × {text}" for text, count in errors.items()]]
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    (out / "parallel_calls.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
