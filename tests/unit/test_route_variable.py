"""The route goes to the dialplan as ONE variable, IVR_ROUTE, split there by ARRAY(): one round trip,
set whole or not at all, and a value that always splits back into the same seven fields."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from ivr.agi.channel import LAST_MENU_ROUTES
from ivr.agi.protocol import Reply
from ivr.agi.server import AgiEnvironment
from ivr.asterisk.provision import AsteriskInstall
from ivr.asterisk.render import render
from ivr.config import Config, load_config
from ivr.routing.decide import Decision
from ivr.routing.route_variable import (
    FAILED_ROUTE_VARIABLE,
    ROUTE_FIELDS,
    ROUTE_VARIABLE,
    RouteError,
    route_value,
    route_variables,
    split_route,
)
from ivr.service import CallService
from ivr.settings import Settings
from tests.fakes.last_menu import asterisk_runs_last_menu
from tests.unit.conftest import given_root

REPO = Path(__file__).resolve().parents[2]
SET_VARIABLE = re.compile(r'SET VARIABLE (\w+) "(.*)"')
GET_VARIABLE = re.compile(r"GET VARIABLE (\w+)")
INSTALL = AsteriskInstall(binary="/usr/sbin/asterisk", module_dir="/usr/lib/asterisk/modules", version="22")
ARRAY_SPLIT = f"Set(ARRAY({','.join(ROUTE_FIELDS)})=${{{ROUTE_VARIABLE}}})"


@dataclass
class ScriptedChannel:
    """A FastAGI session whose caller presses ``keys`` one per prompt/wait; variables live in a dict."""

    keys: list[str]
    script: str = "112"
    variables: dict[str, str] = field(default_factory=dict)
    sent: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    hung_up: bool = False
    sent_at: float = 0.0
    env: AgiEnvironment = field(init=False)

    def __post_init__(self) -> None:
        self.env = AgiEnvironment(
            {
                "agi_uniqueid": "1700000000.7",
                "agi_callerid": "081234567890",
                "agi_calleridname": "Warga",
                "agi_network_script": self.script,
            }
        )

    async def command(self, line: str, timeout: float = 30.0, last: bool = False) -> Reply:
        self.sent.append(line)
        if line.startswith(("STREAM FILE", "WAIT FOR DIGIT")):
            key = self.keys.pop(0) if self.keys else ""
            return Reply(200, str(ord(key)) if key else "0")
        if set_variable := SET_VARIABLE.fullmatch(line):
            self.variables[set_variable[1]] = set_variable[2]
        if get_variable := GET_VARIABLE.fullmatch(line):
            name = get_variable[1]
            return Reply(200, "1", self.variables[name]) if name in self.variables else Reply(200, "0")
        return Reply(200, "1")

    async def last_batch(
        self, lines: list[str], timeout: float = 30.0, proceed: Callable[[], bool] | None = None
    ) -> list[Reply] | None:
        """A last menu handed to Asterisk: Read() takes the next key, the dialplan the route."""
        if proceed is not None and not proceed():
            return None
        self.sent.extend(lines)
        replies = asterisk_runs_last_menu(lines, self.keys.pop(0) if self.keys else "", self.variables)
        return replies

    def commands(self, verb: str) -> list[str]:
        return [line for line in self.sent if line.startswith(verb)]


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, Path]:
    """The shipped configuration with an (empty) audio file for every prompt."""
    config = load_config(REPO)
    sounds = tmp_path_factory.mktemp("sounds")
    for prompt, texts in config.prompts.items():
        for language in texts:
            (sounds / language).mkdir(exist_ok=True)
            (sounds / language / f"{prompt}.wav").write_bytes(b"")
    return config, sounds


def service(shipped: tuple[Config, Path]) -> CallService:
    config, sounds = shipped
    return CallService(lambda: config, sounds, None)


async def test_a_routed_call_sets_exactly_one_variable(shipped: tuple[Config, Path]) -> None:
    """Keys 2 1 (a complaint): one SET VARIABLE, IVR_ROUTE, that splits into the complaint's route."""
    session = ScriptedChannel(keys=["2", "1"])
    await service(shipped).handle(session)
    assert [SET_VARIABLE.fullmatch(line)[1] for line in session.commands("SET VARIABLE")] == [ROUTE_VARIABLE]  # type: ignore[index]
    route = split_route(session.variables[ROUTE_VARIABLE])
    assert (route["IVR_ACTION"], route["IVR_CATEGORY"]) == ("queue", "pengaduan")


async def test_the_last_menu_hands_every_route_in_one_variable(shipped: tuple[Config, Path]) -> None:
    """Keys 1 1 (fire): the darurat menu is a last menu, so the session sets one variable, the routes
    of its outcomes, each splitting as IVR_ROUTE does; the dialplan's pick is the fire queue's route."""
    session = ScriptedChannel(keys=["1", "1"])
    await service(shipped).handle(session)
    assert [SET_VARIABLE.fullmatch(line)[1] for line in session.commands("SET VARIABLE")] == [LAST_MENU_ROUTES]  # type: ignore[index]
    silence, invalid, *by_key = session.variables[LAST_MENU_ROUTES].split("|")
    assert [split_route(route)["IVR_CATEGORY"] for route in by_key] == [
        "", "kebakaran", "kecelakaan", "kejahatan", "bencana", "", "", "", "", ""
    ]  # fmt: skip
    assert split_route(silence)["IVR_CATEGORY"] == split_route(invalid)["IVR_CATEGORY"] == "darurat-umum"
    route = split_route(session.variables[ROUTE_VARIABLE])
    assert (route["IVR_ACTION"], route["IVR_TARGET"], route["IVR_CATEGORY"]) == ("queue", "q-damkar", "kebakaran")


async def test_overflow_reads_one_variable_and_sets_one(shipped: tuple[Config, Path]) -> None:
    """The overflow script: one GET VARIABLE of the failed route, one SET VARIABLE of the next step,
    which keeps the category, priority and flags and lists the failed queue as tried."""
    first = ScriptedChannel(keys=["1", "1"])
    await service(shipped).handle(first)
    failed = split_route(first.variables[ROUTE_VARIABLE])
    session = ScriptedChannel(
        keys=[], script="overflow", variables={FAILED_ROUTE_VARIABLE: first.variables[ROUTE_VARIABLE]}
    )
    await service(shipped).handle(session)
    assert session.commands("GET") == [f"GET VARIABLE {FAILED_ROUTE_VARIABLE}"]
    assert len(session.commands("SET VARIABLE")) == 1
    route = split_route(session.variables[ROUTE_VARIABLE])
    assert route["IVR_TARGET"] != failed["IVR_TARGET"]
    assert failed["IVR_TARGET"] in route["IVR_TRIED"].split()
    assert (route["IVR_CATEGORY"], route["IVR_PRIORITY"], route["IVR_FLAGS"]) == (
        failed["IVR_CATEGORY"],
        failed["IVR_PRIORITY"],
        failed["IVR_FLAGS"],
    )


async def test_overflow_without_a_failed_route_still_routes_centrally(shipped: tuple[Config, Path]) -> None:
    """No failed route to read (variable unset): the overflow still sets a route, to the central queue."""
    config, _ = shipped
    session = ScriptedChannel(keys=[], script="overflow")
    await service(shipped).handle(session)
    assert split_route(session.variables[ROUTE_VARIABLE])["IVR_TARGET"] == config.sop.central_queue.name


async def test_overflow_whose_decision_raises_routes_centrally_keeping_the_category(
    shipped: tuple[Config, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in routing during an overflow step: the caller still gets a route, the central queue,
    with the category and priority of the step that failed."""
    config, _ = shipped
    first = ScriptedChannel(keys=["1", "1"])
    await service(shipped).handle(first)

    def broken(*_args: Any) -> Decision:
        raise KeyError("q-ghost")

    monkeypatch.setattr("ivr.service.decide", broken)
    session = ScriptedChannel(
        keys=[], script="overflow", variables={FAILED_ROUTE_VARIABLE: first.variables[ROUTE_VARIABLE]}
    )
    await service(shipped).handle(session)
    route, failed = split_route(session.variables[ROUTE_VARIABLE]), split_route(first.variables[ROUTE_VARIABLE])
    assert (route["IVR_ACTION"], route["IVR_TARGET"]) == ("queue", config.sop.central_queue.name)
    assert (route["IVR_CATEGORY"], route["IVR_PRIORITY"]) == (failed["IVR_CATEGORY"], failed["IVR_PRIORITY"])


@pytest.mark.parametrize(
    "decision, flags",
    [
        (Decision("queue", "q-damkar", 9, "kebakaran", 30, "r", tried=("q-damkar",)), ["anak", "prank-warned"]),
        (Decision("bridge", "PJSIP/desk-01@pmi.example+1", 5, "medis", 20, "r", tried=("q-a", "q_b", "PJSIP/x")), []),
        (Decision("queue", "q112", 10, "", 0, "r"), []),
        (Decision("queue", "Local/op-1@siaga-sim-operator/n", 1, "informasi", 0, "r", tried=("q1",)), ["x"]),
    ],
)
def test_the_route_round_trips_through_arrays_split(decision: Decision, flags: list[str]) -> None:
    """Every field comes back from the dialplan's split as it was sent, empty ones included."""
    [(name, value)] = route_variables(decision, flags)
    assert name == ROUTE_VARIABLE
    assert split_route(value) == {
        "IVR_ACTION": decision.action,
        "IVR_TARGET": decision.target,
        "IVR_PRIORITY": str(decision.priority),
        "IVR_CATEGORY": decision.category,
        "IVR_TIMEOUT": str(decision.timeout) if decision.timeout else "",
        "IVR_TRIED": " ".join(decision.tried),
        "IVR_FLAGS": " ".join(flags),
    }


def test_an_empty_route_leaves_every_field_empty() -> None:
    """No route set (the session died first): IVR_ACTION is empty, so the dialplan falls back."""
    assert split_route("") == dict.fromkeys(ROUTE_FIELDS, "")


HOSTILE = [",", "\r", "\n", '"', "\\", "(", ")", "[", "]", "\0"]


@pytest.mark.parametrize("char", [*HOSTILE, " ", "\t"], ids=repr)
@pytest.mark.parametrize("where", ["action", "target", "category"])
def test_a_single_token_that_would_not_split_cleanly_is_refused(where: str, char: str) -> None:
    """A comma, CR, LF, space (or a quote, bracket, backslash ARRAY would eat) in a single field raises."""
    fields = {"action": "queue", "target": "q-damkar", "category": "kebakaran"}
    fields[where] = f"q{char}x"
    decision = Decision(fields["action"], fields["target"], 1, fields["category"], 0, "r")
    with pytest.raises(RouteError, match=f"route {where} "):
        route_value(decision, [])


@pytest.mark.parametrize("char", [*HOSTILE, " "], ids=repr)
def test_a_list_token_that_would_not_split_cleanly_is_refused(char: str) -> None:
    """In tried and flags, a token with a comma, CR or LF raises, and so does a space inside one token."""
    with pytest.raises(RouteError, match="route tried queue "):
        route_value(Decision("queue", "q1", 1, "c", 0, "r", tried=("q0", f"q{char}2")), [])
    with pytest.raises(RouteError, match="route flag "):
        route_value(Decision("queue", "q1", 1, "c", 0, "r"), ["anak", f"f{char}g"])


async def test_a_refused_route_sets_nothing(shipped: tuple[Config, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A token that would not split raises before anything is sent: no half route, the dialplan falls back."""
    from ivr import service as service_module

    real = service_module.decide

    def hostile(*args: Any, **kwargs: Any) -> Decision:
        decision = real(*args, **kwargs)
        return Decision(
            decision.action,
            decision.target + ",q-other",
            decision.priority,
            decision.category,
            decision.timeout,
            decision.reason,
        )

    monkeypatch.setattr(service_module, "decide", hostile)
    session = ScriptedChannel(keys=["1", "1"])
    with pytest.raises(RouteError):
        await service(shipped).handle(session)
    assert session.commands("SET VARIABLE") == []


def test_the_dialplan_clears_the_route_before_each_agi_and_splits_it_after(tmp_path: Path) -> None:
    """In the rendered [siaga-112] with two FastAGI services, every AGI() (two menu tries, the last
    line, two overflow tries) has Set(IVR_ROUTE=) before it and the ARRAY split of the same seven
    fields, in the service's order, after it (before any use of IVR_ACTION)."""
    given_root(tmp_path, REPO)
    settings = replace(Settings.load(tmp_path), fastagi_urls=("agi://127.0.0.1:4573", "agi://127.0.0.2:4573"))
    render(settings, load_config(tmp_path).sop, INSTALL, REPO / "asterisk-config")
    text = (settings.asterisk_dir / "etc" / "extensions.conf").read_text()
    context = text.split("[siaga-112]", 1)[1].split("\n[", 1)[0]
    lines = [line.strip() for line in context.splitlines() if not line.strip().startswith(";")]
    agi = [index for index, line in enumerate(lines) if ",AGI(" in line]
    assert [lines[index].split(",AGI(", 1)[1].removesuffix(")").split(",")[0] for index in agi] == [
        "agi://127.0.0.1:4573/112",
        "agi://127.0.0.2:4573/112",
        "siaga-lastline",
        "agi://127.0.0.1:4573/overflow",
        "agi://127.0.0.2:4573/overflow",
    ]
    for previous, index in zip([-1, *agi[:-1]], agi, strict=True):
        since = lines[previous + 1 : index]  # since the AGI before this one (or the context's start)
        cleared = [i for i, line in enumerate(since) if line.endswith(f",Set({ROUTE_VARIABLE}=)")]
        assert cleared, lines[index]
        assert not any(f"Set({ROUTE_VARIABLE}=" in line for line in since[cleared[-1] + 1 :])
        after = lines[index + 1 :]
        split = next(i for i, line in enumerate(after) if "ARRAY(" in line)
        assert after[split].endswith(f",{ARRAY_SPLIT}")
        assert not any("IVR_ACTION}" in line for line in after[:split])
