"""A 112 call through the real Asterisk: every failure of our service still ends at a human."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog

from ivr import logs
from ivr.ami.client import AmiClient
from ivr.ami.operators import sim_interface
from ivr.routing.decide import Decision
from ivr.routing.route_variable import route_variables
from tests.integration.conftest import (
    AGI_SESSION_LIMIT,
    SEATS,
    AgiSwitch,
    Caller,
    Stack,
    call_killing_serve_at_first_prompt,
    fallback_route,
    free_port,
    last_line_broken,
    start_serve,
    until,
    wait_for_port,
)
from tests.integration.test_fault_battery import safe_name

# All central calls share one queue: priority, not separate queues, puts emergencies first.
CENTRAL = EMERGENCY = "q112"


async def test_key_1_reaches_emergency_queue_and_an_operator_answers(call: Caller) -> None:
    """Pressing 1 (darurat) and then holding queues the caller for emergencies; an operator answers."""
    report = await call("1")
    assert report.route["Action"] == "queue"
    assert report.route["Category"] == "darurat-umum"
    assert report.queue == EMERGENCY
    assert report.answered, report.events[-5:]
    assert report.operator.startswith("Simulasi q112")
    assert report.prompts == ["id/menu-utama", "id/menu-darurat"]


async def test_no_key_reaches_a_human_as_an_emergency(call: Caller) -> None:
    """A caller who presses nothing ("tetap di saluran") is queued as an emergency and answered."""
    report = await call("")
    assert report.route["Category"] == "darurat-umum"
    assert report.queue == EMERGENCY
    assert report.answered


async def test_key_2_then_4_reaches_the_general_queue(call: Caller) -> None:
    """Non-darurat, informasi: the general call-takers."""
    report = await call("24")
    assert report.route["Category"] == "informasi"
    assert report.queue == CENTRAL
    assert report.answered


async def test_fastagi_not_running_goes_to_the_general_queue(call: Caller, agi: AgiSwitch, stack: Stack) -> None:
    """With nothing listening on either FastAGI port and the last line broken too, the dialplan alone
    queues the caller centrally."""
    await agi.stop()
    try:
        with last_line_broken(stack):
            report = await call("1")
    finally:
        await agi.start_real()
    assert [route["Action"] for route in report.routes] == ["agi-failed", "agi-failed", "lastline", "fallback"]
    assert report.route == fallback_route("NOTFOUND")
    assert report.queue == CENTRAL
    assert report.answered


async def test_fastagi_killed_mid_call_goes_to_the_general_queue(
    call: Caller, agi: AgiSwitch, stack: Stack, ami: AmiClient
) -> None:
    """Our service killed (SIGKILL) while the menu plays: AGISTATUS is SUCCESS, yet no route; with the
    second service and the last line down too → central."""
    await agi.stop()
    try:
        with last_line_broken(stack):
            report = await call_killing_serve_at_first_prompt(stack, ami, call("", answer_timeout=40))
    finally:
        await agi.start_real()
    assert report.routes[0] == {"Action": "agi-failed", "Script": "112", "Service": "1", "AgiStatus": "SUCCESS"}
    assert report.route == fallback_route("NOTFOUND")
    assert report.queue == CENTRAL
    assert report.answered


async def test_silent_fastagi_server_is_bounded(call: Caller, agi: AgiSwitch, stack: Stack) -> None:
    """A server that accepts and says nothing holds the caller only until the bound, then central."""
    await agi.stop()
    held: list[asyncio.StreamWriter] = []

    async def accept_and_say_nothing(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    silent = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", stack.settings.agi_port)
    try:
        report = await call("1", answer_timeout=AGI_SESSION_LIMIT + 20)
    finally:
        for writer in held:
            writer.close()
        silent.close()
        await silent.wait_closed()
        await agi.start_real()
    assert report.route == fallback_route("TIMEOUT")
    assert report.queue == CENTRAL
    assert report.seconds_to_queue is not None
    assert AGI_SESSION_LIMIT <= report.seconds_to_queue < AGI_SESSION_LIMIT + 5
    assert report.answered


HEARD = ("MusicOnHoldStart", "MusicOnHoldStop", "AGIExecStart", "QueueCallerJoin")


@contextlib.contextmanager
def heard(ami: AmiClient) -> Iterator[Callable[[str], list[tuple[float, str, dict[str, str]]]]]:
    """(seconds, event, fields) of hold music, AGI commands and queue joins, for one Uniqueid."""
    seen: list[tuple[float, str, dict[str, str]]] = []
    unsubscribe = [
        ami.on(name, lambda fields, name=name: seen.append((time.monotonic(), name, fields))) for name in HEARD
    ]
    try:
        yield lambda uniqueid: [event for event in seen if event[2].get("Uniqueid") == uniqueid]
    finally:
        for stop in unsubscribe:
            stop()


async def test_hold_music_plays_until_our_first_prompt_replaces_it(
    call: Caller, ami: AmiClient, agi: AgiSwitch
) -> None:
    """The caller hears the hold message from before the AGI starts; our first STREAM FILE stops it
    (Asterisk reports MusicOnHoldStop right after that command), so the menu plays alone; and the raw
    caller ID reaches our service as agi_arg_1 with no extra round trip."""
    with heard(ami) as events:
        report = await call("1", caller_name=b"Budi%:x")
        mine = events(f"{report.channel}-in")
    names = [name if name != "AGIExecStart" else fields["Command"].split(" ")[0] for _, name, fields in mine]
    assert names[:3] == ["MusicOnHoldStart", "GET", "STREAM"], names
    first_prompt = names.index("STREAM")
    assert names[first_prompt + 1] == "MusicOnHoldStop", names
    assert mine[first_prompt + 1][0] - mine[first_prompt][0] < 0.5
    assert "MusicOnHoldStart" not in names[first_prompt : names.index("QueueCallerJoin")]
    assert report.queue == EMERGENCY and report.answered
    raw = [base64.b64encode(value.encode()).decode() for value in ("081234567890", "Budi%25%3Ax")]
    assert agi.sessions[-1].env.get("agi_arg_1") == ":".join(raw)


async def test_a_frozen_service_plays_hold_music_until_the_bound(
    call: Caller, agi: AgiSwitch, stack: Stack, ami: AmiClient
) -> None:
    """`ivr serve` stopped (SIGSTOP) before the call: Asterisk connects and waits; the caller hears the
    hold message from the start until the bound, then the central queue (and its own music) takes over."""
    await agi.stop()
    child = await start_serve(stack)
    try:
        await wait_for_port(stack.settings.agi_port)
        child.send_signal(signal.SIGSTOP)
        with heard(ami) as events:
            report = await call("1", answer_timeout=AGI_SESSION_LIMIT + 20)
            mine = events(f"{report.channel}-in")
    finally:
        child.send_signal(signal.SIGCONT)
        child.kill()
        await child.wait()
        await agi.start_real()
    assert report.route == fallback_route("TIMEOUT")
    assert report.queue == CENTRAL and report.answered
    assert report.seconds_to_queue is not None and AGI_SESSION_LIMIT <= report.seconds_to_queue < AGI_SESSION_LIMIT + 5
    names = [name for _, name, _ in mine]
    assert "AGIExecStart" not in names  # our service never spoke
    assert names[:3] == ["MusicOnHoldStart", "MusicOnHoldStop", "QueueCallerJoin"], names
    started, stopped, joined = (moment for moment, _, _ in mine[:3])
    assert stopped - started >= AGI_SESSION_LIMIT - 0.5  # playing through the whole frozen session
    assert joined - stopped < 0.5  # and the queue's music follows at once
    assert mine[0][2].get("Class") == "default"


async def test_a_long_queue_wait_is_not_cut_by_the_fastagi_bound(call: Caller, ami: AmiClient) -> None:
    """A caller waiting in a queue longer than the FastAGI bound stays queued until answered."""
    members = [sim_interface(EMERGENCY, seat) for seat in range(1, SEATS + 1)]

    async def pause(paused: bool) -> None:
        for member in members:
            await ami.action(
                {
                    "Action": "QueuePause",
                    "Queue": EMERGENCY,
                    "Interface": member,
                    "Paused": "true" if paused else "false",
                }
            )

    await pause(True)
    try:
        placed = asyncio.create_task(call("", answer_timeout=AGI_SESSION_LIMIT + 40))
        await asyncio.sleep(AGI_SESSION_LIMIT + 14)  # the scenario itself: a long wait in the queue
        assert not placed.done(), "the caller left the queue before anyone answered"
    finally:
        await pause(False)
    report = await placed
    assert report.answered
    assert report.hold_seconds is not None and report.hold_seconds > AGI_SESSION_LIMIT


async def test_misbehaving_clients_do_not_stop_other_calls(call: Caller, stack: Stack) -> None:
    """A port probe, a 1 MB header flood and a stalled half-header leave real calls unaffected."""
    port = stack.settings.agi_port
    _r1, probe = await asyncio.open_connection("127.0.0.1", port)
    probe.close()
    _r2, flood = await asyncio.open_connection("127.0.0.1", port)
    flood.write(b"agi_x: " + b"A" * (1 << 20))
    _r3, stalled = await asyncio.open_connection("127.0.0.1", port)
    stalled.write(b"agi_network: yes\nagi_uniq")
    try:
        report = await call("1")
    finally:
        for writer in (flood, stalled):
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
    assert report.queue == EMERGENCY and report.answered


ROUTE_VARIABLES = len(route_variables(Decision("queue", "q", 1, "c", 0, ""), []))
HOSTILE_NAMES = [
    pytest.param(b"Budi\nagi_extension: 999\n\n200 result=50\nEXEC System id", id="newline-agi-command"),
    pytest.param(b"Budi \"Kecil\" \\ 'x'", id="double-quote"),
    pytest.param(b"${SHELL(id)}", id="dialplan-expression"),
    pytest.param(b"\xff\xfe\xc3(Budi", id="invalid-utf8"),
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
async def test_hostile_caller_name_is_data(call: Caller, agi: AgiSwitch, name: bytes) -> None:
    """A caller name that tries to inject commands runs nothing, reaches us cleaned at the dialplan's
    entry (the raw bytes are kept as data: test_fault_battery), and the call routes."""
    with structlog.testing.capture_logs(list(logs.CONTEXT_PROCESSORS)) as logged:
        report = await call("", caller_name=name)
        # The route is the session's last command: Asterisk may queue the caller before our session
        # has read its reply and logged its end.
        ends = await until(
            lambda: [
                line
                for line in logged
                if line["event"] == "agi_call_end" and line.get("uniqueid") == agi.sessions[-1].env.uniqueid
            ]
        )
    # No key pressed: a smuggled "200 result=50" ('2') taken as a reply would have gone to non-darurat.
    assert report.queue == EMERGENCY and report.answered
    sent = [command.split(" ")[0] + " " + command.split(" ")[1] for command in report.agi_commands]
    assert sent == ["GET FULL", "STREAM FILE", "WAIT FOR", *["SET VARIABLE"] * ROUTE_VARIABLES]
    assert ends[0]["outcome"] == "completed"
    assert ends[0]["caller_name"] == safe_name(name)
    # Cleaned once at the entry: nothing of it can end a header line any more.
    assert ends[0].get("noise_lines", 0) == 0


async def test_sip_phone_calls_112_and_presses_1(stack: Stack, ami: AmiClient, agi: AgiSwitch, tmp_path: Path) -> None:
    """A real SIP phone (sipp, digest auth, RFC 2833 DTMF) calls 112, presses 1: emergency queue."""
    template = (Path(__file__).parent / "sipp" / "call_112_press.xml").read_text()
    scenario = tmp_path / "call_112_press_1.xml"
    scenario.write_text(template.replace("DTMF_PCAP", "/usr/share/sip-tester/dtmf_2833_1.pcap"))
    password = _phone_password(stack)
    joined: list[dict[str, str]] = []
    unsubscribe = ami.on(
        "QueueCallerJoin",
        lambda fields: joined.append(fields) if fields.get("Channel", "").startswith("PJSIP/test112") else None,
    )
    process = await asyncio.create_subprocess_exec(
        "sipp",
        f"127.0.0.1:{stack.settings.sip_port}",
        "-sf",
        str(scenario),
        "-s",
        "112",
        "-i",
        "127.0.0.1",
        "-p",
        str(free_port()),
        "-mp",
        str(free_port()),
        "-m",
        "1",
        "-l",
        "1",
        "-nostdin",
        "-au",
        "test112",
        "-ap",
        password,
        "-d",
        "15000",
        "-timeout",
        "50s",
        "-timeout_error",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        await until(lambda: joined, timeout=35)
    finally:
        unsubscribe()
        output, _ = await process.communicate()
    assert joined[0]["Queue"] == EMERGENCY
    assert process.returncode == 0, output.decode(errors="replace")[-3000:]


def _phone_password(stack: Stack) -> str:
    from ivr.asterisk.render import load_secrets

    return load_secrets(stack.settings, create=False).phone_password
