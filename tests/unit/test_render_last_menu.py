"""Rendering (no Asterisk) of the last menu's hand-off: every menu try clears READSTATUS before its
AGI() and takes a handed-over menu's route from [siaga-last-menu] before the route is split; the
overflow tries, where a READSTATUS left by the menu is stale, never do. tests/integration/
test_last_menu.py runs it on the real Asterisk."""

from __future__ import annotations

from pathlib import Path

from ivr.agi.channel import LAST_MENU_KEY, LAST_MENU_ROUTES
from ivr.asterisk.render import LAST_MENU_CONTEXT
from ivr.settings import Settings
from tests.unit.test_render_requeue import context
from tests.unit.test_render_rights import rendered


def test_every_menu_try_and_no_overflow_try_takes_a_handed_over_menu(tmp_path: Path) -> None:
    extensions = (rendered(tmp_path) / "extensions.conf").read_text()
    lines = context(extensions, "siaga-112")
    agi = [number for number, line in enumerate(lines) if ",AGI(" in line]
    menu = [number for number in agi if "/112," in lines[number]]
    overflow = [number for number in agi if "/overflow" in lines[number]]
    assert len(menu) == len(overflow) == len(Settings.load(tmp_path).agi_urls) >= 1
    for number in menu:
        try_lines = lines[number - 4 : number + 5]
        assert " same => n,Set(READSTATUS=)" in try_lines[:4], try_lines
        [handed] = [line for line in try_lines if "GosubIf(" in line]
        assert handed.endswith(
            f'GosubIf($[${{LEN(${{IVR_ROUTE}})}} = 0 & "${{READSTATUS}}" != ""]?{LAST_MENU_CONTEXT},s,1)'
        )
        assert try_lines.index(handed) < next(i for i, line in enumerate(try_lines) if "Set(ARRAY(" in line)
    for number in overflow:
        assert not [line for line in lines[number - 4 : number + 5] if "READSTATUS" in line]
    last_menu = "\n".join(context(extensions, LAST_MENU_CONTEXT))
    assert f"${{CUT({LAST_MENU_ROUTES},|,1)}}" in last_menu and f"${{FILTER(0-9,${{{LAST_MENU_KEY}}})}}" in last_menu
    assert "{{" not in last_menu
