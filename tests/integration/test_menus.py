"""The shipped Bahasa Indonesia menu through the real Asterisk: every leaf, silence, wrong keys, floods,
hang-ups, English, a missing prompt file, hot reload, and `ivr call`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime

import structlog

from ivr import logs
from ivr.ami.client import AmiClient
from ivr.ami.testcall import CallReport
from ivr.config import load_config
from ivr.flow.analysis import timed_paths
from ivr.prompts.build import build_all
from ivr.routing.decide import decide
from tests.integration.conftest import AgiSwitch, Caller, Stack, until


def leaves(stack: Stack) -> dict[str, tuple[str, str]]:
    """Key sequence → (category, queue the SOP routes it to now) for every path taken by keys alone."""
    config = load_config(stack.settings.root)
    now = datetime.now(UTC)
    found = {}
    for path in timed_paths(config.flows["112"], config.sop, {}):
        # Back paths (⟲) end at the same leaves: test_back_then_hold_reaches_the_emergency_queue takes one.
        if not path.came_back and all(step.choice not in ("silence", "invalid", "next") for step in path.steps):
            keys = "".join(step.choice for step in path.steps)
            found[keys] = (path.category, decide(path.category, config.sop, now).target)
    return found


async def calls(call: Caller, keys: list[str], **options: object) -> dict[str, CallReport]:
    reports = await asyncio.gather(*(call(k, **options) for k in keys))
    return dict(zip(keys, reports, strict=True))


async def test_every_leaf_of_the_menu_reaches_its_queue(call: Caller, stack: Stack) -> None:
    """Each key path of the shipped menu ends in the queue its SOP category names, answered."""
    expected = leaves(stack)
    assert len(expected) >= 10, expected
    reports = await calls(call, list(expected), gap=1.0)
    for keys, (category, queue) in expected.items():
        report = reports[keys]
        assert (report.route.get("Category"), report.queue, report.answered) == (category, queue, True), keys


async def test_silence_on_each_menu_reaches_a_human(call: Caller) -> None:
    """Silence on the main, darurat, non-darurat and English menus: each ends at a call-taker."""
    expected = {"": "q112", "1": "q112", "2": "q112", "9": "q112"}
    reports = await calls(call, list(expected), gap=1.0)
    for keys, queue in expected.items():
        assert (reports[keys].queue, reports[keys].answered) == (queue, True), keys
        assert reports[keys].route["Action"] == "queue", keys


async def test_wrong_keys_reach_a_human(call: Caller) -> None:
    """Three wrong keys on the non-darurat menu: three plays, then a human; on 112's menu at once."""
    reports = await calls(call, ["2777", "8"], gap=1.0)
    replayed = reports["2777"]
    assert replayed.prompts.count("id/menu-non-darurat") == 3
    assert (replayed.route["Category"], replayed.queue, replayed.answered) == ("informasi", "q112", True)
    assert (reports["8"].route["Category"], reports["8"].queue) == ("darurat-umum", "q112")


async def test_a_flood_of_keys_is_bounded_and_still_routed(call: Caller) -> None:
    """100 keys, or * and # hammered, cost a bounded number of commands and still reach a queue."""
    flood, stars = "2" + "7" * 99, "*#" * 50
    reports = await calls(call, [flood, stars], gap=0, dtmf_gap_ms=60, answer_timeout=60)
    assert (reports[flood].queue, reports[flood].answered) == ("q112", True)
    assert len(reports[flood].agi_commands) <= 12
    assert (reports[stars].queue, reports[stars].answered) == ("q112", True)


async def test_hangup_during_a_prompt_is_recorded_as_abandoned(call: Caller, stack: Stack) -> None:
    """A caller who hangs up while the greeting plays: no error, and the call is on record as abandoned."""
    with structlog.testing.capture_logs(list(logs.CONTEXT_PROCESSORS)) as logged:
        report = await call("", hold=2, answer_timeout=15)
        entry = f"{report.channel}-in"
        row = await until(lambda: stack.store.get(entry), timeout=10)
        # The summary line comes after the record is written: wait for it too.
        ends = await until(
            lambda: [line for line in logged if line["event"] == "agi_call_end" and line.get("uniqueid") == entry],
            timeout=10,
        )
    assert report.hung_up and not report.queue
    assert row["outcome"] == "abandoned_in_ivr" and row["category"] == ""
    assert ends[0]["outcome"] == "caller_hung_up"
    assert not [line for line in logged if line.get("log_level") in ("error", "critical")]


async def test_english_path(call: Caller) -> None:
    """9 switches to English: the English prompts play and holding is an emergency."""
    report = await call("9", gap=1.0)
    assert report.prompts == ["id/menu-utama", "en/menu-utama-en"]
    assert (report.route["Category"], report.queue, report.answered) == ("darurat-umum", "q112", True)


async def test_a_missing_prompt_file_does_not_stop_the_call(call: Caller, stack: Stack) -> None:
    """With the darurat menu's audio deleted, the caller's key still routes the call."""
    config = load_config(stack.settings.root)
    wav = stack.settings.sounds_dir / "id" / "menu-darurat.wav"
    wav.unlink()
    try:
        report = await call("12", gap=1.0)
    finally:
        build_all(config.prompts, stack.settings.sounds_dir, stack.settings.root / "dialplan" / "recordings")
    assert wav.exists()
    assert (report.route.get("Category"), report.queue, report.answered) == ("kecelakaan", "q-psc119", True)
    assert "id/menu-darurat" not in report.prompts  # skipped, not streamed: see AgiChannel.play


async def test_ivr_call_reports_the_ambulance_route(stack: Stack, agi: AgiSwitch) -> None:
    """`ivr call --press 1 2 --json` through the real Asterisk says: kecelakaan, q-psc119, who answered."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ivr",
        "--root",
        str(stack.settings.root),
        "call",
        "--press",
        "1",
        "2",
        "--json",
        env={**os.environ, "IVR_AMI_PORT": str(stack.settings.ami_port)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode == 0, err.decode()[-2000:]
    result = json.loads(out)
    assert result["route"]["Category"] == "kecelakaan"
    assert result["queue"] == "q-psc119"
    assert result["answered"] and result["operator"].startswith("Simulasi q-psc119")
    assert result["prompts"] == ["id/menu-utama", "id/menu-darurat"]


async def test_hot_reload_new_calls_follow_the_edit_calls_in_progress_keep_theirs(
    call: Caller, stack: Stack, ami: AmiClient
) -> None:
    """An edit reaches new calls without a restart; a call already in the menu keeps its flow;
    an invalid edit is refused and the last good configuration keeps routing."""
    flow_file = stack.settings.root / "dialplan" / "112.yaml"
    original = flow_file.read_text()
    old_silence = "    on_silence: {category: darurat-umum}\n    # On 112"
    assert old_silence in original
    streaming: list[str] = []
    unsubscribe = ami.on(
        "AGIExecStart",
        lambda f: streaming.append(f.get("Uniqueid", "")) if f.get("Command", "").startswith("STREAM FILE") else None,
    )
    try:
        in_progress = asyncio.create_task(call(""))
        await until(lambda: streaming, timeout=15)
        flow_file.write_text(original.replace(old_silence, old_silence.replace("darurat-umum", "informasi")))
        assert await stack.config.reload_if_changed()
        after = await call("")
        before = await in_progress
        flow_file.write_text(original.replace("start: utama", "start: utamaa"))
        assert not await stack.config.reload_if_changed()
        still = await call("")
    finally:
        unsubscribe()
        flow_file.write_text(original)
        await stack.config.reload_if_changed()
    assert (before.route["Category"], before.queue) == ("darurat-umum", "q112")
    assert (after.route["Category"], after.queue) == ("informasi", "q112")
    assert (still.route["Category"], still.queue) == ("informasi", "q112")
    assert stack.config.current().flows["112"].start == "utama"


async def test_back_then_hold_and_a_slow_55_reach_the_emergency_queue(call: Caller, stack: Stack) -> None:
    """2, 0 (back), then holding: the short re-prompt and the emergency call-takers within the 12 s budget
    from answer; and 5, then 5 2.5 s later (over the old 2 s wait) is still the silent caller."""
    budget = load_config(stack.settings.root).flows["112"].emergency_budget
    back = await call("20", gap=1.0, until="queued")
    assert back.prompts == ["id/menu-utama", "id/menu-non-darurat", "id/menu-kembali"]
    assert (back.route["Category"], back.queue) == ("darurat-umum", "q112")
    assert back.seconds_to_queue is not None and back.seconds_to_queue <= budget, back.seconds_to_queue
    slow = await call("55", gap=2.5, until="queued")
    assert (slow.route["Category"], slow.queue) == ("darurat-senyap", "q112"), slow.route
