"""The FastAGI wire protocol without I/O: bytes in, headers and replies out.

Asterisk opens a TCP connection, sends ``agi_key: value`` lines ended by a blank line, then waits for
one command per line and answers each with ``200 result=...`` (or 510/511/520). With the default
AGISIGHUP it may also write an unsolicited ``HANGUP`` line when the caller hangs up.

Every buffer here is bounded; bytes are decoded leniently (a caller name is not guaranteed to be UTF-8).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

MAX_HEADER_BYTES = 16 * 1024
MAX_REPLY_BYTES = 16 * 1024


class AgiProtocolError(Exception):
    """The peer broke the protocol; the connection is closed, other calls are unaffected."""

    code = "agi_protocol_error"


class HeadersTooLarge(AgiProtocolError):
    code = "agi_headers_too_large"


class ReplyTooLarge(AgiProtocolError):
    code = "agi_reply_too_large"


# What bytes.strip() strips (str.strip() would strip Unicode's spaces too, e.g. U+00A0 in a caller name).
_ASCII_SPACE = " \t\n\r\x0b\x0c"


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


@dataclass(slots=True)
class HeaderParser:
    """Collects the ``agi_*`` environment until the blank line.

    CRLF and LF are both accepted; the first of a duplicated key wins (a later duplicate can only
    come from text smuggled inside another value); lines without ``:`` are counted and ignored.
    """

    limit: int = MAX_HEADER_BYTES
    headers: dict[str, str] = field(default_factory=dict)
    malformed_lines: int = 0
    duplicate_keys: list[str] = field(default_factory=list)
    complete: bool = False
    _buffer: bytearray = field(default_factory=bytearray)
    _consumed: int = 0

    @property
    def received(self) -> int:
        """Bytes of the header block taken in so far."""
        return self._consumed + len(self._buffer)

    def feed(self, data: bytes) -> bytes:
        """Add bytes; returns whatever followed the blank line once complete (else ``b""``)."""
        if self.complete:
            return data
        if not self._buffer and not self._consumed:
            # The usual case: the whole block in the first segment, LF line ends. The block is
            # ``end + 2`` bytes; a leading "\n" is an empty block, which the general path handles.
            end = data.find(b"\n\n")
            if 0 < end <= self.limit - 2 and data[0] != 0x0A and data.find(b"\r", 0, end) < 0:
                self._add_block(data[:end])
                self._consumed = end + 2
                self.complete = True
                return data[end + 2 :]
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                break
            line = bytes(self._buffer[:end]).rstrip(b"\r")
            del self._buffer[: end + 1]
            self._consumed += end + 1
            if self._consumed > self.limit:
                raise HeadersTooLarge(f"AGI headers exceed {self.limit} bytes")
            if not line:
                self.complete = True
                rest = bytes(self._buffer)
                self._buffer.clear()
                return rest
            self._add_line(line)
        if self._consumed + len(self._buffer) > self.limit:
            raise HeadersTooLarge(f"AGI headers exceed {self.limit} bytes")
        return b""

    def _add_block(self, block: bytes) -> None:
        """``_add_line`` for each line of a whole block, decoded at once: the same keys and values (an
        invalid UTF-8 sequence ends at the next ASCII byte, so ``:`` and the line ends split the text as
        they split the bytes; the strip is the bytes' whitespace, not Unicode's), in a fraction of the
        time: the block is most of what each call costs this server in Python."""
        headers = self.headers
        for line in _decode(block).split("\n"):
            key, sep, value = line.partition(":")
            key = key.strip(_ASCII_SPACE)
            if not sep or not key:
                self.malformed_lines += 1
            elif key in headers:
                self.duplicate_keys.append(key)
            else:
                headers[key] = value.strip(_ASCII_SPACE)

    def _add_line(self, line: bytes) -> None:
        key, sep, value = line.partition(b":")
        if not sep or not key.strip():
            self.malformed_lines += 1
            return
        name = _decode(key.strip())
        if name in self.headers:
            self.duplicate_keys.append(name)
            return
        self.headers[name] = _decode(value.strip())


_NO_EXTRAS: dict[str, str] = {}


class Reply(NamedTuple):
    """One answer to one command: ``200 result=1 (timeout) endpos=1234``.

    A NamedTuple, not a dataclass: one is built per command, and that is the hot path.
    """

    code: int
    result: str = ""
    data: str = ""
    extras: dict[str, str] = _NO_EXTRAS
    text: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 200


@dataclass(frozen=True)
class HangupNotice:
    """The unsolicited ``HANGUP`` line Asterisk writes when the caller hangs up."""


@dataclass(frozen=True)
class NoiseLine:
    """A line that is neither a reply nor HANGUP (e.g. smuggled through a caller name)."""

    text: str


ReplyEvent = Reply | HangupNotice | NoiseLine

_RESULT = re.compile(r"result=(\S*)\s*(?:\((.*?)\))?\s*(.*)")
_STATUS = re.compile(r"(\d{3})[ -](.*)")


def parse_reply_line(line: str) -> ReplyEvent:
    """Parse one complete line (without its newline)."""
    if line.startswith("200 "):
        rest = line[4:]
        if rest.startswith("result=") and "(" not in rest:
            return _result_without_data(rest)
        match = _RESULT.fullmatch(rest)
        if match is None:
            return Reply(200, text=rest)
        result, data, tail = match.groups()
        extras = dict(part.split("=", 1) for part in tail.split() if "=" in part) if tail else _NO_EXTRAS
        return Reply(200, result, data or "", extras, rest)
    if line == "HANGUP":
        return HangupNotice()
    status = _STATUS.fullmatch(line)
    if status is None:
        return NoiseLine(line)
    return Reply(int(status[1]), text=status[2])


def _result_without_data(rest: str) -> Reply:
    """What ``_RESULT`` makes of ``result=49 endpos=4000`` (every STREAM FILE's reply: not kept with the
    plain ones, as Asterisk's endpos varies), by splitting on whitespace where the pattern's \\s and
    \\S split (both Unicode's), in about 70% of the time. Only for text without a ``(``."""
    body = rest[7:]
    words = body.split()
    result = "" if not body or body[0].isspace() else words.pop(0)
    if not words:
        return Reply(200, result, "", _NO_EXTRAS, rest)
    extras: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if sep:
            extras[key] = value
    return Reply(200, result, "", extras, rest)


# Replies with nothing but a code and a result (``200 result=1``: every SET VARIABLE's), parsed once per
# process: a Reply is immutable. Bounded, first come: what Asterisk answers is a handful of lines.
_PLAIN_REPLIES: dict[bytes, Reply] = {}
_PLAIN_REPLIES_MAX = 64


@dataclass(slots=True)
class ReplyParser:
    """Splits the command-phase byte stream into replies, HANGUP notices and noise.

    A ``520-`` usage reply spans lines up to ``520 End of proper usage.``; it is returned as one Reply.
    """

    limit: int = MAX_REPLY_BYTES
    _buffer: bytearray = field(default_factory=bytearray)
    _usage: list[str] | None = None

    @property
    def at_line_start(self) -> bool:
        """Nothing of an unfinished line or usage block is held: the next bytes begin a reply."""
        return not self._buffer and self._usage is None

    def known_line(self, data: bytes) -> Reply | None:
        """``data`` as one plain reply line parsed before in this process (``feed`` would give just
        it), or None. Consumes nothing: on None, ``feed`` the same bytes."""
        if self._buffer or self._usage is not None:  # at_line_start, without a property call per command
            return None
        return _PLAIN_REPLIES.get(data)

    def feed(self, data: bytes) -> list[ReplyEvent]:
        if (
            data
            and not self._buffer
            and self._usage is None
            and data.find(b"\n") == len(data) - 1
            and not data.startswith(b"520-")
        ):
            # The usual case: exactly one whole reply line in one segment (a usage block spans several).
            known = _PLAIN_REPLIES.get(data)
            if known is not None:
                return [known]
            parsed = parse_reply_line(_decode(data[:-1].rstrip(b"\r")))
            if type(parsed) is Reply and parsed.extras is _NO_EXTRAS and not parsed.data:
                if len(_PLAIN_REPLIES) < _PLAIN_REPLIES_MAX:
                    _PLAIN_REPLIES[data] = parsed
            return [parsed]
        self._buffer += data
        events: list[ReplyEvent] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                break
            line = _decode(bytes(self._buffer[:end]).rstrip(b"\r"))
            del self._buffer[: end + 1]
            event = self._line(line)
            if event is not None:
                events.append(event)
        if len(self._buffer) > self.limit:
            raise ReplyTooLarge(f"AGI reply line exceeds {self.limit} bytes")
        return events

    def _line(self, line: str) -> ReplyEvent | None:
        if self._usage is not None:
            if line.startswith("520 "):
                usage, self._usage = self._usage, None
                return Reply(code=520, text="\n".join(usage))
            self._usage.append(line)
            if sum(len(part) for part in self._usage) > self.limit:
                raise ReplyTooLarge("AGI usage reply too long")
            return None
        if line.startswith("520-"):
            self._usage = [line[4:]]
            return None
        return parse_reply_line(line)
