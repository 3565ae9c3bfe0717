"""The fault battery, Asterisk side (issue 9): hostile trunk input, AMI rights, records, file modes, media.

Faults are injected by the tests themselves: raw SIP INVITEs from the trunk's address and raw AMI
sessions, so nothing here depends on our own clients behaving.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import os
import secrets
import stat
import time
from pathlib import Path
from urllib.parse import unquote_to_bytes

import pytest

from ivr.ami.client import AmiClient
from ivr.asterisk.render import load_secrets
from tests.integration.conftest import AgiSwitch, Caller, Stack, last_line_broken, until
from tests.integration.raw import RawAmi, TrunkCall, quoted_name

CENTRAL = "q112"
STARTED = time.time()


def trunk_call(stack: Stack, user: str | None, number: str, name: str = "Warga") -> TrunkCall:
    return TrunkCall(stack.settings.trunk_ip, ("127.0.0.1", stack.settings.sip_port), user, number, name)


def fresh_number() -> str:
    return "0812" + "".join(secrets.choice("0123456789") for _ in range(8))


# Whatever the telco delivers as the dialed string, the caller reaches 112.
DIALED = [
    pytest.param("112", id="112"),
    pytest.param("+62112", id="plus-country-code"),
    pytest.param("*43", id="star-code"),
    pytest.param("#1", id="hash"),
    pytest.param("1", id="one-digit"),
    pytest.param("abc", id="letters"),
    pytest.param("h", id="hangup-extension-name"),
    pytest.param("i", id="invalid-extension-name"),
    pytest.param("112-darurat.Tangerang", id="punctuation"),
    pytest.param("9" * 200, id="200-digits"),
    pytest.param("x" * 120, id="120-letters"),
    pytest.param("112\nVia: forged", id="escaped-newline"),
    pytest.param(None, id="no-user-part"),
]


@pytest.mark.parametrize("dialed", DIALED)
async def test_trunk_delivers_any_dialed_string_to_112(stack: Stack, ami: AmiClient, dialed: str | None) -> None:
    """A real INVITE from the trunk's address reaches the 112 flow whatever its request-URI user is:
    the call is answered there (its channel goes Up in [siaga-112]; only that context answers)."""
    number = fresh_number()
    entered: list[dict[str, str]] = []
    unsubscribe = ami.on(
        "Newstate",
        lambda fields: (
            entered.append(fields)
            if fields.get("Context") == "siaga-112"
            and fields.get("CallerIDNum") == number
            and fields.get("ChannelStateDesc") == "Up"
            else None
        ),
    )
    try:
        async with trunk_call(stack, dialed, number) as call:
            final = await call.invite()
            assert final.status == 200, f"{call.request_uri}: {final.first_line}"
            await until(lambda: entered, timeout=10)
    finally:
        unsubscribe()
    assert entered[0]["Exten"] == "112"


# --- item 6: caller data from the trunk is contained at the dialplan's entry -----------------------

FORGED = "1700000000|forged-call|q112|NONE|COMPLETECALLER|1|2|3"
HOSTILE_NUMBERS = {
    "newline-forges-queue-log": "0812\n" + FORGED,
    "crlf-forges-queue-log": "0813\r\n1700000000|forged-crlf|q112|NONE|ABANDON|1|1|1",
    "dialplan-expression": "${SHELL(id)}0814",
    # No ';' here: Asterisk itself cuts a From user at ';' (user options) before our dialplan sees it.
    "separators": "+62 (815) 1234-5678,|&x",
    "colon-and-parens": "0816):0:1(",
    "percent": "%0A0817%3A",
    "very-long": "9" * 70,
}
HOSTILE_NAMES = {
    "newline-forges-queue-log": "Budi",
    "crlf-forges-queue-log": 'Budi "Kecil" \\ x',
    "dialplan-expression": "${SHELL(id)}",
    "separators": "Siti|Aminah,;&",
    "colon-and-parens": "a):0:1(",
    "percent": "100%",
    "very-long": "N" * 70,
}
SIM_NAMES = {
    "sim-newline-name": (b"0818", b"Budi\nagi_callerid: 999\n\n" + FORGED.encode()),
    "sim-newline-number": (b"0819\n" + FORGED.encode(), b"\xff\xfe invalid utf-8"),
}
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .-")
# queue_log: time|callid|queue|agent|event|data...: the fields each event of ours writes.
QUEUE_LOG_FIELDS = {
    "QUEUESTART": 6,
    "CONFIGRELOAD": 6,
    "ADDMEMBER": 6,
    "REMOVEMEMBER": 6,
    "PAUSE": 6,
    "UNPAUSE": 6,
    "PAUSEALL": 6,
    "UNPAUSEALL": 6,
    "ENTERQUEUE": 8,
    "CONNECT": 8,
    "COMPLETECALLER": 8,
    "COMPLETEAGENT": 8,
    "ABANDON": 8,
    "RINGNOANSWER": 6,
    "RINGCANCELED": 6,
    "EXITEMPTY": 8,
    "EXITWITHTIMEOUT": 8,
    "EXITWITHKEY": 9,
    "TRANSFER": 9,
    "ATTENDEDTRANSFER": 10,
    "BLINDTRANSFER": 9,
    "SYSCOMPAT": 6,
    # Our dialplan's route line: action|target|category|hop, all from our route, none the caller's.
    "SIAGAROUTE": 9,
}


def safe_number(raw: bytes) -> str:
    """What the dialplan must leave of a caller number: a leading + and at most 20 digits."""
    text = raw.decode("latin-1")
    return ("+" if text.startswith("+") else "") + "".join(c for c in text if c.isascii() and c.isdigit())[:20]


def safe_name(raw: bytes) -> str:
    """Letters, digits, space, '.', '-', at most 40 (as AMI and AGI show it: without edge spaces)."""
    return "".join(c for c in raw.decode("latin-1") if c in NAME_CHARS)[:40].strip()


def decode_raw(value: str) -> tuple[bytes, bytes]:
    """IVR_CALLERID_RAW: base64(number) ':' base64(name), each of the value with '%' and ':' %-escaped."""
    number, name = value.split(":")
    return unquote_to_bytes(base64.b64decode(number)), unquote_to_bytes(base64.b64decode(name))


async def test_hostile_caller_ids_are_sanitized_once_at_the_entry(stack: Stack, ami: AmiClient, agi: AgiSwitch) -> None:
    """Hostile caller numbers and names (SIP From from the trunk, simulated callers) reach a queue with
    only a safe caller ID everywhere downstream, the original kept as data, and no forged queue_log line."""
    calls: dict[str, dict[str, str]] = {}  # uniqueid → what we saw
    by_exten: dict[str, str] = {}  # dialed exten → case (SIP calls)
    expected: dict[str, tuple[bytes, bytes]] = {}  # case → (raw number, raw name)

    def on_event(fields: dict[str, str]) -> None:
        name, uniqueid = fields.get("Event"), fields.get("Uniqueid", "")
        if name == "Newchannel" and fields.get("Exten") in by_exten:
            calls[uniqueid] = {"case": by_exten[fields["Exten"]], "dnid": fields["Exten"].removesuffix("abc")}
        if uniqueid not in calls:
            return
        if name == "QueueCallerJoin":
            calls[uniqueid].update(queue=fields["Queue"], num=fields["CallerIDNum"], name=fields["CallerIDName"])

    unsubscribe = ami.on("*", on_event)
    trunk_calls: list[TrunkCall] = []
    try:
        for case, number in HOSTILE_NUMBERS.items():
            # Also a dialed string with letters: it reaches AGI as agi_dnid, which must be digits too.
            exten = "112" + "".join(secrets.choice("0123456789") for _ in range(9)) + "abc"
            by_exten[exten] = case
            expected[case] = (number.encode(), quoted_name(HOSTILE_NAMES[case]).encode())
            trunk_calls.append(await trunk_call(stack, exten, number, HOSTILE_NAMES[case]).__aenter__())
        finals = await asyncio.gather(*(call.invite() for call in trunk_calls))
        assert [final.status for final in finals] == [200] * len(finals)
        for case, (number_bytes, name_bytes) in SIM_NAMES.items():
            token = secrets.token_hex(6)
            calls[f"sim-{token}-in"] = {"case": case}  # before Originate: its events may come first
            expected[case] = (number_bytes, name_bytes)
            await originate_sim(ami, token, number_bytes, name_bytes)
        await until(lambda: all("queue" in seen for seen in calls.values()) and len(calls) == len(expected), timeout=40)
    finally:
        unsubscribe()
        for call in trunk_calls:
            await call.__aexit__(None, None, None)
        await hang_up_sims(ami, [uid for uid, seen in calls.items() if seen["case"] in SIM_NAMES])

    sessions = {session.env.uniqueid: session.env for session in agi.sessions}
    for uniqueid, seen in calls.items():
        raw_number, raw_name = expected[seen["case"]]
        assert seen["queue"] == CENTRAL, seen
        assert seen["num"] == safe_number(raw_number), seen
        assert seen["name"] == safe_name(raw_name), seen
        env = sessions[uniqueid]
        # IVR_CALLERID_RAW, as the dialplan hands it to our service (agi_arg_1).
        assert decode_raw(env.get("agi_arg_1")) == (raw_number, raw_name), env.headers
        assert (env.caller_number, env.caller_name) == (seen["num"], seen["name"]), env.headers
        # Asterisk writes "unknown" for an empty DNID (the simulated callers dial nothing).
        assert env.get("agi_dnid") == seen.get("dnid", "unknown"), env.headers

    queue_log = stack.settings.asterisk_dir / "log" / "queue_log"
    await until(
        lambda: all(
            f"|{uid}|" in queue_log.read_text(errors="replace") and _left_queue(queue_log, uid) for uid in calls
        ),
        timeout=15,
    )
    lines = queue_log.read_text(errors="replace").splitlines()
    for line in lines:
        fields = line.split("|")
        assert len(fields) >= 5 and fields[0].isdigit() and int(fields[0]) >= STARTED - 5, line
        assert QUEUE_LOG_FIELDS.get(fields[4]) == len(fields), line
    entered = {line.split("|")[1]: line.split("|")[6] for line in lines if "|ENTERQUEUE|" in line}
    assert {uid: entered[uid] for uid in calls} == {uid: seen["num"] for uid, seen in calls.items()}


def _left_queue(queue_log: Path, uniqueid: str) -> bool:
    return any(
        f"|{uniqueid}|" in line and ("|ABANDON|" in line or "|COMPLETE" in line)
        for line in queue_log.read_text(errors="replace").splitlines()
    )


async def originate_sim(ami: AmiClient, token: str, number: bytes, name: bytes) -> None:
    """A simulated caller (AMI Originate) whose number and name are any bytes; uniqueid sim-TOKEN-in."""
    await ami.action(
        {
            "Action": "Originate",
            "Channel": "Local/112@siaga-sim-entry",
            "Context": "siaga-sim-caller",
            "Exten": "s",
            "Priority": "1",
            "Async": "true",
            "ChannelId": f"sim-{token}",
            "OtherChannelId": f"sim-{token}-in",
            "Timeout": "30000",
            "Variable": [
                "SIM_FIRST_DELAY=1",
                "SIM_DIGITS=",
                "SIM_DTMF_GAP_MS=250",
                "SIM_HOLD=90",
                f"SIM_CALLER_NUM_B64={base64.b64encode(number).decode()}",
                f"SIM_CALLER_NAME_B64={base64.b64encode(name).decode()}",
            ],
        },
        timeout=15.0,
    )


async def hang_up_sims(ami: AmiClient, entry_ids: list[str]) -> None:
    for entry_id in entry_ids:
        await ami.action({"Action": "Hangup", "Channel": entry_id.removesuffix("-in")})


# --- item 5: AMI accounts by need; safety values are not globals ----------------------------------


@pytest.mark.parametrize(
    "action",
    [
        pytest.param({"Action": "Setvar", "Variable": "IVR_CENTRAL_QUEUE", "Value": "nowhere"}, id="setvar-global"),
        pytest.param(
            {
                "Action": "Redirect",
                "Channel": "PJSIP/telco-112-00000001",
                "Context": "siaga-sim-bridge",
                "Exten": "x1",
                "Priority": "1",
            },
            id="redirect",
        ),
        pytest.param({"Action": "Hangup", "Channel": "PJSIP/telco-112-00000001"}, id="hangup"),
        pytest.param({"Action": "Command", "Command": "core show channels"}, id="cli-command"),
        pytest.param(
            {
                "Action": "UpdateConfig",
                "SrcFilename": "extensions.conf",
                "DstFilename": "extensions.conf",
                "Action-000000": "NewCat",
                "Cat-000000": "x",
            },
            id="update-config",
        ),
    ],
)
async def test_service_account_may_not_change_globals_or_touch_calls(stack: Stack, action: dict[str, str]) -> None:
    """The service's AMI account is refused anything beyond queue members: globals, calls, CLI, config."""
    keys = load_secrets(stack.settings, create=False)
    reply = await _as_account(stack, keys.ami_user, keys.ami_secret, action)
    assert (reply["Response"], reply.get("Message")) == ("Error", "Permission denied"), reply


async def _as_account(stack: Stack, user: str, secret: str, action: dict[str, str]) -> dict[str, str]:
    """Asterisk's reply to ``action`` sent by the AMI account ``user``."""
    session, login = await RawAmi.login(stack.settings.ami_port, user, secret)
    try:
        assert login["Response"] == "Success", login
        return await session.action(action)
    finally:
        await session.close()


@pytest.mark.parametrize(
    ("application", "data"),
    [("System", "touch /tmp/siaga-owned"), ("Exec", "System(true)"), ("Wait", "${SHELL(true)}")],
    ids=["system", "exec", "shell-in-data"],
)
async def test_service_account_may_originate_nothing_that_reaches_a_shell(
    stack: Stack, application: str, data: str
) -> None:
    """The service may Originate (a supervisor's ChanSpy call) but, without `system`, Asterisk refuses any
    application or data that could reach a shell."""
    keys = load_secrets(stack.settings, create=False)
    action = {"Action": "Originate", "Channel": "Local/112@siaga-112", "Application": application, "Data": data}
    reply = await _as_account(stack, keys.ami_user, keys.ami_secret, action)
    # Asterisk 22.10.1's words (measured); older releases said "... requires the additional System privilege".
    assert (reply["Response"], reply.get("Message")) == ("Error", "Originate Access Forbidden: app or data blacklisted")


@pytest.mark.parametrize(
    "action",
    [
        pytest.param({"Action": "Originate", "Channel": "Local/112@siaga-112", "Application": "Wait"}, id="originate"),
        pytest.param(
            {"Action": "QueueAdd", "Queue": "q112", "Interface": "Local/x@siaga-sim-operator/n"}, id="queueadd"
        ),
        pytest.param({"Action": "Command", "Command": "core show channels"}, id="cli-command"),
    ],
)
async def test_transfer_account_has_nothing_but_call(stack: Stack, action: dict[str, str]) -> None:
    """The service's second account (a warm transfer's Bridge needs `call`) is refused everything else."""
    keys = load_secrets(stack.settings, create=False)
    reply = await _as_account(stack, keys.transfer_ami_user, keys.transfer_ami_secret, action)
    assert (reply["Response"], reply.get("Message")) == ("Error", "Permission denied"), reply


async def test_service_account_can_do_its_job(stack: Stack) -> None:
    """The service's account still reads queue state and logs queue members in, pauses and out."""
    keys = load_secrets(stack.settings, create=False)
    session, _login = await RawAmi.login(stack.settings.ami_port, keys.ami_user, keys.ami_secret)
    member = "Local/op-fault@siaga-sim-operator/n"
    try:
        replies = [
            await session.action(fields)
            for fields in (
                {"Action": "QueueStatus", "Queue": CENTRAL},
                {"Action": "QueueAdd", "Queue": CENTRAL, "Interface": member, "Paused": "true"},
                {"Action": "QueuePause", "Queue": CENTRAL, "Interface": member, "Paused": "true"},
                {"Action": "QueueRemove", "Queue": CENTRAL, "Interface": member},
            )
        ]
    finally:
        await session.close()
    assert [reply["Response"] for reply in replies] == ["Success"] * 4, replies


OLD_GLOBALS = {
    "IVR_CENTRAL_QUEUE": "nowhere",
    "IVR_AGI_URL": "agi://127.0.0.1:9",
    "IVR_AGI_LIMIT": "1",
    "IVR_FALLBACK_PRIORITY": "-7",
}


async def test_setting_the_old_globals_changes_nothing(stack: Stack, call: Caller, agi: AgiSwitch) -> None:
    """Globals set over AMI (the strongest account) cannot move the central queue, the AGI URL, the
    session bound or the fallback priority: the next calls, routed and fallback, still reach q112."""
    keys = load_secrets(stack.settings, create=False)
    session, login = await RawAmi.login(stack.settings.ami_port, keys.test_ami_user, keys.test_ami_secret)
    assert login["Response"] == "Success", login
    before = {
        name: (await session.action({"Action": "Getvar", "Variable": name})).get("Value", "") for name in OLD_GLOBALS
    }
    try:
        for name, value in OLD_GLOBALS.items():
            reply = await session.action({"Action": "Setvar", "Variable": name, "Value": value})
            assert reply["Response"] == "Success", reply
        routed = await call("1")
        await agi.stop()
        try:
            with last_line_broken(stack):
                fallback = await call("1")
        finally:
            await agi.start_real()
    finally:
        for name, value in before.items():
            await session.action({"Action": "Setvar", "Variable": name, "Value": value})
        await session.close()
    assert (routed.route.get("Category"), routed.queue, routed.answered) == ("darurat-umum", CENTRAL, True)
    assert (fallback.route.get("Action"), fallback.queue, fallback.answered) == ("fallback", CENTRAL, True)
    # The dialplan's route event reads QUEUE_PRIO back from the channel as the caller is queued.
    emergency = max(c.priority for c in stack.config.current().sop.categories.values() if c.emergency)
    assert fallback.route.get("QueuePriority") == str(emergency)


# --- item 3 (CDR) and item 9 (file modes, media address) ------------------------------------------


async def test_a_finished_call_leaves_a_cdr_row(stack: Stack, call: Caller) -> None:
    """Every finished call is in Asterisk's CDR (cdr-csv) with the userfield siaga112."""
    report = await call("1")
    assert report.answered
    master = stack.settings.asterisk_dir / "log" / "cdr-csv" / "Master.csv"
    entry = report.channel + "-in"

    def row() -> list[str] | None:
        if not master.exists():
            return None
        with master.open(newline="", errors="replace") as handle:
            return next((fields for fields in csv.reader(handle) if entry in fields), None)

    found = await until(row, timeout=15)
    assert found[-1] == "siaga112", found


async def test_records_and_logs_are_not_world_readable(stack: Stack, call: Caller) -> None:
    """After a call, var/ and everything Asterisk logged (queue_log, CDR, messages) is closed to others."""
    report = await call("1")
    assert report.answered
    log_dir = stack.settings.asterisk_dir / "log"
    await until(lambda: (log_dir / "cdr-csv" / "Master.csv").exists() and (log_dir / "queue_log").exists(), timeout=15)
    paths = [stack.settings.var, stack.settings.asterisk_dir, *sorted(log_dir.rglob("*")), log_dir]
    opened = {
        str(path.relative_to(stack.settings.root)): stat.filemode(path.stat().st_mode)
        for path in paths
        if path.stat().st_mode & (stat.S_IRWXO | stat.S_IWGRP)
    }
    assert opened == {}
    assert {"queue_log", "messages.log", "Master.csv"} <= {path.name for path in log_dir.rglob("*")}


async def test_rtp_listens_only_on_the_media_address(stack: Stack) -> None:
    """A trunk call's RTP socket is bound to the configured media address (127.0.0.1), not to all."""
    assert stack.settings.media_address == "127.0.0.1"
    async with trunk_call(stack, "112", fresh_number()) as call:
        final = await call.invite()
        assert final.status == 200, final.first_line
        address, port = final.media()
        bound = udp_bindings(port)
    assert address == "127.0.0.1"
    assert bound == {"127.0.0.1"}, bound


def udp_bindings(port: int) -> set[str]:
    """Local addresses of UDP sockets on ``port`` in this network namespace (what `ss -uln` shows)."""
    found: set[str] = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local = line.split()[1]
            address, hex_port = local.rsplit(":", 1)
            if int(hex_port, 16) != port:
                continue
            if len(address) == 8:
                found.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
            else:
                found.add("::" if int(address, 16) == 0 else address)
    return found
