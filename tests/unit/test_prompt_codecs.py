"""Prompts are stored in the trunk's codecs beside the wav, so Asterisk need not transcode them per call."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import pytest

from ivr.config.prompts import PromptText, Segment
from ivr.prompts.build import build_one


@pytest.fixture(autouse=True)
def sox_is_installed() -> None:
    """sox converts the audio; ./siaga installs it, so a machine without it fails here, never skips."""
    if shutil.which("sox") is None:
        pytest.fail("sox is missing: apt-get install sox (./siaga test installs it)")


def given_recording(recordings: Path, seconds: float) -> None:
    """A recorded prompt (8 kHz mono 16-bit, a ramp so the codecs have something to encode)."""
    path = recordings / "id" / "menu.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = int(8000 * seconds)
    with wave.open(str(path), "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(
            b"".join(((i * 37) % 20000 - 10000).to_bytes(2, "little", signed=True) for i in range(frames))
        )


def text() -> PromptText:
    return PromptText("menu", "id", (Segment("Tekan satu.", "1"),))


def test_alaw_and_ulaw_copies_hold_every_sample_of_the_wav(tmp_path: Path) -> None:
    """Each codec copy has one byte per sample of the built wav, and the two codecs differ."""
    given_recording(tmp_path / "rec", 0.5)
    build_one(text(), tmp_path / "sounds", tmp_path / "rec")
    wav = tmp_path / "sounds" / "id" / "menu.wav"
    with wave.open(str(wav), "rb") as audio:
        samples = audio.getnframes()
    alaw, ulaw = wav.with_suffix(".alaw").read_bytes(), wav.with_suffix(".ulaw").read_bytes()
    assert (len(alaw), len(ulaw)) == (samples, samples) == (4000, 4000)
    assert alaw != ulaw


def test_copies_follow_a_new_recording_and_reappear_when_deleted(tmp_path: Path) -> None:
    """A changed recording changes the copies; a deleted copy is made again on the next build."""
    given_recording(tmp_path / "rec", 0.5)
    build_one(text(), tmp_path / "sounds", tmp_path / "rec")
    given_recording(tmp_path / "rec", 0.25)
    build_one(text(), tmp_path / "sounds", tmp_path / "rec")
    alaw = tmp_path / "sounds" / "id" / "menu.alaw"
    assert alaw.stat().st_size == 2000
    alaw.unlink()
    build_one(text(), tmp_path / "sounds", tmp_path / "rec")
    assert alaw.stat().st_size == 2000
