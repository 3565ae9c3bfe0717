"""The operator roster (``operators:`` in sop/): each bad edit gives its exact message; no secret gets in."""

from __future__ import annotations

import argparse
from pathlib import Path

import jsonschema
import pytest
import yaml

from ivr.check import check
from ivr.cli import cmd_check
from ivr.config import load_config
from ivr.config.roster import Operator
from ivr.config.schema import SCHEMAS
from ivr.config.staffing import staffing_warnings
from tests.unit.test_config_errors import edit

REPO = Path(__file__).resolve().parents[2]
ROSTER = "sop/operators.yaml"
# The alt fixture's agencies: posko (central: jaga-pusat), regu (regu-api-1), medik (ambulans-x).
GOOD = """\
operators:
  ani:
    name: Ani Lestari
    agency: posko
    queues: [jaga-pusat, regu-api-1]
  bayu:
    name: Bayu Pratama
    agency: regu
    queues: [regu-api-1]
  cici:
    name: Cici Paramitha
    role: supervisor
    agency: medik
    queues: [ambulans-x]
    desk_phone: true
"""


def given_roster(root: Path, text: str = GOOD) -> Path:
    (root / ROSTER).write_text(text)
    return root


def problems(root: Path) -> list[str]:
    return [str(problem) for problem in check(root, None).problems]


def test_the_roster_loads_into_operators(alt_root: Path) -> None:
    """Each entry becomes an Operator: defaults filled in, SIP identity derived from the id."""
    operators = load_config(given_roster(alt_root)).sop.operators
    assert operators["ani"] == Operator("ani", "Ani Lestari", "operator", "posko", ("jaga-pusat", "regu-api-1"))
    assert operators["cici"].role == "supervisor" and operators["cici"].desk_phone
    assert not operators["bayu"].desk_phone
    assert (operators["bayu"].sip_user, operators["bayu"].interface) == ("op-bayu", "PJSIP/op-bayu")


CASES: list[tuple[str, str, str, list[str]]] = [
    (
        "unknown-queue",
        "queues: [regu-api-1]",
        "queues: [regu-api-2]",
        [
            "sop/operators.yaml:9:14: operators.bayu.queues[0]: unknown queue 'regu-api-2' "
            "(known: ambulans-x, jaga-pusat, regu-api-1)"
        ],
    ),
    (
        "unknown-agency",
        "agency: regu\n",
        "agency: regoo\n",
        ["sop/operators.yaml:8:13: operators.bayu.agency: unknown agency 'regoo' (known: medik, posko, regu)"],
    ),
    (
        "queue-of-another-agency",
        "queues: [regu-api-1]",
        "queues: [regu-api-1, ambulans-x]",
        [
            "sop/operators.yaml:9:26: operators.bayu.queues[1]: queue 'ambulans-x' belongs to agency 'medik': "
            "staff of 'regu' answer only its queues (regu-api-1); only the central agency 'posko' may list any queue"
        ],
    ),
    (
        "supervisor-of-an-agency-is-no-exception",
        "queues: [ambulans-x]",
        "queues: [ambulans-x, jaga-pusat]",
        [
            "sop/operators.yaml:14:26: operators.cici.queues[1]: queue 'jaga-pusat' belongs to agency 'posko': "
            "staff of 'medik' answer only its queues (ambulans-x); only the central agency 'posko' may list any queue"
        ],
    ),
    (
        "queue-listed-twice",
        "queues: [regu-api-1]",
        "queues: [regu-api-1, regu-api-1]",
        ["sop/operators.yaml:9:26: operators.bayu.queues[1]: queue 'regu-api-1' is listed twice"],
    ),
    (
        "operator-without-queues",
        "    queues: [regu-api-1]\n",
        "",
        [
            "sop/operators.yaml:7:5: operators.bayu: an operator takes calls: list at least one queue "
            "(queues: [regu-api-1])"
        ],
    ),
    (
        "operator-with-an-empty-list",
        "queues: [regu-api-1]",
        "queues: []",
        [
            "sop/operators.yaml:9:13: operators.bayu.queues: an operator takes calls: list at least one queue "
            "(queues: [regu-api-1])"
        ],
    ),
    (
        "unknown-role",
        "role: supervisor",
        "role: kepala",
        ["sop/operators.yaml:12:11: operators.cici.role: 'kepala' is not one of: operator, supervisor, admin"],
    ),
    (
        "missing-name",
        "    name: Bayu Pratama\n",
        "",
        ["sop/operators.yaml:7:5: operators.bayu: missing required key 'name'"],
    ),
    (
        "bad-id",
        "  bayu:\n",
        "  Bayu Pratama:\n",
        [
            'sop/operators.yaml:7:5: operators."Bayu Pratama": operator ids are lower-case letters, digits, '
            "'-' and '_', at most 40 characters (the id becomes SIP user 'op-<id>')"
        ],
    ),
    (
        "unknown-key-with-suggestion",
        "desk_phone: true",
        "deskphone: true",
        ["sop/operators.yaml:15:5: operators.cici.deskphone: unknown key (did you mean 'desk_phone'?)"],
    ),
    (
        "password-refused",
        "    name: Bayu Pratama\n",
        "    name: Bayu Pratama\n    password: rahasia123\n",
        [
            "sop/operators.yaml:8:5: operators.bayu.password: no passwords or secrets in sop/ (it is reviewed in "
            "git): delete this key and set the password with `ivr passwd <operator id>`, which stores it hashed "
            "under var/"
        ],
    ),
    (
        "name-that-would-split-queue_log",
        "name: Bayu Pratama",
        'name: "Bayu|Pratama\\r\\nActionID: x"',
        [
            "sop/operators.yaml:7:11: operators.bayu.name: expected a name on one line, without '|' "
            "(it travels into AMI and queue_log)"
        ],
    ),
    (
        "duplicate-id-in-one-file",
        "  cici:\n",
        "  bayu:\n",
        ["sop/operators.yaml:10:3: operators.bayu: duplicate key (the first one would be silently overridden)"],
    ),
]


@pytest.mark.parametrize(("old", "new", "expected"), [pytest.param(o, n, x, id=i) for i, o, n, x in CASES])
def test_bad_roster_edit_is_reported_exactly(alt_root: Path, old: str, new: str, expected: list[str]) -> None:
    """One bad edit of the roster gives exactly these messages and no config."""
    given_roster(alt_root)
    edit(alt_root, ROSTER, old, new)
    assert problems(alt_root) == expected


@pytest.mark.parametrize(
    "key", ["password", "sip_password", "passwd", "secret", "kata_sandi", "pin", "login-pin", "PASSWORD_HASH", "token"]
)
def test_every_credential_like_key_points_at_ivr_passwd(alt_root: Path, key: str) -> None:
    """A password by any usual name is refused with the way to set one, never as a mere typo."""
    given_roster(alt_root)
    edit(alt_root, ROSTER, "    name: Bayu Pratama\n", f"    name: Bayu Pratama\n    {key}: x\n")
    (message,) = problems(alt_root)
    assert message.startswith(f"sop/operators.yaml:8:5: operators.bayu.{key}: no passwords or secrets in sop/")
    assert "`ivr passwd <operator id>`" in message


def test_a_secret_section_at_the_top_is_refused_too(alt_root: Path) -> None:
    """`passwords:` beside `operators:` is refused with the same pointer, and its value is never echoed."""
    given_roster(alt_root, GOOD + "passwords:\n  bayu: rahasia-sekali\n")
    (message,) = problems(alt_root)
    assert message.startswith("sop/operators.yaml:16:1: passwords: no passwords or secrets in sop/")
    assert "rahasia" not in message


def test_an_operator_id_used_in_two_files_is_reported_at_the_second(alt_root: Path) -> None:
    """Ids are unique across sop/ files: the second one is an error naming where the first is."""
    given_roster(alt_root)
    (alt_root / "sop/pusat.yaml").write_text("operators:\n  ani:\n    name: Ani Lain\n    agency: posko\n")
    assert problems(alt_root) == [
        "sop/pusat.yaml:3:5: operators.ani: duplicate operator id 'ani' (first at sop/operators.yaml:3:5): ids are "
        "unique across sop/ files; give one of them another id"
    ]


def test_a_supervisor_or_admin_may_have_no_queue(alt_root: Path) -> None:
    """Only role operator must take calls; an admin of an agency with no queue is fine."""
    given_roster(alt_root, GOOD + "  dodi:\n    name: Dodi\n    role: admin\n    agency: regu\n")
    assert problems(alt_root) == []


def test_a_queue_nobody_staffs_is_a_warning_at_the_queue(alt_root: Path) -> None:
    """ivr check warns (never fails) for each queue no operator lists, where the queue is defined."""
    given_roster(alt_root)
    edit(alt_root, ROSTER, "queues: [ambulans-x]", "queues: []")
    edit(alt_root, ROSTER, "queues: [jaga-pusat, regu-api-1]", "queues: [regu-api-1]")
    result = check(alt_root, None)
    assert result.problems == [] and result.config is not None
    assert [str(warning) for warning in staffing_warnings(result.config.sop)] == [
        "sop/agencies.yaml:6:7: agencies.posko.queues.jaga-pusat: warning: no operator in the roster lists queue "
        "'jaga-pusat': every call ends here and nobody can log in to answer it; add it to the 'queues' of an "
        "operator of 'posko' under 'operators:'",
        "sop/agencies.yaml:16:7: agencies.medik.queues.ambulans-x: warning: no operator in the roster lists queue "
        "'ambulans-x': nobody can log in to it, so its calls go straight on to their next queue; add it to the "
        "'queues' of an operator of 'medik' under 'operators:'",
    ]


def test_no_roster_at_all_is_one_warning(alt_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without any operators, ivr check prints one warning (not one per queue) and still exits 0."""
    assert cmd_check(argparse.Namespace(root=alt_root)) == 0
    out = capsys.readouterr().out
    assert out.count("warning: no operator") == 1
    assert (
        "sop:1:1: operators: warning: no operator roster: nobody can log in to take calls; add an 'operators:' "
        "section (see the shipped sop/operators.yaml)" in out
    )
    assert "0 operators" in out


def test_ivr_check_reports_roster_errors_and_exits_1(alt_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A roster error is an `ivr check` error like any other: printed in file:line:col form, exit 1."""
    given_roster(alt_root)
    edit(alt_root, ROSTER, "agency: regu\n", "agency: regoo\n")
    assert cmd_check(argparse.Namespace(root=alt_root)) == 1
    assert "sop/operators.yaml:8:13: operators.bayu.agency: unknown agency 'regoo'" in capsys.readouterr().out


def test_the_shipped_roster_staffs_every_queue() -> None:
    """The shipped roster: 3-4 call-takers, a supervisor and an admin at the center, someone on every queue."""
    sop = load_config(REPO).sop
    central = [op for op in sop.operators.values() if op.agency == "c112"]
    assert 3 <= sum(op.role == "operator" for op in central) <= 4
    assert [op.role for op in central if op.role != "operator"] == ["supervisor", "admin"]
    assert staffing_warnings(sop) == []


def test_the_schema_accepts_the_shipped_roster() -> None:
    """sop/operators.yaml validates against the exported SOP schema."""
    jsonschema.validate(yaml.safe_load((REPO / ROSTER).read_text()), SCHEMAS["sop"])


@pytest.mark.parametrize(
    ("key", "value"),
    [("role", "kepala"), ("password", "rahasia123"), ("desk_phone", "ya"), ("queues", "q112")],
)
def test_the_schema_rejects_what_the_loader_rejects(key: str, value: str) -> None:
    """A wrong role, a password, a non-boolean desk_phone or queues not a list fail the schema too."""
    roster = yaml.safe_load((REPO / ROSTER).read_text())
    roster["operators"]["budi"][key] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(roster, SCHEMAS["sop"])


def test_the_schema_rejects_a_bad_operator_id() -> None:
    """An id that is not a plain name fails the schema as it fails the loader."""
    roster = yaml.safe_load((REPO / ROSTER).read_text())
    roster["operators"]["Budi Santoso"] = roster["operators"].pop("budi")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(roster, SCHEMAS["sop"])
