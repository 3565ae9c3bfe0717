"""AGI command lines built so that any text, caller-controlled or not, stays one inert argument.

Asterisk splits a command line (res_agi.c ``parse_args``) on blanks outside double quotes, and a
backslash makes the next character literal. A line ends at ``\\n``. So an argument is wrapped in
double quotes with ``\\`` and ``"`` escaped, and CR, LF and NUL are dropped: nothing in it can end
the line, close the quote or start a second command.
"""

from __future__ import annotations

import re

_DROP = str.maketrans("", "", "\r\n\0")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,79}")
_DIGITS = re.compile(r"[0-9*#]*")


class UnsafeName(ValueError):
    """A variable name or other identifier that must not be quoted is not a plain identifier."""

    code = "agi_unsafe_name"


def quote(value: str) -> str:
    """One AGI argument holding exactly ``value`` (minus CR/LF/NUL), whatever it contains."""
    cleaned = value.translate(_DROP)
    escaped = cleaned.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UnsafeName(f"not a plain variable name: {name!r}")
    return name


def _escape_digits(digits: str) -> str:
    if not _DIGITS.fullmatch(digits):
        raise UnsafeName(f"escape digits must be 0-9 * #: {digits!r}")
    return digits


def set_variable(name: str, value: str) -> str:
    return f"SET VARIABLE {_name(name)} {quote(value)}"


def get_variable(name: str) -> str:
    return f"GET VARIABLE {_name(name)}"


def get_full_variable(expression: str) -> str:
    return f"GET FULL VARIABLE {quote(expression)}"


def stream_file(path: str, escape_digits: str = "") -> str:
    return f"STREAM FILE {quote(path)} {quote(_escape_digits(escape_digits))}"


def get_data(path: str, timeout_ms: int, max_digits: int) -> str:
    return f"GET DATA {quote(path)} {int(timeout_ms)} {int(max_digits)}"


def wait_for_digit(timeout_ms: int) -> str:
    return f"WAIT FOR DIGIT {int(timeout_ms)}"


def exec_app(application: str, arguments: str) -> str:
    """EXEC: ``arguments`` reaches the application as one string, which it splits on ',' itself."""
    return f"EXEC {_name(application)} {quote(arguments)}"


def verbose(message: str, level: int = 3) -> str:
    return f"VERBOSE {quote(message)} {int(level)}"
