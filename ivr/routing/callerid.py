"""The caller's identity as data: what the trunk really sent, and the key of the number's history.

The dialplan cleans the caller ID once at its entry (digits and a leading '+' only) and hands our
service the original, base64 of the %-escaped number and name joined by ':', as the AGI's first
argument (``agi_arg_1``). The clean number routes and keys history; the original is kept, escaped,
for the record. Two different senders must never share a history key by accident: a number that
needed cleaning ('0812${x}', '0812\\n…') gets a key of its own, derived from everything it sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from ivr.logs import escape_controls
from ivr.routing.triage import normalise_number

# What a real subscriber number looks like on the way in (spaces and dashes from some trunks).
PLAIN_NUMBER = re.compile(rb"\+?[0-9][0-9 -]{0,30}")


@dataclass(frozen=True)
class CallerId:
    number: bytes  # as Asterisk received it
    name: bytes

    @property
    def number_text(self) -> str:
        """The original number as inert text: undecodable bytes and control characters escaped."""
        return escape(self.number)

    @property
    def name_text(self) -> str:
        return escape(self.name)


def escape(raw: bytes) -> str:
    return escape_controls(raw.decode("utf-8", errors="backslashreplace"))


def decode_raw(value: str) -> CallerId | None:
    """``agi_arg_1`` back to bytes; None when it is absent or malformed (then the clean ID is all we have)."""
    number, sep, name = value.partition(":")
    if not sep:
        return None
    try:
        return CallerId(
            unquote_to_bytes(base64.b64decode(number, validate=True)),
            unquote_to_bytes(base64.b64decode(name, validate=True)),
        )
    except (binascii.Error, ValueError):
        return None


def history_key(clean_number: str, raw: CallerId | None) -> str:
    """The key of a number's prank/ghost history: the normalised number when the sender sent a
    plain number; else a key of its own from the exact bytes it sent; '' (no history) when withheld."""
    if raw is None or PLAIN_NUMBER.fullmatch(raw.number):
        return normalise_number(clean_number)
    if not raw.number:
        return ""
    return "x-" + hashlib.sha256(raw.number).hexdigest()[:16]
