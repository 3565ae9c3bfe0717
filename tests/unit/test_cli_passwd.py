"""`ivr passwd`: only roster ids get a password, stored hashed; neither it nor its hash is printed or logged."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog

from ivr.cli import main
from ivr.config.roster import Operator
from ivr.operators import PasswordFile
from ivr.operators.admin import PasswdError, read_password
from tests.unit.test_config_errors import edit

PASSWORD = "nasi uduk 112 pagi"
BUDI = Operator("budi", "Budi Santoso", "operator", "c112", ("q112",))


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """`main()` points structlog at this test's captured stderr, which closes with the test."""
    yield
    structlog.reset_defaults()


def given_stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def passwords(root: Path) -> PasswordFile:
    return PasswordFile(root / "var" / "operators" / "passwords.json")


def test_passwd_from_stdin_sets_a_verifiable_hash(
    shipped_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ivr passwd budi --stdin` stores a hash that verifies, says whose it is, and logs the id only."""
    given_stdin(monkeypatch, PASSWORD + "\n")
    assert main(["passwd", "budi", "--stdin", "--root", str(shipped_root), "--log-format", "json"]) == 0
    out, err = capsys.readouterr()
    assert out == "password set for budi (Budi Santoso)\n"
    events = [json.loads(line) for line in err.splitlines()]
    assert [(event["event"], event["operator"]) for event in events] == [("operator_password_set", "budi")]
    stored = json.loads(passwords(shipped_root).path.read_text())["operators"]["budi"]
    for secret in (PASSWORD, stored, stored.split("$")[-1]):
        assert secret not in out + err
    assert passwords(shipped_root).verify("budi", PASSWORD)
    assert not passwords(shipped_root).verify("budi", PASSWORD + "\n")  # the line's end is not part of it


def test_common_options_work_before_the_subcommand(
    shipped_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ivr --root X --log-format json passwd --stdin siti` is the same command (a Windows line end too)."""
    given_stdin(monkeypatch, PASSWORD + "\r\n")
    assert main(["--root", str(shipped_root), "--log-format", "json", "passwd", "--stdin", "siti"]) == 0
    assert capsys.readouterr().out == "password set for siti (Siti Rahmawati)\n"
    assert passwords(shipped_root).verify("siti", PASSWORD)


@pytest.mark.parametrize(
    ("wanted", "hint"),
    [
        ("bdi", "did you mean: budi?"),
        ("santoso", "did you mean: budi?"),
        (
            "zzz",
            "known ids: agus, andi, asep, budi, dedi, dewi, eka, fajar, hendra, iwan, joko, nurul, rina, rudi, "
            "siti, yusuf",
        ),
    ],
)
def test_an_id_not_in_the_roster_is_refused_with_close_matches(
    shipped_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], wanted: str, hint: str
) -> None:
    """A typo never creates a login: exit 1, the close ids (by spelling or by name) named, nothing written."""
    given_stdin(monkeypatch, PASSWORD + "\n")
    assert main(["passwd", wanted, "--stdin", "--root", str(shipped_root)]) == 1
    assert capsys.readouterr().err == (
        f"ivr passwd: no operator '{wanted}' in the roster (sop/*.yaml, under 'operators:'); {hint}\n"
    )
    assert not passwords(shipped_root).path.exists()


def test_a_short_password_is_refused_and_nothing_written(
    shipped_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Below the minimum length: exit 1 with the rule, and no file."""
    given_stdin(monkeypatch, "pendek\n")
    assert main(["passwd", "budi", "--stdin", "--root", str(shipped_root)]) == 1
    assert capsys.readouterr().err == (
        "ivr passwd: password too short: at least 10 characters (got 6); a few words make a good one\n"
    )
    assert not passwords(shipped_root).path.exists()


def test_a_broken_configuration_changes_nothing(shipped_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With sop/ in error the roster is unknown: the errors are printed and exit 1."""
    edit(shipped_root, "sop/operators.yaml", "agency: damkar\n", "agency: damkr\n")
    assert main(["passwd", "asep", "--stdin", "--root", str(shipped_root)]) == 1
    err = capsys.readouterr().err
    assert ": operators.asep.agency: unknown agency 'damkr' (known: " in err
    assert err.endswith("ivr passwd: the configuration has errors (see `ivr check`); nothing changed\n")


def test_list_shows_who_has_a_password_and_stray_ids(
    shipped_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--list: one line per roster operator with 'password set' or not, a count, and ids left from old rosters."""
    given_stdin(monkeypatch, PASSWORD + "\n")
    assert main(["passwd", "budi", "--stdin", "--root", str(shipped_root)]) == 0
    passwords(shipped_root).set("mantan", PASSWORD)  # someone taken out of the roster
    capsys.readouterr()
    assert main(["passwd", "--list", "--root", str(shipped_root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    by_id = {line.split()[0]: line for line in lines[:-2]}
    assert by_id["budi"] == "budi    Budi Santoso     operator    c112      q112        password set"
    assert by_id["rina"] == "rina    Rina Marlina     admin       c112      -           NO PASSWORD"
    assert lines[-2:] == [
        "1 of 16 operators have a password",
        "'mantan' has a password but is not in the roster: `ivr passwd --remove mantan`",
    ]
    assert not any("scrypt" in line for line in lines)


def test_remove_works_for_an_id_already_out_of_the_roster(
    shipped_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--remove forgets a stray id's password (someone who left); an id neither listed nor known is refused."""
    passwords(shipped_root).set("mantan", PASSWORD)
    assert main(["passwd", "--remove", "mantan", "--root", str(shipped_root)]) == 0
    assert capsys.readouterr().out == "password removed for mantan\n"
    assert not passwords(shipped_root).has_password("mantan")
    assert main(["passwd", "--remove", "budi", "--root", str(shipped_root)]) == 0
    assert capsys.readouterr().out == "budi has no password; nothing changed\n"
    assert main(["passwd", "--remove", "mantan", "--root", str(shipped_root)]) == 1
    assert "no operator 'mantan' in the roster" in capsys.readouterr().err


def test_no_operator_named_is_a_usage_error(shipped_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`ivr passwd` alone says what to type."""
    assert main(["passwd", "--root", str(shipped_root)]) == 2
    assert "name an operator (ivr passwd budi) or use --list" in capsys.readouterr().err


def test_typed_twice_and_checked_before_the_second_prompt() -> None:
    """At the terminal: asked twice; a mismatch or a short first entry changes nothing (no second prompt)."""
    asked: list[str] = []

    def typing(*answers: str) -> Callable[[str], str]:
        replies = iter(answers)

        def ask(prompt: str) -> str:
            asked.append(prompt)
            return next(replies)

        return ask

    assert read_password(BUDI, None, typing(PASSWORD, PASSWORD)) == PASSWORD
    assert asked == ["New password for budi (Budi Santoso): ", "Type it again: "]
    with pytest.raises(PasswdError, match="the two passwords differ; nothing changed"):
        read_password(BUDI, None, typing(PASSWORD, PASSWORD + "x"))
    asked.clear()
    with pytest.raises(ValueError, match="password too short"):
        read_password(BUDI, None, typing("pendek", "pendek"))
    assert len(asked) == 1


def test_ctrl_c_or_eof_at_the_prompt_cancels() -> None:
    """Ctrl-C or Ctrl-D while typing is 'cancelled; nothing changed', not a traceback."""

    def interrupted(prompt: str) -> str:
        raise KeyboardInterrupt

    with pytest.raises(PasswdError, match="cancelled; nothing changed"):
        read_password(BUDI, None, interrupted)


def test_an_empty_stdin_is_refused() -> None:
    """--stdin with nothing to read is an error, not an empty password."""
    with pytest.raises(PasswdError, match="no password on stdin"):
        read_password(BUDI, io.StringIO(""))
