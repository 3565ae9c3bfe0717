"""What ``ivr passwd`` does besides parsing arguments: find the operator, read the password, list who has one.

An id must be in the roster before it gets a password (a typo must not create a login nobody has);
removing one also works for an id already taken out of the roster, which is how someone who left is
cleaned up. Nothing printed here contains a password or a hash.
"""

from __future__ import annotations

import difflib
import getpass
import sys
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TextIO

import structlog

from ivr.config import Config, ConfigError, load_config
from ivr.config.roster import Operator
from ivr.flow.simulate import simulate
from ivr.operators.passwords import PasswordError, PasswordFile, PasswordFileError, check_rules

log = structlog.get_logger("ivr.operators.admin")


class PasswdError(Exception):
    """Why ``ivr passwd`` changed nothing; the message is for the admin at the terminal."""


def close_matches(wanted: str, operators: Mapping[str, Operator], extra: Collection[str] = ()) -> list[str]:
    """Ids like ``wanted``: spelled alike, or whose name contains it ('santoso' → budi)."""
    ids = sorted({*operators, *extra})
    close = difflib.get_close_matches(wanted.lower(), ids, n=3, cutoff=0.6)
    by_name = [op.id for op in operators.values() if len(wanted) >= 3 and wanted.lower() in op.name.lower()]
    return list(dict.fromkeys([*close, *by_name]))


def unknown(wanted: str, operators: Mapping[str, Operator], extra: Collection[str] = ()) -> PasswdError:
    close = close_matches(wanted, operators, extra)
    if close:
        hint = f"did you mean: {', '.join(close)}?"
    elif operators:
        hint = f"known ids: {', '.join(sorted(operators))}"
    else:
        hint = "the roster is empty"
    return PasswdError(f"no operator '{wanted}' in the roster (sop/*.yaml, under 'operators:'); {hint}")


def find_operator(wanted: str, operators: Mapping[str, Operator]) -> Operator:
    operator = operators.get(wanted)
    if operator is None:
        raise unknown(wanted, operators)
    return operator


def read_password(
    operator: Operator,
    stdin: TextIO | None,
    ask: Callable[[str], str] = getpass.getpass,
) -> str:
    """From one line of ``stdin`` (scripts), else typed twice at the terminal (the rules checked before the second)."""
    if stdin is not None:
        line = stdin.readline()
        if not line:
            raise PasswdError("no password on stdin (one line expected); nothing changed")
        return line.removesuffix("\n").removesuffix("\r")  # the rules are checked when it is set
    try:
        password = ask(f"New password for {operator.id} ({operator.name}): ")
        check_rules(password)  # before asking again: no retyping a password that will be refused
        again = ask("Type it again: ")
    except (EOFError, KeyboardInterrupt):
        raise PasswdError("cancelled; nothing changed") from None
    if again != password:
        raise PasswdError("the two passwords differ; nothing changed")
    return password


def listing(operators: Mapping[str, Operator], with_password: Collection[str]) -> list[str]:
    """One line per roster operator (id, name, role, agency, queues, password set or not), then stray ids."""
    rows = [
        (
            op.id,
            op.name,
            op.role,
            op.agency,
            ",".join(op.queues) or "-",
            "password set" if op.id in with_password else "NO PASSWORD",
        )
        for op in sorted(operators.values(), key=lambda op: op.id)
    ]
    widths = [max((len(row[column]) for row in rows), default=0) for column in range(5)]
    lines = [
        "  ".join(value.ljust(width) for value, width in zip(row[:5], widths, strict=True)) + "  " + row[5]
        for row in rows
    ]
    have = sum(1 for op in operators if op in with_password)
    lines.append(f"{have} of {len(operators)} operators have a password")
    for stray in sorted(set(with_password) - set(operators)):
        lines.append(f"'{stray}' has a password but is not in the roster: `ivr passwd --remove {stray}`")
    return lines


def passwd(
    root: Path,
    passwords_file: Path,
    wanted: str | None,
    *,
    stdin: TextIO | None = None,
    show: bool = False,
    remove: bool = False,
    end_sessions: Callable[[str], int] = lambda _operator: 0,
) -> int:
    """``ivr passwd``: set (from ``stdin``, else typed twice), ``remove`` or ``show`` (--list); the exit code.

    ``end_sessions``: logs the operator out of every console (a new password must lock out whoever
    knew the old one); returns how many sessions ended."""
    if not show and not wanted:
        print("ivr passwd: name an operator (ivr passwd budi) or use --list", file=sys.stderr)
        return 2
    try:
        operators = load_config(root).sop.operators
    except ConfigError as error:
        print(error, file=sys.stderr)
        print("ivr passwd: the configuration has errors (see `ivr check`); nothing changed", file=sys.stderr)
        return 1
    passwords = PasswordFile(passwords_file)
    try:
        if show:
            print("\n".join(listing(operators, passwords.operators())))
        elif remove:
            assert wanted is not None
            _remove(passwords, wanted, operators)
            _ended(end_sessions(wanted))
        else:
            assert wanted is not None
            operator = find_operator(wanted, operators)
            passwords.set(operator.id, read_password(operator, stdin))
            log.info("operator_password_set", operator=operator.id)
            print(f"password set for {operator.id} ({operator.name})")
            _ended(end_sessions(operator.id))
    except (PasswdError, PasswordError, PasswordFileError) as error:
        print(f"ivr passwd: {error}", file=sys.stderr)
        return 1
    return 0


def _ended(sessions: int) -> None:
    if sessions:
        print(f"{sessions} console session(s) ended: the operator logs in again with the new password")


def _remove(passwords: PasswordFile, wanted: str, operators: Mapping[str, Operator]) -> None:
    if passwords.remove(wanted):
        log.info("operator_password_removed", operator=wanted)
        print(f"password removed for {wanted}")
    elif wanted in operators:
        print(f"{wanted} has no password; nothing changed")
    else:
        raise unknown(wanted, operators, passwords.operators())


def demo_operator(config: Config, keys: str) -> Operator | None:
    """For ``ivr up --demo``: the first roster operator of the queue a caller pressing ``keys`` reaches
    now, so the person trying the demo is the one their test call rings."""
    target = simulate(config, keys)["route"]["target"]
    return next((op for op in config.sop.operators.values() if target in op.queues), None)
