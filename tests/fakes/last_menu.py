"""Asterisk's side of a session's last batch (``AgiSession.last_batch``) for the unit tests' fake
sessions: SET VARIABLE of the last menu's routes, EXEC Read (the caller presses ``key``, '' stays
silent), GET FULL VARIABLE of READSTATUS and the key; then what [siaga-last-menu] in
asterisk-config/extensions.conf makes of them. The dialplan itself runs on the real Asterisk in
tests/integration/test_last_menu.py; this model only lets the unit tests follow a call to its route.
"""

from __future__ import annotations

import re

from ivr.agi.channel import LAST_MENU_KEY, LAST_MENU_ROUTES
from ivr.agi.protocol import Reply
from ivr.routing.route_variable import ROUTE_VARIABLE

SET_VARIABLE = re.compile(r'SET VARIABLE (\w+) "(.*)"')
EXEC_READ = re.compile(r'EXEC Read "(\w+),([^,]+),1,,1,([0-9.]+)"')


def asterisk_reads(lines: list[str], key: str, variables: dict[str, str]) -> list[Reply]:
    """The replies to a last batch for a caller who presses ``key`` ('#' ends Read() empty)."""
    replies: list[Reply] = []
    for line in lines:
        if set_variable := SET_VARIABLE.fullmatch(line):
            variables[set_variable[1]] = set_variable[2]
            replies.append(Reply(200, "1"))
        elif read := EXEC_READ.fullmatch(line):
            variables["READSTATUS"] = "OK" if key else "TIMEOUT"
            variables[read[1]] = "" if key == "#" else key
            replies.append(Reply(200, "0"))
        elif line == f'GET FULL VARIABLE "${{READSTATUS}},${{{LAST_MENU_KEY}}}"':
            replies.append(Reply(200, "1", f"{variables['READSTATUS']},{variables[LAST_MENU_KEY]}"))
        else:
            raise AssertionError(f"not a command of the last batch: {line!r}")
    return replies


def dialplan_route(variables: dict[str, str]) -> str:
    """[siaga-last-menu]: the route the dialplan takes from the routes, READSTATUS and the key."""
    routes = variables[LAST_MENU_ROUTES].split("|")
    if variables.get("READSTATUS") != "OK":
        return routes[0]
    digit = "".join(c for c in variables.get(LAST_MENU_KEY, "") if c.isdigit())
    if len(digit) != 1 or not routes[int(digit) + 2]:
        return routes[1]
    return routes[int(digit) + 2]


def asterisk_runs_last_menu(lines: list[str], key: str, variables: dict[str, str]) -> list[Reply]:
    """The batch's replies, and IVR_ROUTE as the dialplan leaves it after [siaga-last-menu]."""
    replies = asterisk_reads(lines, key, variables)
    variables[ROUTE_VARIABLE] = dialplan_route(variables)
    return replies
