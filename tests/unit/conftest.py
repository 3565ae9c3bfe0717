"""Helpers for unit tests: a configuration root made from the small alternative fixture."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ivr.config import Config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REPO = Path(__file__).resolve().parents[2]


def given_root(target: Path, source: Path) -> Path:
    for name in ("dialplan", "sop"):
        shutil.copytree(source / name, target / name)
    return target


@pytest.fixture
def alt_root(tmp_path: Path) -> Path:
    """A private copy of tests/fixtures/alt that a test may edit."""
    return given_root(tmp_path, FIXTURES / "alt")


@pytest.fixture
def shipped_root(tmp_path: Path) -> Path:
    """A private copy of the shipped dialplan/ and sop/."""
    return given_root(tmp_path, REPO)


@pytest.fixture
def alt_config(alt_root: Path) -> Config:
    """The alternative fixture, loaded and checked (estimated timings)."""
    from ivr.check import check

    result = check(alt_root, None)
    assert result.config is not None, result.problems
    return result.config
