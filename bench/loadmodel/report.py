"""Figures per policy from a run's call results, the markdown tables and the wait-time pictures (SVG)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from xml.sax.saxutils import escape

from bench.loadmodel.engine import CallResult, Run
from bench.loadmodel.model import JUNK

NENA_SECONDS = (15.0, 20.0)  # NENA: 90% answered within 15 s, 95% within 20 s (DOMAIN)
COLOURS = ("#555555", "#999999", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile of sorted ``values`` (nan when empty)."""
    if not values:
        return math.nan
    return values[min(len(values) - 1, max(0, math.ceil(share * len(values)) - 1))]


@dataclass(frozen=True)
class Figures:
    policy: str
    genuine_calls: int
    genuine_waits: list[float]  # seconds from answer to a human, answered calls, sorted
    genuine_abandoned: int
    genuine_incidents: int
    incidents_unreached: int  # every call of the incident given up
    silent_genuine_calls: int  # genuine callers who pressed nothing (the ones a lower silent priority hits)
    silent_genuine_waits: list[float]
    # Genuine callers whose number was flagged (a phone that also pocket-dials or pranks: model.yaml's
    # numbers_of): queued last, maybe warned, and still to be answered.
    flagged_genuine_calls: int
    flagged_genuine_waits: list[float]
    flagged_genuine_abandoned: int
    info_calls: int
    info_waits: list[float]
    info_abandoned: int
    junk_calls: int
    junk_operator_seconds: float
    junk_flagged: int
    # Where the junk operator seconds go: per (kind, flagged), the calls and the operator seconds of
    # those answered as (answered, ring, talk, wrap-up).
    junk_parts: dict[tuple[str, bool], tuple[int, int, float, float, float]]
    ghost_flagged: float  # share of ghost calls flagged
    prank_flagged: float
    central_utilisation: float

    def within(self, seconds: float) -> float:
        """Share of genuine calls answered by a human within ``seconds`` (a caller who gave up never was)."""
        if not self.genuine_calls:
            return math.nan
        return sum(1 for wait in self.genuine_waits if wait <= seconds) / self.genuine_calls

    def p(self, share: float) -> float:
        return percentile(self.genuine_waits, share)

    @property
    def junk_seconds_per_call(self) -> float:
        return self.junk_operator_seconds / self.junk_calls if self.junk_calls else math.nan


def figures(run: Run, central_operators: int) -> Figures:
    measured = [result for result in run.results if result.caller.measured]

    def of(kind: str) -> list[CallResult]:
        return [result for result in measured if result.caller.kind == kind]

    def waits(results: list[CallResult]) -> list[float]:
        return sorted(result.to_human for result in results if result.to_human is not None)

    genuine, info = of("genuine"), of("informasi")
    silent = [result for result in genuine if not result.pressed]
    flagged = [result for result in genuine if result.flagged]
    junk = [result for result in measured if result.caller.kind in JUNK]
    reached: dict[int, bool] = {}
    for result in genuine:
        reached[result.caller.incident] = reached.get(result.caller.incident, False) or result.to_human is not None
    hours = run.model_seconds / 3600.0
    return Figures(
        policy=run.policy,
        genuine_calls=len(genuine),
        genuine_waits=waits(genuine),
        genuine_abandoned=sum(1 for result in genuine if result.abandoned),
        genuine_incidents=len(reached),
        incidents_unreached=sum(1 for ok in reached.values() if not ok),
        silent_genuine_calls=len(silent),
        silent_genuine_waits=waits(silent),
        flagged_genuine_calls=len(flagged),
        flagged_genuine_waits=waits(flagged),
        flagged_genuine_abandoned=sum(1 for result in flagged if result.abandoned),
        info_calls=len(info),
        info_waits=waits(info),
        info_abandoned=sum(1 for result in info if result.abandoned),
        junk_calls=len(junk),
        junk_operator_seconds=sum(result.operator_seconds for result in junk),
        junk_flagged=sum(1 for result in junk if result.flagged),
        junk_parts=_junk_parts(junk),
        ghost_flagged=_flagged_share(of("ghost")),
        prank_flagged=_flagged_share(of("prank")),
        central_utilisation=run.central_busy_seconds / (central_operators * hours * 3600.0) if hours else 0.0,
    )


def _junk_parts(junk: list[CallResult]) -> dict[tuple[str, bool], tuple[int, int, float, float, float]]:
    parts = {}
    for kind in JUNK:
        for flagged in (False, True):
            group = [result for result in junk if result.caller.kind == kind and result.flagged == flagged]
            answered = [result for result in group if result.to_human is not None]
            ring = sum(result.caller.answer_delay for result in answered)
            wrapup = sum(result.wrapup_seconds for result in answered)
            talk = sum(result.operator_seconds for result in answered) - ring - wrapup
            parts[kind, flagged] = (len(group), len(answered), ring, talk, wrapup)
    return parts


def junk_table(rows: list[Figures]) -> list[str]:
    """Per policy, kind and flag: the share of junk calls, and the operator seconds per junk call they add."""
    lines = [
        "| policy | calls | share of junk calls | answered | operator s per junk call: ring + talk + wrap-up = total "
        "| per answered call (s) |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        for (kind, flagged), (calls, answered, ring, talk, wrapup) in row.junk_parts.items():
            if not calls:
                continue
            total = ring + talk + wrapup
            per = row.junk_calls
            lines.append(
                f"| {row.policy} | {kind}, {'flagged' if flagged else 'not flagged'} | {100 * calls / per:.1f}% "
                f"| {100 * answered / calls:.0f}% | {ring / per:.2f} + {talk / per:.2f} + {wrapup / per:.2f} = "
                f"{total / per:.2f} | {total / answered if answered else math.nan:.1f} |"
            )
    return lines


def _flagged_share(results: list[CallResult]) -> float:
    return sum(1 for result in results if result.flagged) / len(results) if results else math.nan


def _s(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.1f}"


def _pct(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:.1f}%"


def table(rows: list[Figures]) -> list[str]:
    lines = [
        "| policy | genuine calls | to a human p50 / p95 / p99 (s) | ≤ 15 s | ≤ 20 s | genuine calls abandoned "
        "| incidents never reached | pressed nothing: ≤ 20 s, p95 / p99 (s) | informasi p50 / p95 (s), abandoned "
        "| genuine from flagged numbers: calls, p95 / max (s), abandoned "
        "| operator s per prank/ghost call | junk calls flagged | central busy |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        info = (
            f"{_s(percentile(row.info_waits, 0.5))} / {_s(percentile(row.info_waits, 0.95))}, {row.info_abandoned}"
            if row.info_calls
            else "no calls"
        )
        flagged = row.junk_flagged / row.junk_calls if row.junk_calls else math.nan
        quiet = row.silent_genuine_waits
        silent_within = sum(wait <= 20 for wait in quiet) / row.silent_genuine_calls if quiet else math.nan
        lines.append(
            f"| {row.policy} | {row.genuine_calls} | {_s(row.p(0.5))} / {_s(row.p(0.95))} / {_s(row.p(0.99))} "
            f"| {_pct(row.within(15))} | {_pct(row.within(20))} | {row.genuine_abandoned} "
            f"| {row.incidents_unreached} of {row.genuine_incidents} "
            f"| {_pct(silent_within)}, {_s(percentile(quiet, 0.95))} / {_s(percentile(quiet, 0.99))} "
            f"| {info} | {_flagged_genuine(row)} "
            f"| {_s(row.junk_seconds_per_call)} | {_pct(flagged)} | {_pct(row.central_utilisation)} |"
        )
    return lines


def _flagged_genuine(row: Figures) -> str:
    if not row.flagged_genuine_calls:
        return "none"
    waits = row.flagged_genuine_waits
    top = _s(waits[-1]) if waits else "–"
    return f"{row.flagged_genuine_calls}, {_s(percentile(waits, 0.95))} / {top}, {row.flagged_genuine_abandoned}"


def wait_svg(title: str, rows: list[Figures], limit: float = 120.0) -> str:
    """Share of genuine calls with a human within x seconds (of all genuine calls), one line per policy."""
    width, height, left, right, top, bottom = 720, 400, 60, 170, 40, 50
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(seconds: float) -> float:
        return left + plot_w * min(seconds, limit) / limit

    def y(share: float) -> float:
        return top + plot_h * (1 - share)

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-family='sans-serif' "
        f"font-size='12'><rect width='100%' height='100%' fill='white'/>",
        f"<text x='{left}' y='22' font-size='14'>{escape(title)}</text>",
    ]
    for tick in range(0, int(limit) + 1, 20):
        parts.append(f"<line x1='{x(tick)}' y1='{y(0)}' x2='{x(tick)}' y2='{y(0) + 5}' stroke='black'/>")
        parts.append(f"<text x='{x(tick)}' y='{y(0) + 18}' text-anchor='middle'>{tick}</text>")
    for share in (0, 0.25, 0.5, 0.75, 0.9, 0.95, 1.0):
        parts.append(f"<line x1='{left}' y1='{y(share)}' x2='{left + plot_w}' y2='{y(share)}' stroke='#eeeeee'/>")
        parts.append(f"<text x='{left - 6}' y='{y(share) + 4}' text-anchor='end'>{100 * share:g}%</text>")
    for seconds in NENA_SECONDS:
        parts.append(
            f"<line x1='{x(seconds)}' y1='{y(0)}' x2='{x(seconds)}' y2='{y(1)}' stroke='red' stroke-dasharray='4 3'/>"
            f"<text x='{x(seconds) + 3}' y='{y(1) + 12}' fill='red'>{seconds:g} s</text>"
        )
    parts.append(f"<rect x='{left}' y='{top}' width='{plot_w}' height='{plot_h}' fill='none' stroke='black'/>")
    parts.append(
        f"<text x='{left + plot_w / 2}' y='{height - 12}' text-anchor='middle'>"
        "seconds from Asterisk's answer to a human (menu included)</text>"
    )
    for index, row in enumerate(rows):
        colour = COLOURS[index % len(COLOURS)]
        points = [f"{x(0):.1f},{y(0):.1f}"]
        for rank, wait in enumerate(row.genuine_waits, start=1):
            if wait > limit:
                break
            share = rank / row.genuine_calls
            points.append(f"{x(wait):.1f},{y((rank - 1) / row.genuine_calls):.1f} {x(wait):.1f},{y(share):.1f}")
        reached = sum(1 for wait in row.genuine_waits if wait <= limit) / row.genuine_calls if row.genuine_calls else 0
        points.append(f"{x(limit):.1f},{y(reached):.1f}")
        parts.append(f"<polyline fill='none' stroke='{colour}' stroke-width='2' points='{' '.join(points)}'/>")
        legend_y = top + 16 * index + 10
        parts.append(
            f"<line x1='{width - right + 12}' y1='{legend_y}' x2='{width - right + 32}' y2='{legend_y}' "
            f"stroke='{colour}' stroke-width='2'/><text x='{width - right + 36}' y='{legend_y + 4}'>"
            f"{escape(row.policy)}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)
