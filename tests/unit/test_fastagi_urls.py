"""IVR_FASTAGI_URLS: the FastAGI services the dialplan tries in order; only plain agi://host:port
addresses ever reach AGI()'s arguments in the rendered dialplan."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ivr.asterisk.provision import AsteriskInstall
from ivr.asterisk.render import RenderError, render
from ivr.config import load_config
from ivr.settings import Settings
from tests.unit.conftest import REPO, given_root

INSTALL = AsteriskInstall(binary="/usr/sbin/asterisk", module_dir="/usr/lib/asterisk/modules", version="22")


def test_the_default_is_our_own_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset: one service, ours, at IVR_AGI_PORT."""
    monkeypatch.delenv("IVR_FASTAGI_URLS", raising=False)
    monkeypatch.setenv("IVR_AGI_PORT", "4599")
    assert Settings.load(tmp_path).agi_urls == ("agi://127.0.0.1:4599",)


def test_a_list_is_kept_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Comma-separated, blanks around the commas ignored, order kept (it is the order of the tries)."""
    monkeypatch.setenv("IVR_FASTAGI_URLS", " agi://10.0.0.2:4573, agi://[::1]:4573 ,agi://ivr-b.local")
    assert Settings.load(tmp_path).agi_urls == ("agi://10.0.0.2:4573", "agi://[::1]:4573", "agi://ivr-b.local")


@pytest.mark.parametrize(
    "value",
    ["agi://h:1/112", "agi://h:1)", "agi://${SHELL(id)}", "hagi://h", "http://h:1", "agi://h :1", "agi://h:1;x"],
)
def test_anything_but_an_address_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """A path, a parenthesis, an expression, another scheme, a blank: refused at start-up."""
    monkeypatch.setenv("IVR_FASTAGI_URLS", f"agi://127.0.0.1:4573,{value}")
    with pytest.raises(SystemExit, match="IVR_FASTAGI_URLS"):
        Settings.load(tmp_path)


def test_render_refuses_an_address_set_around_the_environment(tmp_path: Path) -> None:
    """Settings built in code (tests, tools) are checked again where the dialplan is written."""
    given_root(tmp_path, REPO)
    settings = replace(Settings.load(tmp_path), fastagi_urls=("agi://127.0.0.1:4573,${SHELL(id)}",))
    with pytest.raises(RenderError, match="IVR_FASTAGI_URLS"):
        render(settings, load_config(tmp_path).sop, INSTALL, REPO / "asterisk-config")
