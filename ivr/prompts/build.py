"""Prompt audio from the YAML texts: espeak-ng (voices ``id``, ``en``) → sox → 8 kHz mono 16-bit wav.

A recorded file ``dialplan/recordings/<language>/<id>.wav`` wins over synthesis (converted to the
same format). Files are rebuilt only when their text or recording changed: a ``.src`` file beside
each wav holds the hash of what made it. Each prompt's duration is known from its wav header.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger("ivr.prompts")

VOICES = {"id": "id", "en": "en"}
SPEED_WPM = 165


class PromptBuildError(Exception):
    code = "prompt_build_failed"


@dataclass(frozen=True)
class BuiltPrompt:
    prompt: str
    language: str
    path: Path
    seconds: float
    source: str  # 'speech' or 'recording'


def duration(path: Path) -> float:
    with wave.open(str(path), "rb") as audio:
        return audio.getnframes() / float(audio.getframerate())


def _hash(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
        digest.update(b"\0")
    return digest.hexdigest()


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, timeout=60, check=False)
    if done.returncode != 0:
        raise PromptBuildError(f"{argv[0]} failed: {done.stderr.decode(errors='replace')[-500:]}")


def _to_asterisk_wav(source: Path, target: Path) -> None:
    _run(["sox", str(source), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(target)])


def check_tools() -> None:
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        raise PromptBuildError(
            f"missing {', '.join(missing)}: install with 'apt-get install espeak-ng sox'"
        )


def build_one(prompt: str, language: str, text: str, sounds_dir: Path, recordings: Path) -> BuiltPrompt:
    target = sounds_dir / language / f"{prompt}.wav"
    stamp = target.with_suffix(".src")
    recording = recordings / language / f"{prompt}.wav"
    if recording.exists():
        source, key = "recording", _hash(b"rec", recording.read_bytes())
    else:
        source, key = "speech", _hash(b"tts", VOICES.get(language, language).encode(),
                                    str(SPEED_WPM).encode(), text.encode())
    if target.exists() and stamp.exists() and stamp.read_text() == key:
        return BuiltPrompt(prompt, language, target, duration(target), source)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        produced = Path(tmp) / "out.wav"
        if source == "recording":
            _to_asterisk_wav(recording, produced)
        else:
            raw = Path(tmp) / "raw.wav"
            voice = VOICES.get(language, language)
            _run(["espeak-ng", "-v", voice, "-s", str(SPEED_WPM), "-w", str(raw), text])
            _to_asterisk_wav(raw, produced)
        shutil.move(str(produced), target)
    stamp.write_text(key)
    built = BuiltPrompt(prompt, language, target, duration(target), source)
    log.info("prompt_built", prompt=prompt, language=language, source=source,
             seconds=round(built.seconds, 2))
    return built


def build_all(prompts: dict[str, dict[str, str]], sounds_dir: Path, recordings: Path,
              moh_dir: Path | None = None, hold_prompt: str = "mohon-tunggu") -> list[BuiltPrompt]:
    check_tools()
    built = [
        build_one(prompt, language, text, sounds_dir, recordings)
        for prompt, texts in sorted(prompts.items())
        for language, text in sorted(texts.items())
    ]
    if moh_dir is not None:
        # Callers waiting in a queue hear the hold prompt on a loop (Asterisk's music on hold).
        moh_dir.mkdir(parents=True, exist_ok=True)
        for item in built:
            if item.prompt == hold_prompt and item.language == "id":
                shutil.copyfile(item.path, moh_dir / f"{hold_prompt}.wav")
    return built


def durations(sounds_dir: Path) -> dict[tuple[str, str], float]:
    """(prompt, language) → seconds, for every built prompt."""
    found: dict[tuple[str, str], float] = {}
    for path in sounds_dir.glob("*/*.wav"):
        found[(path.stem, path.parent.name)] = duration(path)
    return found
