"""The list of FastAGI services and the last line, through the real Asterisk (issue 13, items 3 and 4).

The session stack renders two FastAGI services (ours, and a second port nothing serves unless a test
does) and the last line, a classic AGI script Asterisk starts itself inside its root. Every route
asserted here comes from the dialplan's SiagaRoute events and the queue Asterisk put the caller in.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ivr.ami.client import AmiClient
from ivr.ami.live import LiveQueues
from tests.integration.conftest import (
    AgiSwitch,
    Caller,
    Stack,
    call_killing_serve_at_first_prompt,
    fallback_route,
    last_line_broken,
    serving_agi,
    until,
)

CENTRAL = "q112"
FIRE = "q-damkar"  # sop/categories.yaml: kebakaran (menu 1, then 1)


def refused(service: int) -> dict[str, str]:
    return {"Action": "agi-failed", "Script": "112", "Service": str(service), "AgiStatus": "FAILURE"}


def script_lines(stack: Stack, uniqueid: str) -> list[dict[str, object]]:
    """The last-line script's own log lines for one call (its stderr, in Asterisk's console log)."""
    console = stack.settings.asterisk_dir / "log" / "console.log"
    found = []
    for line in console.read_text(errors="replace").splitlines():
        start = line.find('{"')
        if start >= 0 and f'"uniqueid": "{uniqueid}"' in line:
            found.append(json.loads(line[start:]))
    return found


@contextmanager
def sop_broken(stack: Stack) -> Iterator[Path]:
    """An SOP edit that does not load, for the block (the running service keeps its last good one)."""
    categories = stack.settings.root / "sop" / "categories.yaml"
    good = categories.read_text()
    categories.write_text(good.replace("\ncategories:", "\ncategries:", 1))
    try:
        yield categories
    finally:
        categories.write_text(good)


async def test_first_service_refuses_the_second_routes(
    call: Caller, agi: AgiSwitch, stack: Stack, ami_live: tuple[AmiClient, LiveQueues]
) -> None:
    """Nothing on the first FastAGI port: the second service plays the menu at once and 1 1 reaches Damkar."""
    await agi.stop()
    try:
        async with serving_agi(stack, ami_live[1], stack.second_agi_port) as second:
            report = await call("11")
    finally:
        await agi.start_real()
    assert report.routes[0] == refused(1)
    assert (report.route["Action"], report.route["Category"], report.queue) == ("queue", "kebakaran", FIRE)
    assert report.answered
    assert [session.env.uniqueid for session in second.sessions] == [f"{report.channel}-in"]
    assert report.prompts == ["id/menu-utama", "id/menu-darurat"]


async def test_first_service_dies_mid_call_the_second_replays_the_menu(
    call: Caller, agi: AgiSwitch, stack: Stack, ami: AmiClient, ami_live: tuple[AmiClient, LiveQueues]
) -> None:
    """`ivr serve` killed (SIGKILL) during its first prompt: AGISTATUS SUCCESS and no route, so the
    second service takes the caller at once and plays the menu from the start; 1 1 reaches Damkar."""
    await agi.stop()
    try:
        async with serving_agi(stack, ami_live[1], stack.second_agi_port) as second:
            # The keys come after the kill (the first prompt starts about 1 s in): the second menu reads them.
            report = await call_killing_serve_at_first_prompt(stack, ami, call("11", first_delay=6.0))
    finally:
        await agi.start_real()
    assert report.routes[0] == {"Action": "agi-failed", "Script": "112", "Service": "1", "AgiStatus": "SUCCESS"}
    assert (report.route["Category"], report.queue, report.answered) == ("kebakaran", FIRE, True)
    assert [session.env.uniqueid for session in second.sessions] == [f"{report.channel}-in"]
    assert report.prompts == ["id/menu-utama", "id/menu-utama", "id/menu-darurat"]


async def test_every_fastagi_service_down_the_last_line_routes_one_one_to_damkar(
    call: Caller, agi: AgiSwitch, stack: Stack
) -> None:
    """Both FastAGI services refuse: the classic AGI script plays the same menu, and a caller pressing
    1 1 reaches the fire queue and its operator; the script logs the call with its uniqueid bound."""
    await agi.stop()
    try:
        # Keys after the script's start-up (bench/results/lastline.md): a key before its first prompt is lost.
        report = await call("11", first_delay=4.0)
    finally:
        await agi.start_real()
    assert report.routes[:3] == [refused(1), refused(2), {"Action": "lastline"}]
    assert (report.route["Action"], report.route["Category"], report.queue) == ("queue", "kebakaran", FIRE)
    assert report.answered and report.operator.startswith("Simulasi q-damkar")
    assert report.prompts == ["id/menu-utama", "id/menu-darurat"]
    end = await until(
        lambda: [line for line in script_lines(stack, f"{report.channel}-in") if line["event"] == "lastline_call_end"]
    )
    assert (end[0]["queue"], end[0]["keys"]) == (FIRE, "11")


async def test_the_last_line_failing_too_ends_at_the_central_queue(call: Caller, agi: AgiSwitch, stack: Stack) -> None:
    """The script started but could not load the SOP (an edit that does not parse): it sets no route,
    and the caller is queued centrally as an emergency."""
    await agi.stop()
    try:
        with sop_broken(stack):
            report = await call("11", first_delay=4.0)
    finally:
        await agi.start_real()
    assert report.routes[:3] == [refused(1), refused(2), {"Action": "lastline"}]
    assert report.route == fallback_route("FAILURE")  # the script's exit status 1
    assert (report.queue, report.answered) == (CENTRAL, True)
    failed = await until(
        lambda: [line for line in script_lines(stack, f"{report.channel}-in") if line["event"] == "lastline_no_route"]
    )
    assert "sop/categories.yaml:" in str(failed[0]["error"])


async def test_ivr_check_runs_the_last_line_as_asterisk_would(stack: Stack) -> None:
    """`ivr check` starts the rendered script in Asterisk's root with `--probe` and says whether it works."""

    async def check() -> str:
        process = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "ivr", "--root", str(stack.settings.root), "check"],
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "IVR_FASTAGI_URLS": ",".join(stack.settings.agi_urls)},
        )
        out, _ = await process.communicate()
        assert process.returncode == 0
        return out.decode().splitlines()[-1]

    assert (await check()).startswith(f"last line: after {', '.join(stack.settings.agi_urls)}, the classic AGI")
    with last_line_broken(stack):
        assert (await check()).startswith("warning: last line not working (")
