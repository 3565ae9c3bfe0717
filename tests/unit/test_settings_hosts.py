"""The addresses of a deployment where Asterisk and our service may be on different hosts: where the
service listens, where Asterisk reaches its FastAGI, where the AMI is and whom it lets in. Unset, all
are loopback, as before the split."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from ivr.asterisk.render import load_secrets, render
from ivr.config import load_config
from ivr.settings import Settings
from tests.unit.conftest import REPO, given_root
from tests.unit.test_fastagi_urls import INSTALL

ADDRESS_VARIABLES = ("IVR_LISTEN_HOST", "IVR_AGI_HOST", "IVR_AMI_HOST", "IVR_AMI_PERMIT", "IVR_FASTAGI_URLS")


@pytest.fixture(autouse=True)
def no_address_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ADDRESS_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def given_rendered(root: Path) -> tuple[Settings, Path]:
    """The shipped configuration rendered with the environment's settings: (settings, etc/)."""
    given_root(root, REPO)
    settings = Settings.load(root)
    render(settings, load_config(root).sop, INSTALL, REPO / "asterisk-config")
    return settings, settings.asterisk_dir / "etc"


def service_account(manager: str, user: str) -> list[str]:
    """The ACL lines (deny/permit) of one AMI account, in order."""
    section = manager.split(f"[{user}]\n", 1)[1].split("\n[", 1)[0]
    return re.findall(r"^(?:deny|permit) = .*$", section, re.M)


def test_unset_everything_is_loopback(tmp_path: Path) -> None:
    """No setting: the service listens on 127.0.0.1, Asterisk dials it there, AMI binds and is reached
    there and lets the service's account in from there only."""
    settings, etc = given_rendered(tmp_path)
    assert (settings.service_host, settings.agi_urls, settings.ami_address) == (
        "127.0.0.1",
        ("agi://127.0.0.1:4573",),
        "127.0.0.1",
    )
    manager = (etc / "manager.conf").read_text()
    assert re.findall(r"^bindaddr = .*$", manager, re.M) == ["bindaddr = 127.0.0.1"]
    keys = load_secrets(settings, create=False)
    assert service_account(manager, keys.ami_user) == ["deny = 0.0.0.0/0.0.0.0", "permit = 127.0.0.1"]


def test_asterisk_on_another_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The service on 10.0.0.5 (listening there), Asterisk on 10.0.0.9: the dialplan dials the service's
    address, the AMI binds and is reached on Asterisk's, and lets the service's account in from the
    service's network; the test account stays loopback only."""
    monkeypatch.setenv("IVR_LISTEN_HOST", "10.0.0.5")
    monkeypatch.setenv("IVR_AMI_HOST", "10.0.0.9")
    monkeypatch.setenv("IVR_AMI_PERMIT", "10.0.0.5, 10.0.1.0/24")
    settings, etc = given_rendered(tmp_path)
    assert (settings.service_host, settings.agi_urls, settings.ami_address) == (
        "10.0.0.5",
        ("agi://10.0.0.5:4573",),
        "10.0.0.9",
    )
    extensions = (etc / "extensions.conf").read_text()
    assert "AGI(agi://10.0.0.5:4573/112,${IVR_CALLERID_RAW})" in extensions
    manager = (etc / "manager.conf").read_text()
    assert re.findall(r"^bindaddr = .*$", manager, re.M) == ["bindaddr = 10.0.0.9"]
    keys = load_secrets(settings, create=False)
    assert service_account(manager, keys.ami_user) == [
        "deny = 0.0.0.0/0.0.0.0",
        "permit = 10.0.0.5",
        "permit = 10.0.1.0/24",
    ]
    assert service_account(manager, keys.test_ami_user) == [
        "deny = 0.0.0.0/0.0.0.0",
        "permit = 127.0.0.1/255.255.255.255",
    ]


def test_listening_on_every_interface_needs_the_address_asterisk_dials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IVR_LISTEN_HOST=0.0.0.0 alone is refused (Asterisk cannot dial it); with IVR_AGI_HOST the dialplan
    dials that address (brackets for IPv6)."""
    monkeypatch.setenv("IVR_LISTEN_HOST", "0.0.0.0")
    with pytest.raises(SystemExit, match="IVR_AGI_HOST"):
        Settings.load(tmp_path)
    monkeypatch.setenv("IVR_AGI_HOST", "fd00::5")
    settings = Settings.load(tmp_path)
    assert (settings.service_host, settings.agi_urls) == ("0.0.0.0", ("agi://[fd00::5]:4573",))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IVR_LISTEN_HOST", "10.0.0.5,10.0.0.6"),
        ("IVR_AGI_HOST", "ivr/112"),
        ("IVR_AMI_HOST", "${SHELL(id)}"),
        ("IVR_AMI_PERMIT", "10.0.0.300"),
        ("IVR_AMI_PERMIT", "10.0.0.5\npermit = 0.0.0.0/0"),
    ],
)
def test_anything_but_an_address_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    """Values that would add an argument, a path, an expression or a config line are refused at start-up."""
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit, match=name):
        Settings.load(tmp_path)


def test_one_host_set_in_code_moves_everything_as_before(tmp_path: Path) -> None:
    """Settings(host=...) built in code (tests, tools) still means that address for every role."""
    settings = replace(Settings.load(tmp_path), host="10.0.0.7")
    assert (settings.service_host, settings.agi_url, settings.ami_address) == (
        "10.0.0.7",
        "agi://10.0.0.7:4573",
        "10.0.0.7",
    )
