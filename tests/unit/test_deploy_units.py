"""The systemd units a center installs: valid for systemd, restart always, and independent of each
other (stopping or crashing one never stops the other)."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNITS = sorted((REPO / "docker" / "systemd").glob("*.service"))


def given_unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    return parser


@pytest.mark.parametrize("unit", UNITS, ids=lambda path: path.name)
def test_unit_restarts_always_without_a_start_limit(unit: Path) -> None:
    """Restart=always and StartLimitIntervalSec=0: a crash loop of the line keeps being retried."""
    service = given_unit(unit)["Service"]
    assert (service["Restart"], service["StartLimitIntervalSec"]) == ("always", "0")


def test_the_two_units_do_not_bind_each_other() -> None:
    """No Requires/BindsTo/PartOf between them: systemd never stops Asterisk because ivr stopped."""
    assert [unit.name for unit in UNITS] == ["siaga-asterisk.service", "siaga-ivr.service"]
    for unit in UNITS:
        section = given_unit(unit)["Unit"]
        assert not {"Requires", "BindsTo", "PartOf", "Requisite"} & set(section), unit.name


@pytest.mark.parametrize("unit", UNITS, ids=lambda path: path.name)
def test_systemd_accepts_the_unit(unit: Path, tmp_path: Path) -> None:
    """`systemd-analyze verify` on the unit with /opt/siaga112 pointed at this checkout and its venv."""
    copy = tmp_path / unit.name
    text = unit.read_text().replace("/opt/siaga112/.venv", sys.prefix).replace("/opt/siaga112", str(REPO))
    copy.write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
