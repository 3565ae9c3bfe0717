"""Call recordings: found only by a call id (no path from a request), kept for the SOP's retention
period and then deleted, played back to supervisors only (audited), and a disk running out is an alarm."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import ivr.store.recordings as recordings_module
from ivr.store.recordings import Recordings
from ivr.web.console import Console
from ivr.web.recordings import RecordingsWeb
from tests.unit.test_console_web import Web, login, serve

DAY = 86400.0
NOW = 1_800_000_000.0


def wav(directory: Path, uniqueid: str, size: int = 1044, age_days: float = 0.0) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{uniqueid}.wav"
    path.write_bytes(b"\0" * size)
    os.utime(path, (NOW - age_days * DAY, NOW - age_days * DAY))
    return path


def test_a_recording_is_found_by_call_id_only(tmp_path: Path) -> None:
    """A call id finds its file; a path, a header-only file or a missing one finds nothing."""
    spool = tmp_path / "monitor"
    found = wav(spool, "1733100000.12")
    wav(spool, "1733100000.13", size=44)
    (tmp_path / "secret.wav").write_bytes(b"\0" * 1000)
    recordings = Recordings(spool)
    assert recordings.path_of("1733100000.12") == found
    for asked in ("1733100000.13", "1733100000.99", "../secret", "..", "a/b", "x\n", ""):
        assert recordings.path_of(asked) is None, asked


def test_recordings_past_the_retention_period_are_deleted(tmp_path: Path) -> None:
    """90 days kept: a 91-day-old recording goes, an 89-day-old one stays; the ids deleted are returned."""
    spool = tmp_path / "monitor"
    wav(spool, "old", age_days=91)
    wav(spool, "young", age_days=89)
    assert Recordings(spool).prune(90, now=NOW) == ["old"]
    assert sorted(path.stem for path in spool.glob("*.wav")) == ["young"]


def test_a_disk_running_out_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under 5% free on the recordings' disk: low_disk (the /healthz alarm); plenty free: not."""
    recordings = Recordings(tmp_path)
    monkeypatch.setattr(recordings_module.shutil, "disk_usage", lambda _path: shutil._ntuple_diskusage(100, 97, 3))  # type: ignore[attr-defined]
    assert recordings.low_disk()
    monkeypatch.setattr(recordings_module.shutil, "disk_usage", lambda _path: shutil._ntuple_diskusage(100, 50, 50))  # type: ignore[attr-defined]
    assert not recordings.low_disk()


@pytest.fixture
async def web(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Web]:
    spool = tmp_path / "monitor"
    wav(spool, "1733100000.12")

    def behind(console: Console) -> list[Any]:
        return [RecordingsWeb(Recordings(spool), console)]

    opened = await serve(tmp_path, monkeypatch, behind_console=behind)
    yield opened
    await opened.client.close()
    await opened.kit.close()


async def test_only_a_supervisor_plays_a_recording_and_it_is_audited(web: Web) -> None:
    """budi (operator): 403; sari (supervisor): 200 audio/wav, and the audit log says she played it."""
    await login(web.client, "budi")
    response = await web.client.get("/api/recordings/1733100000.12")
    assert response.status == 403
    web.client.session.cookie_jar.clear()
    await login(web.client, "sari")
    response = await web.client.get("/api/recordings/1733100000.12")
    assert (response.status, response.headers["Content-Type"]) == (200, "audio/wav")
    assert len(await response.read()) == 1044
    assert (await web.client.get("/api/recordings/1733100000.99")).status == 404
    played = [(e["actor"], e["action"], e["detail"]) for e in web.kit.console.audit_log()]
    assert ("sari", "recording_played", {"uniqueid": "1733100000.12"}) in played
