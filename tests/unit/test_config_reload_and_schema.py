"""Hot reload keeps the last good configuration; the exported JSON Schema matches the shipped files."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from ivr.cli import main
from ivr.config.live import LiveConfig
from ivr.config.schema import SCHEMAS

REPO = Path(__file__).resolve().parents[2]


def bump(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


async def test_a_valid_edit_takes_effect_and_an_invalid_one_is_refused(alt_root: Path) -> None:
    """New calls see a valid edit; an invalid edit is refused with its errors and the last good stays."""
    live = LiveConfig(alt_root, None)
    applied: list[int] = []
    refused: list[list[str]] = []
    live.appliers.append(lambda new: applied.append(len(new.sop.categories)))
    live.refusal_listeners.append(refused.append)
    before = live.current()
    assert before.sop.categories["api"].queue == "regu-api-1"

    bump(alt_root / "sop/categories.yaml", "queue: regu-api-1}", "queue: jaga-pusat}")
    assert await live.reload_if_changed()
    assert live.current().sop.categories["api"].queue == "jaga-pusat"
    assert before.sop.categories["api"].queue == "regu-api-1"  # a call holding the old snapshot keeps it

    good = live.current()
    bump(alt_root / "dialplan/112.yaml", '"8": bantuan', '"8": bantu')
    assert not await live.reload_if_changed()
    assert live.current() is good
    assert live.rejected == [
        "dialplan/112.yaml:18:12: nodes.pintu.options.\"8\": unknown node 'bantu' (known: sapa, pintu, bantuan)"
    ]
    # What the console's audit log records: one applied edit, one refused with its problems.
    assert (len(applied), refused) == (1, [live.rejected])


async def test_an_unsafe_edit_is_refused_too(alt_root: Path) -> None:
    """A flow whose silence would loop forever never replaces a safe one."""
    live = LiveConfig(alt_root, None)
    bump(
        alt_root / "dialplan/112.yaml",
        "    on_silence: {category: jaga}\n    replay_on_invalid: 2",
        "    on_silence: bantuan\n    replay_on_invalid: 2",
    )
    bump(
        alt_root / "dialplan/112.yaml",
        "    on_silence: {category: jaga}\n    replay_on_invalid: 1",
        "    on_silence: pintu\n    replay_on_invalid: 1",
    )
    assert not await live.reload_if_changed()
    assert "loops forever" in live.rejected[0]


@pytest.mark.parametrize(
    ("schema", "relative"),
    [
        ("flow", "dialplan/112.yaml"),
        ("prompts", "dialplan/prompts.yaml"),
        ("sop", "sop/agencies.yaml"),
        ("sop", "sop/categories.yaml"),
        ("sop", "sop/calendar.yaml"),
        ("sop", "sop/triage.yaml"),
    ],
)
def test_shipped_files_match_the_schema(schema: str, relative: str) -> None:
    """What we ship validates against what we export for editors."""
    jsonschema.validate(yaml.safe_load((REPO / relative).read_text()), SCHEMAS[schema])


def test_schema_rejects_what_the_loader_rejects() -> None:
    """An unknown key and an out-of-range timeout fail the schema as they fail `ivr check`."""
    flow = yaml.safe_load((REPO / "dialplan/112.yaml").read_text())
    flow["nodes"]["utama"]["timeot"] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(flow, SCHEMAS["flow"])
    flow["nodes"]["utama"].pop("timeot")
    flow["nodes"]["utama"]["timeout"] = 99
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(flow, SCHEMAS["flow"])


def test_ivr_schema_writes_one_file_per_kind(tmp_path: Path) -> None:
    """`ivr schema --out DIR` writes valid JSON Schema documents an editor can load."""
    assert main(["schema", "--out", str(tmp_path)]) == 0
    written = sorted(path.name for path in tmp_path.iterdir())
    assert written == ["flow.schema.json", "prompts.schema.json", "sop.schema.json"]
    for path in tmp_path.iterdir():
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text()))
