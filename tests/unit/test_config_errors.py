"""Every kind of configuration error, each from one bad edit, with its exact message."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.check import check


def edit(root: Path, relative: str, old: str, new: str) -> None:
    path = root / relative
    text = path.read_text()
    assert old in text, f"fixture text {old!r} not in {relative}"
    path.write_text(text.replace(old, new, 1))


TIMEOUT = '    timeout: 2\n    options:\n      "7"'
PINTU_SILENCE = "    on_silence: {category: jaga}\n    replay_on_invalid: 2"
BANTUAN_SILENCE = "    on_silence: {category: jaga}\n    replay_on_invalid: 1"
FLOW, PROMPTS, CATEGORIES, AGENCIES = (
    "dialplan/112.yaml",
    "dialplan/prompts.yaml",
    "sop/categories.yaml",
    "sop/agencies.yaml",
)

# (id, edits [(file, old, new)], exact messages)
CASES: list[tuple[str, list[tuple[str, str, str]], list[str]]] = [
    (
        "unknown-key-with-suggestion",
        [(CATEGORIES, "categories:", "categries:")],
        ["sop/categories.yaml:1:1: categries: unknown key (did you mean 'categories'?)"],
    ),
    (
        "unknown-node",
        [(FLOW, '"8": bantuan', '"8": bantu')],
        ["dialplan/112.yaml:18:12: nodes.pintu.options.\"8\": unknown node 'bantu' (known: sapa, pintu, bantuan)"],
    ),
    (
        "unknown-category",
        [(FLOW, '"7": {category: api}', '"7": {category: apii}')],
        [
            "dialplan/112.yaml:17:12: nodes.pintu.options.\"7\": unknown category 'apii' "
            "(known: api, jaga, medis, tanya)"
        ],
    ),
    (
        "unknown-language",
        [(FLOW, '"#": {category: tanya}', '"#": {category: tanya, language: fr}')],
        ["dialplan/112.yaml:19:12: nodes.pintu.options.\"#\": unknown language 'fr' (known: id)"],
    ),
    (
        "wrong-type",
        [(FLOW, TIMEOUT, TIMEOUT.replace("2", "lama"))],
        ["dialplan/112.yaml:15:14: nodes.pintu.timeout: expected a number, got 'lama'"],
    ),
    (
        "out-of-range",
        [(FLOW, TIMEOUT, TIMEOUT.replace("2", "99"))],
        ["dialplan/112.yaml:15:14: nodes.pintu.timeout: 99 is out of range (0.5 to 30)"],
    ),
    (
        "missing-required",
        [(FLOW, PINTU_SILENCE, "    replay_on_invalid: 2")],
        ["dialplan/112.yaml:13:5: nodes.pintu: missing required key 'on_silence'"],
    ),
    (
        "duplicate-key",
        [(FLOW, '      "8": bantuan\n', '      "8": bantuan\n      "7": {category: medis}\n')],
        ['dialplan/112.yaml:19:7: nodes.pintu.options."7": duplicate key (the first one would be silently overridden)'],
    ),
    (
        "yaml-syntax",
        [(FLOW, "start: sapa", "start: [sapa")],
        ["dialplan/112.yaml:7:6: (syntax): expected ',' or ']', but got ':' (while parsing a flow sequence)"],
    ),
    (
        "bad-option-key",
        [(FLOW, '"#": {category: tanya}', '"1a": {category: tanya}')],
        [
            'dialplan/112.yaml:19:13: nodes.pintu.options."1a": option keys are 1 to 4 of 0-9 * # (quote them: "1")',
            "dialplan/prompts.yaml:6:7: prompts.pintu.id: announces key '#' but menu 'pintu' has no such option "
            "(options: 7, 8)",
        ],
    ),
    (
        "prompt-missing-language",
        [(FLOW, "languages: [id]", "languages: [id, en]")],
        [
            "dialplan/112.yaml:9:5: nodes.sapa.prompt: prompt 'salam' has no text for en in dialplan/prompts.yaml",
            "dialplan/112.yaml:13:5: nodes.pintu.prompt: prompt 'pintu' has no text for en in dialplan/prompts.yaml",
            "dialplan/112.yaml:25:5: nodes.bantuan.prompt: prompt 'bantuan' has no text for en in "
            "dialplan/prompts.yaml",
        ],
    ),
    (
        "prompt-announces-missing-option",
        [(PROMPTS, '{key: "3", text: "Medis, tiga."}', '{key: "4", text: "Medis, empat."}')],
        [
            "dialplan/prompts.yaml:11:7: prompts.bantuan.id: announces key '4' but menu 'bantuan' has no such "
            "option (options: 3, *)"
        ],
    ),
    (
        "unknown-queue",
        [(CATEGORIES, "queue: ambulans-x,", "queue: ambulans-y,")],
        [
            "sop/categories.yaml:3:62: categories.medis.queue: unknown queue 'ambulans-y' "
            "(known: ambulans-x, jaga-pusat, regu-api-1)"
        ],
    ),
    (
        "bad-category-name",
        [(CATEGORIES, "  tanya: {", "  Tanya Lagi: {")],
        [
            "dialplan/112.yaml:19:12: nodes.pintu.options.\"#\": unknown category 'tanya' (known: api, jaga, medis)",
            "dialplan/112.yaml:33:17: nodes.bantuan.on_invalid: unknown category 'tanya' (known: api, jaga, medis)",
            'sop/categories.yaml:5:15: categories."Tanya Lagi": category names are lower-case letters, digits, '
            "'-' and '_'",
        ],
    ),
    (
        "no-central-agency",
        [(AGENCIES, "    central: true\n", "")],
        ["sop/agencies.yaml:2:3: agencies: exactly one agency must be 'central: true' (the 24/7 call-takers), found 0"],
    ),
    (
        "silence-loop",
        [
            (FLOW, PINTU_SILENCE, "    on_silence: bantuan\n    replay_on_invalid: 2"),
            (FLOW, BANTUAN_SILENCE, "    on_silence: pintu\n    replay_on_invalid: 1"),
        ],
        [
            "dialplan/112.yaml:13:5: nodes.pintu: on silence, a caller loops forever and never reaches a "
            "call-taker: pintu → bantuan → pintu"
        ],
    ),
    (
        "unreachable-node",
        [(FLOW, '"8": bantuan', '"8": {category: medis}')],
        ["dialplan/112.yaml:25:5: nodes.bantuan: never reached from 'start'"],
    ),
    (
        "over-budget",
        [(FLOW, "emergency_budget: 45", "emergency_budget: 7")],
        # One problem per node where slow paths end: the worst (silence and wrong keys mixed, a back key).
        [
            "dialplan/112.yaml:13:5: nodes.pintu: emergency path sapa[next] → pintu[silence] → pintu[invalid] → "
            "pintu[invalid] → pintu[8] → bantuan[invalid] → bantuan[*] → pintu[invalid] → pintu[invalid] → "
            "pintu[silence] → pintu[silence] → jaga (id) takes 42.0 s, over the 7 s emergency_budget "
            "(and 194 more path(s) ending here): shorten its prompts or timeouts",
            "dialplan/112.yaml:25:5: nodes.bantuan: emergency path sapa[next] → pintu[silence] → pintu[invalid] → "
            "pintu[invalid] → pintu[8] → bantuan[invalid] → bantuan[silence] → jaga (id) takes 24.7 s, over the "
            "7 s emergency_budget (and 34 more path(s) ending here): shorten its prompts or timeouts",
        ],
    ),
]


@pytest.mark.parametrize(("edits", "expected"), [pytest.param(e, x, id=i) for i, e, x in CASES])
def test_bad_edit_is_reported_exactly(alt_root: Path, edits: list[tuple[str, str, str]], expected: list[str]) -> None:
    """One bad edit gives exactly these messages (file:line:col: path: message) and no config.

    Prompt times are estimated from text length here (no audio), so the budget case is exact too.
    """
    for relative, old, new in edits:
        edit(alt_root, relative, old, new)
    result = check(alt_root, None)
    assert result.config is None
    assert [str(problem) for problem in result.problems] == expected


def test_all_errors_are_reported_at_once(alt_root: Path) -> None:
    """Errors in several files are all listed in one run, sorted by file and line."""
    edit(alt_root, "sop/categories.yaml", "categories:", "categries:")
    edit(alt_root, "dialplan/112.yaml", '"8": bantuan', '"8": bantu')
    problems = [str(problem) for problem in check(alt_root, None).problems]
    assert any(line.startswith("sop/categories.yaml:1:1: categries:") for line in problems)
    assert any(line.startswith("dialplan/112.yaml:18:12:") for line in problems)


def test_the_shipped_configuration_is_clean(shipped_root: Path) -> None:
    """The files we ship pass every check, including the 12 s emergency budget on the real audio."""
    result = check(shipped_root, shipped_root / "var" / "sounds")
    assert result.timing_source == "measured from the built audio"
    assert result.problems == []
    assert result.config is not None
    flow = result.config.flows["112"]
    assert flow.emergency_budget == 12
