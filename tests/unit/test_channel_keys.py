"""The channel's keys come from Asterisk's own key stream (the AMI ledger) when it is whole: keys
pressed between two of our commands are not lost, and the caller's order is kept."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from ivr.agi.channel import AgiChannel, prompt_path
from ivr.agi.conversation import ChannelHungUp
from ivr.agi.protocol import Reply
from ivr.ami.dtmf import KeyLedger

UID = "sim-1-in"


def dtmf(digit: str) -> dict[str, str]:
    return {"Event": "DTMFEnd", "Uniqueid": UID, "Digit": digit, "Direction": "Received"}


@dataclass
class ScriptedAsterisk:
    """Each command returns the next scripted key ('' = none) after running ``during`` (keys that
    AMI reports while the command runs)."""

    results: list[str]
    during: list[Callable[[], None]] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    clock: Callable[[], float] = time.monotonic
    sent_at: float = 0.0

    async def command(self, line: str, timeout: float = 30.0) -> Reply:
        self.sent_at = self.clock()
        self.sent.append(line.split(" ")[0] + " " + line.split(" ")[1])
        if self.during:
            self.during.pop(0)()
        key = self.results.pop(0) if self.results else ""
        return Reply(200, str(ord(key)) if key else "0")

    async def last_batch(
        self, lines: Sequence[str], timeout: float = 30.0, proceed: Callable[[], bool] | None = None
    ) -> list[Reply] | None:
        """Read()'s outcome is the next scripted result: READSTATUS,key as GET FULL VARIABLE gives it."""
        if proceed is not None and not proceed():
            return None
        self.sent.extend(lines)
        if self.during:
            self.during.pop(0)()
        return [Reply(200, "1"), Reply(200, "0"), Reply(200, "1", self.results.pop(0))]


@pytest.fixture
def sounds(tmp_path: Path) -> Path:
    (tmp_path / "id").mkdir()
    for prompt in ("a", "b"):
        (tmp_path / "id" / f"{prompt}.wav").write_bytes(b"")
    return tmp_path


def given_channel(asterisk: ScriptedAsterisk, sounds: Path, ledger: KeyLedger | None) -> AgiChannel:
    if ledger is not None:
        ledger.on_login()
    return AgiChannel(asterisk, sounds, "id", ledger, UID)


async def test_a_key_pressed_between_two_commands_answers_the_next_menu(sounds: Path) -> None:
    """1 ends prompt a; the second 1 came while no command ran: prompt b is not even played."""
    ledger = KeyLedger(lambda: True)
    asterisk = ScriptedAsterisk(["1"], during=[lambda: (ledger.on_dtmf_end(dtmf("1")), ledger.on_dtmf_end(dtmf("1")))])
    channel = given_channel(asterisk, sounds, ledger)
    assert await channel.play("a", "id", "0123456789*#") == "1"
    assert await channel.play("b", "id", "0123456789*#") == "1"
    assert asterisk.sent == ["STREAM FILE"]
    assert (channel.delivered, channel.recovered) == (2, 1)


async def test_a_gap_key_reported_late_is_taken_after_the_prompt(sounds: Path) -> None:
    """AMI reports the gap key only while prompt b plays: b plays out, then the key is the answer."""
    ledger = KeyLedger(lambda: True)
    asterisk = ScriptedAsterisk(
        ["1", ""], during=[lambda: ledger.on_dtmf_end(dtmf("1")), lambda: ledger.on_dtmf_end(dtmf("3"))]
    )
    channel = given_channel(asterisk, sounds, ledger)
    assert await channel.play("a", "id", "0123456789*#") == "1"
    assert await channel.play("b", "id", "0123456789*#") == "3"
    assert asterisk.sent == ["STREAM FILE", "STREAM FILE"]


async def test_keys_keep_the_order_the_caller_pressed_them(sounds: Path) -> None:
    """2 was lost in a gap, then 5 ended the prompt: the flow gets 2 first, then 5 without waiting."""
    ledger = KeyLedger(lambda: True)
    asterisk = ScriptedAsterisk(["5"], during=[lambda: (ledger.on_dtmf_end(dtmf("2")), ledger.on_dtmf_end(dtmf("5")))])
    channel = given_channel(asterisk, sounds, ledger)
    assert await channel.play("a", "id", "0123456789*#") == "2"
    assert await channel.wait_key(3.0) == "5"
    assert asterisk.sent == ["STREAM FILE"]


async def test_a_key_long_after_its_command_began_is_taken_without_waiting_for_ami(sounds: Path) -> None:
    """4 ended prompt a 1.5 s after it was sent and AMI has not reported it yet: no key can be missing
    before it (AMI reports within its grace), so it answers at once; AMI's report of it, when it
    comes, is not taken for a second key, and a key pressed after it still comes from the ledger."""
    now = [100.0]
    ledger = KeyLedger(lambda: True)
    ledger.on_login()
    asterisk = ScriptedAsterisk(["4"], during=[lambda: now.__setitem__(0, now[0] + 1.5)], clock=lambda: now[0])
    channel = AgiChannel(asterisk, sounds, "id", ledger, UID, clock=lambda: now[0])
    with capture_logs() as logs:
        assert await channel.play("a", "id", "0123456789*#") == "4"
    assert channel.delivered == 1 and not [entry for entry in logs if entry["event"] == "ami_key_late"]
    ledger.on_dtmf_end(dtmf("4"))
    ledger.on_dtmf_end(dtmf("2"))  # pressed while no command ran
    assert await channel.wait_key(3.0) == "2"
    assert asterisk.sent == ["STREAM FILE"]


async def test_a_key_soon_after_its_command_began_waits_for_amis_order(sounds: Path) -> None:
    """5 ended the prompt 0.2 s after it was sent: a key lost in the gap before it may still be on its
    way through AMI, so the channel waits for AMI, and the 2 it reports first answers first."""
    now = [100.0]
    ledger = KeyLedger(lambda: True)
    ledger.on_login()
    asterisk = ScriptedAsterisk(["5"], during=[lambda: now.__setitem__(0, now[0] + 0.2)], clock=lambda: now[0])
    channel = AgiChannel(asterisk, sounds, "id", ledger, UID, clock=lambda: now[0])
    reported = asyncio.get_running_loop().call_later(
        0.05, lambda: (ledger.on_dtmf_end(dtmf("2")), ledger.on_dtmf_end(dtmf("5")))
    )
    assert await channel.play("a", "id", "0123456789*#") == "2"
    assert await channel.wait_key(3.0) == "5"
    assert asterisk.sent == ["STREAM FILE"]
    reported.cancel()


async def test_silence_stays_silence(sounds: Path) -> None:
    """No key anywhere: the wait times out and the flow hears nothing."""
    ledger = KeyLedger(lambda: True)
    channel = given_channel(ScriptedAsterisk(["", ""]), sounds, ledger)
    assert await channel.play("a", "id", "0123456789*#") == ""
    assert await channel.wait_key(3.0) == ""


@pytest.mark.parametrize("ledger_state", ["absent", "ami_down", "reconnected"])
async def test_without_a_whole_ledger_the_agi_key_is_used(sounds: Path, ledger_state: str) -> None:
    """No ledger, AMI down, or AMI reconnected since the call began (events may be missing): the
    key the AGI command returned is used, and nothing is invented from the ledger."""
    ready = [ledger_state != "ami_down"]
    ledger = None if ledger_state == "absent" else KeyLedger(lambda: ready[0])
    channel = given_channel(ScriptedAsterisk(["7", ""]), sounds, ledger)
    if ledger is not None:
        ledger.on_dtmf_end(dtmf("9"))
        if ledger_state == "reconnected":
            ledger.on_login()
    assert await channel.play("a", "id", "0123456789*#") == "7"
    assert await channel.wait_key(1.0) == ""


async def test_keys_during_a_prompt_that_takes_none_are_not_input(sounds: Path) -> None:
    """A play node without barge-in: keys pressed during it do not answer the next menu."""
    ledger = KeyLedger(lambda: True)
    asterisk = ScriptedAsterisk(["", ""], during=[lambda: ledger.on_dtmf_end(dtmf("4"))])
    channel = given_channel(asterisk, sounds, ledger)
    assert await channel.play("a", "id", "") == ""
    assert await channel.play("b", "id", "0123456789*#") == ""
    assert asterisk.sent == ["STREAM FILE", "STREAM FILE"]


async def test_a_key_ami_never_reports_falls_back_to_the_agi_key(sounds: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AMI lags past the grace: the AGI key is used (the call goes on) and the ledger is left aside."""
    monkeypatch.setattr("ivr.agi.channel.AMI_KEY_GRACE", 0.05)
    ledger = KeyLedger(lambda: True)
    channel = given_channel(ScriptedAsterisk(["8", ""]), sounds, ledger)
    assert await channel.play("a", "id", "0123456789*#") == "8"
    # AMI catches up late, with a key lost in a gap before the 8: matching them now could hand the
    # next menu a key the caller never pressed there, so the ledger is no longer used for this call.
    ledger.on_dtmf_end(dtmf("3"))
    ledger.on_dtmf_end(dtmf("8"))
    assert await channel.wait_key(1.0) == ""


async def test_a_missing_prompt_is_skipped_with_a_warning(sounds: Path) -> None:
    """No audio file for the prompt: nothing is sent to Asterisk, and the log says which prompt."""
    asterisk = ScriptedAsterisk([""])
    channel = given_channel(asterisk, sounds, None)
    with capture_logs() as logs:
        assert await channel.play("not-built", "id", "0123456789*#") == ""
    assert asterisk.sent == [] and channel.failed_prompts == ["not-built"]
    assert [(entry["event"], entry["prompt"]) for entry in logs] == [("prompt_missing", "not-built")]


def test_a_prompt_is_the_callers_language_then_the_default_and_only_a_file(tmp_path: Path) -> None:
    """The path handed to STREAM FILE (no extension): the caller's language where its wav exists, else the
    default language's; a directory named like a prompt is no prompt."""
    for language, prompt in (("id", "menu-utama"), ("en", "menu-utama"), ("id", "menu-darurat")):
        (tmp_path / language).mkdir(exist_ok=True)
        (tmp_path / language / f"{prompt}.wav").write_bytes(b"RIFF")
    (tmp_path / "id" / "hold.wav").mkdir()
    assert prompt_path(tmp_path, "menu-utama", "en", "id") == str(tmp_path / "en" / "menu-utama")
    assert prompt_path(tmp_path, "menu-darurat", "en", "id") == str(tmp_path / "id" / "menu-darurat")
    assert prompt_path(tmp_path, "hold", "id", "id") is None
    assert prompt_path(tmp_path, "absent", "en", "id") is None


@pytest.mark.parametrize(
    ("read", "key"), [("OK,3", "3"), ("OK,", "#"), ("OK,*", "*"), ("TIMEOUT,", ""), ("ERROR,", "")]
)
async def test_the_last_menu_reads_what_read_left_as_the_flow_reads_keys(sounds: Path, read: str, key: str) -> None:
    """Read()'s status and key as the flow takes them: '#' (Read's terminator leaves the value empty)
    is a wrong key, TIMEOUT or ERROR is silence ([siaga-last-menu] reads them the same way); its keys
    are spent, so a key after the menu is not taken for a later one."""
    ledger = KeyLedger(lambda: True)
    asterisk = ScriptedAsterisk([read], during=[lambda: ledger.on_dtmf_end(dtmf(key or "9"))])
    channel = given_channel(asterisk, sounds, ledger)
    assert await channel.last_menu("a", "id", 2.5, "r|r|||||||||||") == key
    assert asterisk.sent == [
        'SET VARIABLE IVR_MENU_ROUTES "r|r|||||||||||"',
        f'EXEC Read "IVR_MENU_KEY,{sounds}/id/a,1,,1,2.5"',
        'GET FULL VARIABLE "${READSTATUS},${IVR_MENU_KEY}"',
    ]
    assert channel.delivered == 1


async def test_a_caller_who_hangs_up_in_the_last_menu_has_hung_up(sounds: Path) -> None:
    asterisk = ScriptedAsterisk(["HANGUP,"])
    with pytest.raises(ChannelHungUp):
        await given_channel(asterisk, sounds, KeyLedger(lambda: True)).last_menu("a", "id", 2.5, "r|r")


async def test_the_last_menu_stays_ours_when_a_key_already_answers_it_or_its_prompt_is_missing(
    sounds: Path, tmp_path: Path
) -> None:
    """A key pressed before the menu (in the gap after the last command) answers it, as in any menu:
    nothing is handed over. Nor is a menu whose prompt has no file (we skip it; Read() would fail), or
    whose path Read()'s argument split would cut."""
    ledger = KeyLedger(lambda: True)
    asterisk = ScriptedAsterisk(["1"], during=[lambda: (ledger.on_dtmf_end(dtmf("1")), ledger.on_dtmf_end(dtmf("4")))])
    channel = given_channel(asterisk, sounds, ledger)
    assert await channel.play("a", "id", "0123456789*#") == "1"
    assert await channel.last_menu("b", "id", 2.5, "r|r") is None
    assert await channel.wait_key(2.5) == "4"
    assert await channel.last_menu("missing", "id", 2.5, "r|r") is None
    odd = tmp_path / "a,b" / "id"
    odd.mkdir(parents=True)
    (odd / "a.wav").write_bytes(b"")
    assert await AgiChannel(asterisk, odd.parent, "id", None, UID).last_menu("a", "id", 2.5, "r|r") is None
    assert asterisk.sent == ["STREAM FILE"]
