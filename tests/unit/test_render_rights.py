"""Rendering (no Asterisk): AMI accounts by need, safety values as constants, private var/, media address."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from ivr.ami.service_events import SERVICE_EVENTS
from ivr.asterisk.provision import AsteriskInstall
from ivr.asterisk.render import RenderError, load_secrets, render
from ivr.config import load_config
from ivr.settings import Settings
from tests.unit.conftest import REPO, given_root

INSTALL = AsteriskInstall(binary="/usr/sbin/asterisk", module_dir="/usr/lib/asterisk/modules", version="22")


def rendered(root: Path) -> Path:
    given_root(root, REPO)
    settings = Settings.load(root)
    render(settings, load_config(root).sop, INSTALL, REPO / "asterisk-config")
    return settings.asterisk_dir / "etc"


def account(manager: str, user: str) -> dict[str, str]:
    section = manager.split(f"[{user}]\n", 1)[1].split("\n[", 1)[0]
    return dict(re.findall(r"^(read|write) = (.*)$", section, re.M))


def test_service_account_manages_queue_members_and_originates_only(tmp_path: Path) -> None:
    """The service's AMI account writes `agent` and `originate` (an operator's callback, a supervisor's
    ChanSpy call), never `system` or `call`; hanging up and variables belong to the test account. The
    one action of `call` the service needs (a warm transfer's Bridge) has an account that writes only that."""
    etc = rendered(tmp_path)
    keys = load_secrets(Settings.load(tmp_path), create=False)
    manager = (etc / "manager.conf").read_text()
    assert account(manager, keys.ami_user) == {"read": "system,agent,dtmf,user", "write": "agent,originate"}
    assert re.search(r"^load => app_chanspy\.so$", (etc / "modules.conf").read_text(), re.M)
    assert account(manager, keys.test_ami_user) == {
        "read": "system,call,agent,user,dialplan,agi,dtmf",
        "write": "originate,call,agent",
    }
    assert account(manager, keys.transfer_ami_user) == {"read": "system", "write": "call"}
    assert len({keys.ami_secret, keys.test_ami_secret, keys.transfer_ami_secret}) == 3


def event_filters(manager: str, user: str) -> list[str]:
    section = manager.split(f"[{user}]\n", 1)[1].split("\n[", 1)[0]
    return re.findall(r"^eventfilter(.*)$", section, re.M)


def test_service_account_is_sent_only_the_events_it_listens_to(tmp_path: Path) -> None:
    """The service's account has an include filter per SERVICE_EVENTS name, DTMFEnd only as the caller's
    channel received it, UserEvent only our dialplan's SiagaRoute; the test and transfer accounts have none."""
    etc = rendered(tmp_path)
    keys = load_secrets(Settings.load(tmp_path), create=False)
    manager = (etc / "manager.conf").read_text()
    assert event_filters(manager, keys.ami_user) == [
        *(f"(action(include),name({name})) =" for name in SERVICE_EVENTS if name not in ("DTMFEnd", "UserEvent")),
        "(action(include),name(DTMFEnd),header(Direction),method(exact)) = Received",
        "(action(include),name(UserEvent),header(UserEvent),method(exact)) = SiagaRoute",
    ]
    assert event_filters(manager, keys.test_ami_user) == event_filters(manager, keys.transfer_ami_user) == []


def test_safety_values_are_constants_not_globals(tmp_path: Path) -> None:
    """extensions.conf has no [globals] and names the central queue and AGI URL literally."""
    text = (rendered(tmp_path) / "extensions.conf").read_text()
    assert not re.search(r"^\[globals\]", text, re.M)
    assert "Queue(q112,c)" in text and f"AGI({Settings.load(tmp_path).agi_url}/112,${{IVR_CALLERID_RAW}})" in text
    assert not re.search(r"\$\{IVR_(CENTRAL_QUEUE|AGI_URL|AGI_LIMIT|FALLBACK_PRIORITY)\}", text)


def test_old_secrets_file_gains_the_later_accounts(tmp_path: Path) -> None:
    """A secrets.json from before the split keeps its secrets and gains the test and transfer accounts, still 0600."""
    settings = Settings.load(tmp_path)
    settings.var.mkdir()
    old = {"ami_user": "siaga", "ami_secret": "s3cret", "phone_password": "pw"}
    settings.secrets_file.write_text(json.dumps(old))
    with pytest.raises(RenderError, match="no test or transfer AMI account yet"):
        load_secrets(settings, create=False)
    keys = load_secrets(settings)
    assert (keys.ami_user, keys.ami_secret, keys.phone_password) == ("siaga", "s3cret", "pw")
    assert keys.test_ami_user == "siaga-test" and len(keys.test_ami_secret) > 20
    assert keys.transfer_ami_user == "siaga-transfer" and len(keys.transfer_ami_secret) > 20
    assert load_secrets(settings, create=False) == keys
    assert stat.S_IMODE(settings.secrets_file.stat().st_mode) == 0o600


def test_var_is_private_and_cdr_directory_exists(tmp_path: Path) -> None:
    """After render var/ is 0750 and cdr_csv's directory exists (cdr_csv creates none)."""
    rendered(tmp_path)
    settings = Settings.load(tmp_path)
    assert stat.S_IMODE(settings.var.stat().st_mode) == 0o750
    assert (settings.asterisk_dir / "log" / "cdr-csv").is_dir()


def test_media_address_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """IVR_MEDIA_ADDRESS sets the address RTP binds to; 127.0.0.1 by default."""
    assert Settings.load(tmp_path).media_address == "127.0.0.1"
    monkeypatch.setenv("IVR_MEDIA_ADDRESS", "10.1.2.3")
    pjsip = (rendered(tmp_path) / "pjsip.conf").read_text()
    assert pjsip.count("media_address = 10.1.2.3\nbind_rtp_to_media_address = yes") == 2


def test_a_transfer_can_reach_every_queue_and_falls_back_to_the_operator_then_central(tmp_path: Path) -> None:
    """xfer-<queue> for each SOP queue, reachable from the operators' phones; a failed one dials back only
    an operator's phone (the channel Asterisk names), then the central queue."""
    etc = rendered(tmp_path)
    transfers = (etc / "extensions_transfer.conf").read_text()
    queues = sorted(load_config(REPO).sop.queues)
    assert [line.split(",")[0] for line in transfers.splitlines() if line.startswith("exten => xfer-")] == [
        f"exten => xfer-{queue}" for queue in queues
    ]
    assert 'GotoIf($["${SIAGA_XFER_FROM:0:9}" != "PJSIP/op-"]?central)' in transfers
    assert " same => n(central),Goto(siaga-central,s,1)" in transfers
    extensions = (etc / "extensions.conf").read_text()
    operators = extensions.split("[from-operators]\n", 1)[1].split("\n\n", 1)[0]
    # Only the transfer targets: a REFER to anything else is refused (404), never a Hangup of the caller.
    assert [line for line in operators.splitlines() if not line.startswith(";")] == ["include => siaga-transfer"]
    assert "#include extensions_transfer.conf" in extensions
