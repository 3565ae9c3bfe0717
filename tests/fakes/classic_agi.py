"""Asterisk's side of a classic AGI call, for the last-line script (ivr/agi/lastline.py): the
environment, then one reply line per command, as res_agi writes them. The caller presses one key per
menu prompt (a STREAM FILE that takes keys), in order; a prompt that takes none plays to its end.

Used over in-memory streams (``AgiPipe``: pyst2 reads and writes it like stdin and stdout) by the
unit tests, and over real pipes by bench/run_lastline.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

STREAM_FILE = re.compile(r'STREAM FILE "((?:[^"\\]|\\.)*)" "([0-9*#]*)"')
SET_VARIABLE = re.compile(r'SET VARIABLE (\w+) "((?:[^"\\]|\\.)*)"')


@dataclass
class ScriptedAsterisk:
    keys: str = ""
    uniqueid: str = "1700000000.1"
    # After this many commands the caller hangs up: a reply says so, and later commands are refused.
    hang_up_after: int | None = None
    # Prompts (path suffix such as "id/menu-utama") that Asterisk cannot play: result=-1.
    unplayable: tuple[str, ...] = ()
    commands: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)

    def environment(self) -> str:
        env = {
            "agi_request": "siaga-lastline",
            "agi_channel": "Local/112@siaga-sim-entry-00000001;2",
            "agi_language": "id",
            "agi_uniqueid": self.uniqueid,
            "agi_callerid": "081234567890",
            "agi_calleridname": "Simulasi",
            "agi_context": "siaga-112",
            "agi_extension": "112",
            "agi_arg_1": "112",
        }
        return "".join(f"{key}: {value}\n" for key, value in env.items()) + "\n"

    def reply(self, command: str) -> str:
        self.commands.append(command)
        if self.hang_up_after is not None and len(self.commands) > self.hang_up_after:
            if len(self.commands) == self.hang_up_after + 1:
                return "200 result=-1 (hangup)\n"
            return "511 Command Not Permitted on a dead channel or intercepted channel\n"
        if stream := STREAM_FILE.fullmatch(command):
            path, escape = stream.groups()
            if path.endswith(self.unplayable):
                return "200 result=-1 endpos=0\n"
            if escape and self.keys:
                key, self.keys = self.keys[0], self.keys[1:]
                return f"200 result={ord(key)} endpos=8000\n"
            return "200 result=0 endpos=64000\n"
        if command.startswith("WAIT FOR DIGIT "):
            return "200 result=0\n"
        if setting := SET_VARIABLE.fullmatch(command):
            self.variables[setting[1]] = setting[2]
            return "200 result=1\n"
        return "510 Invalid or unknown command\n"


class AgiPipe:
    """stdin and stdout of the script in one object: what it writes is answered on its next read."""

    def __init__(self, asterisk: ScriptedAsterisk) -> None:
        self.asterisk = asterisk
        self.unread = asterisk.environment().splitlines(keepends=True)

    def readline(self) -> str:
        return self.unread.pop(0) if self.unread else ""  # "" is EOF: Asterisk closed the pipe

    def write(self, text: str) -> int:
        self.unread += [self.asterisk.reply(line) for line in text.splitlines()]
        return len(text)

    def flush(self) -> None:
        pass
