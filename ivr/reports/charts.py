"""Charts of a report as SVG made here (no browser library, no CDN): calls per hour of day, and the
answer-time distribution against the NENA 15 s and 20 s lines.

Each chart is a document of its own (served as image/svg+xml): ``role="img"`` with a ``<title>`` and
a ``<desc>`` that says in words what the bars show, and every number also written as text, so a screen
reader or a printout loses nothing that colour or height carries. Styling is presentation attributes
only, never ``style``: the console's Content-Security-Policy allows no inline styles. Built with
ElementTree, so every text is escaped by the serializer, not by hand.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ivr.reports.aggregate import ANSWER_BIN_SECONDS, ANSWER_BINS_UP_TO, NENA_TARGETS, NenaTarget, Report

SVG_NS = "http://www.w3.org/2000/svg"
CHARTS = ("hours", "answer-times")
WIDTH, HEIGHT = 760, 360
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 84, 56
INK, MUTED, GRID, BAR = "#1d2421", "#5b6660", "#d5dad6", "#1f6f5c"
LINE_COLOURS = {15.0: "#b3261e", 20.0: "#6a3fb3"}
LINE_DASHES = {15.0: "6 4", 20.0: "2 3"}

WORDS: dict[str, dict[str, str]] = {
    "id": {
        "hours.title": "Panggilan per jam ({zone}), {start} s.d. {end}",
        "hours.desc": (
            "Diagram batang jumlah panggilan menurut jam dalam sehari, jam {zone}. "
            "Jumlah {total} panggilan. {busiest} Per jam: {values}."
        ),
        "hours.busiest": "Jam tersibuk {hour}:00 dengan {n} panggilan.",
        "hours.x": "Jam ({zone})",
        "y.calls": "Panggilan",
        "answer.title": "Waktu tunggu sampai dijawab, {start} s.d. {end}",
        "answer.desc": (
            "Diagram batang panggilan yang dijawab menurut detik menunggu di antrean, per {bin} detik, "
            "dengan garis standar NENA di 15 dan 20 detik. {answered} panggilan dijawab, {abandoned} ditutup "
            "penelepon di antrean. {lines} Per rentang: {values}."
        ),
        "answer.x": "Detik menunggu di antrean",
        "answer.line": "≤ {s} dtk: {share} dijawab (target {target}) — {verdict}",
        "answer.line_short": "{s} dtk",
        "answer.met": "tercapai",
        "answer.not_met": "belum tercapai",
        "answer.no_calls": "tidak ada panggilan dijawab",
        "answer.summary": "{answered} dijawab · {abandoned} ditutup penelepon di antrean",
        "no_calls": "Tidak ada panggilan pada periode ini.",
        "decimal": ",",
    },
    "en": {
        "hours.title": "Calls per hour ({zone}), {start} to {end}",
        "hours.desc": (
            "Bar chart of calls by hour of day, {zone} time. {total} calls in all. {busiest} Per hour: {values}."
        ),
        "hours.busiest": "Busiest hour {hour}:00 with {n} calls.",
        "hours.x": "Hour ({zone})",
        "y.calls": "Calls",
        "answer.title": "Time to answer, {start} to {end}",
        "answer.desc": (
            "Bar chart of answered calls by seconds waited in the queue, per {bin} seconds, with the NENA "
            "standard's lines at 15 and 20 seconds. {answered} calls answered, {abandoned} abandoned in the "
            "queue. {lines} Per range: {values}."
        ),
        "answer.x": "Seconds waited in the queue",
        "answer.line": "≤ {s} s: {share} answered (target {target}) — {verdict}",
        "answer.line_short": "{s} s",
        "answer.met": "met",
        "answer.not_met": "not met",
        "answer.no_calls": "no calls answered",
        "answer.summary": "{answered} answered · {abandoned} abandoned in the queue",
        "no_calls": "No calls in this period.",
        "decimal": ".",
    },
}


class UnknownChart(LookupError):
    code = "unknown_chart"


def chart_svg(name: str, report: Report, lang: str = "id") -> str:
    if name == "hours":
        return hours_chart(report, lang)
    if name == "answer-times":
        return answer_time_chart(report, lang)
    raise UnknownChart(f"unknown chart '{name[:40]}' (known: {', '.join(CHARTS)})")


def zone_name(report: Report) -> str:
    """WIB for Asia/Jakarta (how Indonesians write it), else the zone's own name."""
    name = str(report.period.zone)
    return {"Asia/Jakarta": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}.get(name, name)


def hours_chart(report: Report, lang: str = "id") -> str:
    words = WORDS.get(lang, WORDS["id"])
    zone = zone_name(report)
    values = [line.counts.total for line in report.hours]
    total = sum(values)
    busiest = max(range(24), key=lambda hour: (values[hour], -hour))
    title = words["hours.title"].format(zone=zone, start=report.period.start, end=report.period.end)
    desc = words["hours.desc"].format(
        zone=zone,
        total=total,
        busiest=words["hours.busiest"].format(hour=f"{busiest:02d}", n=values[busiest]) if total else "",
        values=", ".join(f"{hour:02d}: {value}" for hour, value in enumerate(values)),
    )
    svg, plot = _frame("hours", title, desc, lang)
    top = _axis_max(max(values) + 1)  # headroom: a bar's number never meets the top
    _y_axis(plot, top, words["y.calls"])
    slot = _plot_width() / 24
    for hour, value in enumerate(values):
        x = LEFT + hour * slot
        _bar(plot, x + slot * 0.15, slot * 0.7, value, top, f"{hour:02d}:00 — {value}")
        _text(plot, x + slot / 2, HEIGHT - BOTTOM + 16, f"{hour:02d}", size=11, anchor="middle")
    _text(plot, LEFT + _plot_width() / 2, HEIGHT - 12, words["hours.x"].format(zone=zone), size=12, anchor="middle")
    if not total:
        _text(plot, LEFT + _plot_width() / 2, TOP + _plot_height() / 2, words["no_calls"], size=14, anchor="middle")
    return _serialise(svg)


def answer_time_chart(report: Report, lang: str = "id") -> str:
    words = WORDS.get(lang, WORDS["id"])
    times = report.answer_times
    values = list(times.bins)
    span = ANSWER_BINS_UP_TO + ANSWER_BIN_SECONDS  # the last bin (over the limit) drawn as one more slot
    title = words["answer.title"].format(start=report.period.start, end=report.period.end)
    line_texts = [_nena_text(words, target, share, met) for target, share, met in times.nena()]
    labels = _bin_labels(len(values))
    desc = words["answer.desc"].format(
        bin=_num(ANSWER_BIN_SECONDS),
        answered=times.answered,
        abandoned=times.abandoned,
        lines=" ".join(text + "." for text in line_texts),
        values=", ".join(f"{label}: {value}" for label, value in zip(labels, values, strict=True)),
    )
    svg, plot = _frame("answer-times", title, desc, lang)
    for row, text in enumerate(line_texts):
        seconds = NENA_TARGETS[row].seconds
        y = 48 + row * 16
        key_line = ET.SubElement(plot, "line", x1=str(LEFT), x2=str(LEFT + 24), y1=_f(y - 4), y2=_f(y - 4))
        _stroke(key_line, seconds)
        _text(plot, LEFT + 30, y, text, size=12)
    _text(
        plot,
        WIDTH - RIGHT,
        48,
        words["answer.summary"].format(answered=times.answered, abandoned=times.abandoned),
        size=12,
        anchor="end",
    )
    top = _axis_max(max(values) + 1)  # headroom: a bar's number never meets the top
    _y_axis(plot, top, words["y.calls"])
    scale = _plot_width() / span
    for slot, value in enumerate(values):
        x = LEFT + slot * ANSWER_BIN_SECONDS * scale
        width = ANSWER_BIN_SECONDS * scale
        _bar(plot, x + width * 0.1, width * 0.8, value, top, f"{labels[slot]}: {value}")
    for tick in range(0, int(ANSWER_BINS_UP_TO) + 1, int(ANSWER_BIN_SECONDS)):
        _text(plot, LEFT + tick * scale, HEIGHT - BOTTOM + 16, str(tick), size=11, anchor="middle")
    _text(
        plot,
        LEFT + (ANSWER_BINS_UP_TO + ANSWER_BIN_SECONDS / 2) * scale,
        HEIGHT - BOTTOM + 16,
        f"> {_num(ANSWER_BINS_UP_TO)}",
        size=11,
        anchor="middle",
    )
    _text(plot, LEFT + _plot_width() / 2, HEIGHT - 12, words["answer.x"], size=12, anchor="middle")
    for seconds in (target.seconds for target in NENA_TARGETS):
        x = LEFT + seconds * scale
        line = ET.SubElement(
            plot, "line", x1=_f(x), x2=_f(x), y1=str(TOP - 6), y2=str(HEIGHT - BOTTOM), attrib={"class": "nena-line"}
        )
        line.set("data-seconds", _num(seconds))
        _stroke(line, seconds)
        _text(
            plot,
            x + 3,
            TOP - 10,
            words["answer.line_short"].format(s=_num(seconds)),
            size=11,
            colour=LINE_COLOURS[seconds],
        )
    if not times.answered:
        _text(
            plot, LEFT + _plot_width() / 2, TOP + _plot_height() / 2, words["answer.no_calls"], size=14, anchor="middle"
        )
    return _serialise(svg)


def _nena_text(words: dict[str, str], target: NenaTarget, share: float | None, met: bool) -> str:
    if share is None:
        verdict, shown = words["answer.no_calls"], "–"
    else:
        verdict, shown = words["answer.met" if met else "answer.not_met"], _percent(share, words)
    return words["answer.line"].format(
        s=_num(target.seconds), share=shown, target=_percent(target.share, words), verdict=verdict
    )


def _bin_labels(count: int) -> list[str]:
    labels = []
    for slot in range(count):
        low = slot * ANSWER_BIN_SECONDS
        if slot == count - 1:
            labels.append(f"> {_num(low)}")
        else:
            labels.append(f"{_num(low)}–{_num(low + ANSWER_BIN_SECONDS)}")
    return labels


# Drawing
def _frame(name: str, title: str, desc: str, lang: str) -> tuple[ET.Element, ET.Element]:
    svg = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "viewBox": f"0 0 {WIDTH} {HEIGHT}",
            "width": str(WIDTH),
            "height": str(HEIGHT),
            "role": "img",
            "aria-labelledby": f"{name}-title {name}-desc",
            "lang": lang,
            "font-family": "Noto Sans, DejaVu Sans, sans-serif",
        },
    )
    ET.SubElement(svg, "title", id=f"{name}-title").text = title
    ET.SubElement(svg, "desc", id=f"{name}-desc").text = desc
    ET.SubElement(svg, "rect", x="0", y="0", width=str(WIDTH), height=str(HEIGHT), fill="#ffffff")
    _text(svg, LEFT, 26, title, size=16, weight="600")
    # What follows is drawn for the eye; the title and desc above already said it in words.
    plot = ET.SubElement(svg, "g", {"aria-hidden": "true"})
    return svg, plot


def _plot_width() -> float:
    return float(WIDTH - LEFT - RIGHT)


def _plot_height() -> float:
    return float(HEIGHT - TOP - BOTTOM)


def _axis_max(value: int) -> int:
    """The smallest of 1, 2, 5 times 10^n at or above ``value`` (at least 1): round tick numbers."""
    top = 1
    while top < value:
        top = _next_nice(top)
    return top


def _next_nice(value: int) -> int:
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    lead = value // magnitude
    return (2 if lead < 2 else 5 if lead < 5 else 10) * magnitude


def _y_axis(plot: ET.Element, top: int, caption: str) -> None:
    ticks = _ticks(top)
    for tick in ticks:
        y = _y(tick, top)
        ET.SubElement(plot, "line", x1=str(LEFT), x2=str(WIDTH - RIGHT), y1=_f(y), y2=_f(y), stroke=GRID)
        _text(plot, LEFT - 6, y + 4, str(tick), size=11, anchor="end")
    ET.SubElement(plot, "line", x1=str(LEFT), x2=str(LEFT), y1=str(TOP), y2=str(HEIGHT - BOTTOM), stroke=MUTED)
    label = _text(plot, 14, TOP + _plot_height() / 2, caption, size=12, anchor="middle")
    label.set("transform", f"rotate(-90 14 {_f(TOP + _plot_height() / 2)})")


def _ticks(top: int) -> list[int]:
    """0 to ``top`` in 5 or so round steps (``top`` is 1, 2, 5 times 10^n)."""
    lead = int(str(top)[0])
    step = 1 if top <= 5 else top // (4 if lead == 2 else 5)
    return list(range(0, top + 1, step))


def _y(value: float, top: int) -> float:
    return TOP + _plot_height() * (1 - value / top)


def _bar(plot: ET.Element, x: float, width: float, value: int, top: int, tip: str) -> None:
    y = _y(value, top)
    bar = ET.SubElement(
        plot,
        "rect",
        x=_f(x),
        y=_f(y),
        width=_f(width),
        height=_f(HEIGHT - BOTTOM - y),
        fill=BAR,
        attrib={"class": "bar"},
    )
    ET.SubElement(bar, "title").text = tip
    if value:
        _text(plot, x + width / 2, y - 4, str(value), size=11, anchor="middle")


def _stroke(line: ET.Element, seconds: float) -> None:
    line.set("stroke", LINE_COLOURS[seconds])
    line.set("stroke-width", "2")
    line.set("stroke-dasharray", LINE_DASHES[seconds])


def _text(
    parent: ET.Element,
    x: float,
    y: float,
    text: str,
    *,
    size: int,
    anchor: str = "start",
    weight: str = "400",
    colour: str = INK,
) -> ET.Element:
    node = ET.SubElement(
        parent,
        "text",
        x=_f(x),
        y=_f(y),
        fill=colour,
        attrib={"font-size": str(size), "text-anchor": anchor, "font-weight": weight},
    )
    node.text = text
    return node


def _serialise(svg: ET.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(svg, encoding="unicode") + "\n"


def _f(value: float) -> str:
    return f"{value:.1f}"


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _percent(share: float, words: dict[str, str]) -> str:
    """66.7% in English, 66,7% in Bahasa Indonesia (the decimal comma, as the page writes it)."""
    return f"{share * 100:.1f}".rstrip("0").rstrip(".").replace(".", words["decimal"]) + "%"
