"""The flow engine over a fake channel: every path of the shipped flow, replays, floods, multi-key options."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ivr.config import Config, load_config
from ivr.config.flow import Flow
from ivr.flow.analysis import TimedPath, choice_seconds, timed_paths
from ivr.flow.engine import FlowEngine
from ivr.prompts.build import PromptTiming


@dataclass
class FakeChannel:
    """A caller scripted per prompt: ('keys', '12') presses them, ('silence',) waits, ('wrong',) errs."""

    script: dict[str, tuple[str, ...]]
    played: list[tuple[str, str]] = field(default_factory=list)
    queued: str = ""

    async def play(self, prompt: str, language: str, escape_keys: str) -> str:
        self.played.append((prompt, language))
        action = self.script.get(prompt, ("silence",))
        if action[0] == "keys":
            self.queued = action[1][1:]
            return action[1][0]
        if action[0] == "wrong":
            return action[1]
        return ""

    async def wait_key(self, seconds: float) -> str:
        key, self.queued = self.queued[:1], self.queued[1:]
        return key


def script_for(flow: Flow, path: TimedPath) -> dict[str, tuple[str, ...]]:
    script: dict[str, tuple[str, ...]] = {}
    for step in path.steps:
        prompt = flow.nodes[step.node].prompt
        if step.choice == "silence" or step.choice == "next":
            script[prompt] = ("silence",)
        elif step.choice == "invalid":
            options = getattr(flow.nodes[step.node], "options", {})
            wrong = next(key for key in "7860*#" if not any(o.startswith(key) for o in options))
            script[prompt] = ("wrong", wrong)
        else:
            script[prompt] = ("keys", step.choice)
    return script


REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shipped() -> Config:
    return load_config(REPO)


def shipped_paths() -> list[TimedPath]:
    config = load_config(REPO)
    return timed_paths(config.flows["112"], config.sop, {})


@pytest.mark.parametrize("path", shipped_paths(), ids=lambda path: path.describe())
async def test_every_path_of_the_shipped_flow(shipped: Config, path: TimedPath) -> None:
    """Driving the engine along each statically found path ends in that path's category and language."""
    flow = shipped.flows["112"]
    channel = FakeChannel(script_for(flow, path))
    result = await FlowEngine(flow).run(channel)
    assert result.category == path.category
    assert result.language == path.language
    assert [node for node in result.nodes] == [step.node for step in path.steps]


async def test_silence_on_the_main_menu_is_an_emergency(shipped: Config) -> None:
    """A caller who says and presses nothing is put through as an emergency, after one play."""
    channel = FakeChannel({})
    result = await FlowEngine(shipped.flows["112"]).run(channel)
    assert (result.category, result.exit) == ("darurat-umum", "silence")
    assert channel.played == [("menu-utama", "id")]


async def test_55_flags_a_silent_caller(shipped: Config) -> None:
    """Tekan 5 5: the silent-caller category and flag."""
    result = await FlowEngine(shipped.flows["112"]).run(FakeChannel({"menu-utama": ("keys", "55")}))
    assert result.category == "darurat-senyap"
    assert result.flags == ["silent"]


async def test_a_lone_5_is_a_wrong_key(shipped: Config) -> None:
    """'5' alone waits for the second key, then counts as wrong: on 112 that goes to a human at once."""
    result = await FlowEngine(shipped.flows["112"]).run(FakeChannel({"menu-utama": ("keys", "5")}))
    assert (result.category, result.exit) == ("darurat-umum", "invalid")


async def test_wrong_keys_replay_then_a_human(alt_config: Config) -> None:
    """In a menu with replay_on_invalid 2, three wrong keys mean three plays, then on_invalid."""
    channel = FakeChannel({"pintu": ("wrong", "1")})
    result = await FlowEngine(alt_config.flows["112"]).run(channel)
    assert result.category == "jaga" and result.exit == "invalid"
    assert channel.played == [("salam", "id"), ("pintu", "id"), ("pintu", "id"), ("pintu", "id")]
    assert result.keys == "111"


async def test_silence_replays_as_configured(alt_config: Config) -> None:
    """replay_on_silence 1: the menu plays twice before silence takes its target."""
    channel = FakeChannel({})
    result = await FlowEngine(alt_config.flows["112"]).run(channel)
    assert result.category == "jaga" and channel.played.count(("pintu", "id")) == 2


async def test_keys_pressed_during_a_play_node_go_to_the_next_menu(alt_config: Config) -> None:
    """A caller who knows the menu presses during the greeting; the key is not lost."""
    result = await FlowEngine(alt_config.flows["112"]).run(FakeChannel({"salam": ("keys", "7")}))
    assert result.category == "api"


async def test_back_and_forth_is_bounded(alt_config: Config) -> None:
    """A caller bouncing between two menus forever is cut off by the step bound: no category, central."""

    @dataclass
    class Bouncer:
        async def play(self, prompt: str, language: str, escape_keys: str) -> str:
            return "8" if prompt == "pintu" else "*"

        async def wait_key(self, seconds: float) -> str:
            return ""

    result = await FlowEngine(alt_config.flows["112"]).run(Bouncer())
    assert result.exit == "runaway" and result.category == ""


def test_timing_model(alt_config: Config) -> None:
    """Key: until announced + reaction per key; silence: (prompt + timeout) times plays; wrong key alike."""
    flow = alt_config.flows["112"]
    pintu = flow.nodes["pintu"]
    timing = PromptTiming(seconds=4.0, key_offsets={"7": 1.5, "8": 3.0})
    assert choice_seconds(flow, pintu, "7", timing) == 1.5 + 1.0
    assert choice_seconds(flow, pintu, "#", timing) == 4.0 + 1.0  # never announced: whole prompt
    assert choice_seconds(flow, pintu, "silence", timing) == (4.0 + 2.0) * 2
    assert choice_seconds(flow, pintu, "invalid", timing) == (4.0 + 1.0) * 3
    paths = timed_paths(flow, alt_config.sop, {("salam", "id"): PromptTiming(1.0), ("pintu", "id"): timing,
                                               ("bantuan", "id"): PromptTiming(2.0, {"3": 1.0})})
    times = {path.describe(): path.seconds for path in paths}
    assert times["sapa[next] → pintu[8] → bantuan[3] → medis"] == 1.0 + 4.0 + 2.0
    assert times["sapa[next] → pintu[7] → api"] == 1.0 + 2.5
