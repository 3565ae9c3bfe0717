"""Keys pressed while none of our commands runs (the gaps widen under load) still reach the flow:
Asterisk drops them from AGI, but AMI reports them and the menu reads them from the ledger."""

from __future__ import annotations

from tests.integration.conftest import AgiSwitch, Caller, Stack, until


async def test_a_key_pressed_while_our_service_is_slow_still_reaches_the_fire_queue(
    call: Caller, agi: AgiSwitch, stack: Stack
) -> None:
    """Our service waits 1 s before every command; the caller presses 1 (darurat) during the greeting
    and 1 (kebakaran) half a second later, while no command runs: the call still reaches Damkar."""
    agi.command_delay = 1.0
    try:
        report = await call("11", first_delay=3.0, gap=0.5)
    finally:
        agi.command_delay = 0.0
    assert (report.route.get("Category"), report.queue) == ("kebakaran", "q-damkar"), report.route
    uniqueid = agi.sessions[-1].env.uniqueid
    row = await until(lambda: stack.store.get(uniqueid))
    assert (row["keys"], row["keys_asterisk"]) == ("11", "11")
    assert agi.sessions[-1].summary["keys_recovered"] >= 1


async def test_without_the_ledger_the_same_caller_would_lose_the_key(call: Caller, agi: AgiSwitch) -> None:
    """The same call with the ledger switched off (AMI's view unavailable): the second key is lost,
    the flow takes the caller for silent at the darurat menu (what the ledger prevents); a human
    still answers (by the route, or by the dialplan's bound when the slow session outlives it)."""
    agi.command_delay = 1.0
    ledger = agi.service.keys
    agi.service.keys = None
    try:
        report = await call("11", first_delay=3.0, gap=0.5)
    finally:
        agi.command_delay = 0.0
        agi.service.keys = ledger
    summary = await until(lambda: "keys" in agi.sessions[-1].summary and agi.sessions[-1].summary, timeout=15)
    assert (summary["keys"], summary["exit"], summary["category"]) == ("1", "silence", "darurat-umum"), summary
    assert report.answered
