"""Rendering the runtime Asterisk configuration into ``var/asterisk/etc`` from ``asterisk-config/``
and the SOP. Deterministic: the same inputs (and the same generated secrets) give the same bytes.

Templates use ``{{name}}`` placeholders (Asterisk itself owns ``${...}``). Queues follow from the
SOP and are written here, never copied by hand; the operators' phones, their credentials and the WSS
certificate come from ``ivr.asterisk.phones`` and ``ivr.asterisk.tls``.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from pathlib import Path

from ivr.agi.channel import LAST_MENU_KEY, LAST_MENU_ROUTES
from ivr.ami.service_events import SERVICE_DTMF_DIRECTION, SERVICE_EVENTS, SERVICE_USER_EVENT
from ivr.asterisk import lastline
from ivr.asterisk.phones import PhoneError, write_phones
from ivr.asterisk.provision import AsteriskInstall
from ivr.asterisk.tls import CertificateError, tls_certificate
from ivr.check import session_worst_case
from ivr.config import Config, ConfigError, load_config
from ivr.config.sop import Sop
from ivr.flow.analysis import IncompleteProof
from ivr.operators.pop import CONSULT_VARIABLE
from ivr.operators.states import PHONE_LOST_REASON
from ivr.routing.decide import fallback_priority
from ivr.routing.route_variable import ROUTE_FIELDS, ROUTE_VARIABLE
from ivr.settings import FASTAGI_URL, Settings

PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")
AMI_USER = "siaga"
TEST_AMI_USER = "siaga-test"
TRANSFER_AMI_USER = "siaga-transfer"
# var/ holds the store, queue_log, CDR and logs: caller numbers. Owner and group only.
PRIVATE_DIR_MODE = 0o750


# The FastAGI session bound (TIMEOUT(absolute) around AGI()): a frozen or silent service holds the
# caller (on hold music) only this long before the dialplan queues them centrally, so it is as short
# as the flows allow: their worst case (``ivr.check.session_worst_case``: every listed path with
# every key pressed as late as the flow waits, plus the prank warning) and a margin for what that
# model leaves out: the history lookup the route may wait for (ivr.service.HISTORY_DEADLINE, 2 s),
# the route's round trip and our per-command overhead under a surge (issue 14 measured 0.38 s per
# call at 100 calls, growing with load): SESSION_MARGIN seconds, plus SESSION_MARGIN_SHARE of the
# worst case for playback running slower than the audio's length on a loaded host.
SESSION_MARGIN = 5.0
SESSION_MARGIN_SHARE = 0.10
# When no worst case can be computed (flows that do not load or cannot be timed, which `ivr serve`
# refuses anyway): the bound this project used before it was derived.
FALLBACK_SESSION_LIMIT = 60
# The overflow step only reads the failed route and sets the next: two round trips, no prompt.
OVERFLOW_SESSION_LIMIT = 5


class RenderError(Exception):
    code = "render_failed"


@dataclass(frozen=True)
class Secrets:
    """``ami_user``: the service's AMI account (queue members, callbacks, supervisors' listening);
    ``transfer_ami_user``: the service's second account, for one action (Bridge: a warm transfer's
    completion), which needs the `call` class the first one must not have; ``test_ami_user``: test calls."""

    ami_user: str
    ami_secret: str
    phone_password: str
    test_ami_user: str
    test_ami_secret: str
    transfer_ami_user: str
    transfer_ami_secret: str


# Accounts added after centers had made their secrets file: an older file gains them on first use.
ADDED_ACCOUNTS = {"test": TEST_AMI_USER, "transfer": TRANSFER_AMI_USER}


def load_secrets(settings: Settings, create: bool = True) -> Secrets:
    """Secrets generated on first use and kept (mode 0600) under var/; never in git."""
    path = settings.secrets_file
    if path.exists():
        data = json.loads(path.read_text())
    elif not create:
        raise RenderError(f"{path} not found: run 'ivr render' (or 'ivr up') first")
    else:
        data = {
            "ami_user": AMI_USER,
            "ami_secret": secrets.token_urlsafe(24),
            "phone_password": secrets.token_urlsafe(12),
        }
    missing = [name for name in ADDED_ACCOUNTS if f"{name}_ami_secret" not in data]
    if missing and not create:
        raise RenderError(f"{path} has no {' or '.join(missing)} AMI account yet: run 'ivr render' (or 'ivr up') first")
    for name in missing:
        data[f"{name}_ami_user"] = ADDED_ACCOUNTS[name]
        data[f"{name}_ami_secret"] = secrets.token_urlsafe(24)
    keys = Secrets(**{spec.name: data[spec.name] for spec in dataclass_fields(Secrets)})
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(keys.__dict__, handle, indent=2, sort_keys=True)
    elif missing:
        _write(path, json.dumps(keys.__dict__, indent=2, sort_keys=True))
    return keys


def runtime_dirs(settings: Settings) -> dict[str, Path]:
    base = settings.asterisk_dir
    return {
        "etc_dir": base / "etc",
        "lib_dir": base / "lib",
        "data_dir": base / "data",
        "spool_dir": base / "spool",
        "run_dir": base / "run",
        "log_dir": base / "log",
        "moh_dir": base / "data" / "moh",
        # cdr_csv writes here and creates nothing: without it no CDR is written at all.
        "cdr_csv_dir": base / "log" / "cdr-csv",
        # MixMonitor's recordings (ivr.store.recordings keeps them for the SOP's retention period).
        "monitor_dir": base / "spool" / "monitor",
    }


def render_queues(sop: Sop) -> str:
    """Queues from the SOP. Members log in at run time (QueueAdd), as operators do at their desks."""
    central = sop.central_queue.name
    lines = [
        "; Rendered by `ivr render` from sop/: do not edit here.",
        "[general]",
        "persistentmembers = no",
        "shared_lastcall = yes",
        "",
    ]
    for queue in sorted(sop.queues.values(), key=lambda q: q.name):
        agency = sop.agency_of(queue.name)
        lines += [
            f"[{queue.name}]",
            f"; agency: {agency.label if agency else queue.agency}",
            f"strategy = {queue.strategy}",
            f"timeout = {queue.ring_seconds}",
            "retry = 1",
            "wrapuptime = 0",
            "ringinuse = no",
            "autofill = yes",
            "announce-frequency = 0",
            "musicclass = default",
            "setinterfacevar = yes",
            f"membergosub = {OPERATOR_LEG_CONTEXT}",
        ]
        if queue.name == central:
            # The central call-takers: a caller always joins and stays, whoever is logged in.
            lines += ["joinempty = yes", "leavewhenempty = no"]
        else:
            # Nobody ready (none logged in, all paused): return at once so the chain moves on.
            lines += ["joinempty = paused,unavailable,invalid", "leavewhenempty = paused,unavailable,invalid"]
        lines.append("")
    return "\n".join(lines)


# How often one call goes back to the central queue because its operator's leg was lost (not hung
# up): enough to cover a second lost phone, bounded so that a call an operator ended is not handed
# round for ever (extensions.conf, [siaga-operator-left], says why a second is needed at all).
MAX_REQUEUES = 2
# The context that runs on every operator's leg once it answered a citizen, before they are bridged:
# it hands the leg's own cause to the citizen when the leg ends (extensions.conf says why).
OPERATOR_LEG_CONTEXT = "siaga-operator-leg"
# Where a menu try takes the route of a last menu that Asterisk played itself (agi_tries).
LAST_MENU_CONTEXT = "siaga-last-menu"
# How many times, 50 ms apart, [siaga-operator-left] looks for the ended leg's cause before it counts the
# leg as lost: the leg's hangup handler runs in that leg's own thread, a moment after the citizen is freed.
LEG_CAUSE_POLLS = 20
# How long a transferred caller waits in the agency's queue before going back to the operator.
TRANSFER_WAIT = 60
# How long an operator's consultation call waits in the agency's queue (the citizen is on hold).
CONSULT_WAIT = 45
# After Queue(…,c): answered, and the operator's leg ended with the caller still on the line.
ANSWERED_AND_LEFT = '$["${QUEUESTATUS}" = "CONTINUE" | "${QUEUESTATUS}" = ""]'
# The header's value as the channel keeps it: a uniqueid's characters (ivr.operators.pop.UNIQUEID),
# bounded; the floor checks it names the consulting operator's call in hand.
UNIQUEID_MAX = 64


def render_transfers(sop: Sop) -> str:
    """An operator's blind transfer (SIP REFER to xfer-<queue>) puts the caller into that queue; if
    nobody there takes the call (none logged in, all paused, time out), the caller goes back to the
    operator who transferred (BLINDTRANSFER names their channel), and if they do not answer, to the
    central call-takers: a failed transfer never leaves the caller with nobody.

    A warm transfer starts with a consultation: the operator's phone holds the citizen and calls
    consult-<queue>, naming the citizen's call in an X-Siaga-For header (filtered to a uniqueid's
    characters: it is the browser's data); the agency operator answers from that queue, and the
    console completes it (AMI Bridge: ivr/operators/floor.py), or a desk phone with a REFER/Replaces
    that Asterisk's res_pjsip_refer bridges. A consultation
    nobody answers ends only the consultation; the citizen reaches consult-<queue> only as a blind
    transfer (a Replaces naming a dialog that has just ended), and is then treated as one.

    Whoever answers the transferred citizen, the agency's operator or the one dialled back: when their
    leg ends with the citizen still there (Queue's c, Dial's g), [siaga-operator-left] decides as for
    any answered call: a hang-up ends it, a lost phone puts the citizen back in the central queue."""
    lines = ["; Rendered by `ivr render` from sop/: do not edit here.", "[siaga-transfer]"]
    for queue in sorted(sop.queues):
        lines += [
            f"exten => xfer-{queue},1,Set(SIAGA_XFER_FROM=${{BLINDTRANSFER:0:-9}})",
            f" same => n,UserEvent(SiagaTransfer,Target: {queue},From: ${{SIAGA_XFER_FROM}})",
            " same => n,Set(QUEUESTATUS=)",
            f" same => n,Queue({queue},c,,,{TRANSFER_WAIT})",
            f" same => n,GotoIf({ANSWERED_AND_LEFT}?siaga-operator-left,s,1)",
            " same => n,Goto(siaga-transfer-back,s,1)",
            # A REFER whose Replaces dialog is gone (the consultation just ended) arrives here as a
            # blind transfer of the citizen (res_pjsip_refer's "external replaces"): treated as one.
            f'exten => consult-{queue},1,GotoIf($["${{BLINDTRANSFER}}" != ""]?xfer-{queue},1)',
            f" same => n,Set({CONSULT_VARIABLE}=${{FILTER(a-zA-Z0-9.\\x2d,${{PJSIP_HEADER(read,X-Siaga-For)}})}})",
            f" same => n,Set({CONSULT_VARIABLE}=${{{CONSULT_VARIABLE}:0:{UNIQUEID_MAX}}})",
            f" same => n,Queue({queue},,,,{CONSULT_WAIT})",
            " same => n,Hangup()",
        ]
    lines += [
        "",
        "[siaga-transfer-back]",
        "; Only an operator's phone is dialled back (the channel name Asterisk set, checked here).",
        'exten => s,1,GotoIf($["${SIAGA_XFER_FROM:0:9}" != "PJSIP/op-"]?central)',
        "; The transferring phone ends its own leg after Asterisk accepted the REFER: ring it once it is free.",
        " same => n,StartMusicOnHold()",
        " same => n,Wait(1.5)",
        f" same => n,Dial(${{SIAGA_XFER_FROM}},30,gU({OPERATOR_LEG_CONTEXT}))",
        "; The operator's interface, as app_queue names its members, for the requeue's event.",
        ' same => n,ExecIf($["${DIALSTATUS}" = "ANSWER"]?Set(MEMBERINTERFACE=${SIAGA_XFER_FROM}))',
        ' same => n,GotoIf($["${DIALSTATUS}" = "ANSWER"]?siaga-operator-left,s,1)',
        " same => n(central),Goto(siaga-central,s,1)",
        "",
    ]
    return "\n".join(lines)


# A dial string template: a technology, a target and the number's place; nothing Dial would parse.
CALLBACK_DIAL = re.compile(r"[A-Za-z0-9/@._-]*\{number\}[A-Za-z0-9/@._-]*")


def callback_dial(template: str) -> str:
    """IVR_CALLBACK_DIAL as the dialplan writes it: {number} becomes the checked channel variable."""
    if not CALLBACK_DIAL.fullmatch(template) or "/" not in template:
        raise RenderError(
            f"IVR_CALLBACK_DIAL={template!r}: expected a dial string with {{number}}, like PJSIP/{{number}}@telco-112"
        )
    return template.replace("{number}", "${SIAGA_CALLBACK_NUMBER}")


def service_event_filter() -> str:
    """manager.conf's eventfilter lines of the service's account: SERVICE_EVENTS by name (Asterisk
    matches a name by its hash, no regex over the payload), DTMFEnd only as the caller's channel received
    it, UserEvent only our dialplan's SiagaRoute."""
    narrowed = {
        "DTMFEnd": ("Direction", SERVICE_DTMF_DIRECTION),
        "UserEvent": ("UserEvent", SERVICE_USER_EVENT),
    }
    lines = [f"eventfilter(action(include),name({name})) =" for name in SERVICE_EVENTS if name not in narrowed]
    lines += [
        f"eventfilter(action(include),name({name}),header({header}),method(exact)) = {value}"
        for name, (header, value) in narrowed.items()
    ]
    return "\n".join(lines)


def agi_tries(urls: tuple[str, ...], script: str, arguments: str, limit: int, last_menu: bool = False) -> str:
    """One block of [siaga-112] per FastAGI service, in order: a try that ends with a route goes to
    ``route``; one that refused or ended without a route falls through to the next block.

    ``last_menu``: the session may end by handing its last menu to Asterisk (``AgiChannel.last_menu``):
    Read() ran it (READSTATUS, cleared before each try, says so) and [siaga-last-menu] takes the
    key's route from the routes the session left. A session that died before Read() ran leaves
    READSTATUS empty and no route: the next try.

    The URLs are checked again here (``settings.fastagi_urls``): they are written into AGI()'s
    arguments, where a ',' or '$' would be read as more than an address."""
    bad = [url for url in urls if not FASTAGI_URL.fullmatch(url)]
    if bad or not urls:
        raise RenderError(f"IVR_FASTAGI_URLS: expected agi://host:port, comma-separated; not: {bad!r}")
    split = f"ARRAY({','.join(ROUTE_FIELDS)})=${{{ROUTE_VARIABLE}}}"
    handed_over = f'$[${{LEN(${{{ROUTE_VARIABLE}}})}} = 0 & "${{READSTATUS}}" != ""]'
    lines: list[str] = []
    for number, url in enumerate(urls, start=1):
        target = f"{url}/{script},{arguments}" if arguments else f"{url}/{script}"
        lines += [
            f" ; {script}, service {number} of {len(urls)}",
            f" same => n,Set({ROUTE_VARIABLE}=)",
            *([" same => n,Set(READSTATUS=)"] if last_menu else []),
            f" same => n,Set(TIMEOUT(absolute)={limit})",
            " same => n,StartMusicOnHold()",
            f" same => n,AGI({target})",
            " same => n,Set(TIMEOUT(absolute)=0)",
            " same => n,StopMusicOnHold()",
            *([f" same => n,GosubIf({handed_over}?{LAST_MENU_CONTEXT},s,1)"] if last_menu else []),
            f" same => n,Set({split})",
            ' same => n,GotoIf($["${AGISTATUS}" = "SUCCESS" & "${IVR_ACTION}" != ""]?route)',
            f" same => n,UserEvent(SiagaRoute,Action: agi-failed,Script: {script},Service: {number},"
            "AgiStatus: ${AGISTATUS})",
        ]
    return "\n".join(lines)


def agi_session_limit(settings: Settings, config: Config | None = None) -> int:
    """``IVR_AGI_SESSION_LIMIT`` when set, else the flows' worst case plus the margin, whole seconds.

    ``config``: the configuration being applied (checked already); without it, the files on disk."""
    if settings.agi_session_limit:
        return settings.agi_session_limit
    try:
        worst = session_worst_case(config or load_config(settings.root), settings.sounds_dir)
    except (ConfigError, IncompleteProof):
        return FALLBACK_SESSION_LIMIT
    if worst <= 0:
        return FALLBACK_SESSION_LIMIT
    return math.ceil(worst * (1 + SESSION_MARGIN_SHARE) + SESSION_MARGIN)


def render(
    settings: Settings,
    sop: Sop,
    install: AsteriskInstall,
    template_dir: Path | None = None,
    config: Config | None = None,
) -> Path:
    """Write the runtime config; returns the path of asterisk.conf. ``config``: the checked
    configuration this rendering is for (its flows give the session bound)."""
    template_dir = template_dir or settings.root / "asterisk-config"
    keys = load_secrets(settings)
    dirs = runtime_dirs(settings)
    for directory in dirs.values():
        directory.mkdir(parents=True, exist_ok=True)
    for private in (
        settings.var,
        settings.asterisk_dir,
        dirs["log_dir"],
        dirs["cdr_csv_dir"],
        dirs["lib_dir"],
        dirs["spool_dir"],
        dirs["monitor_dir"],
    ):
        private.chmod(PRIVATE_DIR_MODE)
    (dirs["lib_dir"] / "agi-bin").mkdir(exist_ok=True)
    (settings.var / "lastline" / "pycache").mkdir(parents=True, exist_ok=True)
    session_limit = agi_session_limit(settings, config)
    overflow_limit = min(OVERFLOW_SESSION_LIMIT, session_limit)
    try:
        tls = tls_certificate(settings)
    except CertificateError as error:
        raise RenderError(str(error)) from error
    values = {
        **{name: str(path) for name, path in dirs.items()},
        "module_dir": install.module_dir,
        "package_data_dir": install.data_dir,
        "host": settings.host,
        "ami_host": settings.ami_address,
        "ami_permit": "\n".join(f"permit = {network}" for network in settings.ami_permit),
        "ami_port": str(settings.ami_port),
        "sip_port": str(settings.sip_port),
        "wss_port": str(settings.wss_port),
        "tls_cert_file": str(tls.cert),
        "tls_key_file": str(tls.key),
        "trunk_ip": settings.trunk_ip,
        "ami_user": keys.ami_user,
        "ami_secret": keys.ami_secret,
        "ami_service_events": service_event_filter(),
        "test_ami_user": keys.test_ami_user,
        "test_ami_secret": keys.test_ami_secret,
        "transfer_ami_user": keys.transfer_ami_user,
        "transfer_ami_secret": keys.transfer_ami_secret,
        "media_address": settings.media_address,
        "phone_password": keys.phone_password,
        "fastagi_count": f"{len(settings.agi_urls)} service(s)",
        "menu_tries": agi_tries(settings.agi_urls, "112", "${IVR_CALLERID_RAW}", session_limit, last_menu=True),
        "overflow_tries": agi_tries(settings.agi_urls, "overflow", "", overflow_limit),
        "lastline_launcher": lastline.LAUNCHER,
        "agi_session_limit": str(session_limit),
        "agi_overflow_limit": str(overflow_limit),
        "central_queue": sop.central_queue.name,
        "fallback_priority": str(fallback_priority(sop)),
        "callback_dial": callback_dial(settings.callback_dial),
        "consult_variable": CONSULT_VARIABLE,
        "max_requeues": str(MAX_REQUEUES),
        "leg_cause_polls": str(LEG_CAUSE_POLLS),
        "phone_lost_reason": PHONE_LOST_REASON,
        "operator_leg_context": OPERATOR_LEG_CONTEXT,
        "last_menu_context": LAST_MENU_CONTEXT,
        "last_menu_routes": LAST_MENU_ROUTES,
        "last_menu_key": LAST_MENU_KEY,
        "answered_and_left": ANSWERED_AND_LEFT,
    }
    templates = sorted(template_dir.glob("*.conf"))
    if not templates:
        raise RenderError(f"no *.conf templates in {template_dir}")
    for template in templates:
        text = template.read_text()

        def substitute(match: re.Match[str], name: str = template.name) -> str:
            key = match.group(1)
            if key not in values:
                raise RenderError(f"{name}: unknown placeholder {{{{{key}}}}}")
            return values[key]

        _write(dirs["etc_dir"] / template.name, PLACEHOLDER.sub(substitute, text))
    _write(dirs["etc_dir"] / "queues.conf", render_queues(sop))
    _write(dirs["etc_dir"] / "extensions_transfer.conf", render_transfers(sop))
    launcher = lastline.launcher_path(settings)
    _write(launcher, lastline.launcher(settings, install))
    launcher.chmod(0o700)  # Asterisk execs it; nobody else needs to read it
    try:
        # Endpoints from the roster, and an auth section for each (a live session's password kept).
        write_phones(settings, sop.operators, dirs["etc_dir"])
    except PhoneError as error:
        raise RenderError(str(error)) from error
    return dirs["etc_dir"] / "asterisk.conf"


def _write(path: Path, text: str) -> None:
    """Write only when changed, atomically, owner-only (manager.conf and pjsip.conf hold secrets)."""
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    tmp.replace(path)
