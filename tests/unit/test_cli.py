"""The `ivr` command's contract: common options before or after the subcommand, words not dicts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import structlog

from ivr.cli import build_parser, describe_route, main
from ivr.config import load_config
from ivr.flow.simulate import simulate

REPO = Path(__file__).resolve().parents[2]
TUESDAY_NOON = datetime(2026, 12, 1, 12, 0, tzinfo=ZoneInfo("Asia/Jakarta"))


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """`main()` points structlog at this test's captured stderr, which closes with the test."""
    yield
    structlog.reset_defaults()


@pytest.mark.parametrize(
    "argv",
    [
        ["--root", "/srv/siaga", "check"],
        ["check", "--root", "/srv/siaga"],
    ],
)
def test_root_is_accepted_before_or_after_the_subcommand(argv: list[str]) -> None:
    """`ivr --root X check` and `ivr check --root X` mean the same."""
    args = build_parser().parse_args(argv)
    assert (args.command, args.root) == ("check", Path("/srv/siaga"))


def test_an_option_before_the_subcommand_is_not_reset_by_its_default() -> None:
    """A value given before the name survives the subcommand's own (suppressed) default."""
    args = build_parser().parse_args(["--log-format", "json", "--root", "/a", "up"])
    assert (args.log_format, args.root, args.demo) == ("json", Path("/a"), False)


def test_ivr_check_with_root_after_the_subcommand_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """The README's promise, run for real: `ivr check --root DIR` checks DIR (exit 0 on the shipped files)."""
    root = Path(__file__).resolve().parents[2]
    assert main(["check", "--root", str(root), "--log-format", "json"]) == 0
    assert "ok: 1 flow(s)" in capsys.readouterr().out


def test_route_is_printed_in_words() -> None:
    """`ivr call` says where the call went as a sentence, not a Python dict."""
    words = describe_route(
        {"Action": "queue", "Target": "q-damkar", "Category": "kebakaran", "QueuePriority": "9", "Timeout": "30"}
    )
    assert words == "queue q-damkar for 'kebakaran', priority 9, at most 30 s before the next step"
    assert describe_route({"Action": "fallback", "AgiStatus": "FAILURE"}).startswith(
        "fallback to the central call-takers"
    )


def test_hostile_test_caller_is_refused_with_a_message(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """`ivr call --caller` with a newline: a one-line refusal and exit 2, no traceback (no Asterisk needed)."""
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "secrets.json").write_text('{"ami_user": "u", "ami_secret": "s", "phone_password": "p"}')
    code = main(["call", "--root", str(tmp_path), "--caller", "0812\\nX", "--timeout", "1"])
    assert code == 2
    assert "caller must be a phone number" in capsys.readouterr().err


def test_simulate_with_a_busy_queue_says_where_the_caller_goes_instead() -> None:
    """`ivr simulate --busy q-bpbd`: a bencana caller is routed past BPBD (its one operator on a call)."""
    outcome = simulate(load_config(REPO), "14", at=TUESDAY_NOON, busy=["q-bpbd"])
    assert (outcome["busy"], outcome["route"]["target"]) == (["q-bpbd"], "q-damkar")
    assert "q-bpbd: busy, its one ready operator on a call: next step at once" in outcome["route"]["reason"]
    assert simulate(load_config(REPO), "14", at=TUESDAY_NOON)["route"]["target"] == "q-bpbd"


def test_simulate_refuses_a_busy_queue_the_sop_does_not_have(capsys: pytest.CaptureFixture[str]) -> None:
    """A mistyped --busy queue: one line naming the known queues, exit 2, no traceback."""
    assert main(["simulate", "--root", str(REPO), "--press", "1", "4", "--busy", "q-bpdb", "--log-format", "json"]) == 2
    assert "ivr simulate: no queue q-bpdb in the SOP (known: q-bpbd, q-damkar," in capsys.readouterr().err
