"""The load model's real-Asterisk engine (bench/loadmodel/asterisk_run.py) in half a minute of compressed
surge: callers through the real Asterisk and `ivr serve`, operators at the console's API with SIP phones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bench.loadmodel.asterisk_run import RealLine
from bench.loadmodel.model import load_model
from bench.loadmodel.point import Window, compressed
from ivr.store.calls import CallStore

COMPRESS = 40.0
WINDOW_SECONDS = 25.0


async def test_model_callers_reach_console_operators_whose_outcomes_triage_reads() -> None:
    """Every caller ends with an operator or counted as given up; every call an operator took has the
    operator's outcome in the store, in the number's history that triage assesses."""
    model = compressed(load_model(), COMPRESS)
    window = Window(model.scenarios["surge20"], 19, WINDOW_SECONDS)
    line = RealLine(model, window, seed=5, k=COMPRESS, name="loadmodel-ci-root")
    results = await line.run()
    assert len(results) >= 10, len(results)
    for result in results:
        assert (result.to_human is None) == bool(result.abandoned), result
    answered = [result for result in results if result.to_human is not None]
    assert answered, "no caller reached an operator"
    # The console refuses none of the operators' outcomes (it once lost a call answered in the second
    # its junk predecessor was closed: tests/unit/test_floor.py keeps that fixed).
    assert line.book.errors == [], line.book.errors
    store = CallStore(line.settings.store_target)
    try:
        since = datetime.now(UTC) - timedelta(hours=1)
        accepted = {uniqueid: handled for uniqueid, handled in line.book.handled.items() if handled.accepted}
        assert len(accepted) >= len(answered), (len(accepted), len(answered))
        for uniqueid, handled in accepted.items():
            record = store.get(uniqueid)
            assert record is not None and record["disposition"] == handled.outcome, (uniqueid, record)
            number = line.book.callers[uniqueid].number
            assert handled.outcome in [disposition for _at, disposition in store.history(number, since).dispositions]
    finally:
        store.close()
