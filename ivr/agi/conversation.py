"""One FastAGI conversation without I/O: bytes in, events out; a command in, bytes out.

The rules of a session live here and nowhere else, so they are tested with byte tables instead of
over loopback (the same split as h11's ``Connection``). No futures, no transport, no clock: the
server feeds what it read, writes what it is given, and owns the time limits.

A conversation goes through these phases::

    HEADERS --blank line--> READY --send_sync--> SYNCING --nonce echo--> IDLE <--reply-- WAITING
                                                                          '--send_command--^
    any phase --receive_eof/close--> CLOSED        a remote protocol error --> ERROR

- Headers: ``agi_key: value`` lines up to a blank line, bounded (``HeaderParser``).
- Sync: a caller name can carry a newline and a blank line into the header block, so reply-looking
  lines may already be in the stream. We ask Asterisk to echo a nonce nobody can guess and drop
  every reply before that echo; after too many of them the stream is out of step.
- One command at a time: a reply answers the outstanding command; a reply while none is
  outstanding is unsolicited and dropped, never kept for the next command. The one exception is the
  session's last batch (``send_last_batch``): a few commands written at once, right before our side
  closes, answered in order (Asterisk reads one line per command and runs them one after another).
- Hang-up: the unsolicited ``HANGUP`` line sets ``hung_up``; an answer of 511, or ``result=-1``
  after HANGUP, is ``DeadChannel`` and sets ``channel_dead``.
- EOF is explicit: ``receive_eof`` raises ``ConnectionLost`` while a reply is owed and
  ``ClosedBeforeHeaders`` inside an unfinished header block.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from ivr.agi import commands
from ivr.agi.protocol import (
    MAX_HEADER_BYTES,
    MAX_REPLY_BYTES,
    AgiProtocolError,
    HangupNotice,
    HeaderParser,
    NoiseLine,
    Reply,
    ReplyEvent,
    ReplyParser,
)

# Replies dropped while waiting for the nonce echo before the stream counts as out of step. A header
# block holds a handful of smuggled lines at most; Asterisk's own echo comes after them.
MAX_REPLIES_BEFORE_SYNC = 64
MAX_NOISE_SAMPLES = 5
NOISE_SAMPLE_CHARS = 200


class AgiSessionError(Exception):
    code = "agi_session_error"


class ChannelHungUp(AgiSessionError):
    """The caller hung up (HANGUP notice or 511 on a dead channel)."""

    code = "agi_channel_hung_up"


class ConnectionLost(AgiSessionError):
    """Asterisk closed the socket (EOF) while we waited for a reply, or before we could send."""

    code = "agi_connection_lost"


class CommandTimeout(AgiSessionError):
    """No reply within the command's bound; the connection is dropped so Asterisk falls back."""

    code = "agi_command_timeout"


class OutOfStep(AgiSessionError):
    """The reply stream could not be matched to our commands."""

    code = "agi_out_of_step"


class ClosedBeforeHeaders(AgiProtocolError):
    """Asterisk (or anyone) closed the connection inside the header block."""

    code = "agi_closed_before_headers"


class ConversationMisuse(RuntimeError):
    """Our own code broke the protocol (a second command while one is outstanding, a raw newline)."""

    code = "agi_conversation_misuse"


class Phase(enum.Enum):
    HEADERS = "headers"
    READY = "ready"
    SYNCING = "syncing"
    IDLE = "idle"
    WAITING = "waiting"
    CLOSED = "closed"
    ERROR = "error"


# Enum members looked up through the class cost ~150 ns each (EnumType.__getattr__); the hot path
# compares against these module-level names instead.
HEADERS = Phase.HEADERS
READY = Phase.READY
SYNCING = Phase.SYNCING
IDLE = Phase.IDLE
WAITING = Phase.WAITING
CLOSED = Phase.CLOSED
ERROR = Phase.ERROR


@dataclass(frozen=True, slots=True)
class Headers:
    """The header block is complete; ``headers`` is the call's ``agi_*`` environment."""

    headers: dict[str, str]
    duplicate_keys: tuple[str, ...] = ()
    malformed_lines: int = 0


@dataclass(frozen=True, slots=True)
class Synchronised:
    """Asterisk echoed our nonce: from here on, replies and commands are in step."""

    dropped: int = 0


@dataclass(frozen=True, slots=True)
class DeadChannel:
    """The answer to the outstanding command says the channel is gone."""

    reply: Reply


@dataclass(frozen=True, slots=True)
class DroppedReply:
    """A reply that answers none of our commands: before the sync echo, or with none outstanding."""

    reply: Reply
    before_sync: bool


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """Asterisk closed the connection while no reply was owed."""


# Reply itself is the event for "the answer to the outstanding command": one object per command on
# the hot path, no wrapper.
Event = Headers | Synchronised | Reply | DeadChannel | DroppedReply | HangupNotice | NoiseLine | ConnectionClosed
Answer = Reply | DeadChannel | Synchronised

# What the conversation is waiting for in each phase, for error messages.
_AWAITING = {
    Phase.HEADERS: "the header block",
    Phase.READY: "our sync",
    Phase.SYNCING: "the sync echo",
    Phase.IDLE: "our next command",
    Phase.WAITING: "a reply",
    Phase.CLOSED: "nothing",
    Phase.ERROR: "nothing",
}


class Conversation:
    """Asterisk's side of the wire as state: feed it bytes, send through it, read its events."""

    # One per call, read and written on every command: slots make each attribute a fixed offset.
    __slots__ = (
        "_echo",
        "_headers",
        "_max_before_sync",
        "_nonce",
        "_owed",
        "_replies",
        "channel_dead",
        "commands_sent",
        "dropped_before_sync",
        "finished",
        "hung_up",
        "noise_lines",
        "noise_samples",
        "phase",
    )

    def __init__(
        self,
        header_limit: int = MAX_HEADER_BYTES,
        reply_limit: int = MAX_REPLY_BYTES,
        max_replies_before_sync: int = MAX_REPLIES_BEFORE_SYNC,
    ) -> None:
        self.phase = HEADERS
        self.hung_up = False
        self.channel_dead = False
        self.commands_sent = 0
        self.noise_lines = 0
        self.noise_samples: list[str] = []
        self.dropped_before_sync = 0
        self._max_before_sync = max_replies_before_sync
        self._headers = HeaderParser(limit=header_limit)
        self._replies = ReplyParser(limit=reply_limit)
        self._nonce = ""
        self._echo = b""  # the sync's expected answer, byte for byte
        # Replies owed to commands sent: 1 for a command, the batch's length for the last batch.
        self._owed = 0
        # We sent the session's last command and closed our side: nothing more may be sent.
        self.finished = False

    @property
    def closed(self) -> bool:
        return self.phase is CLOSED or self.phase is ERROR

    @property
    def header_bytes(self) -> int:
        """Bytes of the header block received so far (for the header-timeout log line)."""
        return self._headers.received

    # -- bytes in ---------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> Sequence[Event]:
        """Events for ``data``, in stream order. Raises AgiProtocolError or OutOfStep on a broken peer."""
        phase = self.phase
        if phase is WAITING:
            events = self._parse(data)
            if len(events) == 1:
                event = events[0]
                # The hot path: one whole reply line answering our one outstanding command.
                if type(event) is Reply and event.code != 511 and not (self.hung_up and event.result == "-1"):
                    self._owed -= 1
                    if not self._owed:
                        self.phase = IDLE
                    return events
            return self._classify(events)
        if phase is HEADERS:
            try:
                rest = self._headers.feed(data)
            except AgiProtocolError:
                self.phase = ERROR
                raise
            if not self._headers.complete:
                return []
            self.phase = READY
            parser = self._headers
            # The parser's own dict, not a copy: a complete parser is never fed again.
            headers = Headers(parser.headers, tuple(parser.duplicate_keys), parser.malformed_lines)
            if not rest:
                return [headers]
            return [headers, *self._classify(self._parse(rest))]
        if phase is CLOSED or phase is ERROR:
            # Bytes a transport delivers after we closed are of no use to anyone.
            return []
        if phase is SYNCING and data == self._echo and self._replies.at_line_start:
            # The usual sync: Asterisk's echo alone in one read, nothing before it (what _answer
            # decides for that reply, without parsing it).
            self.phase = IDLE
            return [Synchronised(self.dropped_before_sync)]
        return self._classify(self._parse(data))

    def receive_plain_reply(self, data: bytes) -> Reply | None:
        """``receive_data``'s most common case in one step: ``data`` is a plain reply line seen before
        (``200 result=1``, every SET VARIABLE's) answering the one command owed. Returns it, in the
        state ``receive_data`` would have left; None when it is not that case and nothing was
        consumed: then call ``receive_data``."""
        if self.phase is not WAITING or self._owed != 1 or self.hung_up:
            return None
        reply = self._replies.known_line(data)
        if reply is None or reply.code == 511:
            return None
        self._owed = 0
        self.phase = IDLE
        return reply

    def receive_eof(self) -> list[Event]:
        """The peer closed. Raises ConnectionLost if a reply is owed, ClosedBeforeHeaders mid-headers."""
        phase = self.phase
        if phase is CLOSED or phase is ERROR:
            return []
        self.phase = CLOSED
        if phase is HEADERS:
            if self._headers.received:
                raise ClosedBeforeHeaders(f"closed after {self._headers.received} bytes of AGI headers")
        elif phase is SYNCING or phase is WAITING:
            raise ConnectionLost(f"Asterisk closed the AGI connection while waiting for {_AWAITING[phase]}")
        return [ConnectionClosed()]

    def _parse(self, data: bytes) -> list[ReplyEvent]:
        try:
            return self._replies.feed(data)
        except AgiProtocolError:
            self.phase = ERROR
            raise

    def _classify(self, parsed: list[Event] | list[ReplyEvent]) -> list[Event]:
        events: list[Event] = []
        for event in parsed:
            if type(event) is Reply:
                events.append(self._answer(event))
            elif type(event) is HangupNotice:
                self.hung_up = True
                events.append(event)
            elif type(event) is NoiseLine:
                # Only a caller name carrying newlines produces these; summarised once per call.
                self.noise_lines += 1
                if len(self.noise_samples) < MAX_NOISE_SAMPLES:
                    self.noise_samples.append(event.text[:NOISE_SAMPLE_CHARS])
                events.append(event)
            else:  # pragma: no cover - the parser yields only the three kinds above
                raise AssertionError(f"unexpected parser event {event!r}")
        return events

    def _answer(self, reply: Reply) -> Event:
        phase = self.phase
        if phase is WAITING:
            self._owed -= 1
            if not self._owed:
                self.phase = IDLE
            if reply.code == 511 or (self.hung_up and reply.ok and reply.result == "-1"):
                self.channel_dead = True
                return DeadChannel(reply)
            return reply
        if phase is SYNCING and reply.ok and reply.result == "1" and reply.data == self._nonce:
            self.phase = IDLE
            return Synchronised(self.dropped_before_sync)
        if phase is READY or phase is SYNCING:
            # Everything before the echo may have been smuggled, a 511 included: a dead channel still
            # echoes GET FULL VARIABLE, so only the echo can end the sync.
            self.dropped_before_sync += 1
            if self.dropped_before_sync >= self._max_before_sync:
                self.phase = ERROR
                raise OutOfStep(f"{self.dropped_before_sync} AGI replies and no echo of our sync nonce")
            return DroppedReply(reply, before_sync=True)
        return DroppedReply(reply, before_sync=False)

    # -- commands out -----------------------------------------------------------------------------

    def send_sync(self, nonce: str) -> bytes:
        """The sync command; the conversation waits for ``nonce`` echoed in ``200 result=1 (nonce)``."""
        if self.phase is not READY:
            self._refuse("a sync")
        if not nonce or not nonce.isalnum() or not nonce.isascii():
            raise ConversationMisuse(f"the sync nonce must be ASCII letters and digits, got {nonce!r}")
        self._nonce = nonce
        self._echo = f"200 result=1 ({nonce})\n".encode("ascii")
        self.phase = SYNCING
        self.commands_sent += 1
        return commands.get_full_variable(nonce).encode("ascii") + b"\n"

    def send_command(self, line: str, last: bool = False) -> bytes:
        """The bytes of one command line; the conversation now waits for its reply. ``last``: the
        session's last command, after which the caller closes its side of the stream."""
        if self.phase is not IDLE or self.finished:
            self._refuse("a command")
        if "\n" in line or "\r" in line:
            raise ConversationMisuse(f"a command is one line: {line[:200]!r}")
        self.phase = WAITING
        self._owed = 1
        self.finished = last
        self.commands_sent += 1
        return line.encode("utf-8") + b"\n"

    def send_last_batch(self, lines: Sequence[str]) -> bytes:
        """The session's last commands, written at once: Asterisk runs them one after another without
        waiting for us (one read of its channel thread instead of a round trip through our loop per
        command), then reads our side's end. Each gets its reply, in order."""
        if self.phase is not IDLE or self.finished:
            self._refuse("a batch")
        if not lines:
            raise ConversationMisuse("an empty batch")
        for line in lines:
            if "\n" in line or "\r" in line:
                raise ConversationMisuse(f"a command is one line: {line[:200]!r}")
        self.phase = WAITING
        self._owed = len(lines)
        self.finished = True
        self.commands_sent += len(lines)
        return "".join(line + "\n" for line in lines).encode("utf-8")

    def _refuse(self, what: str) -> None:
        if self.closed:
            raise ConnectionLost(f"AGI connection already closed, cannot send {what}")
        if self.finished and self.phase is IDLE:
            raise ConversationMisuse(f"cannot send {what} after the session's last command")
        raise ConversationMisuse(f"cannot send {what} while waiting for {_AWAITING[self.phase]}")

    def close(self) -> None:
        """We are done: nothing more is sent, and late bytes are ignored."""
        if self.phase is not ERROR:
            self.phase = CLOSED
