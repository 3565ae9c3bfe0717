"""The FastAGI session bound is rendered from the flows' own worst case (plus a margin), not a guess;
IVR_AGI_SESSION_LIMIT still overrides it, and the overflow step has a small bound of its own."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from ivr.asterisk.provision import AsteriskInstall
from ivr.asterisk.render import (
    OVERFLOW_SESSION_LIMIT,
    SESSION_MARGIN,
    SESSION_MARGIN_SHARE,
    agi_session_limit,
    render,
)
from ivr.check import prompt_timings, session_worst_case
from ivr.config import load_config
from ivr.flow.analysis import session_seconds, timed_paths
from ivr.settings import Settings
from tests.unit.conftest import REPO, given_root

INSTALL = AsteriskInstall(binary="/usr/sbin/asterisk", module_dir="/usr/lib/asterisk/modules", version="22")


def bounds(root: Path) -> list[int]:
    """The TIMEOUT(absolute) set before each AGI() of the rendered [siaga-112], in order."""
    settings = Settings.load(root)
    render(settings, load_config(root).sop, INSTALL, REPO / "asterisk-config")
    text = (settings.asterisk_dir / "etc" / "extensions.conf").read_text()
    context = text.split("[siaga-112]", 1)[1].split("\n[", 1)[0]
    found, bound = [], None
    for line in context.splitlines():
        if setting := re.search(r",Set\(TIMEOUT\(absolute\)=(\d+)\)$", line):
            bound = int(setting[1])
        elif ",AGI(" in line:
            found.append(bound)
    return found


def test_the_rendered_bound_is_the_flows_worst_case_plus_the_margin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without IVR_AGI_SESSION_LIMIT: the menu's AGI() and the last line's get ceil(worst * 1.1 + 5),
    the overflow's 5."""
    monkeypatch.delenv("IVR_AGI_SESSION_LIMIT", raising=False)
    given_root(tmp_path, REPO)
    settings = Settings.load(tmp_path)
    worst = session_worst_case(load_config(tmp_path), settings.sounds_dir)
    expected = math.ceil(worst * (1 + SESSION_MARGIN_SHARE) + SESSION_MARGIN)
    assert bounds(tmp_path) == [expected, expected, OVERFLOW_SESSION_LIMIT]


def test_the_override_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """IVR_AGI_SESSION_LIMIT=18 renders 18 for the menu and the last line, and caps the overflow's too."""
    monkeypatch.setenv("IVR_AGI_SESSION_LIMIT", "18")
    assert bounds(given_root(tmp_path, REPO)) == [18, 18, OVERFLOW_SESSION_LIMIT]
    monkeypatch.setenv("IVR_AGI_SESSION_LIMIT", "3")
    assert agi_session_limit(Settings.load(tmp_path)) == 3


def test_the_bound_covers_every_path_check_lists(shipped_root: Path) -> None:
    """Every listed path, timed from answer (and with every key pressed as late as allowed), plus the
    prank warning, ends before the bound: a caller who follows the flow is never cut off."""
    config = load_config(shipped_root)
    timings, _ = prompt_timings(config, None)
    worst = session_worst_case(config, None)
    warning = {
        language: timing.seconds
        for (prompt, language), timing in timings.items()
        if prompt == config.sop.prank.warning_prompt
    }
    assert min(warning.values()) > 0
    for flow in config.flows.values():
        for path in timed_paths(flow, config.sop, timings):
            assert path.from_answer <= session_seconds(flow, path, timings)
            assert session_seconds(flow, path, timings) + warning[path.language] <= worst + 0.01
    assert any(
        session_seconds(flow, path, timings) + warning[path.language] == pytest.approx(worst, abs=0.01)
        for flow in config.flows.values()
        for path in timed_paths(flow, config.sop, timings)
    )


def test_a_slower_menu_raises_the_bound(shipped_root: Path) -> None:
    """Two more seconds of wait at the first menu (which every path plays) raise the worst case by at
    least two seconds: the bound follows the flow, it is not a constant."""
    before = session_worst_case(load_config(shipped_root), None)
    flow_file = shipped_root / "dialplan" / "112.yaml"
    text = flow_file.read_text()
    first_timeout = re.search(r"^    timeout: ([0-9.]+)$", text, re.M)
    assert first_timeout is not None
    slower = float(first_timeout[1]) + 2
    flow_file.write_text(text[: first_timeout.start(1)] + f"{slower:g}" + text[first_timeout.end(1) :])
    assert session_worst_case(load_config(shipped_root), None) >= before + 2


def test_session_seconds_counts_a_late_key_at_every_menu(shipped_root: Path) -> None:
    """A path's session bound is each menu's whole prompt plus its whole wait (plus the multi-key
    wait), each play node's whole prompt: never the budget's 'key pressed when announced'."""
    config = load_config(shipped_root)
    timings, _ = prompt_timings(config, None)
    flow = next(iter(config.flows.values()))
    path = next(path for path in timed_paths(flow, config.sop, timings) if path.steps[0].choice == "1")
    expected = 0.0
    for step in path.steps:
        node = flow.nodes[step.node]
        seconds = (timings.get((node.prompt, step.language)) or timings[(node.prompt, flow.default_language)]).seconds
        if hasattr(node, "options"):
            longest = max(len(key) for key in node.options)
            seconds += node.timeout + (longest - 1) * max(node.inter_digit_timeout, flow.reaction_time)
        expected += seconds
    assert session_seconds(flow, path, timings) == pytest.approx(expected, abs=0.01)
    assert session_seconds(flow, path, timings) > path.from_answer
