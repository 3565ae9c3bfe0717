"""Operators' console passwords: scrypt hashes in ``var/operators/passwords.json``, never in git or logs.

scrypt comes from the standard library (``hashlib.scrypt``, OpenSSL): no new dependency. The cost is
OWASP's scrypt recommendation N=2^15, r=8, p=3 (32 MiB, about 0.3 s here): slow for a guesser, fine for
a login a shift. Each hash carries its salt and parameters (``scrypt$32768$8$3$<salt>$<hash>``, base64),
so raising the cost later leaves existing hashes readable.

The file is the service's alone: its directory 0700, the file 0600, replaced atomically under a lock so
two ``ivr passwd`` at once cannot lose an update. Verifying an unknown operator spends the same scrypt
time as a known one, so the time of a failed login does not tell which ids exist. Nothing here logs a
password or a hash; errors name the file, never its contents.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

MIN_LENGTH = 10
# Long enough for any passphrase; a bound all the same, so a stored password is never a pasted file.
MAX_LENGTH = 256
FORMAT_VERSION = 1
SALT_BYTES = 16
HASH_BYTES = 32


class PasswordError(ValueError):
    """A password the rules refuse (too short, too long); the message says the rule, never the password."""

    code = "password_invalid"


class PasswordFileError(Exception):
    """The password file cannot be read or written; the message names the file, never its contents."""

    code = "password_file_invalid"


@dataclass(frozen=True)
class Scrypt:
    """scrypt's cost parameters: N (a power of two), r and p."""

    n: int = 2**15
    r: int = 8
    p: int = 3

    def valid(self) -> bool:
        """Within bounds a hash from the file may ask for (a tampered file must not exhaust memory)."""
        power_of_two = self.n > 1 and self.n & (self.n - 1) == 0
        return power_of_two and 2**10 <= self.n <= 2**20 and 1 <= self.r <= 32 and 1 <= self.p <= 16

    def derive(self, password: str, salt: bytes) -> bytes:
        memory = 128 * self.r * self.n
        return hashlib.scrypt(
            _encode(password), salt=salt, n=self.n, r=self.r, p=self.p, maxmem=2 * memory, dklen=HASH_BYTES
        )


DEFAULT = Scrypt()


def _encode(password: str) -> bytes:
    # The same password typed on another keyboard or OS (composed or decomposed accents) is the same.
    return unicodedata.normalize("NFC", password).encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def check_rules(password: str) -> None:
    """Raise PasswordError when the password breaks a rule."""
    if len(password) < MIN_LENGTH:
        raise PasswordError(
            f"password too short: at least {MIN_LENGTH} characters (got {len(password)}); a few words make a good one"
        )
    if len(password) > MAX_LENGTH:
        raise PasswordError(f"password too long: at most {MAX_LENGTH} characters (got {len(password)})")
    if not password.strip():
        raise PasswordError("password is only spaces")


def hash_password(password: str, params: Scrypt = DEFAULT) -> str:
    """A new salted hash with its parameters: ``scrypt$N$r$p$<salt b64>$<hash b64>``."""
    salt = secrets.token_bytes(SALT_BYTES)
    return f"scrypt${params.n}${params.r}${params.p}${_b64(salt)}${_b64(params.derive(password, salt))}"


def _parse(encoded: str) -> tuple[Scrypt, bytes, bytes] | None:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt" or not all(part.isdigit() for part in parts[1:4]):
        return None
    params = Scrypt(int(parts[1]), int(parts[2]), int(parts[3]))
    try:
        salt, digest = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
    except (binascii.Error, ValueError):
        return None
    if not params.valid() or not salt:
        return None
    return params, salt, digest


def check_password(password: str, encoded: str, params: Scrypt = DEFAULT) -> bool:
    """Whether ``password`` matches ``encoded``; a malformed hash matches nothing (and costs a ``params`` hash)."""
    parsed = _parse(encoded)
    if parsed is None:
        _dummy_check(password, params)
        return False
    params, salt, digest = parsed
    return hmac.compare_digest(params.derive(password, salt), digest)


@cache
def _dummy_hash(params: Scrypt) -> str:
    return hash_password(secrets.token_urlsafe(24), params)


def _dummy_check(password: str, params: Scrypt) -> None:
    """Spend a verification's time on a hash nobody knows the password of."""
    check_password(password, _dummy_hash(params))


class PasswordFile:
    """The operators' password hashes, by operator id. Every call reads the file afresh (it is small).

    ``verify`` is CPU-bound (a scrypt): call it from a worker thread in the service.
    """

    def __init__(self, path: Path, params: Scrypt = DEFAULT) -> None:
        self.path = path
        self.params = params

    # --- reading ------------------------------------------------------------------------------

    def _read(self) -> dict[str, str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as error:
            raise PasswordFileError(f"{self.path}: cannot read ({type(error).__name__})") from None
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError:
            raise PasswordFileError(f"{self.path}: not valid JSON; restore it from a backup or delete it") from None
        entries = data.get("operators") if isinstance(data, dict) else None
        if (
            not isinstance(data, dict)
            or data.get("version") != FORMAT_VERSION
            or not isinstance(entries, dict)
            or not all(isinstance(key, str) and isinstance(value, str) for key, value in entries.items())
        ):
            raise PasswordFileError(
                f'{self.path}: expected {{"version": {FORMAT_VERSION}, "operators": {{id: hash}}}}; '
                f"restore it from a backup or delete it"
            )
        return dict(entries)

    def operators(self) -> frozenset[str]:
        """The ids that have a password (no hashes leave this class)."""
        return frozenset(self._read())

    def has_password(self, operator_id: str) -> bool:
        return operator_id in self._read()

    def verify(self, operator_id: str, password: str) -> bool:
        """Whether this is the operator's password. An unknown id spends the same time and says False."""
        encoded = self._read().get(operator_id)
        if encoded is None:
            _dummy_check(password, self.params)
            return False
        return check_password(password, encoded, self.params)

    # --- writing ------------------------------------------------------------------------------

    def set(self, operator_id: str, password: str) -> None:
        """Store a new hash of ``password`` for ``operator_id``; PasswordError when it breaks a rule."""
        check_rules(password)
        encoded = hash_password(password, self.params)  # outside the lock: the slow part
        with self._locked():
            entries = self._read()
            entries[operator_id] = encoded
            self._write(entries)

    def remove(self, operator_id: str) -> bool:
        """Forget the operator's password; False when there was none."""
        with self._locked():
            entries = self._read()
            if entries.pop(operator_id, None) is None:
                return False
            self._write(entries)
        return True

    def _directory(self) -> Path:
        directory = self.path.parent
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # An existing directory (a copy, a umask) is made private too: the hashes are the service's alone.
        directory.chmod(0o700)
        return directory

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock = self._directory() / f".{self.path.name}.lock"
        descriptor = os.open(lock, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # closing releases the lock

    def _write(self, entries: dict[str, str]) -> None:
        directory = self._directory()
        body = json.dumps({"version": FORMAT_VERSION, "operators": dict(sorted(entries.items()))}, indent=2) + "\n"
        temporary = directory / f".{self.path.name}.{secrets.token_hex(4)}.tmp"
        # Created 0600 (O_EXCL: never through someone else's file or link), whatever the umask allows.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        finally:
            temporary.unlink(missing_ok=True)  # gone after the replace; left over only by a failure
        directory_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(directory_fd)  # the rename itself survives a power cut
        finally:
            os.close(directory_fd)
