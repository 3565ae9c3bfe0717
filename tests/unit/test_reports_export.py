"""A report as CSV and as SVG charts (ivr.reports.export, ivr.reports.charts), over the January rows of
test_reports_aggregate (answers computed by hand there)."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import pytest

from ivr.reports.aggregate import CallRow, Period, Report, build_report
from ivr.reports.charts import BOTTOM, LEFT, RIGHT, WIDTH, UnknownChart, answer_time_chart, chart_svg, hours_chart
from ivr.reports.export import TABLES, UnknownTable, report_csv, report_json
from ivr.store.calls import CallStore
from tests.fakes.floor_kit import given_call, shipped_config
from tests.unit.test_reports_aggregate import JAKARTA, JANUARY, ROWS, row

SVG = "{http://www.w3.org/2000/svg}"


def january() -> Report:
    return build_report(ROWS, JANUARY, shipped_config().sop)


def parsed(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


# CSV


def test_the_days_table_is_the_published_form_with_a_header_row() -> None:
    """Header in Bahasa Indonesia, one row per day (31), then the published columns; the 1st has 2 calls."""
    table = parsed(report_csv(january(), "days"))
    assert table[0] == [
        "tanggal",
        "jumlah panggilan",
        "iseng (prank)",
        "hening (ghost)",
        "darurat asli",
        "informasi",
        "salah sambung",
        "dialihkan",
        "belum diklasifikasi",
    ]
    assert len(table) == 1 + 31
    assert table[1] == ["2025-01-01", "2", "1", "0", "1", "0", "0", "0", "0"]
    assert sum(int(line[1]) for line in table[1:]) == 8


def test_the_english_header_and_the_labelled_tables() -> None:
    """lang=en: English headers; agencies carry the SOP's label and the stable code; no agency is '(none)'."""
    table = parsed(report_csv(january(), "agencies", "en"))
    assert table[0][:3] == ["agency", "code", "calls"]
    c112 = shipped_config().sop.agencies["c112"].label
    assert table[1][:3] == [c112, "c112", "3"]
    assert table[-1][:3] == ["(none)", "", "1"]


def test_the_outcome_and_answer_time_tables() -> None:
    """Queue outcomes with words and codes; answer times per 5 s slot, the last open-ended."""
    outcomes = parsed(report_csv(january(), "outcomes"))
    assert outcomes[0] == ["hasil di antrean", "kode", "jumlah panggilan"]
    assert outcomes[1] == ["dijawab", "answered", "6"]
    times = parsed(report_csv(january(), "answer_times", "en"))
    assert times[0] == ["from second (over)", "to second", "calls"]
    assert times[1] == ["0", "5", "1"]
    assert times[-1] == ["60", "", "1"]
    assert len(times) == 1 + 13


def test_no_table_carries_a_caller_number(tmp_path: Path) -> None:
    """Calls stored with their numbers and names: no CSV table, JSON or chart of the report shows either."""
    store = CallStore(tmp_path / "calls.sqlite3")
    try:
        for n, call in enumerate(ROWS):
            given_call(
                store,
                call.uniqueid,
                caller=f"0812999900{n:02d}",
                caller_name="Pak Rahasia",
                category=call.category,
                queue=call.queue,
                started_at=call.started_at.isoformat(),
                disposition=call.disposition,
            )
        start, end = JANUARY.bounds()
        rows = store.calls_between(start, end)
    finally:
        store.close()
    assert rows and all("caller" not in r and "caller_name" not in r for r in rows)
    report = build_report([CallRow.from_store(r) for r in rows], JANUARY, shipped_config().sop)
    outputs = [report_csv(report, table) for table in TABLES]
    outputs += [str(report_json(report)), hours_chart(report), answer_time_chart(report)]
    for output in outputs:
        assert "0812999900" not in output and "Rahasia" not in output


def test_a_cell_that_a_spreadsheet_would_run_is_written_as_text() -> None:
    """An operator name Asterisk logged as '=HYPERLINK(...)' is exported with a leading quote."""
    rows = [row("x", "2025-01-03T00:00:00+00:00", queue_outcome="answered", answered_by='=HYPERLINK("http://x")')]
    table = parsed(report_csv(build_report(rows, JANUARY, shipped_config().sop), "operators"))
    assert table[1][:2] == ['\'=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")']


def test_an_unknown_table_is_refused() -> None:
    """A table name not in the list raises UnknownTable with the code the web layer answers."""
    with pytest.raises(UnknownTable) as refused:
        report_csv(january(), "callers")
    assert refused.value.code == "unknown_table"


# SVG


def svg_root(text: str) -> ET.Element:
    return ET.fromstring(text.split("\n", 1)[1])


def test_the_answer_time_chart_draws_the_15_and_20_second_lines_where_they_belong() -> None:
    """Two NENA lines, at 15 s and 20 s on the chart's own scale (65 s across the plot), top to bottom."""
    root = svg_root(answer_time_chart(january()))
    lines = {line.get("data-seconds", ""): line for line in root.iter(f"{SVG}line") if line.get("class") == "nena-line"}
    assert sorted(lines) == ["15", "20"]
    scale = (WIDTH - LEFT - RIGHT) / 65
    for seconds, line in lines.items():
        assert float(line.get("x1", "")) == pytest.approx(LEFT + int(seconds) * scale, abs=0.05)
        assert line.get("x1") == line.get("x2")
        assert float(line.get("y2", "")) == 360 - BOTTOM


def test_the_answer_time_chart_says_its_numbers_in_words() -> None:
    """Title and desc name the shares and whether the targets are met; 13 bars, each with a title."""
    root = svg_root(answer_time_chart(january()))
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "answer-times-title answer-times-desc"
    desc = root.find(f"{SVG}desc")
    assert desc is not None and desc.get("id") == "answer-times-desc"
    assert "≤ 15 dtk: 50% dijawab (target 90%) — belum tercapai" in (desc.text or "")
    assert "≤ 20 dtk: 66,7% dijawab (target 95%) — belum tercapai" in (desc.text or "")
    assert "6 panggilan dijawab, 1 ditutup penelepon di antrean" in (desc.text or "")
    english = svg_root(answer_time_chart(january(), "en")).findtext(f"{SVG}desc") or ""
    assert "≤ 20 s: 66.7% answered (target 95%) — not met" in english
    bars = [rect for rect in root.iter(f"{SVG}rect") if rect.get("class") == "bar"]
    assert len(bars) == 13
    tips = [bar.findtext(f"{SVG}title") for bar in bars]
    assert tips[0] == "0–5: 1" and tips[-1] == "> 60: 1"
    texts = {node.text for node in root.iter(f"{SVG}text")}
    assert "≤ 15 dtk: 50% dijawab (target 90%) — belum tercapai" in texts


def test_the_hours_chart_has_24_labelled_bars_in_local_time() -> None:
    """24 bars, hours 00 to 23 written under them, the two calls at 12 WIB in the tallest bar, WIB in the title."""
    root = svg_root(hours_chart(january(), "en"))
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == "Calls per hour (WIB), 2025-01-01 to 2025-01-31"
    bars = [rect for rect in root.iter(f"{SVG}rect") if rect.get("class") == "bar"]
    assert len(bars) == 24
    heights = [float(bar.get("height", "")) for bar in bars]
    assert heights.index(max(heights)) == 12 and heights[1] == 0.0
    assert heights[12] == pytest.approx(2 * heights[0])
    texts = [node.text for node in root.iter(f"{SVG}text")]
    assert all(f"{hour:02d}" in texts for hour in range(24))
    desc = root.findtext(f"{SVG}desc") or ""
    assert "Busiest hour 12:00 with 2 calls." in desc and "23: 1" in desc


def test_charts_use_no_inline_style_or_script() -> None:
    """The console's CSP forbids inline styles and scripts: neither appears in a chart, for any data."""
    empty = build_report([], Period(date(2025, 1, 1), date(2025, 1, 1), JAKARTA), shipped_config().sop)
    for report in (january(), empty):
        for name in ("hours", "answer-times"):
            root = svg_root(chart_svg(name, report))
            for node in root.iter():
                assert "style" not in node.attrib and not node.tag.endswith("script")
                assert not any(key.startswith("on") for key in node.attrib)


def test_an_empty_period_says_so() -> None:
    """No calls: the charts say so in words and the shares stay unknown (no 0%)."""
    empty = build_report([], Period(date(2025, 1, 1), date(2025, 1, 1), JAKARTA), shipped_config().sop)
    texts = [node.text for node in svg_root(answer_time_chart(empty)).iter(f"{SVG}text")]
    assert "tidak ada panggilan dijawab" in texts
    assert "≤ 15 dtk: – dijawab (target 90%) — tidak ada panggilan dijawab" in texts
    hours = [node.text for node in svg_root(hours_chart(empty)).iter(f"{SVG}text")]
    assert "Tidak ada panggilan pada periode ini." in hours


def test_an_unknown_chart_is_refused() -> None:
    """A chart name not in the list raises UnknownChart (404 on the web)."""
    with pytest.raises(UnknownChart):
        chart_svg("callers", january())
