"""Tables (Markdown) and a plot (SVG, no plotting library needed) from bench/results/*.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CAP_US = 200000  # the load generator's histogram ends at 200 ms


def _us(value: Any) -> str:
    return f"≥{CAP_US}" if value == CAP_US else str(value)


COLORS = {"floor": "#777777", "panoramisk": "#d9822b", "ours": "#2b7bd9", "ours-full": "#1a9850"}


def _point(report: dict[str, Any], kind: str, loop: str, concurrency: int) -> dict[str, Any] | None:
    return next(
        (p for p in report["points"] if (p["kind"], p["loop"], p["concurrency"]) == (kind, loop, concurrency)), None
    )


def write_agi_report(report: dict[str, Any], out: Path) -> None:
    lines = [
        "# FastAGI benchmark",
        "",
        f"Command: `.venv/bin/python {report['command']}`  ",
        f"Machine: {report['machine']}  ",
        f"Each point: median of {report['runs_per_point']} runs of {report['seconds_per_run']} s measured after a 1 s"
        " warm-up, each on a fresh server process; server on core 1, C load generator on core 0."
        " One call = 10 commands (sync, 2 STREAM FILE, 7 SET VARIABLE).",
        "",
        "| server | loop | concurrency | calls/s | server CPU µs/call | turnaround p50 µs | p99 µs |"
        " connect→1st command p99 µs | RSS KiB | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for p in report["points"]:
        lines.append(
            f"| {p['kind']} | {p['loop']} | {p['concurrency']} | {p['calls_per_s']:.0f} | "
            f"{p['cpu_us_per_call']} | {_us(p['turnaround_p50_us'])} | {_us(p['turnaround_p99_us'])} | "
            f"{_us(p['first_command_p99_us'])} | {p['rss_kib']} | {p['errors']} |"
        )
    lines += [
        "",
        "## Ratios at concurrency 500",
        "",
        "| loop | ours / panoramisk (calls/s) | ours CPU / floor CPU |",
        "| --- | ---: | ---: |",
    ]
    for loop in ("asyncio", "uvloop"):
        ours, pano, floor = (_point(report, kind, loop, 500) for kind in ("ours", "panoramisk", "floor"))
        if ours and pano and floor and pano["calls_per_s"] and floor["cpu_us_per_call"]:
            lines.append(
                f"| {loop} | {ours['calls_per_s'] / pano['calls_per_s']:.2f} | "
                f"{ours['cpu_us_per_call'] / floor['cpu_us_per_call']:.2f} |"
            )
    lines += ["", "## Memory per idle session (headers sent, waiting)", "", "| server/loop | bytes |", "| --- | ---: |"]
    lines += [f"| {name} | {value:.0f} |" for name, value in report["idle_session_bytes"].items()]
    lines += ["", "## Robustness (uvloop)", "", "| check | ours | panoramisk |", "| --- | --- | --- |"]
    ours_r, pano_r = report["robustness"].get("ours", {}), report["robustness"].get("panoramisk", {})
    for key in sorted(set(ours_r) | set(pano_r)):
        lines.append(f"| {key} | {ours_r.get(key)} | {pano_r.get(key)} |")
    lines += ["", "![latency against concurrency](agi_latency.svg)", ""]
    (out / "agi.md").write_text("\n".join(lines))
    (out / "agi_latency.svg").write_text(latency_svg(report))


def latency_svg(report: dict[str, Any], loop: str = "uvloop") -> str:
    """p99 command turnaround (log scale) against concurrency, one line per server."""
    import math

    width, height, left, bottom = 640, 360, 70, 40
    concurrencies = sorted({p["concurrency"] for p in report["points"]})
    values = [p["turnaround_p99_us"] for p in report["points"] if p["loop"] == loop and p["turnaround_p99_us"]]
    if not values:
        return "<svg xmlns='http://www.w3.org/2000/svg'/>"
    low, high = math.log10(max(1, min(values))), math.log10(max(values) * 1.2)
    x = {c: left + i * (width - left - 20) / max(1, len(concurrencies) - 1) for i, c in enumerate(concurrencies)}

    def y(us: float) -> float:
        return height - bottom - (math.log10(max(us, 1)) - low) / max(high - low, 1e-9) * (height - bottom - 30)

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-family='sans-serif' "
        "font-size='12'>",
        f"<text x='{left}' y='18'>p99 command turnaround (µs, log) vs concurrent sessions — {loop}</text>",
        f"<line x1='{left}' y1='{height - bottom}' x2='{width - 20}' y2='{height - bottom}' stroke='black'/>",
        f"<line x1='{left}' y1='30' x2='{left}' y2='{height - bottom}' stroke='black'/>",
    ]
    for c, px in x.items():
        parts.append(f"<text x='{px:.0f}' y='{height - bottom + 16}' text-anchor='middle'>{c}</text>")
    for exponent in range(int(low), int(high) + 1):
        if low <= exponent <= high:
            py = y(10**exponent)
            parts.append(f"<text x='{left - 6}' y='{py + 4:.0f}' text-anchor='end'>{10**exponent}</text>")
    for n, (kind, color) in enumerate(COLORS.items()):
        points = [
            (x[p["concurrency"]], y(p["turnaround_p99_us"]))
            for p in report["points"]
            if p["kind"] == kind and p["loop"] == loop and p["turnaround_p99_us"]
        ]
        if points:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(f"<polyline points='{path}' fill='none' stroke='{color}' stroke-width='2'/>")
            parts.append(f"<text x='{width - 150}' y='{50 + 16 * n}' fill='{color}'>{kind}</text>")
    parts.append("</svg>")
    return "\n".join(parts)
