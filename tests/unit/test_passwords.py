"""Operators' passwords: salted scrypt with its parameters, constant-cost verify, a private file replaced atomically."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ivr.operators.passwords import (
    DEFAULT,
    PasswordError,
    PasswordFile,
    PasswordFileError,
    Scrypt,
    check_password,
    hash_password,
)

# Cheap parameters for tests that are not about the cost; the format and the default cost are tested apart.
FAST = Scrypt(n=2**10, r=8, p=1)
GOOD = "kopi tubruk pagi"
DIGEST = "A" * 43 + "="  # 32 bytes of base64, the length of a real digest


@pytest.fixture
def file(tmp_path: Path) -> PasswordFile:
    return PasswordFile(tmp_path / "var" / "operators" / "passwords.json", FAST)


@pytest.fixture
def scrypt_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, int, int]]]:
    """Every scrypt computed, as (n, r, p): what a verification costs, without timing it."""
    calls: list[tuple[int, int, int]] = []
    real: Callable[..., bytes] = hashlib.scrypt

    def counting(password: bytes, **kwargs: Any) -> bytes:
        calls.append((kwargs["n"], kwargs["r"], kwargs["p"]))
        return real(password, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    yield calls


def test_a_hash_carries_its_parameters_and_salt() -> None:
    """The default hash is scrypt N=2^15 r=8 p=3, base64 salt and 32-byte digest, salted afresh each time."""
    first, second = hash_password(GOOD), hash_password(GOOD)
    scheme, n, r, p, salt, digest = first.split("$")
    assert (scheme, n, r, p) == ("scrypt", "32768", "8", "3")
    assert len(salt) == 24 and len(digest) == 44  # 16 and 32 bytes
    assert first != second  # a new salt: equal passwords do not give equal hashes
    assert check_password(GOOD, first) and check_password(GOOD, second)


def test_a_stored_hash_is_checked_with_its_own_parameters() -> None:
    """A hash made with other parameters (an older cost) still verifies: they are read from the hash."""
    older = hash_password(GOOD, FAST)
    assert older.startswith("scrypt$1024$8$1$")
    assert check_password(GOOD, older)
    assert not check_password(GOOD + "!", older)


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "plain-text-password",
        "scrypt$1024$8$1$c2FsdA==",  # a part missing
        "scrypt$1024$8$1$!!!$" + DIGEST,  # not base64
        "scrypt$3000$8$1$c2FsdA==$" + DIGEST,  # N not a power of two
        "scrypt$1073741824$8$1$c2FsdA==$" + DIGEST,  # N = 2^30: a tampered file must not eat the memory
        "scrypt$1024$8$1000$c2FsdA==$" + DIGEST,  # p = 1000: nor the time
        "scrypt$1024$8$1$c2FsdA==$AAAA",  # a digest of the wrong length
    ],
)
def test_a_malformed_or_tampered_hash_matches_nothing(encoded: str, scrypt_calls: list[tuple[int, int, int]]) -> None:
    """A hash that is not ours is never a match, and costs a normal verification rather than failing fast."""
    assert not check_password(GOOD, encoded, FAST)
    assert scrypt_calls[-1] == (FAST.n, FAST.r, FAST.p)


def test_the_password_is_compared_after_unicode_normalisation() -> None:
    """'é' typed composed or decomposed (two keyboards) is the same password."""
    encoded = hash_password("kafe\u0301 di serang", FAST)
    assert check_password("kaf\u00e9 di serang", encoded)


def test_set_then_verify(file: PasswordFile) -> None:
    """The right password verifies, a wrong one or another operator's id does not."""
    file.set("budi", GOOD)
    assert file.verify("budi", GOOD)
    assert not file.verify("budi", GOOD.upper())
    assert not file.verify("siti", GOOD)
    assert file.has_password("budi") and not file.has_password("siti")
    assert file.operators() == {"budi"}


def test_an_unknown_operator_costs_the_same_scrypt(
    file: PasswordFile, scrypt_calls: list[tuple[int, int, int]]
) -> None:
    """Verifying an id without a password runs one scrypt of the same cost as a known id, and says False."""
    file.set("budi", GOOD)
    file.verify("budi", "salah sekali ya")  # warms the dummy hash, which is made once
    scrypt_calls.clear()
    assert not file.verify("budi", "salah sekali ya")
    known = list(scrypt_calls)
    scrypt_calls.clear()
    assert not file.verify("nobody", GOOD)
    assert scrypt_calls == known == [(FAST.n, FAST.r, FAST.p)]


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("pendek", "password too short: at least 10 characters (got 6); a few words make a good one"),
        ("x" * 257, "password too long: at most 256 characters (got 257)"),
        (" " * 12, "password is only spaces"),
    ],
)
def test_the_rules_refuse_with_a_clear_message(file: PasswordFile, password: str, message: str) -> None:
    """A password breaking a rule is refused with the rule in words, and nothing is written."""
    with pytest.raises(PasswordError) as refused:
        file.set("budi", password)
    assert str(refused.value) == message
    assert not file.path.exists()


def test_exactly_the_minimum_length_is_accepted(file: PasswordFile) -> None:
    """Ten characters is enough."""
    file.set("budi", "0123456789")
    assert file.verify("budi", "0123456789")


def test_remove_forgets_the_password(file: PasswordFile) -> None:
    """After remove the operator has no password and cannot log in; removing twice says so."""
    file.set("budi", GOOD)
    file.set("siti", GOOD + " juga")
    assert file.remove("budi")
    assert not file.has_password("budi") and not file.verify("budi", GOOD)
    assert file.verify("siti", GOOD + " juga")
    assert not file.remove("budi")


def test_the_file_and_its_directory_are_private_whatever_the_umask(file: PasswordFile) -> None:
    """Directory 0700 and file 0600 even under umask 000, and an existing open directory is closed."""
    file.path.parent.mkdir(parents=True, mode=0o755)
    os.chmod(file.path.parent, 0o755)
    old = os.umask(0)
    try:
        file.set("budi", GOOD)
    finally:
        os.umask(old)
    assert stat.S_IMODE(file.path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(file.path.stat().st_mode) == 0o600


def test_the_file_holds_hashes_only(file: PasswordFile) -> None:
    """What is on disk: a version and one scrypt hash per id; the password itself appears nowhere."""
    file.set("budi", GOOD)
    data = json.loads(file.path.read_text())
    assert data["version"] == 1 and list(data["operators"]) == ["budi"]
    assert data["operators"]["budi"].startswith("scrypt$1024$8$1$")
    assert GOOD not in "".join(path.read_text() for path in file.path.parent.iterdir())


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    file: PasswordFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is replaced atomically: a crash before the rename keeps the old hashes and leaves no stray file."""
    file.set("budi", GOOD)
    before = file.path.read_text()

    def broken_replace(source: Any, target: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        file.set("siti", GOOD)
    assert file.path.read_text() == before
    assert sorted(path.name for path in file.path.parent.iterdir()) == [".passwords.json.lock", "passwords.json"]


@pytest.mark.parametrize("content", ["{not json", '{"version": 1, "operators": {"budi": 5}}', "[]"])
def test_a_damaged_file_is_an_error_naming_the_file_not_its_contents(file: PasswordFile, content: str) -> None:
    """A damaged password file stops with its path and the fix; no line of it is echoed."""
    file.path.parent.mkdir(parents=True)
    file.path.write_text(content)
    with pytest.raises(PasswordFileError) as error:
        file.verify("budi", GOOD)
    assert str(file.path) in str(error.value) and "restore it from a backup or delete it" in str(error.value)
    assert content not in str(error.value)


def test_the_default_cost_is_owasps() -> None:
    """Without parameters a PasswordFile hashes at N=2^15, r=8, p=3 (OWASP's scrypt recommendation)."""
    assert (DEFAULT.n, DEFAULT.r, DEFAULT.p) == (2**15, 8, 3)
    assert PasswordFile(Path("x")).params == DEFAULT
