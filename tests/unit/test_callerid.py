"""The caller's original ID decoded from the dialplan's hand-over, and history keys that never merge
two different senders."""

from __future__ import annotations

import base64

import pytest

from ivr.routing.callerid import CallerId, decode_raw, history_key


def test_decode_undoes_base64_and_percent_escapes() -> None:
    """'%3A' and '%25' come back as ':' and '%', bytes stay bytes."""
    value = base64.b64encode(b"+62%3A81%25").decode() + ":" + base64.b64encode(b"\xffBudi").decode()
    assert decode_raw(value) == CallerId(b"+62:81%", b"\xffBudi")


@pytest.mark.parametrize("value", ["", "nocolon", "!!!:AAAA", "QUJD:@@@"])
def test_a_malformed_hand_over_is_ignored(value: str) -> None:
    """Absent or broken agi_arg_1: None, and the clean caller ID is used alone."""
    assert decode_raw(value) is None


@pytest.mark.parametrize(
    ("clean", "raw", "key"),
    [
        ("+6281234567890", CallerId(b"+62 812-3456-7890", b""), "081234567890"),
        ("081234567890", None, "081234567890"),
        ("", CallerId(b"", b""), ""),
    ],
)
def test_plain_and_withheld_numbers(clean: str, raw: CallerId | None, key: str) -> None:
    """A plain number keys by its digits; a withheld one has no history."""
    assert history_key(clean, raw) == key


def test_two_senders_that_clean_to_the_same_digits_keep_apart() -> None:
    """'0812${x}' and '0812\\n' both clean to '0812', yet neither shares the real 0812's history."""
    keys = {history_key("0812", CallerId(raw, b"")) for raw in (b"0812", b"0812${x}", b"0812\n")}
    assert len(keys) == 3
