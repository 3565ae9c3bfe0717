"""A warm transfer's consultation names the citizen's call: how the floor reads it (ivr.operators.pop.consult_for)
and how the dialplan sets it (ivr.asterisk.render.render_transfers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.asterisk.render import render_transfers
from ivr.config import load_config
from ivr.operators.pop import consult_for

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("chan_variable", "expected"),
    [
        ("SIAGA_CONSULT_FOR=1733100000.42", "1733100000.42"),
        ("SIAGA_CONSULT_FOR=sim-7f531a349d18-in", "sim-7f531a349d18-in"),
        ("SIAGA_CONSULT_FOR=", None),  # an ordinary caller: channelvars names the variable, empty
        ("SIAGA_CONSULT_FOR=1733100000.42\nEvent: Forged", None),
        ("SIAGA_CONSULT_FOR=" + "9" * 65, None),
        ("OTHER=1733100000.42", None),
        ("", None),
    ],
)
def test_only_a_uniqueid_in_the_consultation_variable_links_a_call(chan_variable: str, expected: str | None) -> None:
    """The citizen's uniqueid is taken from ChanVariable only when it is one (the browser sent the header)."""
    assert consult_for({"ChanVariable": chan_variable}) == expected


def test_each_queue_has_a_consultation_extension_that_never_holds_the_citizen() -> None:
    """consult-<queue> filters the header to a uniqueid's characters, queues the consulting phone, and a
    citizen who lands there (a REFER whose Replaces dialog just ended) goes the blind transfer's way."""
    sop = load_config(REPO).sop
    text = render_transfers(sop)
    for queue in sop.queues:
        assert f'exten => consult-{queue},1,GotoIf($["${{BLINDTRANSFER}}" != ""]?xfer-{queue},1)' in text
        assert f" same => n,Queue({queue},,,,45)" in text
    assert "SIAGA_CONSULT_FOR=${FILTER(a-zA-Z0-9.\\x2d,${PJSIP_HEADER(read,X-Siaga-For)})}" in text
