"""Listen, whisper, barge: Asterisk calls a supervisor's browser phone and runs ChanSpy on an operator's call.

One AMI action: ``Originate`` of the supervisor's phone (``PJSIP/op-<supervisor>``) with
``Application: ChanSpy`` and ``Data: <operator's channel>,<options>``; when the supervisor answers,
ChanSpy joins the operator's leg of the queue call. Options: ``q`` quiet (no beep, no channel name
spoken), ``E`` end the supervisor's call when the spied-on channel hangs up, and ``w`` whisper (the
supervisor talks to the operator only) or ``B`` barge (the supervisor talks to both sides).

The service's AMI account needs the ``originate`` write class for it, and not ``system``: Asterisk 22's
manager.c (``is_originate_app_permitted``) asks for ``system`` only when the application's name holds
agi, dbdeltree, exec, externalivr, mixmonitor, originate, reload or system, or its data CURL, DB, EVAL,
FILE, ODBC, REALTIME or SHELL; "ChanSpy" and the data built here hold none of them (tests check it
against the app_queue fake, which applies the same rule).

The spied channel is the operator's leg exactly as app_queue named it (``DestChannel`` of
AgentConnect, e.g. ``PJSIP/op-budi-0000001a``), because ChanSpy matches its first argument as a
prefix of channel names: ``PJSIP/op-budi`` alone would also match budi-s's calls. When that name is
not known (our service restarted during the call), the prefix ``PJSIP/op-<id>-`` is used only if no
other roster id starts with ``<id>-``. Every value reaching the action is checked with ``fullmatch``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

import structlog

from ivr.ami.client import AmiError
from ivr.config.roster import Operator
from ivr.config.spec import NAME

log = structlog.get_logger("ivr.ami")

SPY_OPTIONS = {"listen": "qE", "whisper": "qEw", "barge": "qEB"}
# The supervisor's phone rings this long (ms) before Asterisk gives up.
RING_MS = 30_000
_ID = NAME.pattern
BROWSER_PHONE = re.compile(rf"PJSIP/op-{_ID}")
# app_queue's name for the operator's leg: the interface, '-', eight hex digits (Asterisk's channel counter).
OPERATOR_LEG = re.compile(rf"PJSIP/op-{_ID}-[0-9a-f]{{8}}")
OPERATOR_PREFIX = re.compile(rf"PJSIP/op-{_ID}-")


class SpyRefused(Exception):
    code = "asterisk_refused"


class Client(Protocol):
    """What of ``AmiClient`` this needs."""

    def on(self, event: str, callback: Callable[[dict[str, str]], None]) -> Callable[[], None]: ...

    async def action(self, fields: dict[str, str], timeout: float = 5.0, as_list: bool = False) -> object: ...


def spy_action(supervisor: Operator, operator: Operator, target: str, mode: str) -> dict[str, str]:
    """The Originate's fields. ``target``: ``operator``'s leg (or its safe prefix); raises ValueError on
    anything that is not exactly what is expected."""
    options = SPY_OPTIONS.get(mode)
    if options is None:
        raise ValueError(f"unknown spy mode {mode!r} (known: {', '.join(SPY_OPTIONS)})")
    for phone in (supervisor.interface, operator.interface):
        if not BROWSER_PHONE.fullmatch(phone):
            raise ValueError(f"not a browser phone: {phone!r}")
    if not (OPERATOR_LEG.fullmatch(target) or OPERATOR_PREFIX.fullmatch(target)) or not target.startswith(
        f"{operator.interface}-"
    ):
        raise ValueError(f"not a channel of {operator.interface}: {target!r}")
    return {
        "Action": "Originate",
        "Channel": supervisor.interface,
        "Application": "ChanSpy",
        "Data": f"{target},{options}",
        # What the supervisor's phone shows: the mode and whom (roster ids are plain names, checked above).
        "CallerID": f'"{mode} {operator.id}" <{operator.id}>',
        "Timeout": str(RING_MS),
        "Async": "true",
    }


def spy_target(operator: Operator, leg: str | None, roster_ids: Iterable[str]) -> str | None:
    """What ChanSpy should look for: the known leg, else the prefix if it names this operator alone."""
    if leg is not None and OPERATOR_LEG.fullmatch(leg) and leg.startswith(f"{operator.interface}-"):
        return leg
    clash = f"{operator.id}-"
    if any(other != operator.id and other.startswith(clash) for other in roster_ids):
        return None
    return f"{operator.interface}-"


async def start_spy(client: Client, supervisor: Operator, operator: Operator, target: str, mode: str) -> None:
    """Ask Asterisk to ring the supervisor and spy on ``target``; raises SpyRefused (and ValueError)."""
    fields = spy_action(supervisor, operator, target, mode)
    try:
        reply = await client.action(fields, timeout=10.0)
    except AmiError as error:
        raise SpyRefused(f"Originate: {error}") from error
    # panoramisk's reply is a Mapping (its Message), not a dict.
    fields_back = reply if isinstance(reply, Mapping) else {}
    response, message = str(fields_back.get("Response", "")), str(fields_back.get("Message", ""))
    if response != "Success":
        raise SpyRefused(f"Originate: {message or response or 'no answer'}")
    log.info("spy_started", supervisor=supervisor.id, operator=operator.id, channel=target, mode=mode)


class CallLegs:
    """Each operator's leg of the queue call in hand, as app_queue names it (AgentConnect's DestChannel)."""

    def __init__(self, client: Client, operator_for: Callable[[str], Operator | None]) -> None:
        self.operator_for = operator_for
        self.legs: dict[str, str] = {}
        client.on("AgentConnect", self._on_connect)
        client.on("AgentComplete", self._on_complete)

    def leg(self, operator: Operator) -> str | None:
        return self.legs.get(operator.id)

    def _on_connect(self, fields: dict[str, str]) -> None:
        operator = self.operator_for(fields.get("Interface", ""))
        channel = fields.get("DestChannel", "")
        if operator is not None and OPERATOR_LEG.fullmatch(channel):
            self.legs[operator.id] = channel

    def _on_complete(self, fields: dict[str, str]) -> None:
        operator = self.operator_for(fields.get("Interface", ""))
        if operator is not None and self.legs.get(operator.id) == fields.get("DestChannel"):
            del self.legs[operator.id]
