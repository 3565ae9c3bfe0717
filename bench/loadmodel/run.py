"""One command: every scenario x policy of the load model, side by side, the targets of issue 12 checked.

    python -m bench.loadmodel.run --policies all --scenario all --days 30 --seed 1 --sweep 12

writes bench/results/loadmodel.md (with this command at its top) and loadmodel_<scenario>.svg.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.loadmodel.engine import LineSimulation
from bench.loadmodel.model import DEFAULT_MODEL, Model, ModelError, load_model
from bench.loadmodel.policies import policy_config
from bench.loadmodel.report import Figures, figures, junk_table, percentile, table, wait_svg
from ivr.check import prompt_timings
from ivr.config import Config, load_config
from ivr.flow.analysis import timed_paths
from ivr.prompts.build import PromptTiming

REPO = Path(__file__).resolve().parents[2]
# The policies the targets compare (names in model.yaml). The line as it runs is TRIAGE: the
# shipped dialplan/ and sop/ with the prank triage learning from the operators' dispositions.
FIFO, FIFO_POOLED, SHIPPED, TRIAGE, WAIT_BUSY = "fifo", "fifo-pooled", "shipped", "triage", "wait-busy"
NENA_SHARE = 0.95
# The junk figure is also given for a line whose triage has learnt this many days only.
YOUNG_TRIAGE_DAYS = 14


def simulate(
    model: Model,
    config: Config,
    timings: Mapping[tuple[str, str], PromptTiming],
    scenario: str,
    policy: str,
    days: int,
    seed: int,
    central: int | None = None,
) -> Figures:
    chosen = model.policies[policy]
    run = LineSimulation(
        model,
        model.scenarios[scenario],
        chosen,
        policy_config(config, chosen, timings),
        timings,
        seed,
        days,
        central,
    ).run()
    return figures(run, central or model.central_operators)


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def targets(model: Model, results: dict[str, dict[str, Figures]], young: Mapping[str, Figures]) -> list[str]:
    """``young``: policies shipped and triage at normal load after YOUNG_TRIAGE_DAYS warm-up days (or none)."""
    lines = []
    normal = results.get("normal", {})
    for name in (SHIPPED, TRIAGE):
        if name in normal:
            row = normal[name]
            lines.append(
                f"- Normal load, {name}: {100 * row.within(20):.1f}% of genuine calls with a human within 20 s "
                f"of answer (target ≥ 95%): {_verdict(row.within(20) >= NENA_SHARE)}; p99 {row.p(0.99):.1f} s."
            )
    for scenario in ("surge10", "surge20"):
        rows = results.get(scenario, {})
        if TRIAGE not in rows:
            continue
        ours = rows[TRIAGE].p(0.95)
        for other in (FIFO, FIFO_POOLED, WAIT_BUSY):
            if other in rows:
                ratio = rows[other].p(0.95) / ours
                lines.append(
                    f"- {scenario}: genuine p95 {TRIAGE} {ours:.1f} s vs {other} {rows[other].p(0.95):.1f} s: "
                    f"{ratio:.1f}x better (target ≥ 2x): {_verdict(ratio >= 2)}."
                )
    if TRIAGE in normal and SHIPPED in normal:
        triaged, shipped = normal[TRIAGE].junk_seconds_per_call, normal[SHIPPED].junk_seconds_per_call
        lines.append(
            f"- Junk, normal load, after {model.warmup_days} warm-up days: operator seconds per prank/ghost call "
            f"{triaged:.1f} with triage vs {shipped:.1f} shipped ({100 * (1 - triaged / shipped):.1f}% less; "
            f"target ≥ 50%): {_verdict(triaged <= shipped / 2)}."
        )
    if young:
        triaged, shipped = young[TRIAGE].junk_seconds_per_call, young[SHIPPED].junk_seconds_per_call
        lines.append(
            f"- Junk, normal load, triage only {YOUNG_TRIAGE_DAYS} days old ({YOUNG_TRIAGE_DAYS} warm-up days): "
            f"{triaged:.1f} vs {shipped:.1f} shipped ({100 * (1 - triaged / shipped):.1f}% less; target ≥ 50%): "
            f"{_verdict(triaged <= shipped / 2)}."
        )
    for scenario, rows in results.items():
        if TRIAGE in rows and rows[TRIAGE].flagged_genuine_calls:
            row = rows[TRIAGE]
            waits = row.flagged_genuine_waits
            lines.append(
                f"- {scenario}, triage: genuine calls from flagged numbers {row.flagged_genuine_calls}, "
                f"{sum(wait <= 20 for wait in waits)} with a human within 20 s, p95 {percentile(waits, 0.95):.1f} s, "
                f"longest {max(waits, default=math.nan):.1f} s, {row.flagged_genuine_abandoned} abandoned."
            )
    return lines


# The triage rules measured against the shipped sop/triage.yaml: (label, the prank rules' changes).
RULE_VARIANTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("as before: silent 5, flags 24 h / 3 d / 30 d", {"silent_threshold": 5, "flag_hours": (24, 72, 720)}),
    ("shipped", {}),
    ("silent 2", {"silent_threshold": 2}),
    ("silent 2, prank 2", {"silent_threshold": 2, "prank_threshold": 2}),
)


def rule_variants(
    model: Model, config: Config, timings: Mapping[tuple[str, str], PromptTiming], days: int, seed: int
) -> list[str]:
    """Policy triage under other prank rules of sop/triage.yaml: the junk seconds and their price."""
    lines = [
        "## Triage rules: operator seconds on junk against the wait of a genuine caller from a flagged number",
        "",
        "| rules (policy triage) | normal: operator s per prank/ghost call (vs shipped-without-triage) | ghost / prank "
        "calls flagged | surge20: genuine from flagged numbers, ≤ 20 s, p95 / longest (s), abandoned |",
        "| --- | ---: | ---: | ---: |",
    ]
    baseline = simulate(model, config, timings, "normal", SHIPPED, days, seed).junk_seconds_per_call
    for label, changes in RULE_VARIANTS:
        rules = replace(config.sop, prank=replace(config.sop.prank, **changes))
        varied = replace(config, sop=rules)
        normal = simulate(model, varied, timings, "normal", TRIAGE, days, seed)
        surge = simulate(model, varied, timings, "surge20", TRIAGE, days, seed)
        waits = surge.flagged_genuine_waits
        junk = normal.junk_seconds_per_call
        lines.append(
            f"| {label} | {junk:.1f} ({100 * (1 - junk / baseline):.0f}% less) "
            f"| {100 * normal.ghost_flagged:.0f}% / {100 * normal.prank_flagged:.0f}% "
            f"| {surge.flagged_genuine_calls}, {sum(wait <= 20 for wait in waits)}, "
            f"{percentile(waits, 0.95):.1f} / {max(waits, default=math.nan):.1f}, {surge.flagged_genuine_abandoned} |"
        )
    return lines


def sweep(
    model: Model,
    config: Config,
    timings: Mapping[tuple[str, str], PromptTiming],
    scenario: str,
    policies: list[str],
    days: int,
    seed: int,
    most: int,
) -> list[str]:
    """The fewest central operators that hold 95% of genuine calls within 20 s, per policy."""
    lines = [
        f"| policy | central operators needed in {scenario} (95% ≤ 20 s) | share ≤ 20 s by central operators |",
        "| --- | ---: | --- |",
    ]
    for policy in policies:
        shares, needed = [], "more than " + str(most)
        for central in range(model.central_operators, most + 1):
            row = simulate(model, config, timings, scenario, policy, days, seed, central)
            shares.append(f"{central}: {100 * row.within(20):.1f}%")
            if row.within(20) >= NENA_SHARE:
                needed = str(central)
                break
        lines.append(f"| {policy} | {needed} | {', '.join(shares)} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadmodel.run", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--root", type=Path, default=REPO, help="where dialplan/ and sop/ are")
    parser.add_argument("--scenario", default="all", help="a scenario of the model, a comma list, or all")
    parser.add_argument("--policies", default="all", help="policies of the model, a comma list, or all")
    parser.add_argument("--days", type=int, default=30, help="measured model days (after the model's warm-up)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sweep", type=int, default=0, help="in surge scenarios, try up to N central operators")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    try:
        model = load_model(args.model, _display(args.model))
    except ModelError as error:
        print(error, file=sys.stderr)
        return 1
    config = load_config(args.root)
    timings, source = prompt_timings(config, args.root / "var" / "asterisk" / "data" / "sounds")
    scenarios = list(model.scenarios) if args.scenario == "all" else args.scenario.split(",")
    policies = list(model.policies) if args.policies == "all" else args.policies.split(",")
    unknown = [name for name in scenarios if name not in model.scenarios] + [
        name for name in policies if name not in model.policies
    ]
    if unknown:
        print(f"unknown scenario or policy: {', '.join(unknown)}", file=sys.stderr)
        return 2
    started = time.monotonic()
    results: dict[str, dict[str, Figures]] = {}
    body: list[str] = []
    args.out.mkdir(parents=True, exist_ok=True)
    for scenario in scenarios:
        rows = [simulate(model, config, timings, scenario, policy, args.days, args.seed) for policy in policies]
        results[scenario] = {row.policy: row for row in rows}
        picture = f"loadmodel_{scenario}.svg"
        (args.out / picture).write_text(wait_svg(f"{scenario}: genuine callers with a human within x s", rows))
        body += [f"## {scenario}: {_describe(model, scenario)}", "", *table(rows), "", f"![{scenario}]({picture})", ""]
        if scenario == "normal":
            body += ["Where the operator seconds of prank and ghost calls go:", "", *junk_table(rows), ""]
        if args.sweep and model.scenarios[scenario].surge is not None:
            body += [*sweep(model, config, timings, scenario, policies, args.days, args.seed, args.sweep), ""]
    young: dict[str, Figures] = {}
    if "normal" in scenarios and {SHIPPED, TRIAGE} <= set(policies):
        # The same measured days of the calendar, triage started YOUNG_TRIAGE_DAYS before them.
        later = model.start_date + timedelta(days=model.warmup_days - YOUNG_TRIAGE_DAYS)
        early = replace(model, warmup_days=YOUNG_TRIAGE_DAYS, start_date=later)
        young = {
            name: simulate(early, config, timings, "normal", name, args.days, args.seed) for name in (SHIPPED, TRIAGE)
        }
    if args.sweep and {"normal", "surge20"} <= set(model.scenarios) and {SHIPPED, TRIAGE} <= set(policies):
        body += [*rule_variants(model, config, timings, args.days, args.seed), ""]
    command = "python -m bench.loadmodel.run " + shlex.join(argv if argv is not None else sys.argv[1:])
    head = [
        "# Load model of the 112 line: policies side by side",
        "",
        f"Command: `{command}`  ",
        f"Model: `{_display(args.model)}`; prompt times {source}; {args.days} measured days after "
        f"{model.warmup_days} warm-up days, seed {args.seed}; ran in {time.monotonic() - started:.0f} s.  ",
        f"Base: {model.calls_per_day:g} calls a day, the peak hour {model.peak_hour_rate:.1f} calls; "
        f"{model.central_operators} central operators; the agencies' operators of sop/operators.yaml.",
        "",
        *_emergency_paths(config, timings),
        "",
        "## Targets (issue 12)",
        "",
        *targets(model, results, young),
        "",
        *_reading(),
        "",
    ]
    out = args.out / "loadmodel.md"
    out.write_text("\n".join([*head, *body]))
    print("\n".join([*head, *body]))
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def _describe(model: Model, name: str) -> str:
    scenario = model.scenarios[name]
    text = f"{scenario.load:g}x the {model.calls_per_day:g}-call day, mix {scenario.mix}"
    if scenario.surge is not None:
        surge = scenario.surge
        rate = surge.multiplier * model.peak_hour_rate
        text += (
            f"; at {surge.hour:02d}:00 one hour of {surge.multiplier:g}x the peak hour ({rate:.0f} calls), mix "
            f"{surge.mix}. Figures are of the calls arriving in that hour (one such hour per model day)"
        )
    else:
        text += ". Figures are of every call of the measured days"
    return text


def _emergency_paths(config: Config, timings: Mapping[tuple[str, str], PromptTiming]) -> list[str]:
    flow = config.flows["112"]
    paths = [path for path in timed_paths(flow, config.sop, timings) if path.emergency and not path.came_back]
    fastest = sorted(paths, key=lambda path: path.seconds)[:3] + sorted(paths, key=lambda path: -path.seconds)[:1]
    return [
        "Menu time of emergency paths of the shipped flow (`ivr check`'s timing model; the simulated callers "
        "spend exactly this): " + "; ".join(f"{path.describe()} {path.seconds:.1f} s" for path in fastest) + "."
    ]


def _reading() -> list[str]:
    return [
        "How to read: \"to a human\" is from Asterisk's answer, the menu included, to an operator's answer,",
        "over genuine calls answered; the ≤ 15 s / ≤ 20 s shares are of all genuine calls (a caller who gave up",
        "counts as not answered). A genuine caller who gives up may call again (model.yaml); each call counts.",
        '"Incidents never reached": every call of that emergency given up. Operator seconds per prank/ghost',
        "call: ring, talk and wrap-up of the prank and ghost calls answered, divided by all of them.",
    ]


if __name__ == "__main__":
    raise SystemExit(main())
