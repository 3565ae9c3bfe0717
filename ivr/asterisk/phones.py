"""The operators' phones in Asterisk: one browser phone (WebRTC over WSS) per roster operator, an
optional desk phone (UDP), and per-session SIP credentials (the WSS certificate: ``ivr.asterisk.tls``).

What the web layer calls (all three apply at once, with a reload of res_pjsip alone, which keeps calls
in progress and registrations of other operators; when Asterisk is not running the file is simply
read at its next start):

    password = await issue_credentials(settings, "budi")   # console login: a fresh password, valid now
    await revoke_credentials(settings, "budi")             # console logout: the last one is dead now
    await reset_credentials(settings, keep={"budi"})       # service start: sessions that died with us
    sip_account(settings, operator, password)              # the ``sip`` object of GET /api/me

``phone="desk"`` does the same for an operator's desk phone (roster ``desk_phone: true``); reset
touches browser phones only. A phone that is not rendered raises ``UnknownPhone`` (and nothing is
reloaded); a reload Asterisk refuses for 10 s raises ``PhoneError``. Measured on Asterisk 22.10.1
under bubblewrap: the reload 9-25 ms, issue_credentials 13 ms median (72 ms max of 20), the REGISTER
that follows it 11 ms median; 5 logins at once 54 ms in all.

The truth is one file, ``var/asterisk/etc/pjsip_operator_auth.conf`` (0600): one auth section per
roster phone, always. A phone without a live session has a random password that was never given to
anybody. ``render`` (``write_phones``) keeps every password it finds for a roster phone, so a
re-render never logs out a live session, and gives new phones a never-given one. Every change of
that file happens under one lock (``fcntl``; the CLI's render and the service may run at once).

A revoked password dies at once for new REGISTERs; a browser already registered keeps its contact
until it expires: at most ``REGISTRATION_SECONDS`` (the AOR's maximum_expiration). The web layer
also takes the operator out of the queues at logout, so no call rings a dead session meanwhile.

Why a second endpoint for the desk phone and not a second contact of the browser's: ``webrtc=yes``
makes every call of the endpoint offer DTLS-SRTP, ICE and AVPF, which desk phones mostly cannot
answer. So the desk phone is ``desk-<id>`` (plain RTP over UDP, G.711), the same operator, its own
credential; a queue login chooses the phone by its interface (``PJSIP/op-<id>`` or ``PJSIP/desk-<id>``).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import secrets
import subprocess
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import structlog

from ivr.asterisk.provision import (
    AsteriskInstall,
    AsteriskUnavailable,
    default_cache_dir,
    find_installed,
    find_provisioned,
)
from ivr.config.roster import Operator
from ivr.settings import Settings

log = structlog.get_logger("ivr.asterisk")

Phone = Literal["browser", "desk"]
# Operator ids become SIP users and config section names: nothing that Asterisk's config parser or a
# SIP URI would read as syntax (no ';', '[', whitespace, '@', newline).
OPERATOR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
PASSWORD_LINE = re.compile(r"password = ([A-Za-z0-9_-]+)")
SECTION_LINE = re.compile(r"\[([A-Za-z0-9_.-]+)-auth\]")
AUTH_FILE = "pjsip_operator_auth.conf"
PHONES_FILE = "pjsip_operators.conf"
# The longest a registration lives without a fresh REGISTER (JsSIP renews at 55 s): a revoked
# browser that is still registered can be reached for at most this long.
REGISTRATION_SECONDS = 60
# Seconds without RTP from a browser phone before Asterisk ends its leg. Chromium sends a packet
# every 20 ms while muted and while holding (measured: tests/e2e/test_dead_phone.py), so this is no
# pause of the operator's; short, because the citizen hears nothing meanwhile; not shorter, so that a
# brief network hiccup does not take a working operator's call away.
BROWSER_RTP_TIMEOUT = 6
RELOAD_COMMAND = "module reload res_pjsip.so"
RELOAD_OK = "reloaded successfully"
# A full reload (an SOP edit) may be running: ours is refused meanwhile, so it is tried again.
RELOAD_RETRY_SECONDS = 10.0
# Set once, when the service stops (stop_reloading).
STOPPING = threading.Event()


class PhoneError(Exception):
    code = "phone_error"


class UnknownPhone(PhoneError):
    """No such phone in the rendered roster (not rendered yet, or no desk phone for this operator)."""

    code = "unknown_phone"


@dataclass(frozen=True)
class SipAccount:
    """What the browser's JsSIP needs (docs/console-api.md, ``sip`` of GET /api/me)."""

    ws_url: str
    uri: str
    user: str
    password: str
    display_name: str

    def as_dict(self) -> dict[str, str]:
        return {
            "ws_url": self.ws_url,
            "uri": self.uri,
            "user": self.user,
            "password": self.password,
            "display_name": self.display_name,
        }


def browser_user(operator_id: str) -> str:
    """Also ``Operator.sip_user``; the queue member interface is ``PJSIP/op-<id>``."""
    return f"op-{operator_id}"


def desk_user(operator_id: str) -> str:
    """A prefix of its own, so that no operator id can name another operator's desk phone."""
    return f"desk-{operator_id}"


def sip_user(operator_id: str, phone: Phone) -> str:
    return browser_user(operator_id) if phone == "browser" else desk_user(operator_id)


def sip_account(settings: Settings, operator: Operator, password: str) -> SipAccount:
    user = browser_user(operator.id)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return SipAccount(settings.wss_url, f"sip:{user}@{host}", user, password, operator.name)


def validate_ids(operators: Mapping[str, Operator]) -> None:
    bad = sorted(op_id for op_id in operators if not OPERATOR_ID.fullmatch(op_id))
    if bad:
        raise PhoneError(
            f"operator ids {bad} cannot name a SIP phone: use letters, digits, '_', '.', '-' "
            "(starting with a letter or digit, at most 40)"
        )


def phone_users(operators: Mapping[str, Operator]) -> list[str]:
    """Every SIP user the roster makes: each operator's browser phone, and desk phone if any."""
    users = []
    for op_id, operator in sorted(operators.items()):
        users.append(browser_user(op_id))
        if operator.desk_phone:
            users.append(desk_user(op_id))
    return users


def render_phones(settings: Settings, operators: Mapping[str, Operator]) -> str:
    """pjsip_operators.conf: endpoints and AORs. No names from the roster (free text) reach it."""
    lines = [
        "; Rendered by `ivr render` from the operator roster: do not edit here. The passwords are in",
        f"; {AUTH_FILE}, issued per console session (ivr/asterisk/phones.py).",
        "",
    ]
    for op_id, operator in sorted(operators.items()):
        user = browser_user(op_id)
        lines += [
            f"[{user}]",
            "type = endpoint",
            "; Operators call nothing yet: their phones only receive the queue's calls.",
            "context = from-operators",
            "; ICE, AVPF, rtcp-mux and DTLS-SRTP with a certificate Asterisk makes itself.",
            "webrtc = yes",
            # G.711 only, as the trunk and the prompts: a citizen's voice is 8 kHz G.711, so Opus bought
            # nothing but a transcode on every call (the phones are on the center's LAN, where Opus's
            # loss resilience has nothing to do). It also made the warm-transfer audio defect common:
            # Asterisk sent the agency's phone no RTP after the hand-over in 5 of 8 runs with Opus,
            # 1 of 10 with G.711 (tests/e2e/test_console_e2e.py, still an xfail: cause not found).
            *_media(settings, "ulaw,alaw"),
            "; A browser's Contact names a host like abc.invalid: replies go back over its WebSocket.",
            "rewrite_contact = yes",
            "; A browser sends audio all call long, muted (silence) and holding (sendonly) too: none for this",
            "; long means it is gone (crashed, lid shut, network lost; it sends no BYE). Asterisk ends its leg",
            "; (cause 44) and the dialplan gives the citizen to another call-taker ([siaga-operator-left]).",
            f"rtp_timeout = {BROWSER_RTP_TIMEOUT}",
            f"rtp_timeout_hold = {BROWSER_RTP_TIMEOUT}",
            f"auth = {user}-auth",
            f"aors = {user}",
            "",
            f"[{user}]",
            "type = aor",
            "; One browser per operator: a second console tab takes the phone over.",
            "max_contacts = 1",
            "remove_existing = yes",
            f"maximum_expiration = {REGISTRATION_SECONDS}",
            f"default_expiration = {REGISTRATION_SECONDS}",
            "minimum_expiration = 30",
            "; A closed browser tab is unreachable within seconds, and app_queue then skips it.",
            "qualify_frequency = 15",
            "",
        ]
        if operator.desk_phone:
            desk = desk_user(op_id)
            lines += [
                f"[{desk}]",
                "type = endpoint",
                "context = from-operators",
                "transport = transport-udp",
                *_media(settings, "ulaw,alaw"),
                "force_rport = yes",
                "rewrite_contact = yes",
                f"auth = {desk}-auth",
                f"aors = {desk}",
                "",
                f"[{desk}]",
                "type = aor",
                "max_contacts = 1",
                "remove_existing = yes",
                "maximum_expiration = 300",
                "qualify_frequency = 30",
                "",
            ]
    return "\n".join(lines)


def _media(settings: Settings, codecs: str) -> list[str]:
    return [
        f"media_address = {settings.media_address}",
        "bind_rtp_to_media_address = yes",
        "disallow = all",
        f"allow = {codecs}",
        "dtmf_mode = rfc4733",
        "direct_media = no",
        "rtp_symmetric = yes",
    ]


def write_phones(settings: Settings, operators: Mapping[str, Operator], etc_dir: Path) -> None:
    """For render: the endpoints, and an auth section for every roster phone (live ones kept)."""
    validate_ids(operators)
    _write_private(etc_dir / PHONES_FILE, render_phones(settings, operators))
    users = phone_users(operators)
    with _locked(etc_dir):
        current = _read_auth(etc_dir / AUTH_FILE)
        wanted = {user: current.get(user) or _never_given() for user in users}
        _write_private(etc_dir / AUTH_FILE, _render_auth(wanted))


async def issue_credentials(
    settings: Settings, operator_id: str, phone: Phone = "browser", apply: Callable[[], None] | None = None
) -> str:
    """A fresh random password for the operator's phone, working when this returns; the previous
    one (of an earlier session) no longer does. ``apply``: how Asterisk is made to read the file
    (default: ``reload_pjsip``)."""
    password = secrets.token_urlsafe(24)
    await asyncio.to_thread(_replace, settings, {sip_user(operator_id, phone): password}, apply)
    log.info("phone_credentials_issued", operator=operator_id, phone=phone)
    return password


async def revoke_credentials(
    settings: Settings, operator_id: str, phone: Phone = "browser", apply: Callable[[], None] | None = None
) -> None:
    """The phone's password becomes one nobody was given; a REGISTER with the old one fails from now."""
    await asyncio.to_thread(_replace, settings, {sip_user(operator_id, phone): _never_given()}, apply)
    log.info("phone_credentials_revoked", operator=operator_id, phone=phone)


async def reset_credentials(
    settings: Settings, keep: Collection[str] = (), apply: Callable[[], None] | None = None
) -> None:
    """Every browser credential except those of the operators in ``keep`` is revoked (one reload):
    for a service that starts and knows which console sessions are still alive."""
    kept = {browser_user(op_id) for op_id in keep}

    def fresh(current: Mapping[str, str]) -> dict[str, str]:
        return {user: _never_given() for user in current if user.startswith(browser_user("")) and user not in kept}

    await asyncio.to_thread(_replace, settings, fresh, apply)
    log.info("phone_credentials_reset", kept=sorted(keep))


def _replace(
    settings: Settings,
    change: Mapping[str, str] | Callable[[Mapping[str, str]], Mapping[str, str]],
    apply: Callable[[], None] | None,
) -> None:
    etc_dir = settings.asterisk_dir / "etc"
    with _locked(etc_dir):
        current = _read_auth(etc_dir / AUTH_FILE)
        new = change(current) if callable(change) else change
        unknown = sorted(set(new) - set(current))
        if unknown:
            raise UnknownPhone(f"no phone {', '.join(unknown)} in {etc_dir / AUTH_FILE}: not in the rendered roster")
        _write_private(etc_dir / AUTH_FILE, _render_auth({**current, **new}))
        # Inside the lock: when two logins race, each returns only after a reload that read its password.
        (apply or (lambda: reload_pjsip(settings)))()


def _never_given() -> str:
    return secrets.token_urlsafe(24)


def _render_auth(passwords: Mapping[str, str]) -> str:
    lines = [
        "; Written by ivr/asterisk/phones.py: one auth per roster phone. A password here works only",
        "; while the operator's console session lives; the others were never given to anybody.",
        "",
    ]
    for user, password in sorted(passwords.items()):
        lines += [f"[{user}-auth]", "type = auth", "auth_type = userpass", f"username = {user}"]
        lines += [f"password = {password}", ""]
    return "\n".join(lines)


def _read_auth(path: Path) -> dict[str, str]:
    """Our own file back: user → password. Anything else in it is ignored (and rewritten away)."""
    passwords: dict[str, str] = {}
    user: str | None = None
    try:
        text = path.read_text()
    except FileNotFoundError:
        return passwords
    for line in text.splitlines():
        if section := SECTION_LINE.fullmatch(line):
            user = section.group(1)
        elif (password := PASSWORD_LINE.fullmatch(line)) and user is not None:
            passwords[user] = password.group(1)
    return passwords


@contextmanager
def _locked(etc_dir: Path) -> Iterator[None]:
    etc_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(etc_dir / f".{AUTH_FILE}.lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_private(path: Path, text: str) -> None:
    """Atomically, owner-only; unchanged files are left alone (Asterisk skips unchanged files)."""
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    tmp.replace(path)


@cache
def _installed() -> AsteriskInstall:
    """The Asterisk that runs our config: found, never provisioned from here (a login must not build it)."""
    install = find_installed() or find_provisioned(default_cache_dir())
    if install is None:
        raise AsteriskUnavailable("no Asterisk installed or provisioned: run 'ivr asterisk start' first")
    return install


def stop_reloading() -> None:
    """The service is stopping: a reload running in a worker thread gives up before its next attempt
    (the process cannot exit while one of its threads retries, for up to RELOAD_RETRY_SECONDS)."""
    STOPPING.set()


def reload_pjsip(settings: Settings, install: AsteriskInstall | None = None, stop: threading.Event = STOPPING) -> float:
    """``module reload res_pjsip.so`` over Asterisk's control socket (``asterisk -rx``, the way that
    needs no AMI right: the service's AMI account has neither ``command`` nor ``config``, and keeps
    it that way). Returns the seconds it took; 0 when Asterisk is not running (it reads the file at
    start). Synchronous: when it returns, Asterisk uses the new file. ``stop``, once set, ends it
    before its next attempt with PhoneError (the file is written; Asterisk reads it at its next reload)."""
    control = settings.asterisk_dir / "run" / "asterisk.ctl"
    if not control.exists():
        log.info("phone_credentials_saved_asterisk_not_running")
        return 0.0
    install = install or _installed()
    conf = settings.asterisk_dir / "etc" / "asterisk.conf"
    argv = install.command(["-C", str(conf), "-rx", RELOAD_COMMAND], shared_dirs=[settings.var])
    started = time.monotonic()
    while True:
        if stop.is_set():
            raise PhoneError(f"'{RELOAD_COMMAND}' abandoned: the service is stopping")
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=15, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise PhoneError(f"'{RELOAD_COMMAND}' could not run: {error}") from error
        output = (done.stdout + done.stderr).strip()
        if RELOAD_OK in output:
            seconds = time.monotonic() - started
            log.info("pjsip_reloaded", seconds=round(seconds, 3))
            return seconds
        if "Unable to connect" in output:
            log.warning("phone_credentials_saved_asterisk_not_running", detail=output[:200])
            return 0.0
        if time.monotonic() - started > RELOAD_RETRY_SECONDS:
            raise PhoneError(f"'{RELOAD_COMMAND}' failed: {output[:300]}")
        stop.wait(0.1)


class BrowserPhones:
    """The operators' browser phones as the console sees them (``ivr.web.console.Phones``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ws_url = settings.wss_url

    async def issue(self, operator: Operator) -> str:
        return await issue_credentials(self.settings, operator.id)

    async def revoke(self, operator: Operator) -> None:
        await revoke_credentials(self.settings, operator.id)

    def current(self, operator: Operator) -> str | None:
        """The password Asterisk holds now (a session that outlived a restart of our service keeps it)."""
        etc_dir = self.settings.asterisk_dir / "etc"
        return _read_auth(etc_dir / AUTH_FILE).get(browser_user(operator.id))

    def account(self, operator: Operator, password: str) -> dict[str, str]:
        return sip_account(self.settings, operator, password).as_dict()
