"""Every key a caller pressed, in the order Asterisk read it, from AMI's DTMFEnd events.

Asterisk throws away DTMF that arrives while no AGI command runs on the channel: res_agi's idle
loop reads each frame and frees it. Under load the gaps between our commands widen and keys pressed
in them were lost (a fire caller routed as "silence"). AMI still reports every key Asterisk reads,
gaps included, so the menu takes its keys from this ledger, in Asterisk's order, and uses the key an
AGI command returned only when AMI is not available.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger("ivr.ami")

KEYS = "0123456789*#"
# A channel's keys are kept this long after its last key if nobody closes it (a call that never
# reached our menu, e.g. keys pressed while queued): the ledger stays bounded.
FORGET_AFTER = 600.0


@dataclass
class _CallKeys:
    keys: str = ""
    last: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class KeyLedger:
    """Fed by ``on_dtmf_end`` (subscribe it to AMI's DTMFEnd); read per channel uniqueid."""

    def __init__(self, ready: Callable[[], bool], clock: Callable[[], float] = time.monotonic) -> None:
        self._ready = ready
        self._clock = clock
        self._calls: dict[str, _CallKeys] = {}
        self._epoch = 0

    @property
    def available(self) -> bool:
        """AMI connected: its key stream is complete from now on."""
        return self._ready()

    @property
    def epoch(self) -> int:
        """Changes at every (re)login: a reader that began in another epoch may have missed keys."""
        return self._epoch

    def on_login(self) -> None:
        self._epoch += 1

    def on_dtmf_end(self, fields: dict[str, str]) -> None:
        if fields.get("Direction") != "Received":
            return
        digit, uniqueid = fields.get("Digit", ""), fields.get("Uniqueid", "")
        if len(digit) != 1 or digit not in KEYS or not uniqueid:
            return
        now = self._clock()
        self._forget_older_than(now - FORGET_AFTER)
        call = self._calls.setdefault(uniqueid, _CallKeys())
        call.keys += digit
        call.last = now
        call.changed.set()
        call.changed = asyncio.Event()

    def keys(self, uniqueid: str) -> str:
        call = self._calls.get(uniqueid)
        return call.keys if call else ""

    async def wait_for(self, uniqueid: str, count: int, timeout: float) -> bool:
        """Wait until ``count`` keys of the channel are known; False at the timeout."""
        deadline = self._clock() + timeout
        while len(self.keys(uniqueid)) < count:
            left = deadline - self._clock()
            if left <= 0:
                return False
            call = self._calls.setdefault(uniqueid, _CallKeys(last=self._clock()))
            try:
                await asyncio.wait_for(call.changed.wait(), left)
            except TimeoutError:
                return False
        return True

    def close(self, uniqueid: str) -> None:
        self._calls.pop(uniqueid, None)

    def _forget_older_than(self, limit: float) -> None:
        for uniqueid in [uid for uid, call in self._calls.items() if call.last < limit]:
            del self._calls[uniqueid]
