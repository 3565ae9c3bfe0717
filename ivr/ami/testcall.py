"""A test call through the real Asterisk: AMI Originate of a Local channel whose caller half presses keys.

Everything reported comes from AMI events of that call: the AGI commands our service sent (prompts
played, keys read), the route the dialplan took, the queue joined, the operator who answered.
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ivr.ami.client import AmiClient, AmiError

KEYS = re.compile(r"[0-9*#]*")
NUMBER = re.compile(r"\+?[0-9]{0,20}")
# A prompt our service plays (STREAM FILE), or the last menu's that Asterisk plays itself (Read()).
PROMPT_COMMAND = re.compile(r'^(?:STREAM FILE "([^"]*)"|EXEC Read "\w+,([^,"]*),)')
# What the caller half sends once its keys are pressed: silence (""), or "echo" (what it hears, back).
AUDIO = ("", "echo")
ROUTE_FIELDS = (
    "Action",
    "Target",
    "Category",
    "QueuePriority",
    "Timeout",
    "AgiStatus",
    "From",
    "Status",
    "Hop",
    "Script",
    "Service",
)


# The AMI event classes a test call follows: boot state (system), Hangup (call), queue joins and
# answers (agent), our SiagaRoute UserEvent (user), the AGI commands (agi). Not `dialplan` (an event
# per dialplan step and variable): with it, 100 parallel `ivr call`s drowned AMI in events and
# their Originates timed out.
TEST_CALL_EVENTS = "system,call,agent,user,agi"


class TestCallError(ValueError):
    code = "test_call_invalid"


@dataclass
class CallReport:
    caller: str
    pressed: str
    channel: str
    # The last route decision (queue, bridge or fallback), and every SiagaRoute event in order.
    route: dict[str, str] = field(default_factory=dict)
    routes: list[dict[str, str]] = field(default_factory=list)
    agi_commands: list[str] = field(default_factory=list)
    queue: str = ""
    operator: str = ""
    operator_interface: str = ""
    hold_seconds: float | None = None
    answered: bool = False
    hung_up: bool = False
    seconds_to_queue: float | None = None
    seconds_to_answer: float | None = None
    events: list[dict[str, str]] = field(default_factory=list)

    @property
    def prompts(self) -> list[str]:
        """``language/prompt`` of every prompt our service played or had Asterisk play, in order."""
        found = (PROMPT_COMMAND.match(command) for command in self.agi_commands)
        return ["/".join((match.group(1) or match.group(2)).split("/")[-2:]) for match in found if match]

    def as_dict(self, with_events: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data["prompts"] = self.prompts
        if not with_events:
            data.pop("events")
        return data


def validate_request(keys: str, caller: str) -> None:
    """Refuse keys or a caller number that could be more than data on their way into AMI."""
    if not KEYS.fullmatch(keys):
        raise TestCallError(f"keys must be 0-9 * #, got {keys!r}")
    if not NUMBER.fullmatch(caller):
        raise TestCallError(f"caller must be a phone number, got {caller!r}")


def dtmf_script(keys: str, gap: float) -> str:
    """SendDTMF's digit string: 'w' is a 0.5 s pause, so keys land one ``gap`` apart."""
    pause = "w" * max(0, round(gap / 0.5))
    return pause.join(keys)


async def place_call(
    client: AmiClient,
    keys: str = "",
    caller: str = "081234567890",
    caller_name: bytes = b"",
    first_delay: float = 1.5,
    gap: float = 2.0,
    answer_timeout: float = 60.0,
    until: str = "answered",
    hangup: bool = True,
    hold: float | None = None,
    dtmf_gap_ms: int = 250,
    audio: str = "",
) -> CallReport:
    """Place one call and follow it until ``until`` ('answered' or 'queued') or ``answer_timeout``.

    ``audio="echo"``: after its keys the caller echoes what it hears (until hung up), so an operator's
    phone receives audio; by default the caller is silent and hangs up after ``hold`` seconds."""
    validate_request(keys, caller)
    if audio not in AUDIO:
        raise TestCallError(f"audio must be one of {AUDIO}, got {audio!r}")
    token = secrets.token_hex(6)
    caller_id, entry_id = f"sim-{token}", f"sim-{token}-in"
    report = CallReport(caller=caller, pressed=keys, channel=caller_id)
    done = asyncio.Event()
    started = time.monotonic()

    def on_event(fields: dict[str, str]) -> None:
        if fields.get("Linkedid") != caller_id and fields.get("Uniqueid") not in (caller_id, entry_id):
            return
        report.events.append(fields)
        name = fields.get("Event", "")
        if name == "AGIExecStart" and fields.get("Uniqueid") == entry_id:
            report.agi_commands.append(fields.get("Command", ""))
        elif name == "UserEvent" and fields.get("UserEvent") == "SiagaRoute":
            step = {key: value for key, value in fields.items() if key in ROUTE_FIELDS}
            report.routes.append(step)
            if step.get("Action") != "overflow":
                report.route = {key: value for key, value in step.items() if value and key not in ("Hop",)}
        elif name == "QueueCallerJoin" and fields.get("Uniqueid") == entry_id:
            report.queue = fields.get("Queue", "")
            report.seconds_to_queue = round(time.monotonic() - started, 2)
            if until == "queued":
                done.set()
        elif name == "AgentConnect" and fields.get("Uniqueid") == entry_id:
            report.answered = True
            report.queue = fields.get("Queue", report.queue)
            report.operator = fields.get("MemberName", "")
            report.operator_interface = fields.get("Interface", "")
            report.hold_seconds = float(fields.get("HoldTime", "0") or 0)
            report.seconds_to_answer = round(time.monotonic() - started, 2)
            done.set()
        elif name == "Hangup" and fields.get("Uniqueid") == entry_id:
            report.hung_up = True
            done.set()

    unsubscribe = client.on("*", on_event)
    try:
        variables = [
            f"SIM_DIGITS={dtmf_script(keys, gap)}",
            f"SIM_FIRST_DELAY={first_delay:.1f}",
            f"SIM_HOLD={hold if hold is not None else int(answer_timeout) + 60}",
            f"SIM_DTMF_GAP_MS={int(dtmf_gap_ms)}",
            f"SIM_CALLER_NUM={caller}",
        ]
        if audio:
            variables.append(f"SIM_AUDIO={audio}")
        if caller_name:
            variables.append(f"SIM_CALLER_NAME_B64={base64.b64encode(caller_name).decode()}")
        await client.action(
            {
                "Action": "Originate",
                "Channel": "Local/112@siaga-sim-entry",
                "Context": "siaga-sim-caller",
                "Exten": "s",
                "Priority": "1",
                "CallerID": f"Simulasi <{caller}>",
                "Variable": variables,
                "Async": "true",
                "ChannelId": caller_id,
                "OtherChannelId": entry_id,
                "Timeout": "30000",
            },
            timeout=15.0,
        )
        try:
            await asyncio.wait_for(done.wait(), answer_timeout)
        except TimeoutError:
            pass
    finally:
        unsubscribe()
        if hangup and not report.hung_up:
            await hang_up(client, caller_id)
    return report


async def hang_up(client: AmiClient, channel_id: str) -> None:
    try:
        await client.action({"Action": "Hangup", "Channel": channel_id}, timeout=5.0)
    except AmiError:
        pass  # the call may already be gone: nothing left to hang up
