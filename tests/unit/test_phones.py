"""Operators' phones rendered from the roster, per-session credentials, the WSS certificate (no Asterisk)."""

from __future__ import annotations

import re
import stat
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from ivr.asterisk import phones, tls
from ivr.asterisk.phones import (
    AUTH_FILE,
    PHONES_FILE,
    UnknownPhone,
    issue_credentials,
    reset_credentials,
    revoke_credentials,
    sip_account,
)
from ivr.asterisk.provision import AsteriskInstall
from ivr.asterisk.render import RenderError, render
from ivr.asterisk.tls import tls_certificate
from ivr.config import load_config
from ivr.config.roster import Operator
from ivr.settings import Settings
from tests.unit.conftest import REPO, given_root

INSTALL = AsteriskInstall(binary="/usr/sbin/asterisk", module_dir="/usr/lib/asterisk/modules", version="22")
BUDI = Operator("budi", "Budi Santoso", "operator", "c112", ("q112",))
SARI = Operator("sari", "Sari", "operator", "damkar", ("q-damkar",), desk_phone=True)


class Applied:
    """Stands in for the res_pjsip reload: records the auth file as Asterisk would read it then."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.seen: list[dict[str, str]] = []

    def __call__(self) -> None:
        self.seen.append(passwords(self.settings))


def given_rendered(root: Path, *operators: Operator) -> Settings:
    if not (root / "sop").exists():
        given_root(root, REPO)
    settings = Settings.load(root)
    sop = replace(load_config(root).sop, operators={op.id: op for op in operators})
    render(settings, sop, INSTALL, REPO / "asterisk-config")
    return settings


def etc(settings: Settings) -> Path:
    return settings.asterisk_dir / "etc"


def passwords(settings: Settings) -> dict[str, str]:
    text = (etc(settings) / AUTH_FILE).read_text()
    return dict(
        re.findall(r"^\[(.+)-auth\]\ntype = auth\nauth_type = userpass\nusername = \1\npassword = (\S+)$", text, re.M)
    )


def section(text: str, name: str, kind: str) -> dict[str, str]:
    """The ``key = value`` lines of section ``[name]`` whose type is ``kind``."""
    for block in re.split(r"\n(?=\[)", text):
        if block.startswith(f"[{name}]\n") and f"\ntype = {kind}\n" in block + "\n":
            return dict(re.findall(r"^(\w+) = (.*)$", block, re.M))
    raise AssertionError(f"no [{name}] of type {kind}")


def test_browser_phone_per_operator_is_webrtc_over_wss(tmp_path: Path) -> None:
    """Each roster operator gets endpoint op-<id> (webrtc, G.711 only, operators' context, media
    address) and an AOR of one contact that a new registration replaces and that expires in 60 s."""
    settings = given_rendered(tmp_path, BUDI, SARI)
    text = (etc(settings) / PHONES_FILE).read_text()
    endpoint = section(text, "op-budi", "endpoint")
    assert endpoint["webrtc"] == "yes" and endpoint["context"] == "from-operators"
    assert endpoint["allow"] == "ulaw,alaw" and endpoint["auth"] == "op-budi-auth"
    assert endpoint["media_address"] == settings.media_address and endpoint["bind_rtp_to_media_address"] == "yes"
    aor = section(text, "op-budi", "aor")
    assert (aor["max_contacts"], aor["remove_existing"], aor["maximum_expiration"]) == ("1", "yes", "60")
    assert "Budi" not in text, "free text from the roster must not reach Asterisk's config"


def test_pjsip_includes_the_phones_and_a_wss_transport(tmp_path: Path) -> None:
    """pjsip.conf has a protocol=wss transport and includes the rendered phones and their auths."""
    pjsip = (etc(given_rendered(tmp_path, BUDI)) / "pjsip.conf").read_text()
    assert section(pjsip, "transport-wss", "transport")["protocol"] == "wss"
    assert f"#include {PHONES_FILE}\n#include {AUTH_FILE}\n" in pjsip


def test_desk_phone_is_a_second_endpoint_over_udp(tmp_path: Path) -> None:
    """desk_phone: true adds desk-<id> on the UDP transport with plain G.711 (no WebRTC); others get none."""
    settings = given_rendered(tmp_path, BUDI, SARI)
    text = (etc(settings) / PHONES_FILE).read_text()
    desk = section(text, "desk-sari", "endpoint")
    assert desk["transport"] == "transport-udp" and desk["allow"] == "ulaw,alaw" and "webrtc" not in desk
    assert "[desk-budi]" not in text
    assert set(passwords(settings)) == {"op-budi", "op-sari", "desk-sari"}


def test_every_roster_phone_has_an_auth_and_only_roster_phones(tmp_path: Path) -> None:
    """After render each roster phone has one auth section, 0600; an operator who left loses theirs."""
    settings = given_rendered(tmp_path, BUDI, SARI)
    assert stat.S_IMODE((etc(settings) / AUTH_FILE).stat().st_mode) == 0o600
    given_rendered(tmp_path, SARI)
    assert set(passwords(settings)) == {"op-sari", "desk-sari"}


async def test_issue_gives_a_fresh_password_that_asterisk_reads_before_it_returns(tmp_path: Path) -> None:
    """issue_credentials returns a new random password, already in the auth file when Asterisk reloads."""
    settings = given_rendered(tmp_path, BUDI)
    before = passwords(settings)["op-budi"]
    applied = Applied(settings)
    password = await issue_credentials(settings, "budi", apply=applied)
    assert password != before and len(password) >= 32
    assert [seen["op-budi"] for seen in applied.seen] == [password]


async def test_revoke_replaces_the_password_with_one_nobody_was_given(tmp_path: Path) -> None:
    """revoke_credentials leaves neither the issued password nor the earlier one, and reloads."""
    settings = given_rendered(tmp_path, BUDI)
    issued = await issue_credentials(settings, "budi", apply=Applied(settings))
    applied = Applied(settings)
    await revoke_credentials(settings, "budi", apply=applied)
    assert len(applied.seen) == 1 and applied.seen[0]["op-budi"] != issued


async def test_render_keeps_a_live_session_password(tmp_path: Path) -> None:
    """A re-render (an SOP edit) keeps the password of a logged-in operator: nobody is logged out."""
    settings = given_rendered(tmp_path, BUDI, SARI)
    issued = await issue_credentials(settings, "budi", apply=Applied(settings))
    desk = passwords(settings)["desk-sari"]
    given_rendered(tmp_path, BUDI, SARI)
    assert passwords(settings)["op-budi"] == issued and passwords(settings)["desk-sari"] == desk


async def test_unknown_phone_is_refused_without_touching_asterisk(tmp_path: Path) -> None:
    """An operator not in the rendered roster, or a desk phone nobody has, raises and reloads nothing."""
    settings = given_rendered(tmp_path, BUDI)
    before = (etc(settings) / AUTH_FILE).read_text()
    applied = Applied(settings)
    with pytest.raises(UnknownPhone, match="no phone op-ghost"):
        await issue_credentials(settings, "ghost", apply=applied)
    with pytest.raises(UnknownPhone, match="no phone desk-budi"):
        await issue_credentials(settings, "budi", phone="desk", apply=applied)
    assert applied.seen == [] and (etc(settings) / AUTH_FILE).read_text() == before


async def test_reset_revokes_every_browser_credential_but_the_kept(tmp_path: Path) -> None:
    """reset_credentials(keep=...) changes every other browser password in one reload; desk phones stay."""
    settings = given_rendered(tmp_path, BUDI, SARI)
    budi = await issue_credentials(settings, "budi", apply=Applied(settings))
    sari = await issue_credentials(settings, "sari", apply=Applied(settings))
    desk = passwords(settings)["desk-sari"]
    applied = Applied(settings)
    await reset_credentials(settings, keep={"budi"}, apply=applied)
    assert len(applied.seen) == 1
    assert applied.seen[0]["op-budi"] == budi and applied.seen[0]["op-sari"] != sari
    assert applied.seen[0]["desk-sari"] == desk


def test_an_operator_id_that_is_config_syntax_is_refused(tmp_path: Path) -> None:
    """An id with characters Asterisk's config or a SIP URI would read as syntax stops the render."""
    with pytest.raises(RenderError, match=r"operator ids \['bu;di'\] cannot name a SIP phone"):
        given_rendered(tmp_path, replace(BUDI, id="bu;di"))
    assert phones.OPERATOR_ID.fullmatch("budi\n") is None


def test_https_serves_tls_only_on_the_wss_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """http.conf binds TLS to host:IVR_WSS_PORT with the rendered certificate and no plain HTTP address."""
    monkeypatch.setenv("IVR_WSS_PORT", "28089")
    settings = given_rendered(tmp_path, BUDI)
    http = dict(re.findall(r"^(\w+) = (.*)$", (etc(settings) / "http.conf").read_text(), re.M))
    tls = tls_certificate(settings)
    assert http["tlsbindaddr"] == "127.0.0.1:28089" and http["tlsenable"] == "yes"
    assert (http["tlscertfile"], http["tlsprivatekey"]) == (str(tls.cert), str(tls.key))
    assert "bindaddr" not in http and "bindport" not in http
    assert settings.wss_url == "wss://127.0.0.1:28089/ws"


def test_certificate_is_private_and_made_once(tmp_path: Path) -> None:
    """The certificate and key live under var/asterisk/keys (0600, dir 0700) and a re-render keeps them."""
    settings = given_rendered(tmp_path, BUDI)
    tls = tls_certificate(settings)
    assert tls.cert.parent == settings.asterisk_dir / "keys"
    assert stat.S_IMODE(tls.cert.parent.stat().st_mode) == 0o700
    assert {stat.S_IMODE(path.stat().st_mode) for path in (tls.cert, tls.key)} == {0o600}
    made = (tls.cert.read_bytes(), tls.key.read_bytes())
    given_rendered(tmp_path, BUDI)
    assert (tls.cert.read_bytes(), tls.key.read_bytes()) == made


def test_certificate_about_to_expire_is_made_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A certificate that expires within the renewal window is replaced by a new one at render."""
    settings = Settings.load(tmp_path)
    first = tls_certificate(settings).cert.read_bytes()
    monkeypatch.setattr(tls, "CERT_RENEW_BEFORE", (tls.CERT_DAYS + 1) * 86400)
    assert tls_certificate(settings).cert.read_bytes() != first


def test_sip_account_is_what_the_console_needs(tmp_path: Path) -> None:
    """The `sip` object of GET /api/me (docs/console-api.md): WSS URL, URI, user, password, display name."""
    assert sip_account(Settings.load(tmp_path), BUDI, "pw").as_dict() == {
        "ws_url": "wss://127.0.0.1:18089/ws",
        "uri": "sip:op-budi@127.0.0.1",
        "user": "op-budi",
        "password": "pw",
        "display_name": "Budi Santoso",
    }


def test_reload_without_a_running_asterisk_keeps_the_file_for_its_start(tmp_path: Path) -> None:
    """No control socket: nothing to reload (Asterisk reads the file when it starts), no error."""
    assert phones.reload_pjsip(Settings.load(tmp_path), INSTALL) == 0.0


def test_a_reload_refused_again_and_again_gives_up_when_the_service_stops(tmp_path: Path) -> None:
    """Asterisk refuses the reload while a full one runs; the service stopping ends the retries at once,
    not after RELOAD_RETRY_SECONDS (the process cannot exit while the thread retries)."""
    settings = Settings.load(tmp_path)
    control = settings.asterisk_dir / "run" / "asterisk.ctl"
    control.parent.mkdir(parents=True)
    control.touch()
    refusing = tmp_path / "asterisk"
    refusing.write_text("#!/bin/sh\necho 'A module reload request is already in progress; please be patient'\n")
    refusing.chmod(0o755)
    install = replace(INSTALL, binary=str(refusing))
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    with pytest.raises(phones.PhoneError, match="stopping"):
        phones.reload_pjsip(settings, install, stop=stop)
    assert time.monotonic() - started < phones.RELOAD_RETRY_SECONDS / 2
