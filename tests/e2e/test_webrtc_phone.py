"""An operator's browser phone on the real Asterisk: JsSIP in Debian's chromium registers over WSS
with a credential issued for the session, app_queue rings it, it answers, audio flows both ways,
and a revoked credential stops working at once without touching the call in progress."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from playwright.async_api import Page

from ivr.ami.client import AmiClient
from ivr.ami.live import LiveQueues
from ivr.ami.testcall import CallReport, hang_up, place_call
from ivr.asterisk.phones import issue_credentials, revoke_credentials, sip_account
from tests.e2e.conftest import BUDI
from tests.integration.conftest import AgiSwitch, Stack
from tests.integration.conftest import until_async as until

pytestmark = pytest.mark.asterisk

T = TypeVar("T")
QUEUE = "q112"
# A wrong key on the first menu: the central emergency call-takers (q112) at once.
KEYS = "7"
# 50 packets: one second of 20 ms audio frames.
ONE_SECOND = 50


@dataclass
class Counters:
    """Audio of one call seen from both ends at one moment."""

    browser_received: int  # inbound-rtp bytesReceived (Asterisk → browser)
    # inbound-rtp totalAudioEnergy: sound, not just packets (Asterisk sends silence frames as well)
    browser_energy: float
    browser_sent: int  # outbound-rtp bytesSent (browser → Asterisk)
    asterisk_received: int  # CHANNEL(rtcp,rxcount,audio) of the operator's channel: packets
    asterisk_sent: int  # CHANNEL(rtcp,txcount,audio)


async def getvar(ami: AmiClient, channel: str, variable: str) -> str:
    reply = await ami.action({"Action": "Getvar", "Channel": channel, "Variable": variable})
    assert reply.get("Response") == "Success", dict(reply)
    return str(reply.get("Value", ""))


async def counters(page: Page, ami: AmiClient, channel: str) -> Counters:
    stats: dict[str, Any] = await page.evaluate("phone.stats()")
    return Counters(
        stats["bytesReceived"],
        stats["totalAudioEnergy"],
        stats["bytesSent"],
        int(await getvar(ami, channel, "CHANNEL(rtcp,rxcount,audio)") or 0),
        int(await getvar(ami, channel, "CHANNEL(rtcp,txcount,audio)") or 0),
    )


async def audio_grew(page: Page, ami: AmiClient, channel: str, since: Counters) -> Counters:
    """Counters once every one of them has grown by a second of audio or more (fails at the deadline)."""

    async def grown() -> Counters | None:
        now = await counters(page, ami, channel)
        ok = (
            now.browser_received > since.browser_received + 20 * ONE_SECOND
            and now.browser_energy > since.browser_energy + 0.01
            and now.browser_sent > since.browser_sent + 20 * ONE_SECOND
            and now.asterisk_received > since.asterisk_received + ONE_SECOND
            and now.asterisk_sent > since.asterisk_sent + ONE_SECOND
        )
        return now if ok else None

    return await until(grown, timeout=10.0)


@dataclass
class AnsweredCall:
    report: CallReport
    channel: str  # the operator's channel in Asterisk, e.g. PJSIP/op-budi-00000003
    password: str
    issue_seconds: float
    register_ms: float


@asynccontextmanager
async def answered_call(stack: Stack, ami: AmiClient, page: Page) -> AsyncIterator[AnsweredCall]:
    """Login as the console will do it: credential issued, browser registered, operator in q112;
    then a caller dials 112, presses a key, echoes what it hears, and the browser answers."""
    started = time.monotonic()
    password = await issue_credentials(stack.settings, BUDI.id)
    issue_seconds = time.monotonic() - started
    account = sip_account(stack.settings, BUDI, password).as_dict()
    registered = await page.evaluate("account => phone.start(account)", account)
    assert registered["ok"], registered
    member = {"Queue": QUEUE, "Interface": BUDI.interface}
    added = await ami.action(
        {"Action": "QueueAdd", **member, "StateInterface": BUDI.interface, "MemberName": BUDI.name}
    )
    assert added.get("Response") == "Success", dict(added)
    report: CallReport | None = None
    try:
        report = await place_call(ami, KEYS, until="answered", hangup=False, answer_timeout=40, audio="echo")
        assert report.answered and report.operator_interface == BUDI.interface, report.as_dict()
        connect = next(e for e in report.events if e.get("Event") == "AgentConnect")
        await until(lambda: page.evaluate("phone.confirmed()"))
        yield AnsweredCall(report, connect["DestChannel"], password, issue_seconds, registered["ms"])
    finally:
        if report is not None:
            await hang_up(ami, report.channel)
        await ami.action({"Action": "QueueRemove", **member})
        await page.evaluate("phone.stop()")


async def test_browser_answers_queue_call_and_audio_flows_both_ways(
    phone_stack: Stack, phone_ami: tuple[AmiClient, LiveQueues], phone_agi: AgiSwitch, phone_page: Page
) -> None:
    """q112 rings PJSIP/op-budi, the browser answers over DTLS-SRTP with G.711 (ulaw), and audio grows on both
    ends: the browser's getStats (received and sent) and Asterisk's RTP counters (rx and tx)."""
    ami = phone_ami[0]
    async with answered_call(phone_stack, ami, phone_page) as call:
        assert call.report.queue == QUEUE
        assert await getvar(ami, call.channel, "CHANNEL(rtp,secure,audio)") == "1"
        assert await getvar(ami, call.channel, "CHANNEL(audionativeformat)") == "(ulaw)"
        first = await counters(phone_page, ami, call.channel)
        later = await audio_grew(phone_page, ami, call.channel, first)
        print(
            f"\nissue {call.issue_seconds * 1000:.0f} ms, register {call.register_ms:.0f} ms, "
            f"answered {call.report.seconds_to_answer} s after the call; audio {first} -> {later}"
        )


async def test_revoked_password_fails_at_once_and_the_call_goes_on(
    phone_stack: Stack, phone_ami: tuple[AmiClient, LiveQueues], phone_agi: AgiSwitch, phone_page: Page
) -> None:
    """During an answered call revoke_credentials applies at once (a REGISTER with the old password
    gets 401) while the call keeps its audio: the reload of res_pjsip drops nothing."""
    ami = phone_ami[0]
    async with answered_call(phone_stack, ami, phone_page) as call:
        # Audio flows before the reload, so what grows afterwards is the same media, not a late start.
        await audio_grew(phone_page, ami, call.channel, await counters(phone_page, ami, call.channel))
        started = time.monotonic()
        await revoke_credentials(phone_stack.settings, BUDI.id)
        revoke_seconds = time.monotonic() - started
        at_revoke = await counters(phone_page, ami, call.channel)
        account = sip_account(phone_stack.settings, BUDI, call.password).as_dict()
        refused = await phone_page.evaluate("account => phone.tryRegister(account)", account)
        assert refused["ok"] is False and refused["status"] == 401, refused
        assert not await phone_page.evaluate("phone.ended()")
        later = await audio_grew(phone_page, ami, call.channel, at_revoke)
        print(f"\nrevoke {revoke_seconds * 1000:.0f} ms; old password: {refused}; audio {at_revoke} -> {later}")
