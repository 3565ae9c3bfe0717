"""A report as JSON (the page) and as CSV tables (spreadsheets, the report handed to Diskominfo).

Only aggregates leave: counts per day, category, agency, hour, operator. No caller number is in a
report's rows to begin with (``CallRow``), and no call id is written either.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from ivr.reports.aggregate import ANSWER_BIN_SECONDS, COLUMNS, NENA_TARGETS, NONE_KEY, Line, Report

TABLES = ("days", "months", "categories", "agencies", "hours", "operators", "outcomes", "answer_times")
LANGUAGES = ("id", "en")

# Column headers: Bahasa Indonesia first (the report is handed in as the regency writes it).
WORDS: dict[str, dict[str, str]] = {
    "id": {
        "days": "tanggal",
        "months": "bulan",
        "categories": "kategori",
        "agencies": "instansi",
        "hours": "jam",
        "operators": "petugas",
        "key": "kode",
        "total": "jumlah panggilan",
        "prank": "iseng (prank)",
        "ghost": "hening (ghost)",
        "genuine": "darurat asli",
        "informasi": "informasi",
        "misdial": "salah sambung",
        "transferred": "dialihkan",
        "unclassified": "belum diklasifikasi",
        "outcome": "hasil di antrean",
        "calls": "jumlah panggilan",
        "from_seconds": "dari detik (lebih dari)",
        "to_seconds": "sampai detik",
        "none": "(tidak ada)",
        "answered": "dijawab",
        "abandoned": "ditutup penelepon di antrean",
        "timeout": "batas waktu antrean",
        "empty": "antrean kosong",
        "left_with_key": "keluar dengan tombol",
        "waiting": "masih menunggu",
    },
    "en": {
        "days": "date",
        "months": "month",
        "categories": "category",
        "agencies": "agency",
        "hours": "hour",
        "operators": "operator",
        "key": "code",
        "total": "calls",
        "prank": "prank",
        "ghost": "ghost (silent)",
        "genuine": "genuine",
        "informasi": "information",
        "misdial": "misdial",
        "transferred": "transferred",
        "unclassified": "unclassified",
        "outcome": "queue outcome",
        "calls": "calls",
        "from_seconds": "from second (over)",
        "to_seconds": "to second",
        "none": "(none)",
        "answered": "answered",
        "abandoned": "abandoned in the queue",
        "timeout": "queue timeout",
        "empty": "queue empty",
        "left_with_key": "left with a key",
        "waiting": "still waiting",
    },
}


class UnknownTable(ValueError):
    code = "unknown_table"


def report_json(report: Report) -> dict[str, Any]:
    period = report.period
    times = report.answer_times
    return {
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat(), "timezone": str(period.zone)},
        "columns": list(COLUMNS),
        "totals": report.totals.as_dict(),
        "days": _lines(report.days),
        "months": _lines(report.months),
        "categories": _lines(report.categories),
        "agencies": _lines(report.agencies),
        "hours": _lines(report.hours),
        "operators": _lines(report.operators),
        "queue_outcomes": [{"outcome": outcome, "calls": count} for outcome, count in report.queue_outcomes],
        "answer_times": {
            "answered": times.answered,
            "within_15": times.within_15,
            "within_20": times.within_20,
            "share_15": times.share_15,
            "share_20": times.share_20,
            "targets": [{"seconds": target.seconds, "share": target.share} for target in NENA_TARGETS],
            "meets_nena": times.meets_nena,
            "abandoned": times.abandoned,
            "abandoned_in_ivr": times.abandoned_in_ivr,
            "longest": times.longest,
            "bin_seconds": ANSWER_BIN_SECONDS,
            "bins": list(times.bins),
        },
        "requeued": report.requeued,
        "skipped": report.skipped,
    }


def _lines(lines: tuple[Line, ...]) -> list[dict[str, Any]]:
    return [{"key": line.key, "label": line.label, **line.counts.as_dict()} for line in lines]


def report_csv(report: Report, table: str = "days", lang: str = "id") -> str:
    """One table of the report as CSV with a header row (RFC 4180 line ends, as spreadsheets expect)."""
    if table not in TABLES:
        raise UnknownTable(f"unknown table '{table[:40]}' (known: {', '.join(TABLES)})")
    words = WORDS[lang if lang in WORDS else "id"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if table == "outcomes":
        writer.writerow([words["outcome"], words["key"], words["calls"]])
        for outcome, count in report.queue_outcomes:
            writer.writerow([_cell(words.get(outcome, outcome)), _cell(outcome), count])
    elif table == "answer_times":
        writer.writerow([words["from_seconds"], words["to_seconds"], words["calls"]])
        times = report.answer_times
        for slot, count in enumerate(times.bins):
            low = slot * ANSWER_BIN_SECONDS
            last = slot == len(times.bins) - 1
            writer.writerow([_number(low), "" if last else _number(low + ANSWER_BIN_SECONDS), count])
    else:
        lines: tuple[Line, ...] = getattr(report, table)
        labelled = table in ("categories", "agencies", "operators")
        writer.writerow([words[table], *([words["key"]] if labelled else []), *(words[c] for c in COLUMNS)])
        for line in lines:
            label = words["none"] if line.key == NONE_KEY else line.label
            writer.writerow([_cell(label), *([_cell(line.key)] if labelled else []), *line.counts.as_dict().values()])
    return out.getvalue()


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _cell(text: str) -> str:
    """Text a spreadsheet would run as a formula (=, +, -, @, tab, CR first) is quoted as text (OWASP)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
