"""The key ledger: every key Asterisk read for a channel, in order, from AMI DTMFEnd events."""

from __future__ import annotations

import asyncio

from ivr.ami.dtmf import FORGET_AFTER, KeyLedger


def dtmf(uniqueid: str, digit: str, direction: str = "Received") -> dict[str, str]:
    return {"Event": "DTMFEnd", "Uniqueid": uniqueid, "Digit": digit, "Direction": direction, "DurationMs": "120"}


def test_received_keys_are_kept_per_channel_in_order() -> None:
    """Keys of two channels do not mix; keys we send (Direction Sent) and junk are not caller keys."""
    ledger = KeyLedger(lambda: True)
    for fields in (
        dtmf("a", "1"),
        dtmf("b", "5"),
        dtmf("a", "1", "Sent"),
        dtmf("a", "#"),
        dtmf("a", "x"),
        dtmf("a", "12"),
        dtmf("", "1"),
    ):
        ledger.on_dtmf_end(fields)
    assert (ledger.keys("a"), ledger.keys("b"), ledger.keys("c")) == ("1#", "5", "")


async def test_wait_for_returns_when_the_key_arrives_and_times_out_otherwise() -> None:
    """A reader waiting for the next key wakes when AMI reports it; without it, False at the deadline."""
    ledger = KeyLedger(lambda: True)
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, ledger.on_dtmf_end, dtmf("a", "2"))
    assert await ledger.wait_for("a", 1, timeout=2.0)
    assert not await ledger.wait_for("a", 2, timeout=0.05)


def test_channels_nobody_closes_are_forgotten() -> None:
    """Keys of a channel idle for longer than FORGET_AFTER are dropped when new keys arrive."""
    now = [0.0]
    ledger = KeyLedger(lambda: True, clock=lambda: now[0])
    ledger.on_dtmf_end(dtmf("old", "1"))
    now[0] = FORGET_AFTER + 1
    ledger.on_dtmf_end(dtmf("new", "2"))
    assert (ledger.keys("old"), ledger.keys("new")) == ("", "2")
    ledger.close("new")
    assert ledger.keys("new") == ""
