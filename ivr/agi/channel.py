"""The flow engine's ``Channel`` over one FastAGI session."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ivr.agi import commands
from ivr.agi.protocol import Reply

# Bounds for one command's reply, beyond the time the command itself may take.
REPLY_MARGIN = 10.0
LONGEST_PROMPT = 120.0


class Commands(Protocol):
    """What the channel needs of a FastAGI session: one command, its reply."""

    async def command(self, line: str, timeout: float = 30.0) -> Reply: ...


class AgiChannel:
    def __init__(self, session: Commands, sounds_dir: Path, default_language: str) -> None:
        self.session = session
        self.sounds_dir = sounds_dir
        self.default_language = default_language
        self.failed_prompts: list[str] = []

    def prompt_path(self, prompt: str, language: str) -> str | None:
        """Absolute path without extension; a language lacking the file falls back to the default."""
        for candidate in (language, self.default_language):
            base = self.sounds_dir / candidate / prompt
            if base.with_suffix(".wav").exists():
                return str(base)
        return None

    async def play(self, prompt: str, language: str, escape_keys: str) -> str:
        path = self.prompt_path(prompt, language)
        if path is None:
            # Measured on Asterisk 22: STREAM FILE of a missing file answers result=-1 *and* leaves
            # AGISTATUS=FAILURE at the end, which would send the routed caller to the fallback queue.
            # So a missing prompt is skipped here; the menu still waits for the caller's key.
            self.failed_prompts.append(prompt)
            return ""
        reply = await self.session.command(
            commands.stream_file(path, escape_keys), LONGEST_PROMPT + REPLY_MARGIN
        )
        if reply.result == "-1":
            # Unreadable (or deleted since we looked): the call goes on, Asterisk's fallback applies.
            self.failed_prompts.append(prompt)
            return ""
        return _key(reply.result)

    async def wait_key(self, seconds: float) -> str:
        reply = await self.session.command(
            commands.wait_for_digit(int(seconds * 1000)), seconds + REPLY_MARGIN
        )
        return _key(reply.result)


def _key(result: str) -> str:
    """AGI reports a key as its ASCII code (49 = '1'); 0 means none."""
    try:
        code = int(result)
    except ValueError:
        return ""
    if code <= 0:
        return ""
    key = chr(code)
    return key if key in "0123456789*#" else ""
