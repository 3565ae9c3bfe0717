"""The timing proof of `ivr check`: every (node, language, retry) state explored, back paths listed,
the clock rule for a caller who comes back, and a cap that is an error rather than a silent cut."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.check import check
from ivr.flow import analysis

LANGUAGE_LOOP = '"9": {language: en, next: utama}'


def _shipped_with(root: Path, old: str, new: str) -> Path:
    flow_file = root / "dialplan" / "112.yaml"
    text = flow_file.read_text()
    assert old in text
    flow_file.write_text(text.replace(old, new, 1))
    return root


def test_a_language_loop_to_the_same_menu_is_timed_in_the_new_language(shipped_root: Path) -> None:
    """Hazard 3: '9' switching to English and back to the same menu; the English paths are timed and refused."""
    root = _shipped_with(shipped_root, '"9": {language: en, next: utama-en}', LANGUAGE_LOOP)
    result = check(root, None)
    english = {path.describe(): path for path in result.paths["112"]}["utama[9] → utama(en)[silence] → darurat-umum"]
    assert english.emergency and english.language == "en" and english.seconds > 12
    over = [problem.message for problem in result.problems if "emergency_budget" in problem.message]
    assert any(message.startswith("emergency path utama[9] → utama(en)[") for message in over), over
    assert result.config is None


def test_back_navigation_then_holding_is_listed(shipped_root: Path) -> None:
    """Item 8: 'not an emergency' (2), back (0), then holding: the path is listed and ends at an emergency."""
    result = check(shipped_root, None)
    paths = result.paths["112"]
    back_then_hold = [path for path in paths if [step.choice for step in path.steps] == ["2", "0", "silence"]]
    assert len(back_then_hold) == 1, [path.describe() for path in paths][:20]
    assert back_then_hold[0].emergency and back_then_hold[0].category == "darurat-umum"


def test_the_back_path_is_timed_from_the_back_key(shipped_root: Path) -> None:
    """2, 0, hold: the budget counts from the back key (a short re-prompt, then silence); the whole is kept."""
    result = check(shipped_root, shipped_root / "var" / "sounds")  # the real audio, as `ivr check`
    assert result.config is not None
    flow = result.config.flows["112"]
    path = next(path for path in result.paths["112"] if [step.choice for step in path.steps] == ["2", "0", "silence"])
    back = path.steps[-1]
    assert [step.restarts_clock for step in path.steps] == [False, True, False]
    assert path.seconds == back.seconds == round(back.seconds, 2)
    assert path.seconds <= flow.emergency_budget
    assert path.from_answer == round(sum(step.seconds for step in path.steps), 2)


def test_a_key_to_a_non_emergency_leaf_is_no_come_back(shipped_root: Path) -> None:
    """Pressing 1 in the non-emergency menu is not 'coming back': only keys leading on restart the clock."""
    result = check(shipped_root, None)
    path = next(path for path in result.paths["112"] if [step.choice for step in path.steps] == ["2", "1"])
    assert not path.came_back and path.seconds == path.from_answer


def test_mixed_replays_are_explored(alt_root: Path) -> None:
    """The engine counts silences and wrong keys apart: wrong, wrong, silence, silence is a path, and timed."""
    result = check(alt_root, None)
    described = {path.describe() for path in result.paths["112"]}
    assert "sapa[next] → pintu[invalid] → pintu[invalid] → pintu[silence] → pintu[silence] → jaga" in described


def test_a_capped_enumeration_is_an_error(shipped_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """More paths than the cap: `ivr check` fails saying the proof is incomplete, never lists a part as all."""
    monkeypatch.setattr(analysis, "MAX_PATHS", 10)
    result = check(shipped_root, None)
    assert result.config is None
    assert [str(problem) for problem in result.problems] == [
        "dialplan/112.yaml:17:5: nodes.utama: flow 'siaga112' has more than 10 paths: the proof is incomplete "
        "(split the flow into fewer menus, or fewer replays)"
    ]
