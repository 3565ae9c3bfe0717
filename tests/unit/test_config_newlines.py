"""Every identifier validator in ivr/config refuses a trailing newline (fullmatch, not match with ^...$).

A newline that passed validation would reach Asterisk inside a queue name, a dial target or a variable
and split one command or config line into two. Each case writes one value with a trailing "\\n" (a YAML
escape in double quotes) and asserts the exact messages.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.check import check
from tests.unit.test_config_errors import edit

FLOW, PROMPTS, CATEGORIES, AGENCIES = (
    "dialplan/112.yaml",
    "dialplan/prompts.yaml",
    "sop/categories.yaml",
    "sop/agencies.yaml",
)
NL = "\\n"  # as written in the YAML file: the escape, which YAML turns into a newline

PLAIN = "lower-case letters, digits, '-' and '_'"
HOURS = "expected '24/7' or ranges like 'mon-fri 08:00-16:00'"

# (id, edits [(file, old, new)], exact messages)
CASES: list[tuple[str, list[tuple[str, str, str]], list[str]]] = [
    (
        "queue-name",
        [(AGENCIES, "      regu-api-1: {", f'      "regu-api-1{NL}": {{')],
        [
            f'sop/agencies.yaml:10:23: agencies.regu.queues."regu-api-1\\n": queue names are {PLAIN}',
            "sop/categories.yaml:2:58: categories.api.queue: unknown queue 'regu-api-1' "
            "(known: ambulans-x, jaga-pusat)",
        ],
    ),
    (
        "category-name",
        [(CATEGORIES, "  tanya: {", f'  "tanya{NL}": {{')],
        [
            "dialplan/112.yaml:19:12: nodes.pintu.options.\"#\": unknown category 'tanya' (known: api, jaga, medis)",
            "dialplan/112.yaml:33:17: nodes.bantuan.on_invalid: unknown category 'tanya' (known: api, jaga, medis)",
            f'sop/categories.yaml:5:14: categories."tanya\\n": category names are {PLAIN}',
        ],
    ),
    (
        "bridge-target",
        [(AGENCIES, "target: Local/posko@siaga-sim-bridge,", f'target: "Local/posko@siaga-sim-bridge{NL}",')],
        [
            "sop/agencies.yaml:14:22: agencies.medik.bridge.target: expected a dial target like 'PJSIP/damkar-posko' "
            "or 'Local/x@context'",
        ],
    ),
    (
        "neighbour-target",
        [(AGENCIES, "agencies:\n", f'neighbours:\n  kota: {{name: Kota, target: "PJSIP/kota{NL}"}}\nagencies:\n')],
        [
            "sop/agencies.yaml:2:30: neighbours.kota.target: expected a dial target like 'PJSIP/112-kota-tangerang'",
        ],
    ),
    (
        "hours-range",
        [(AGENCIES, "    name: Regu Api\n", f'    name: Regu Api\n    hours: "mon-fri 08:00-16:00{NL}"\n')],
        [
            f"sop/agencies.yaml:9:12: agencies.regu.hours: {HOURS}, got 'mon-fri 08:00-16:00\\n'",
        ],
    ),
    (
        "node-name",
        [(FLOW, "  bantuan:\n", f'  "bantuan{NL}":\n')],
        [
            "dialplan/112.yaml:18:12: nodes.pintu.options.\"8\": unknown node 'bantuan' (known: sapa, pintu, "
            '"bantuan\\n")',
            f'dialplan/112.yaml:25:5: nodes."bantuan\\n": node names are {PLAIN}',
        ],
    ),
    (
        "option-key",
        [(FLOW, '"8": bantuan', f'"8{NL}": bantuan')],
        [
            'dialplan/112.yaml:18:14: nodes.pintu.options."8\\n": option keys are 1 to 4 of 0-9 * # (quote them: "1")',
            "dialplan/prompts.yaml:6:7: prompts.pintu.id: announces key '8' but menu 'pintu' has no such option "
            "(options: 7, #)",
        ],
    ),
    (
        "prompt-key",
        [(PROMPTS, '{key: "3", text:', f'{{key: "3{NL}", text:')],
        [
            'dialplan/prompts.yaml:11:15: prompts.bantuan.id[0].key: a key is 1 to 4 of 0-9 * # (quote it: "1")',
        ],
    ),
]


@pytest.mark.parametrize(("edits", "expected"), [pytest.param(e, x, id=i) for i, e, x in CASES])
def test_trailing_newline_is_refused(alt_root: Path, edits: list[tuple[str, str, str]], expected: list[str]) -> None:
    """A value that is valid but for a trailing newline is refused with exactly these messages."""
    for relative, old, new in edits:
        edit(alt_root, relative, old, new)
    result = check(alt_root, None)
    assert result.config is None
    assert [str(problem) for problem in result.problems] == expected
