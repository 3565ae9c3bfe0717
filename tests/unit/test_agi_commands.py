"""AGI command building: caller-controlled text is always exactly one inert argument.

``asterisk_parse_args`` is a line-for-line model of res_agi.c's parse_args (Asterisk 22), so the
property tests check our quoting against the parser that will actually read it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.agi import commands


def asterisk_parse_args(line: str) -> list[str]:
    """res_agi.c parse_args: blanks split outside quotes; backslash makes the next char literal."""
    argv: list[str] = []
    quoted = escaped = False
    whitespace = True
    for char in line:
        if char == '"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:
                argv.append("")
                whitespace = False
            escaped = False
        elif char in " \t" and not quoted and not escaped:
            whitespace = True
        elif char == "\\" and not escaped:
            escaped = True
        else:
            if whitespace:
                argv.append("")
                whitespace = False
            argv[-1] += char
            escaped = False
    return argv


def test_model_matches_known_asterisk_behaviour() -> None:
    """The model splits like Asterisk: quotes group, backslash escapes."""
    assert asterisk_parse_args('STREAM FILE "a b" "12"') == ["STREAM", "FILE", "a b", "12"]
    assert asterisk_parse_args(r'SET VARIABLE X "a\"b"') == ["SET", "VARIABLE", "X", 'a"b']
    assert asterisk_parse_args("VERBOSE a\\ b 1") == ["VERBOSE", "a b", "1"]


@pytest.mark.parametrize(
    ("text", "expected_line"),
    [
        ("Budi", 'SET VARIABLE X "Budi"'),
        ('say "hi"', r'SET VARIABLE X "say \"hi\""'),
        ("a\\b", r'SET VARIABLE X "a\\b"'),
        ("x\nEXEC System id\n", 'SET VARIABLE X "xEXEC System id"'),
        ("${SHELL(id)}", 'SET VARIABLE X "${SHELL(id)}"'),
        ("\r\n\0", 'SET VARIABLE X ""'),
    ],
)
def test_quote_table(text: str, expected_line: str) -> None:
    """Quotes and backslashes are escaped; CR, LF and NUL cannot end the command line."""
    assert commands.set_variable("X", text) == expected_line


@given(st.text(max_size=200))
def test_quoted_value_is_one_argument(text: str) -> None:
    """Whatever the text, Asterisk reads it back as one argument equal to it (minus CR/LF/NUL)."""
    line = commands.set_variable("IVR_NOTE", text)
    assert "\n" not in line and "\r" not in line and "\0" not in line
    argv = asterisk_parse_args(line)
    assert argv[:3] == ["SET", "VARIABLE", "IVR_NOTE"]
    assert argv[3:] == [text.replace("\r", "").replace("\n", "").replace("\0", "")]


@given(st.text(max_size=50), st.text(alphabet="0123456789*#", max_size=12))
def test_stream_file_has_exactly_two_arguments(path: str, keys: str) -> None:
    """STREAM FILE always has a path and an escape-digit argument, nothing more."""
    argv = asterisk_parse_args(commands.stream_file(path, keys))
    assert len(argv) == 4 and argv[3] == keys


@pytest.mark.parametrize("name", ["", "1ABC", "A B", "A\nB", 'A"', "X" * 81, "X\n", "X\r\n", "\nX"])
def test_variable_names_must_be_plain(name: str) -> None:
    """Names are never quoted, so anything but a plain identifier is refused, a trailing newline too."""
    with pytest.raises(commands.UnsafeName):
        commands.set_variable(name, "v")
    with pytest.raises(commands.UnsafeName):
        commands.get_variable(name)


@pytest.mark.parametrize("name", ["X", "_", "IVR_ACTION", "a" + "9" * 79])
def test_plain_variable_names_are_accepted(name: str) -> None:
    """A plain identifier up to 80 characters goes into the line as it is."""
    assert commands.set_variable(name, "v") == f'SET VARIABLE {name} "v"'
    assert commands.get_variable(name) == f"GET VARIABLE {name}"


@pytest.mark.parametrize("digits", ['1" EXEC', "1\n", "12\n", "a", " "])
def test_escape_digits_are_checked(digits: str) -> None:
    """Escape digits are a fixed alphabet; anything else, a trailing newline too, is refused, not quoted."""
    with pytest.raises(commands.UnsafeName):
        commands.stream_file("x", digits)


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: commands.stream_file("/s/id/menu"), 'STREAM FILE "/s/id/menu" ""'),
        (lambda: commands.stream_file("/s/id/menu", "12#"), 'STREAM FILE "/s/id/menu" "12#"'),
        (lambda: commands.get_data("/s/id/menu", 5000, 2), 'GET DATA "/s/id/menu" 5000 2'),
        (lambda: commands.wait_for_digit(4000), "WAIT FOR DIGIT 4000"),
        (lambda: commands.verbose('say "x"'), r'VERBOSE "say \"x\"" 3'),
        (lambda: commands.verbose("x", 1), 'VERBOSE "x" 1'),
        (lambda: commands.get_full_variable("${CALLERID(num)}"), 'GET FULL VARIABLE "${CALLERID(num)}"'),
    ],
)
def test_command_lines_table(build: Callable[[], str], expected: str) -> None:
    """Each builder writes the exact line Asterisk expects, numbers as integers, defaults included."""
    assert build() == expected
