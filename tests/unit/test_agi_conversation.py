"""The FastAGI conversation without I/O: tables of raw bytes → events and state, plus split fuzzing."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import cast

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ivr.agi.conversation import (
    MAX_NOISE_SAMPLES,
    ChannelHungUp,
    ClosedBeforeHeaders,
    ConnectionClosed,
    ConnectionLost,
    Conversation,
    ConversationMisuse,
    DeadChannel,
    DroppedReply,
    Event,
    Headers,
    OutOfStep,
    Phase,
    Synchronised,
)
from ivr.agi.protocol import AgiProtocolError, HangupNotice, HeadersTooLarge, NoiseLine, Reply, ReplyTooLarge

HEAD = b"agi_network: yes\nagi_uniqueid: 42.1\n\n"
ENV = {"agi_network": "yes", "agi_uniqueid": "42.1"}
NONCE = "0123abcd"
SYNC = b'GET FULL VARIABLE "0123abcd"\n'
ECHO = b"200 result=1 (0123abcd)\n"
R0 = Reply(200, "0", "", {}, "result=0")
R1 = Reply(200, "1", "", {}, "result=1")
R49 = Reply(200, "49", "", {}, "result=49")
DEAD = Reply(511, text="Command Not Permitted on a dead channel")


def given_ready() -> Conversation:
    conversation = Conversation()
    assert conversation.receive_data(HEAD) == [Headers(ENV)]
    return conversation


def given_syncing() -> Conversation:
    conversation = given_ready()
    assert conversation.send_sync(NONCE) == SYNC
    return conversation


def given_idle() -> Conversation:
    conversation = given_syncing()
    assert conversation.receive_data(ECHO) == [Synchronised(0)]
    return conversation


def given_waiting() -> Conversation:
    conversation = given_idle()
    assert conversation.send_command("NOOP") == b"NOOP\n"
    return conversation


def given_closed() -> Conversation:
    conversation = given_idle()
    conversation.close()
    return conversation


def given_broken() -> Conversation:
    conversation = given_waiting()
    with pytest.raises(ReplyTooLarge):
        conversation.receive_data(b"2" * 20_000)
    return conversation


PHASES: dict[Phase, Callable[[], Conversation]] = {
    Phase.HEADERS: Conversation,
    Phase.READY: given_ready,
    Phase.SYNCING: given_syncing,
    Phase.IDLE: given_idle,
    Phase.WAITING: given_waiting,
    Phase.CLOSED: given_closed,
    Phase.ERROR: given_broken,
}


@pytest.mark.parametrize(
    ("raw", "events", "phase", "header_bytes"),
    [
        (HEAD, [Headers(ENV)], Phase.READY, len(HEAD)),
        (b"agi_a: 1\r\nagi_b: 2\r\n\r\n", [Headers({"agi_a": "1", "agi_b": "2"})], Phase.READY, 22),
        (b"agi_a: 1\nnonsense\nagi_a: 2\n\n", [Headers({"agi_a": "1"}, ("agi_a",), 1)], Phase.READY, 28),
        (b"agi_network: yes\nagi_uniq", [], Phase.HEADERS, 25),
        (b"", [], Phase.HEADERS, 0),
        # A caller name carrying "\n\n" ends the block early; what follows is the command phase.
        (HEAD + b"200 result=49\n", [Headers(ENV), DroppedReply(R49, before_sync=True)], Phase.READY, len(HEAD)),
        (HEAD + b"agi_context: x\n", [Headers(ENV), NoiseLine("agi_context: x")], Phase.READY, len(HEAD)),
        (HEAD + b"HANGUP\n", [Headers(ENV), HangupNotice()], Phase.READY, len(HEAD)),
        (HEAD + b"200 res", [Headers(ENV)], Phase.READY, len(HEAD)),
    ],
)
def test_header_phase_table(raw: bytes, events: list[Event], phase: Phase, header_bytes: int) -> None:
    """The header block gives one Headers event; bytes after its blank line are already the command phase."""
    conversation = Conversation()
    assert conversation.receive_data(raw) == events
    assert conversation.phase is phase
    assert conversation.header_bytes == header_bytes


@pytest.mark.parametrize(
    ("raw", "events", "phase"),
    [
        (ECHO, [Synchronised(0)], Phase.IDLE),
        (ECHO.replace(b"\n", b"\r\n"), [Synchronised(0)], Phase.IDLE),
        (b"200 result=49\n" + ECHO, [DroppedReply(R49, before_sync=True), Synchronised(1)], Phase.IDLE),
        # Before the echo a 511 may be smuggled too: dropped, it does not end the call.
        (
            b"511 Command Not Permitted on a dead channel\n" + ECHO,
            [DroppedReply(DEAD, before_sync=True), Synchronised(1)],
            Phase.IDLE,
        ),
        (
            b"200 result=1 (other)\n",
            [DroppedReply(Reply(200, "1", "other", {}, "result=1 (other)"), True)],
            Phase.SYNCING,
        ),
        (
            b"200 result=0 (0123abcd)\n",
            [DroppedReply(Reply(200, "0", NONCE, {}, "result=0 (0123abcd)"), True)],
            Phase.SYNCING,
        ),
        (b"510 result=1 (0123abcd)\n", [DroppedReply(Reply(510, text="result=1 (0123abcd)"), True)], Phase.SYNCING),
        (b"HANGUP\n" + ECHO, [HangupNotice(), Synchronised(0)], Phase.IDLE),
        (b"agi_x: y\n" + ECHO, [NoiseLine("agi_x: y"), Synchronised(0)], Phase.IDLE),
        (ECHO[:-1], [], Phase.SYNCING),
        (ECHO + b"200 result=0\n", [Synchronised(0), DroppedReply(R0, before_sync=False)], Phase.IDLE),
    ],
)
def test_sync_table(raw: bytes, events: list[Event], phase: Phase) -> None:
    """Only ``200 result=1 (nonce)`` ends the sync; every reply before it is dropped, whatever its code."""
    conversation = given_syncing()
    assert conversation.receive_data(raw) == events
    assert conversation.phase is phase


def test_the_echo_in_a_read_of_its_own_ends_the_sync_only_at_a_line_s_start() -> None:
    """The echo alone in one read (the usual case) is taken as such; behind half a line it is the end
    of that line, not the echo. Replies dropped before it are counted either way."""
    conversation = given_ready()
    assert conversation.receive_data(b"200 result=49\n") == [DroppedReply(R49, before_sync=True)]
    conversation.send_sync(NONCE)
    assert conversation.receive_data(ECHO) == [Synchronised(1)] and conversation.phase is Phase.IDLE
    behind = given_syncing()
    assert behind.receive_data(b"200 res") == []
    assert behind.receive_data(ECHO) == [DroppedReply(Reply(200, text="res200 result=1 (0123abcd)"), True)]
    assert behind.phase is Phase.SYNCING


@pytest.mark.parametrize(
    ("raw", "events", "phase", "hung_up", "dead"),
    [
        (b"200 result=0\n", [R0], Phase.IDLE, False, False),
        (b"200 result=0\r\n", [R0], Phase.IDLE, False, False),
        (
            b"200 result=0 endpos=8000\n",
            [Reply(200, "0", "", {"endpos": "8000"}, "result=0 endpos=8000")],
            Phase.IDLE,
            False,
            False,
        ),
        (
            b"510 Invalid or unknown command\n",
            [Reply(510, text="Invalid or unknown command")],
            Phase.IDLE,
            False,
            False,
        ),
        (
            b"520-Invalid command syntax.  Proper usage follows:\nUsage: x\n520 End of proper usage.\n",
            [Reply(520, text="Invalid command syntax.  Proper usage follows:\nUsage: x")],
            Phase.IDLE,
            False,
            False,
        ),
        (b"200 result=0\n200 result=1\n", [R0, DroppedReply(R1, before_sync=False)], Phase.IDLE, False, False),
        (b"200 result=-1\n", [Reply(200, "-1", "", {}, "result=-1")], Phase.IDLE, False, False),
        (b"511 Command Not Permitted on a dead channel\n", [DeadChannel(DEAD)], Phase.IDLE, False, True),
        (
            b"HANGUP\n200 result=-1\n",
            [HangupNotice(), DeadChannel(Reply(200, "-1", "", {}, "result=-1"))],
            Phase.IDLE,
            True,
            True,
        ),
        (b"HANGUP\n200 result=0\n", [HangupNotice(), R0], Phase.IDLE, True, False),
        (b"HANGUP\n", [HangupNotice()], Phase.WAITING, True, False),
        (b"agi_x: y\n200 result=0\n", [NoiseLine("agi_x: y"), R0], Phase.IDLE, False, False),
        (b"200 res", [], Phase.WAITING, False, False),
        (b"", [], Phase.WAITING, False, False),
    ],
)
def test_command_table(raw: bytes, events: list[Event], phase: Phase, hung_up: bool, dead: bool) -> None:
    """The first reply answers the outstanding command; HANGUP and 511 become state; extra replies are dropped."""
    conversation = given_waiting()
    assert conversation.receive_data(raw) == events
    assert (conversation.phase, conversation.hung_up, conversation.channel_dead) == (phase, hung_up, dead)


def test_a_dead_answer_after_hangup_stays_dead_for_later_minus_one() -> None:
    """Once HANGUP was seen, every later ``result=-1`` answer is a dead channel, not a failed prompt."""
    conversation = given_waiting()
    conversation.receive_data(b"HANGUP\n200 result=0\n")
    conversation.send_command('STREAM FILE x ""')
    assert conversation.receive_data(b"200 result=-1 endpos=0\n") == [
        DeadChannel(Reply(200, "-1", "", {"endpos": "0"}, "result=-1 endpos=0"))
    ]


def test_replies_with_no_command_outstanding_are_dropped_not_kept() -> None:
    """An unsolicited reply is dropped on arrival: the next command gets its own answer."""
    conversation = given_idle()
    assert conversation.receive_data(b"200 result=49\n") == [DroppedReply(R49, before_sync=False)]
    conversation.send_command("NOOP")
    assert conversation.receive_data(b"200 result=0\n") == [R0]


def test_noise_is_counted_and_sampled() -> None:
    """Noise lines are counted for the call's summary; only the first few are kept, each cut short."""
    conversation = given_ready()
    conversation.receive_data(b"".join(b"agi_x: " + b"y" * 300 + b"\n" for _ in range(MAX_NOISE_SAMPLES + 2)))
    assert conversation.noise_lines == MAX_NOISE_SAMPLES + 2
    assert conversation.noise_samples == ["agi_x: " + "y" * 193] * MAX_NOISE_SAMPLES


@pytest.mark.parametrize(
    ("phase", "outcome"),
    [
        (Phase.HEADERS, [ConnectionClosed()]),
        (Phase.READY, [ConnectionClosed()]),
        (Phase.SYNCING, ConnectionLost),
        (Phase.IDLE, [ConnectionClosed()]),
        (Phase.WAITING, ConnectionLost),
        (Phase.CLOSED, []),
        (Phase.ERROR, []),
    ],
)
def test_eof_table(phase: Phase, outcome: list[Event] | type[Exception]) -> None:
    """EOF while a reply is owed is an error; otherwise a ConnectionClosed event; either way, closed."""
    conversation = PHASES[phase]()
    if isinstance(outcome, list):
        assert conversation.receive_eof() == outcome
    else:
        with pytest.raises(outcome):
            conversation.receive_eof()
    assert conversation.closed
    assert conversation.receive_eof() == []
    assert conversation.receive_data(b"200 result=0\n") == []


def test_eof_inside_the_header_block_is_an_error() -> None:
    """A peer that closes before the blank line is reported, not taken for a call."""
    conversation = Conversation()
    conversation.receive_data(b"agi_network: yes\n")
    with pytest.raises(ClosedBeforeHeaders, match="after 17 bytes"):
        conversation.receive_eof()
    assert conversation.phase is Phase.CLOSED


@pytest.mark.parametrize(
    ("phase", "error"),
    [
        (Phase.HEADERS, ConversationMisuse),
        (Phase.READY, ConversationMisuse),
        (Phase.SYNCING, ConversationMisuse),
        (Phase.WAITING, ConversationMisuse),
        (Phase.CLOSED, ConnectionLost),
        (Phase.ERROR, ConnectionLost),
    ],
)
def test_a_command_is_sent_only_when_idle(phase: Phase, error: type[Exception]) -> None:
    """One command at a time, after the sync, never after the close."""
    conversation = PHASES[phase]()
    with pytest.raises(error):
        conversation.send_command("NOOP")
    assert conversation.phase is phase


def test_nothing_is_sent_after_the_last_command() -> None:
    """After the session's last command our side of the stream is closed: another command is our bug."""
    conversation = given_idle()
    conversation.send_command('SET VARIABLE IVR_ROUTE "queue,q112"', last=True)
    conversation.receive_data(b"200 result=1\n")
    with pytest.raises(ConversationMisuse, match="after the session's last command"):
        conversation.send_command("NOOP")
    assert conversation.phase is Phase.IDLE


@pytest.mark.parametrize("phase", [Phase.HEADERS, Phase.SYNCING, Phase.IDLE, Phase.WAITING])
def test_the_sync_is_sent_once_right_after_the_headers(phase: Phase) -> None:
    """A sync anywhere but straight after the header block is our bug and refused."""
    with pytest.raises(ConversationMisuse):
        PHASES[phase]().send_sync(NONCE)


@pytest.mark.parametrize("nonce", ["", "ab cd", "ab\n", 'a"b', "é1"])
def test_the_nonce_is_plain(nonce: str) -> None:
    """The nonce goes into a command line: only ASCII letters and digits."""
    with pytest.raises(ConversationMisuse):
        given_ready().send_sync(nonce)


@pytest.mark.parametrize("line", ["NOOP\n", "NOOP\nEXEC System x", "NOOP\r", "\n"])
def test_a_command_is_one_line(line: str) -> None:
    """A line break inside a command would make two commands and put the replies out of step."""
    conversation = given_idle()
    with pytest.raises(ConversationMisuse):
        conversation.send_command(line)
    assert conversation.phase is Phase.IDLE


def test_commands_are_utf8_lines_and_counted() -> None:
    """A command is its UTF-8 bytes and one newline; the sync counts as a command."""
    conversation = given_idle()
    assert conversation.send_command('VERBOSE "Budi Ł" 1') == 'VERBOSE "Budi Ł" 1\n'.encode()
    assert conversation.commands_sent == 2


def test_oversized_headers_break_the_conversation() -> None:
    """A header block over the limit raises and leaves the conversation broken, not waiting."""
    conversation = Conversation(header_limit=1024)
    with pytest.raises(HeadersTooLarge):
        conversation.receive_data(b"agi_x: " + b"a" * 2000)
    assert conversation.phase is Phase.ERROR
    with pytest.raises(ConnectionLost):
        conversation.send_command("NOOP")


def test_oversized_reply_breaks_the_conversation() -> None:
    """A reply line over the limit raises and leaves the conversation broken."""
    conversation = Conversation(reply_limit=100)
    conversation.receive_data(HEAD)
    with pytest.raises(ReplyTooLarge):
        conversation.receive_data(b"2" * 101)
    assert conversation.phase is Phase.ERROR


@pytest.mark.parametrize("before_the_sync_went_out", [0, 1, 2])
def test_too_many_replies_before_the_echo_are_out_of_step(before_the_sync_went_out: int) -> None:
    """The cap counts replies before the echo, sent before or after our sync; one under it still syncs."""
    early, late = b"200 result=49\n" * before_the_sync_went_out, b"200 result=49\n" * (2 - before_the_sync_went_out)
    conversation = Conversation(max_replies_before_sync=3)
    conversation.receive_data(HEAD + early)
    conversation.send_sync(NONCE)
    assert conversation.receive_data(late + ECHO)[-1] == Synchronised(2)
    conversation = Conversation(max_replies_before_sync=3)
    conversation.receive_data(HEAD + early)
    conversation.send_sync(NONCE)
    with pytest.raises(OutOfStep, match="3 AGI replies"):
        conversation.receive_data(late + b"200 result=49\n" + ECHO)
    assert conversation.phase is Phase.ERROR


def test_closing_ourselves_stops_sending() -> None:
    """After close, a command is ConnectionLost and late bytes are ignored."""
    conversation = given_waiting()
    conversation.close()
    assert conversation.closed and conversation.receive_data(b"200 result=0\n") == []
    with pytest.raises(ConnectionLost):
        conversation.send_command("NOOP")


def test_session_errors_are_session_errors() -> None:
    """The exceptions the handler sees share one base and a stable code."""
    assert ChannelHungUp.code == "agi_channel_hung_up" and OutOfStep.code == "agi_out_of_step"
    assert issubclass(ClosedBeforeHeaders, AgiProtocolError)


# -- fuzzing: a call's transcript cut anywhere gives the same events --------------------------------

REPLIES = [
    b"200 result=0\n",
    b"200 result=49 endpos=1234\n",
    b"200 result=1 (some value)\n",
    b"HANGUP\n200 result=-1\n",
    b"511 Command Not Permitted on a dead channel\n",
    b"510 Invalid or unknown command\n",
    b"200 result=0\r\n",
    b"520-Invalid command syntax.  Proper usage follows:\nUsage: x\n520 End of proper usage.\n",
    b"agi_context: smuggled\n200 result=0\n",
    b"200 result=0\n200 result=1\n",
    b"HANGUP\n",
    b"200 result=1\n",
    b"200 result=-1\n",
]


def receive_as_the_server_does(conversation: Conversation, data: bytes) -> list[Event]:
    """The server's order: the one-step plain reply first, receive_data when that declines."""
    reply = conversation.receive_plain_reply(data)
    return [reply] if reply is not None else list(conversation.receive_data(data))


def play(
    turns: list[bytes],
    cut: Callable[[bytes], list[bytes]],
    receive: Callable[[Conversation, bytes], object] = Conversation.receive_data,
) -> tuple[list[Event], tuple[object, ...]]:
    """Asterisk's side turn by turn (headers, sync answer, one answer per command), each turn cut up."""
    conversation = Conversation()
    events: list[Event] = []
    for number, turn in enumerate(turns):
        if number == 1:
            conversation.send_sync(NONCE)
        elif number > 1 and conversation.phase is Phase.IDLE:
            conversation.send_command(f"NOOP {number}")
        for piece in cut(turn):
            events += cast("list[Event]", receive(conversation, piece))
    state = (
        conversation.phase,
        conversation.hung_up,
        conversation.channel_dead,
        conversation.noise_lines,
        conversation.commands_sent,
        conversation.dropped_before_sync,
    )
    return events, state


def cutter(points: list[int]) -> Callable[[bytes], list[bytes]]:
    def cut(turn: bytes) -> list[bytes]:
        edges = sorted({0, len(turn), *(point % (len(turn) + 1) for point in points)})
        return [turn[start:end] for start, end in itertools.pairwise(edges)]

    return cut


@given(
    st.lists(st.sampled_from(REPLIES), max_size=8),
    st.lists(st.integers(min_value=0, max_value=400), max_size=12),
)
def test_random_splits_give_the_same_events(replies: list[bytes], points: list[int]) -> None:
    """Cutting each turn of a call at random points changes neither the events nor the final state."""
    turns = [HEAD + b"200 result=49\nagi_context: x\n", b"HANGUP\n200 result=1 (x)\n" + ECHO, *replies]
    assert play(turns, cutter(points)) == play(turns, lambda turn: [turn])


@given(st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=6))
def test_the_sync_echo_whole_or_cut_anywhere_synchronises_alike(points: list[int]) -> None:
    """The echo read whole (its one-step path) or in pieces (the parser's) ends the sync the same way."""
    turns = [HEAD + b"200 result=49\n", ECHO, b"200 result=0\n"]
    assert play(turns, cutter(points)) == play(turns, lambda turn: [turn])


@given(
    st.lists(st.sampled_from(REPLIES), max_size=8),
    st.lists(st.integers(min_value=0, max_value=400), max_size=12),
)
@example(replies=[b"200 result=-1\n", b"HANGUP\n", b"200 result=-1\n"], points=[])
@example(replies=[b"511 Command Not Permitted on a dead channel\n"] * 2, points=[])
def test_the_plain_reply_step_changes_nothing_but_the_speed(replies: list[bytes], points: list[int]) -> None:
    """The server offers each read to receive_plain_reply before receive_data: the events and the state
    are those of receive_data alone, for any transcript cut anywhere (a HANGUP before a plain
    ``200 result=-1`` makes it a dead channel in both)."""
    turns = [HEAD, ECHO, *replies]
    assert play(turns, cutter(points), receive_as_the_server_does) == play(turns, cutter(points))


def test_a_plain_reply_seen_before_answers_in_one_step_and_only_then() -> None:
    """A plain line parsed once in this process answers the next command at once; a line not seen yet,
    half a line, a hang-up in between, a dead channel's 511 or a batch's replies leave it to receive_data."""
    conversation = given_waiting()
    assert conversation.receive_plain_reply(b"200 result=1 never seen 7f3a\n") is None
    assert conversation.receive_data(b"200 result=1\n") == [R1] and conversation.phase is Phase.IDLE
    conversation.send_command("NOOP")
    assert conversation.receive_plain_reply(b"200 result=1\n") == R1 and conversation.phase is Phase.IDLE
    assert conversation.receive_plain_reply(b"200 result=1\n") is None  # nothing owed
    conversation.send_command("NOOP")
    assert conversation.receive_data(b"200 res") == []
    assert conversation.receive_plain_reply(b"200 result=1\n") is None  # behind half a line
    assert conversation.receive_data(b"ult=0\n") == [R0]
    for dead in (b"511 Command Not Permitted on a dead channel\n", b"200 result=-1\n"):
        conversation.receive_data(dead)  # parsed once: now known to the one-step path
    conversation.send_command("NOOP")
    assert conversation.receive_plain_reply(b"511 Command Not Permitted on a dead channel\n") is None
    conversation.receive_data(b"HANGUP\n")
    assert conversation.receive_plain_reply(b"200 result=-1\n") is None
    assert conversation.receive_data(b"200 result=-1\n") == [DeadChannel(Reply(200, "-1", "", {}, "result=-1"))]
    batch = given_idle()
    batch.send_last_batch(["NOOP", "NOOP"])
    assert batch.receive_plain_reply(b"200 result=1\n") is None  # two replies owed: receive_data counts them


@given(st.binary(max_size=2000), st.integers(min_value=1, max_value=64))
def test_any_bytes_after_the_sync_end_in_events_or_a_clean_error(data: bytes, chunk: int) -> None:
    """Whatever Asterisk (or an impostor) sends, the conversation yields events or raises a protocol error."""
    conversation = Conversation(reply_limit=512, max_replies_before_sync=8)
    conversation.receive_data(HEAD)
    conversation.send_sync(NONCE)
    try:
        for start in range(0, len(data), chunk):
            for event in conversation.receive_data(data[start : start + chunk]):
                if conversation.phase is Phase.IDLE:
                    conversation.send_command("NOOP")
                assert isinstance(event, (Synchronised, Reply, DeadChannel, DroppedReply, HangupNotice, NoiseLine))
    except (AgiProtocolError, OutOfStep):
        assert conversation.phase is Phase.ERROR


def test_the_last_batch_is_answered_in_order_then_nothing_more_is_sent() -> None:
    """The session's last commands go out at once; each reply answers the next of them, whether they
    come in one read or one by one, and the conversation is idle (and finished) only after the last."""
    for chunks in (
        [b"200 result=1\n200 result=0\n200 result=1 (OK,2)\n"],
        [b"200 result=1\n", b"200 result=0\n200 resu", b"lt=1 (OK,2)\n"],
    ):
        conversation = given_idle()
        assert conversation.send_last_batch(['SET VARIABLE A "1"', 'EXEC Read "K"', "GET VARIABLE K"]) == (
            b'SET VARIABLE A "1"\nEXEC Read "K"\nGET VARIABLE K\n'
        )
        events = [event for chunk in chunks for event in conversation.receive_data(chunk)]
        assert [(event.code, event.result, event.data) for event in events if isinstance(event, Reply)] == [
            (200, "1", ""), (200, "0", ""), (200, "1", "OK,2")
        ]  # fmt: skip
        assert len(events) == 3 and conversation.phase is Phase.IDLE and conversation.commands_sent == 4
        with pytest.raises(ConversationMisuse, match="after the session's last command"):
            conversation.send_command("NOOP")


def test_the_last_batch_waits_for_every_reply() -> None:
    """Two replies of three: still waiting, so the end of the stream then is a lost connection, and a
    reply to a command outside the batch is never made up from a batch's reply."""
    conversation = given_idle()
    conversation.send_last_batch(["NOOP", "NOOP", "NOOP"])
    conversation.receive_data(b"200 result=1\n200 result=1\n")
    assert conversation.phase is Phase.WAITING
    with pytest.raises(ConnectionLost):
        conversation.receive_eof()


def test_a_hangup_inside_the_last_batch_is_dead_for_the_commands_after_it() -> None:
    """The caller hangs up while Read() runs: its answer, then the notice, then 511 for the next."""
    conversation = given_idle()
    conversation.send_last_batch(["NOOP", "EXEC Read", "GET VARIABLE K"])
    events = conversation.receive_data(
        b"200 result=1\n200 result=0\nHANGUP\n511 Command Not Permitted on a dead channel\n"
    )
    assert [type(event) for event in events] == [Reply, Reply, HangupNotice, DeadChannel]
    assert conversation.phase is Phase.IDLE and conversation.channel_dead


@pytest.mark.parametrize("lines", [[], ["NOOP", "NOOP\nHANGUP"]])
def test_a_batch_is_one_or_more_single_lines(lines: list[str]) -> None:
    with pytest.raises(ConversationMisuse):
        given_idle().send_last_batch(lines)
