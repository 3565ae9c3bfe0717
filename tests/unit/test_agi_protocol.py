"""The FastAGI header and reply parsers: tables of raw bytes → results, plus property-based fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ivr.agi import protocol
from ivr.agi.protocol import (
    HangupNotice,
    HeaderParser,
    HeadersTooLarge,
    NoiseLine,
    Reply,
    ReplyParser,
    ReplyTooLarge,
    parse_reply_line,
)

HEADERS = b"agi_network: yes\nagi_uniqueid: 1700000000.1\nagi_callerid: 0812\n\n"


def given_headers(*chunks: bytes) -> tuple[HeaderParser, bytes]:
    parser = HeaderParser()
    rest = b""
    for chunk in chunks:
        rest = parser.feed(chunk)
    return parser, rest


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (HEADERS, {"agi_network": "yes", "agi_uniqueid": "1700000000.1", "agi_callerid": "0812"}),
        (b"agi_a: 1\r\nagi_b: 2\r\n\r\n", {"agi_a": "1", "agi_b": "2"}),
        (b"agi_a: x: y\n\n", {"agi_a": "x: y"}),
        (b"agi_a:\n\n", {"agi_a": ""}),
        (b"agi_calleridname: \xff\xfeBudi\n\n", {"agi_calleridname": "\ufffd\ufffdBudi"}),
        (b"agi_callerid: 1\nagi_callerid: 2\n\n", {"agi_callerid": "1"}),
        (b"garbage line\nagi_a: 1\n\n", {"agi_a": "1"}),
    ],
)
def test_header_table(raw: bytes, expected: dict[str, str]) -> None:
    """Headers parse with CRLF or LF, lenient decoding, and the first duplicate winning."""
    parser, _ = given_headers(raw)
    assert parser.complete
    assert parser.headers == expected


def test_headers_byte_by_byte() -> None:
    """A header block split into single bytes gives the same result as in one piece."""
    parser = HeaderParser()
    for byte in HEADERS:
        parser.feed(bytes([byte]))
    assert parser.complete and parser.headers["agi_callerid"] == "0812"


def test_bytes_after_blank_line_are_returned() -> None:
    """What follows the blank line belongs to the command phase and is handed back."""
    _parser, rest = given_headers(b"agi_a: 1\n\n200 result=1\n")
    assert rest == b"200 result=1\n"


def test_duplicates_and_malformed_lines_are_counted() -> None:
    """Smuggled duplicates and malformed lines are recorded so the session can be flagged."""
    parser, _ = given_headers(b"agi_a: 1\nnonsense\nagi_a: 2\n\n")
    assert parser.duplicate_keys == ["agi_a"]
    assert parser.malformed_lines == 1


def test_headers_over_limit_raise() -> None:
    """A header block over the limit raises, whether or not it contains newlines."""
    with pytest.raises(HeadersTooLarge):
        HeaderParser(limit=1024).feed(b"agi_x: " + b"a" * 2000)
    with pytest.raises(HeadersTooLarge):
        HeaderParser(limit=1024).feed(b"agi_x: 1\n" * 200)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("200 result=1", Reply(200, "1", "", {}, "result=1")),
        ("200 result=0 endpos=8000", Reply(200, "0", "", {"endpos": "8000"}, "result=0 endpos=8000")),
        ("200 result=1 (abc def)", Reply(200, "1", "abc def", {}, "result=1 (abc def)")),
        ("200 result= (timeout)", Reply(200, "", "timeout", {}, "result= (timeout)")),
        ("510 Invalid or unknown command", Reply(510, text="Invalid or unknown command")),
        (
            "511 Command Not Permitted on a dead channel or intercept routine",
            Reply(511, text="Command Not Permitted on a dead channel or intercept routine"),
        ),
        ("HANGUP", HangupNotice()),
        ("agi_extension: 112", NoiseLine("agi_extension: 112")),
    ],
)
def test_reply_table(line: str, expected: object) -> None:
    """Each kind of reply line parses into its event."""
    assert parse_reply_line(line) == expected


def parsed_by_the_pattern(rest: str) -> tuple[Reply, bool]:
    """The reply as protocol._RESULT reads it (the general path), and whether it has no extras at all."""
    match = protocol._RESULT.fullmatch(rest)
    assert match is not None
    result, data, tail = match.groups()
    extras = dict(part.split("=", 1) for part in tail.split() if "=" in part) if tail else {}
    return Reply(200, result, data or "", extras, rest), not tail


# Unicode's spaces among the letters that matter: \s and str.split() must agree on every one of them.
RESULT_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from([" ", "\t", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u2003", "\u3000"]),
        st.sampled_from("=-14e)"),
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\n("),
    ),
    max_size=40,
)


@given(RESULT_TEXT)
def test_a_result_without_data_reads_as_the_pattern_reads_it(text: str) -> None:
    """``200 result=...`` without a ``(`` (STREAM FILE's ``result=49 endpos=4000``) takes a path without
    the regular expression; for any text it gives what the pattern gives, down to having no extras."""
    rest = "result=" + text
    parsed = parse_reply_line("200 " + rest)
    expected, no_extras = parsed_by_the_pattern(rest)
    assert parsed == expected
    assert isinstance(parsed, Reply) and (parsed.extras is protocol._NO_EXTRAS) == no_extras


def test_usage_reply_spans_lines() -> None:
    """A 520 usage reply is one Reply however many lines it has."""
    events = ReplyParser().feed(
        b"520-Invalid command syntax.  Proper usage follows:\nUsage: x\n520 End of proper usage.\n200 result=1\n"
    )
    assert [type(event) for event in events] == [Reply, Reply]
    assert isinstance(events[0], Reply) and events[0].code == 520 and "Usage: x" in events[0].text


def test_reply_line_over_limit_raises() -> None:
    """A reply line that never ends is refused once over the limit."""
    with pytest.raises(ReplyTooLarge):
        ReplyParser(limit=100).feed(b"2" * 200)


@given(st.binary(max_size=4000), st.integers(min_value=1, max_value=64))
def test_header_parser_never_crashes(data: bytes, chunk: int) -> None:
    """Any bytes in any chunking end in headers, a clean limit error, or waiting for more."""
    parser = HeaderParser(limit=2048)
    try:
        for start in range(0, len(data), chunk):
            parser.feed(data[start : start + chunk])
    except HeadersTooLarge:
        assert len(data) > 2048
    else:
        assert all(isinstance(value, str) for value in parser.headers.values())


@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=80),
        max_size=20,
    )
)
def test_reply_parser_one_event_per_line(lines: list[str]) -> None:
    """Outside a 520 usage block, every complete line gives exactly one event."""
    lines = [line for line in lines if not line.startswith("520")]
    data = "".join(line + "\n" for line in lines).encode()
    assert len(ReplyParser(limit=1 << 20).feed(data)) == len(lines)


def feed_whole(data: bytes, limit: int) -> tuple[object, ...]:
    return feed_chunks([data], limit)


def feed_chunks(chunks: list[bytes], limit: int) -> tuple[object, ...]:
    parser = HeaderParser(limit=limit)
    rest = b""
    try:
        for chunk in chunks:
            rest += parser.feed(chunk)
    except HeadersTooLarge:
        return ("too large",)
    return parser.complete, parser.headers, parser.duplicate_keys, parser.malformed_lines, parser.received, rest


HEADER_LINES = st.sampled_from([b"agi_a: 1", b"agi_b: x: y", b"", b"nonsense", b"agi_a: 2", b"agi_c:", b" : v"])


@given(
    st.lists(st.tuples(HEADER_LINES, st.sampled_from([b"\n", b"\r\n"])), max_size=12),
    st.integers(min_value=8, max_value=80),
)
@example([(b"agi_a: 1", b"\n"), (b"", b"\r\n"), (b"", b"\n")], 80)  # the CR-LF blank line sits right before "\n\n"
def test_one_segment_and_byte_by_byte_agree(lines: list[tuple[bytes, bytes]], limit: int) -> None:
    """The one-segment shortcut parses exactly like the general path: same headers, counts, size and
    rest, whatever each line ends with (a CR-LF blank line after LF lines ends the block too)."""
    data = b"".join(line + end for line, end in lines) + b"200 result=0\n"
    assert feed_whole(data, limit) == feed_chunks([bytes([byte]) for byte in data], limit)


# Header lines of any bytes but the line ends, weighted towards what decoding and stripping could tell
# apart: colons, ASCII and Unicode spaces (U+00A0, U+2003, NEL, FS), cut and invalid UTF-8.
ANY_HEADER_LINE = st.lists(
    st.one_of(
        st.binary(max_size=6),
        st.sampled_from([b":", b" ", b"\t", b"\x0b", b"\x0c", b"\x1c", b"\xff", b"\xe2\x82"]),
        st.sampled_from([b"\xc2\xa0", b"\xe2\x80\x83", b"\xc2\x85"]),
        st.just(b"agi_a"),
    ),
    max_size=8,
).map(lambda parts: b"".join(parts).replace(b"\n", b"").replace(b"\r", b""))


@given(st.lists(ANY_HEADER_LINE, min_size=1, max_size=10))
def test_a_block_in_one_segment_reads_as_byte_by_byte_whatever_its_bytes(lines: list[bytes]) -> None:
    """The one-segment shortcut decodes the block at once, the general path each key and value: the same
    headers, duplicates and malformed lines for any bytes, invalid UTF-8 and Unicode spaces included."""
    data = b"\n".join(lines) + b"\n\n200 result=0\n"
    assert feed_whole(data, 16 * 1024) == feed_chunks([bytes([byte]) for byte in data], 16 * 1024)


@pytest.mark.parametrize("split", [False, True])
def test_header_limit_is_the_whole_block_blank_line_included(split: bool) -> None:
    """A block of exactly ``limit`` bytes passes, one byte more is refused, in one segment or byte by byte."""
    block = b"agi_a: " + b"x" * 13 + b"\n\n"  # 22 bytes
    for limit, passes in ((22, True), (21, False)):
        chunks = [bytes([byte]) for byte in block] if split else [block]
        outcome = feed_chunks(chunks, limit)
        assert (outcome != ("too large",)) == passes, (limit, outcome)


def test_an_unfinished_block_of_exactly_the_limit_waits() -> None:
    """Bytes of an unfinished block up to the limit wait for more; one more byte is refused."""
    assert feed_whole(b"a" * 64, 64)[0] is False
    assert feed_whole(b"a" * 65, 64) == ("too large",)


def test_an_unfinished_block_hands_back_nothing() -> None:
    """Until the blank line, feed returns no bytes for the command phase."""
    parser = HeaderParser()
    assert parser.feed(b"agi_a: 1\n") == b""
    assert parser.feed(b"agi_b") == b"" and not parser.complete


@pytest.mark.parametrize(
    ("raw", "headers", "malformed", "rest"),
    [
        (b"\nagi_a: 1\n\n", {}, 0, b"agi_a: 1\n\n"),
        (b"\n\n", {}, 0, b"\n"),
        (b"agi_a: 1\n\nagi_b: 2\n\n", {"agi_a": "1"}, 0, b"agi_b: 2\n\n"),
        (b"x\ny\nagi_a: 1\n\n", {"agi_a": "1"}, 2, b""),
        (b"agi_a: 1XX\r\n\r\n", {"agi_a": "1XX"}, 0, b""),
        (b"agi_a: 1\r\n \r\nagi_b: 2\r\n\r\n", {"agi_a": "1", "agi_b": "2"}, 1, b""),
    ],
)
def test_header_block_edges(raw: bytes, headers: dict[str, str], malformed: int, rest: bytes) -> None:
    """The first empty line ends the block, wherever it is; malformed lines are all counted; only CR is stripped."""
    parser, after = given_headers(raw)
    assert (parser.headers, parser.malformed_lines, after) == (headers, malformed, rest)
    assert parser.received == len(raw) - len(rest)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"200 foo\n", [Reply(200, text="foo")]),
        (b"200 result=1 x=a=b\n", [Reply(200, "1", "", {"x": "a=b"}, "result=1 x=a=b")]),
        (b"200 result=0 ext=XX\r\n", [Reply(200, "0", "", {"ext": "XX"}, "result=0 ext=XX")]),
        (b"200 result=0 \r\n", [Reply(200, "0", "", {}, "result=0 ")]),
        (
            b"200 result=0 ext=XX\r\n200 result=0 \r\n",
            [Reply(200, "0", "", {"ext": "XX"}, "result=0 ext=XX"), Reply(200, "0", "", {}, "result=0 ")],
        ),
    ],
)
def test_reply_bytes_table(raw: bytes, expected: list[object]) -> None:
    """Reply lines from bytes: one or several per segment, only the CR stripped, extras split at the first '='."""
    assert ReplyParser().feed(raw) == expected


def test_a_plain_reply_parsed_once_reads_the_same_every_time_and_the_store_stays_small() -> None:
    """``200 result=1`` is parsed once per process and handed out again (a Reply is immutable); a reply
    with data (each call's sync echo) or extras is parsed each time, so a stream of them leaves room for
    the plain ones, and a flood of different lines does not grow the store."""
    parser = ReplyParser()
    protocol._PLAIN_REPLIES.clear()
    for number in range(2 * protocol._PLAIN_REPLIES_MAX):
        assert parser.feed(f"200 result=1 (nonce{number})\n".encode()) == [
            Reply(200, "1", f"nonce{number}", {}, f"result=1 (nonce{number})")
        ]
    first, again = parser.feed(b"200 result=1\n"), parser.feed(b"200 result=1\n")
    assert b"200 result=1\n" in protocol._PLAIN_REPLIES
    assert first == again == [Reply(200, "1", "", {}, "result=1")]
    assert parser.feed(b"200 result=0 endpos=1\n") == [Reply(200, "0", "", {"endpos": "1"}, "result=0 endpos=1")]
    assert parser.feed(b"200 result=0 endpos=2\n") == [Reply(200, "0", "", {"endpos": "2"}, "result=0 endpos=2")]
    for number in range(1000):
        assert parser.feed(f"200 result={number}\n".encode()) == [Reply(200, str(number), "", {}, f"result={number}")]
    assert len(protocol._PLAIN_REPLIES) <= protocol._PLAIN_REPLIES_MAX


def test_usage_reply_line_by_line() -> None:
    """A 520 usage reply arriving one line per segment is still one Reply."""
    parser = ReplyParser()
    assert parser.feed(b"520-Invalid command syntax.  Proper usage follows:\n") == []
    assert parser.feed(b"Usage: x\n") == []
    assert parser.feed(b"520 End of proper usage.\n") == [
        Reply(520, text="Invalid command syntax.  Proper usage follows:\nUsage: x")
    ]


def test_reply_limits_are_exact() -> None:
    """An unfinished line or usage block of exactly the limit is kept; one byte more is refused."""
    assert ReplyParser(limit=100).feed(b"2" * 100) == []
    with pytest.raises(ReplyTooLarge):
        ReplyParser(limit=100).feed(b"2" * 101)
    parser = ReplyParser(limit=100)
    parser.feed(b"520-" + b"u" * 50 + b"\n")
    assert parser.feed(b"u" * 50 + b"\n") == []
    with pytest.raises(ReplyTooLarge):
        parser.feed(b"u\n")
