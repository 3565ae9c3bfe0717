"""The loader and the exported JSON Schema come from one table of fields, so they refuse the same files.

Every bad-YAML case of the config tests is run through both: a case refused for a field's own rule (type,
range, choice, pattern, unknown or missing key) must fail the schema too; a case refused for a rule across
files (an unknown queue, an unsafe flow, a loop) is the loader's alone and the schema must accept its file.
The schema sees the YAML as an editor does (YAML 1.2: an unquoted date stays text; a duplicate key is an
error of the YAML itself).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from ivr.check import check
from ivr.config import load_config
from ivr.config.flow import FLOW_FILE, MENU, PLAY, Flow, MenuNode, PlayNode
from ivr.config.schema import SCHEMAS
from ivr.config.sop import (
    AGENCY,
    BRIDGE,
    CATEGORY,
    PRANK,
    QUEUE,
    SOP_FILE,
    Agency,
    Bridge,
    Category,
    PrankRules,
    Queue,
    Sop,
)
from ivr.config.spec import NO_DEFAULT, Obj
from tests.unit import test_config_chains, test_config_errors, test_config_newlines
from tests.unit.conftest import FIXTURES, REPO
from tests.unit.test_config_errors import edit

FLOW, PROMPTS, CATEGORIES, AGENCIES = (
    "dialplan/112.yaml",
    "dialplan/prompts.yaml",
    "sop/categories.yaml",
    "sop/agencies.yaml",
)
Edits = list[tuple[str, str, str]]


class EditorLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no types
    """YAML as an editor's schema validation reads it: no timestamps, and a duplicate key is an error."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(key, deep=deep) for key, _value in node.value]
        if len(keys) != len(set(keys)):
            raise yaml.constructor.ConstructorError(None, None, "duplicate key", node.start_mark)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


EditorLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def schema_for(relative: str) -> dict[str, Any]:
    if relative == PROMPTS:
        return SCHEMAS["prompts"]
    return SCHEMAS["flow"] if relative.startswith("dialplan/") else SCHEMAS["sop"]


def schema_errors(root: Path, relative: str) -> list[str]:
    """What the exported schema says about one file (a YAML error counts as one)."""
    try:
        data = yaml.load((root / relative).read_text(), Loader=EditorLoader)
    except yaml.YAMLError as error:
        return [f"yaml: {error}"]
    validator = jsonschema.Draft202012Validator(schema_for(relative))
    return [error.message for error in validator.iter_errors(data)]


def given_edits(root: Path, edits: Edits) -> list[str]:
    for relative, old, new in edits:
        edit(root, relative, old, new)
    return sorted({relative for relative, _old, _new in edits})


# The cases of the other config tests, by the kind of rule that refuses them.
FIELD_RULE = {
    "unknown-key-with-suggestion",
    "wrong-type",
    "out-of-range",
    "missing-required",
    "bad-option-key",
    "bad-category-name",
    "queue-name",
    "category-name",
    "bridge-target",
    "neighbour-target",
    "hours-range",
    "node-name",
    "option-key",
    "prompt-key",
}
YAML_RULE = {"yaml-syntax", "duplicate-key"}  # refused by the YAML parser, before any schema
# Rules across values or files: only the loader (`ivr check`) sees them.
CROSS_FILE = {
    "unknown-node",
    "unknown-category",
    "unknown-language",
    "unknown-queue",
    "prompt-missing-language",
    "prompt-announces-missing-option",
    "no-central-agency",
    "silence-loop",
    "unreachable-node",
    "over-budget",
    "after-hours-cycle-of-two",
    "after-hours-cycle-entered-from-a-tail",
    "after-hours-self-loop",
    "overflow-loops-back-through-after-hours",
}
OTHER_CASES: list[tuple[str, Edits, list[str]]] = [
    *test_config_errors.CASES,
    *test_config_newlines.CASES,
    *test_config_chains.CASES,
]

HOLIDAYS = "holidays_until: 2027-12-31\nholidays:\n"
# Bad YAML this spec added to the loader or the schema; each was accepted by one and refused by the other.
SPEC_CASES: list[tuple[str, Edits, list[str]]] = [
    (
        "empty-languages",
        [(FLOW, "languages: [id]", "languages: []")],
        ["dialplan/112.yaml:4:12: languages: give at least one language (the first is the default)"],
    ),
    (
        "node-and-next",
        [(FLOW, '"8": bantuan', '"8": {node: bantuan, next: bantuan}')],
        [
            "dialplan/112.yaml:18:12: nodes.pintu.options.\"8\": give exactly one of 'next' (a node) or 'category' "
            "(an SOP category)"
        ],
    ),
    # Each key once in "known" (the hand-written lists named type, prompt and next twice).
    (
        "unknown-key-in-play-node",
        [(FLOW, "    prompt: salam\n", "    prompt: salam\n    volume: 3\n")],
        ["dialplan/112.yaml:11:5: nodes.sapa.volume: unknown key (known: type, prompt, next, barge_in)"],
    ),
    (
        "empty-next",
        [(FLOW, '"8": bantuan', '"8": ""')],
        ["dialplan/112.yaml:18:12: nodes.pintu.options.\"8\": expected a node name, got ''"],
    ),
    (
        "holidays-until-not-a-date",
        [(CATEGORIES, "categories:", "holidays_until: soon\ncategories:")],
        [
            "sop/categories.yaml:1:17: holidays_until: expected the last day the holidays were checked through, "
            "like 2026-12-31, got 'soon'"
        ],
    ),
    (
        "holiday-compact-date",
        [(CATEGORIES, "categories:", 'holidays:\n  "20260817": Merdeka\ncategories:')],
        ["sop/categories.yaml:2:15: holidays.\"20260817\": '20260817' is not a date like 2026-08-17"],
    ),
    (
        "empty-hours",
        [(AGENCIES, "    name: Regu Api\n", "    name: Regu Api\n    hours: []\n")],
        [
            "sop/agencies.yaml:9:12: agencies.regu.hours: expected '24/7' or ranges like 'mon-fri 08:00-16:00', "
            "got an empty list"
        ],
    ),
    (
        "hours-past-midnight-clock",
        [(AGENCIES, "    name: Regu Api\n", "    name: Regu Api\n    hours: mon 08:00-24:30\n")],
        [
            "sop/agencies.yaml:9:12: agencies.regu.hours: expected '24/7' or ranges like 'mon-fri 08:00-16:00', "
            "got 'mon 08:00-24:30'"
        ],
    ),
    (
        "empty-segment-key",
        [(PROMPTS, '{key: "3", text:', '{key: "", text:')],
        ['dialplan/prompts.yaml:11:15: prompts.bantuan.id[0].key: a key is 1 to 4 of 0-9 * # (quote it: "1")'],
    ),
    (
        "skip-busy-not-true-or-false",
        [(CATEGORIES, "queue: regu-api-1}", "queue: regu-api-1, skip_busy: maybe}")],
        ["sop/categories.yaml:2:81: categories.api.skip_busy: expected true or false, got 'maybe'"],
    ),
    (
        "blank-prompt",
        [(PROMPTS, "id: Posko latihan.", 'id: "  "')],
        [
            "dialplan/112.yaml:9:5: nodes.sapa.prompt: prompt 'salam' has no text for id in dialplan/prompts.yaml",
            "dialplan/prompts.yaml:3:9: prompts.salam.id: a prompt needs some text",
        ],
    ),
]
# A field's own rule JSON Schema cannot say: the loader alone refuses these, and the schema lets them through.
LOADER_ONLY: list[tuple[str, Edits, list[str]]] = [
    # A pattern cannot know the length of each month.
    (
        "holidays-until-no-such-day",
        [(CATEGORIES, "categories:", "holidays_until: 2027-02-30\ncategories:")],
        [
            "sop/categories.yaml:1:17: holidays_until: expected the last day the holidays were checked through, "
            "like 2026-12-31, got '2027-02-30'"
        ],
    ),
    # The tz database is the loader's machine's; the schema only says "text".
    (
        "unknown-time-zone",
        [(CATEGORIES, "categories:", "timezone: Asia/Tangerang\ncategories:")],
        ["sop/categories.yaml:1:11: timezone: unknown time zone 'Asia/Tangerang' (e.g. Asia/Jakarta)"],
    ),
]
# Edits both accept (the loader always did; the old schema refused some).
ACCEPTED: list[tuple[str, Edits]] = [
    ("holidays-until-unquoted", [(CATEGORIES, "categories:", HOLIDAYS + '  "2027-12-25": Natal\ncategories:')]),
    ("label-is-a-number", [(CATEGORIES, "label: Tanya,", "label: 112,")]),
    ("skip-busy-off", [(CATEGORIES, "queue: regu-api-1}", "queue: regu-api-1, skip_busy: false}")]),
    ("hours-over-midnight", [(AGENCIES, "    name: Regu Api\n", "    name: Regu Api\n    hours: [fri 22:00-06:00]\n")]),
]


def test_every_bad_yaml_case_is_classified() -> None:
    """Each bad-YAML case of the config tests says which rule refuses it, so none escapes the schema check."""
    ids = [case_id for case_id, _edits, _messages in OTHER_CASES]
    assert sorted(ids) == sorted(FIELD_RULE | YAML_RULE | CROSS_FILE)


@pytest.mark.parametrize(
    ("edits", "messages"),
    [
        pytest.param(edits, messages, id=case_id)
        for case_id, edits, messages in [*OTHER_CASES, *SPEC_CASES]
        if case_id not in CROSS_FILE
    ],
)
def test_a_field_rule_is_refused_by_the_loader_and_the_schema(
    alt_root: Path, edits: Edits, messages: list[str]
) -> None:
    """A file the loader refuses for a field's own rule fails the exported schema too."""
    files = given_edits(alt_root, edits)
    assert [str(problem) for problem in check(alt_root, None).problems] == messages
    assert all(schema_errors(alt_root, relative) for relative in files)


@pytest.mark.parametrize(
    ("edits", "messages"), [pytest.param(edits, messages, id=case_id) for case_id, edits, messages in LOADER_ONLY]
)
def test_a_field_rule_json_schema_cannot_say_is_the_loaders_alone(
    alt_root: Path, edits: Edits, messages: list[str]
) -> None:
    """The known gaps of the schema: the loader refuses these exactly, the schema lets them through."""
    files = given_edits(alt_root, edits)
    assert [str(problem) for problem in check(alt_root, None).problems] == messages
    assert {relative: schema_errors(alt_root, relative) for relative in files} == {relative: [] for relative in files}


@pytest.mark.parametrize(
    "edits", [pytest.param(edits, id=case_id) for case_id, edits, _messages in OTHER_CASES if case_id in CROSS_FILE]
)
def test_a_rule_across_files_is_the_loaders_alone(alt_root: Path, edits: Edits) -> None:
    """A cross-file mistake (unknown queue, unsafe flow, loop) passes the schema: each file is well formed."""
    files = given_edits(alt_root, edits)
    assert check(alt_root, None).problems
    assert {relative: schema_errors(alt_root, relative) for relative in files} == {relative: [] for relative in files}


@pytest.mark.parametrize("edits", [pytest.param(edits, id=case_id) for case_id, edits in ACCEPTED])
def test_a_valid_edit_passes_both(alt_root: Path, edits: Edits) -> None:
    """Valid YAML the loader takes is valid for the schema too."""
    files = given_edits(alt_root, edits)
    assert check(alt_root, None).problems == []
    assert {relative: schema_errors(alt_root, relative) for relative in files} == {relative: [] for relative in files}


@pytest.mark.parametrize("root", [REPO, FIXTURES / "alt"], ids=["shipped", "alt"])
def test_every_yaml_file_we_ship_passes_both(root: Path) -> None:
    """The shipped dialplan/ and sop/, and the alternative fixture, pass the loader and the schema."""
    load_config(root)  # raises ConfigError on any problem
    files = sorted(str(path.relative_to(root)) for name in ("dialplan", "sop") for path in (root / name).glob("*.yaml"))
    assert len(files) >= 3
    assert {relative: schema_errors(root, relative) for relative in files} == {relative: [] for relative in files}


MODELS: list[tuple[type[Any], Obj]] = [
    (Flow, FLOW_FILE),
    (MenuNode, MENU),
    (PlayNode, PLAY),
    (Queue, QUEUE),
    (Bridge, BRIDGE),
    (Agency, AGENCY),
    (Category, CATEGORY),
    (PrankRules, PRANK),
    (Sop, SOP_FILE),
]


@pytest.mark.parametrize(("model", "table"), MODELS, ids=[model.__name__ for model, _table in MODELS])
def test_dataclass_defaults_are_the_tables(model: type[Any], table: Obj) -> None:
    """A model built without a value gets the table's default, the one the schema shows editors."""
    fields = {spec.name: spec for spec in dataclasses.fields(model)}
    shared = [
        spec
        for spec in table.fields
        if spec.name in fields
        and spec.default is not NO_DEFAULT
        and fields[spec.name].default is not dataclasses.MISSING
    ]
    assert shared
    for spec in shared:
        assert fields[spec.name].default == spec.default, spec.name
