"""The flow engine's ``Channel`` over one FastAGI session.

Keys come from Asterisk's own stream of the caller's keys (``ivr.ami.dtmf.KeyLedger``, fed by AMI)
when it is available: Asterisk discards a key that arrives while none of our commands runs, so a
key pressed between two commands (the gaps widen under load) is taken from the ledger, in the order
the caller pressed it. Without AMI the keys AGI commands return are used, as before.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Protocol

import structlog

from ivr.agi import commands
from ivr.agi.conversation import ChannelHungUp
from ivr.agi.protocol import Reply

log = structlog.get_logger("ivr.agi")

# Bounds for one command's reply, beyond the time the command itself may take.
REPLY_MARGIN = 10.0
LONGEST_PROMPT = 120.0
# How long to wait for AMI to report the key an AGI command returned (normally a few milliseconds).
AMI_KEY_GRACE = 0.5
# A key lost in the gap before a command was read before the command began, and AMI reports a key
# within AMI_KEY_GRACE (past it the ledger is given up anyway): a command that returns a key this long
# after it was sent, with nothing new in the ledger, had no lost key before it. Its key is the next
# one without waiting for AMI's report of it, the wait that held the route at p99 75 ms (200 callers).
# Twice the grace: the command's own way to Asterisk waits for a CPU under load too.
GAP_KEYS_REPORTED_AFTER = 2 * AMI_KEY_GRACE


# The last menu's hand-off to the dialplan (``AgiChannel.last_menu``): the routes of its outcomes, and
# what Read() leaves behind. [siaga-last-menu] in asterisk-config/extensions.conf reads the same names.
LAST_MENU_ROUTES = "IVR_MENU_ROUTES"
LAST_MENU_KEY = "IVR_MENU_KEY"
# Read()'s arguments are split on ',' (and the dialplan's parser sees quotes, brackets, '$'): a prompt
# path with any of them keeps the menu in our session.
READ_SAFE_PATH = re.compile(r"[A-Za-z0-9_./+ -]+")


class Commands(Protocol):
    """What the channel needs of a FastAGI session: one command, its reply, when it was written."""

    sent_at: float  # time.monotonic() of the last command's writing

    def command(self, line: str, timeout: float = 30.0) -> Awaitable[Reply]: ...

    async def last_batch(
        self, lines: Sequence[str], timeout: float = 30.0, proceed: Callable[[], bool] | None = None
    ) -> list[Reply] | None: ...


class CallerKeys(Protocol):
    """Every key Asterisk read on a channel, in order (``ivr.ami.dtmf.KeyLedger``)."""

    @property
    def epoch(self) -> int: ...

    @property
    def available(self) -> bool: ...

    def keys(self, uniqueid: str) -> str: ...

    async def wait_for(self, uniqueid: str, count: int, timeout: float) -> bool: ...


class AgiChannel:
    def __init__(
        self,
        session: Commands,
        sounds_dir: Path,
        default_language: str,
        ledger: CallerKeys | None = None,
        uniqueid: str = "",
        clock: Callable[[], float] = time.monotonic,  # the clock of the session's sent_at
    ) -> None:
        self.session = session
        self.clock = clock
        self.sounds_dir = sounds_dir
        self.default_language = default_language
        self.failed_prompts: list[str] = []
        self.ledger = ledger
        self.uniqueid = uniqueid
        # The ledger is trusted only if AMI stayed connected since the call began (no events missed).
        self._epoch = ledger.epoch if ledger is not None and ledger.available and uniqueid else None
        self.delivered = 0  # keys of Asterisk's stream handed to the flow
        self.recovered = 0  # of those, keys no AGI command returned: pressed between two commands

    def _ledger_on(self) -> bool:
        return (
            self.ledger is not None
            and self._epoch is not None
            and self.ledger.available
            and self.ledger.epoch == self._epoch
        )

    def _take_pending(self) -> str:
        """The next key Asterisk read while none of our commands ran, if any."""
        if not self._ledger_on():
            return ""
        assert self.ledger is not None
        seen = self.ledger.keys(self.uniqueid)
        if len(seen) <= self.delivered:
            return ""
        self.delivered += 1
        self.recovered += 1
        return seen[self.delivered - 1]

    async def _settle(self, agi_key: str, sent_at: float | None = None) -> str:
        """The caller's next key, given what the AGI command sent at ``sent_at`` returned."""
        if not self._ledger_on():
            return agi_key
        if not agi_key:
            return self._take_pending()
        assert self.ledger is not None
        if (
            sent_at is not None
            and self.clock() - sent_at >= GAP_KEYS_REPORTED_AFTER
            and len(self.ledger.keys(self.uniqueid)) == self.delivered
        ):
            self.delivered += 1  # AMI's report of it, when it comes, takes this place in the ledger
            return agi_key
        if await self.ledger.wait_for(self.uniqueid, self.delivered + 1, AMI_KEY_GRACE):
            # A key lost in a gap before this one comes first; this one stays next in the ledger.
            key = self.ledger.keys(self.uniqueid)[self.delivered]
            self.delivered += 1
            self.recovered += key != agi_key
            return key
        # AMI is behind: from here its stream cannot be matched to ours without risking a key the
        # caller never pressed here, so this call goes on with the keys AGI returns.
        log.warning("ami_key_late", key=agi_key, grace=AMI_KEY_GRACE)
        self._epoch = None
        return agi_key

    def _no_key_waiting(self) -> bool:
        return not self._ledger_on() or len(self.ledger.keys(self.uniqueid)) <= self.delivered  # type: ignore[union-attr]

    def _skip_seen(self) -> None:
        """Keys pressed during a prompt that takes none are not input (as Playback() in a dialplan)."""
        if self._ledger_on():
            assert self.ledger is not None
            self.delivered = max(self.delivered, len(self.ledger.keys(self.uniqueid)))

    @property
    def keys_seen(self) -> str:
        """What Asterisk saw the caller press so far ('' without the ledger)."""
        return self.ledger.keys(self.uniqueid) if self.ledger is not None and self.uniqueid else ""

    async def play(self, prompt: str, language: str, escape_keys: str) -> str:
        if escape_keys and (pending := self._take_pending()):
            return pending  # the caller already answered this menu: do not make them hear it
        path = prompt_path(self.sounds_dir, prompt, language, self.default_language)
        if path is None:
            # Measured on Asterisk 22: STREAM FILE of a missing file answers result=-1 *and* leaves
            # AGISTATUS=FAILURE at the end, which would send the routed caller to the fallback queue.
            # So a missing prompt is skipped here; the menu still waits for the caller's key. Loudly:
            # a caller is hearing silence where a menu should be (`ivr prompts` builds the audio).
            log.warning("prompt_missing", prompt=prompt, language=language, sounds_dir=str(self.sounds_dir))
            self.failed_prompts.append(prompt)
            return await self._settle("")
        reply = await self.session.command(commands.stream_file(path, escape_keys), LONGEST_PROMPT + REPLY_MARGIN)
        if reply.result == "-1":
            # Unreadable (or deleted since we looked): the call goes on, Asterisk's fallback applies.
            log.warning("prompt_unplayable", prompt=prompt, language=language, path=path)
            self.failed_prompts.append(prompt)
            return await self._settle("")
        if not escape_keys:
            self._skip_seen()
            return ""
        return await self._settle(dtmf_key(reply.result), self.session.sent_at)

    async def wait_key(self, seconds: float) -> str:
        if pending := self._take_pending():
            return pending
        reply = await self.session.command(commands.wait_for_digit(int(seconds * 1000)), seconds + REPLY_MARGIN)
        return await self._settle(dtmf_key(reply.result), self.session.sent_at)

    async def last_menu(self, prompt: str, language: str, seconds: float, routes: str) -> str | None:
        """The session's end: Asterisk plays the menu and reads one key itself (Read()), and the
        dialplan takes the key's route from ``routes`` (IVR_MENU_ROUTES, [siaga-last-menu]), with no
        round trip through our loop between the caller's key and the queue. Returns the key as the
        flow reads it ('' for silence, '#' for the terminator Read() swallows); None, having sent
        nothing, when the menu cannot be handed over (a key already waiting for it, no prompt file).
        A key pressed after that check and before Read() begins (AMI's lag plus our write's way to
        Asterisk: a millisecond or two, tens under a surge) is thrown away by Asterisk and not
        recovered: the caller hears the menu and is routed by what they do then.

        Read() leaves READSTATUS OK (a key, or '#': the value is empty), TIMEOUT, or HANGUP/ERROR."""
        path = prompt_path(self.sounds_dir, prompt, language, self.default_language)
        if path is None or not READ_SAFE_PATH.fullmatch(path):
            return None
        read = f"{LAST_MENU_KEY},{path},1,,1,{seconds:g}"
        replies = await self.session.last_batch(
            [
                commands.set_variable(LAST_MENU_ROUTES, routes),
                commands.exec_app("Read", read),
                commands.get_full_variable(f"${{READSTATUS}},${{{LAST_MENU_KEY}}}"),
            ],
            LONGEST_PROMPT + seconds + REPLY_MARGIN,
            # Asked as the batch is written: a key typed ahead since the last command (Asterisk threw
            # it away, AMI reported it) answers this menu here, as in any menu, and Read() never runs.
            proceed=self._no_key_waiting,
        )
        if replies is None:
            return None
        status, _, key = replies[-1].data.partition(",")
        self._skip_seen()  # the keys pressed while Read() ran were its own
        if status == "HANGUP" or replies[1].result == "-1":
            raise ChannelHungUp(f"hung up during the last menu (READSTATUS {status})")
        if status != "OK":
            return ""
        return key or "#"


def prompt_path(sounds_dir: Path, prompt: str, language: str, default_language: str) -> str | None:
    """Absolute path without extension; a language lacking the file falls back to the default.

    Looked up on disk at every prompt (`ivr prompts` may rebuild the audio while calls run), with
    os.path on strings: pathlib's objects cost the event loop ~1 ms a call at a surge (py-spy)."""
    for candidate in (language, default_language):
        base = os.path.join(sounds_dir, candidate, prompt)
        if os.path.isfile(base + ".wav"):
            return base
    return None


def dtmf_key(result: str) -> str:
    """AGI reports a key as its ASCII code (49 = '1'); 0 means none."""
    try:
        code = int(result)
    except ValueError:
        return ""
    if code <= 0:
        return ""
    key = chr(code)
    return key if key in "0123456789*#" else ""
