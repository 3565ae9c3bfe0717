"""Console logins: session lifetimes and a throttle that slows password guessing.

The throttle is pure (the clock is passed in): after ``FREE_FAILURES`` failed logins for one
operator id, or ``ADDRESS_FREE_FAILURES`` from one address (a center behind one NAT), each further
try waits twice as long as the last, up to ``MAX_LOCK`` seconds; a success for that id clears it.
Every failed verify also spends a full scrypt, so a guess costs the guesser even below the threshold.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

# A shift is 8 hours; a session outlives it a little and never a whole day.
SESSION_LIFETIME = 12 * 3600.0
# A console left alone (no page, no WebSocket) for this long is logged out.
SESSION_IDLE = 30 * 60.0
FREE_FAILURES = 5
# One address may be a whole center behind NAT: its own lock starts later than one id's.
ADDRESS_FREE_FAILURES = 20
FIRST_LOCK = 2.0
MAX_LOCK = 300.0
# Failures older than this are forgotten.
FAILURE_WINDOW = 15 * 60.0


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass
class _Record:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0


@dataclass
class LoginThrottle:
    _records: dict[str, _Record] = field(default_factory=dict)

    def retry_after(self, keys: tuple[str, ...], now: float) -> float:
        """Seconds to wait before ``keys`` (operator id, address) may try again; 0: go ahead."""
        return max([0.0, *(self._records[key].locked_until - now for key in keys if key in self._records)])

    def failed(self, keys: tuple[str, ...], now: float) -> float:
        """Count a failure; returns the wait now imposed (0 below the threshold)."""
        longest = 0.0
        for key in keys:
            record = self._records.setdefault(key, _Record())
            record.failures = [at for at in record.failures if now - at < FAILURE_WINDOW] + [now]
            free = ADDRESS_FREE_FAILURES if key.startswith("address:") else FREE_FAILURES
            over = len(record.failures) - free
            if over >= 0:
                wait = min(MAX_LOCK, FIRST_LOCK * 2**over)
                record.locked_until = now + wait
                longest = max(longest, wait)
        self._forget_old(now)
        return longest

    def succeeded(self, operator_key: str) -> None:
        self._records.pop(operator_key, None)

    def _forget_old(self, now: float) -> None:
        # Bounded memory under a spray of made-up ids.
        if len(self._records) < 10_000:
            return
        stale = [
            key
            for key, record in self._records.items()
            if record.locked_until < now and all(now - at >= FAILURE_WINDOW for at in record.failures)
        ]
        for key in stale:
            del self._records[key]
