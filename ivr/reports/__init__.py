"""Pure aggregation of call records: the period report, its CSV and SVG charts, and /metrics' families.

No I/O here: the store's rows and the live state come in as values (``ivr.web.reports`` and
``ivr.web.metrics`` fetch them).
"""

from ivr.reports.aggregate import (
    AnswerTimes,
    CallRow,
    Counts,
    InvalidPeriod,
    Line,
    Period,
    Report,
    build_report,
    parse_period,
)

__all__ = [
    "AnswerTimes",
    "CallRow",
    "Counts",
    "InvalidPeriod",
    "Line",
    "Period",
    "Report",
    "build_report",
    "parse_period",
]
