"""Prompt audio from the YAML texts: espeak-ng (voices ``id``, ``en``) → sox → 8 kHz mono 16-bit wav.

Each segment of a prompt is spoken on its own, trimmed of leading and trailing silence, and joined
with a short gap, so the moment each key has been announced is known. A recorded file
``dialplan/recordings/<language>/<id>.wav`` wins over synthesis (converted to the same format; its
keys are then taken to be announced at its end). Beside each wav a ``.json`` holds the hash of
what made it (rebuilt only when that changes), its length and the key offsets, and a copy in each
of the trunk's codecs (``.alaw``, ``.ulaw``): Asterisk plays the file in the channel's own codec when
there is one, instead of transcoding the wav for every caller (bench/results/surge.md).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from ivr.config.prompts import Prompts, PromptText

log = structlog.get_logger("ivr.prompts")

VOICES = {"id": "id", "en": "en"}
SPEED_WPM = 180
GAP_SECONDS = 0.05
TRIM = ["silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse"]
FORMAT = ["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"]
# The telco trunk's codecs (asterisk-config/pjsip.conf: allow = alaw,ulaw): Asterisk's file extension,
# sox's file type for it.
TRUNK_CODECS = {"alaw": "al", "ulaw": "ul"}


class PromptBuildError(Exception):
    code = "prompt_build_failed"


@dataclass(frozen=True)
class PromptTiming:
    """How long a prompt plays, and when (seconds from its start) each announced key was said."""

    seconds: float
    key_offsets: dict[str, float] = field(default_factory=dict)
    source: str = "speech"


def wav_seconds(path: Path) -> float:
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


def tools_missing() -> list[str]:
    return [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]


def _source_key(text: PromptText, recording: Path) -> tuple[str, str]:
    if recording.exists():
        return "recording", _hash(b"rec", recording.read_bytes())
    parts = [
        b"tts",
        VOICES.get(text.language, text.language).encode(),
        str(SPEED_WPM).encode(),
        str(GAP_SECONDS).encode(),
    ]
    for segment in text.segments:
        parts += [segment.key.encode(), segment.text.encode()]
    return "speech", _hash(*parts)


def _speak(text: PromptText, workdir: Path, target: Path) -> dict[str, float]:
    voice = VOICES.get(text.language, text.language)
    gap = workdir / "gap.wav"
    _run(["sox", "-n", *FORMAT, str(gap), "trim", "0", str(GAP_SECONDS)])
    pieces: list[Path] = []
    offsets: dict[str, float] = {}
    elapsed = 0.0
    for index, segment in enumerate(text.segments):
        raw, piece = workdir / f"raw{index}.wav", workdir / f"seg{index}.wav"
        _run(["espeak-ng", "-v", voice, "-s", str(SPEED_WPM), "-w", str(raw), segment.text])
        _run(["sox", str(raw), *FORMAT, str(piece), *TRIM])
        if pieces:
            pieces.append(gap)
            elapsed += GAP_SECONDS
        pieces.append(piece)
        elapsed += wav_seconds(piece)
        if segment.key:
            offsets[segment.key] = round(elapsed, 3)
    _run(["sox", *map(str, pieces), str(target)])
    return offsets


def trunk_copies(wav: Path) -> list[Path]:
    return [wav.with_suffix(f".{codec}") for codec in TRUNK_CODECS]


def _encode_for_trunk(wav: Path) -> None:
    """The wav in each trunk codec beside it, unless already made from this wav."""
    for codec, sox_type in TRUNK_CODECS.items():
        copy = wav.with_suffix(f".{codec}")
        if copy.exists() and copy.stat().st_mtime >= wav.stat().st_mtime:
            continue
        partial = copy.with_suffix(f".{codec}.tmp")
        _run(["sox", str(wav), "-t", sox_type, str(partial)])
        partial.replace(copy)


def build_one(text: PromptText, sounds_dir: Path, recordings: Path) -> PromptTiming:
    target = sounds_dir / text.language / f"{text.prompt}.wav"
    meta = target.with_suffix(".json")
    recording = recordings / text.language / f"{text.prompt}.wav"
    source, key = _source_key(text, recording)
    if target.exists() and meta.exists():
        saved = json.loads(meta.read_text())
        if saved.get("source_hash") == key:
            _encode_for_trunk(target)
            return PromptTiming(saved["seconds"], saved["key_offsets"], source)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        produced = Path(tmp) / "out.wav"
        if source == "recording":
            _run(["sox", str(recording), *FORMAT, str(produced)])
            offsets: dict[str, float] = {}
        else:
            offsets = _speak(text, Path(tmp), produced)
        seconds = round(wav_seconds(produced), 3)
        if source == "recording":
            offsets = {announced: seconds for announced in text.announced_keys}
        shutil.move(str(produced), target)
    _encode_for_trunk(target)
    meta.write_text(json.dumps({"source_hash": key, "seconds": seconds, "key_offsets": offsets}, sort_keys=True))
    log.info("prompt_built", prompt=text.prompt, language=text.language, source=source, seconds=seconds)
    return PromptTiming(seconds, offsets, source)


def build_all(
    prompts: Prompts, sounds_dir: Path, recordings: Path, moh_dir: Path | None = None, hold_prompt: str = "mohon-tunggu"
) -> dict[tuple[str, str], PromptTiming]:
    """Build every prompt; (prompt, language) → timing."""
    missing = tools_missing()
    if missing:
        raise PromptBuildError(f"missing {', '.join(missing)}: install with 'apt-get install espeak-ng sox'")
    built = {
        (prompt, language): build_one(text, sounds_dir, recordings)
        for prompt, texts in sorted(prompts.items())
        for language, text in sorted(texts.items())
    }
    if moh_dir is not None and (hold_prompt, "id") in built:
        # Callers waiting in a queue hear the hold prompt on a loop (Asterisk's music on hold).
        moh_dir.mkdir(parents=True, exist_ok=True)
        wav = sounds_dir / "id" / f"{hold_prompt}.wav"
        for source in (wav, *trunk_copies(wav)):
            shutil.copyfile(source, moh_dir / source.name)
    return built


def estimate(prompts: Prompts, chars_per_second: float = 14.0) -> dict[tuple[str, str], PromptTiming]:
    """Timings from text length alone, for machines without espeak-ng/sox (``ivr check`` says so)."""
    estimated: dict[tuple[str, str], PromptTiming] = {}
    for prompt, texts in prompts.items():
        for language, text in texts.items():
            elapsed, offsets = 0.0, {}
            for segment in text.segments:
                elapsed += len(segment.text) / chars_per_second + GAP_SECONDS
                if segment.key:
                    offsets[segment.key] = round(elapsed, 3)
            estimated[(prompt, language)] = PromptTiming(round(elapsed, 3), offsets, "estimate")
    return estimated
