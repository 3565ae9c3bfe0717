"""The flow engine over a fake channel: every path of the shipped flow, replays, floods, multi-key options."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from _pytest.mark import ParameterSet

from ivr.config import Config, load_config
from ivr.config.flow import Flow, MenuNode
from ivr.flow.analysis import Step, TimedPath, _timing, choice_seconds, timed_paths
from ivr.flow.engine import FlowEngine, FlowResult
from ivr.prompts.build import PromptTiming, estimate


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


REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"


@dataclass
class ReplayCaller:
    """A caller who acts out one listed path, play by play, on a virtual clock.

    A key is pressed once announced plus the reaction time; every further key of a multi-key option
    at the very end of the engine's wait (the slowest caller it still accepts); a wrong key is a lone
    prefix of a multi-key option when there is one (held the whole wait), pressed after the prompt."""

    flow: Flow
    steps: list[Step]
    timings: dict[tuple[str, str], PromptTiming]
    clock: float = 0.0
    queued: str = ""
    heard: list[tuple[str, str]] = field(default_factory=list)

    async def play(self, prompt: str, language: str, escape_keys: str) -> str:
        self.heard.append((prompt, language))
        step = self.steps.pop(0)
        node = self.flow.nodes[step.node]
        assert (node.prompt, step.language) == (prompt, language), (step, prompt, language)
        timing = _timing(self.timings, prompt, language, self.flow.default_language)
        self.queued = ""
        if step.choice in ("silence", "next"):
            self.clock += timing.seconds
            return ""
        assert isinstance(node, MenuNode)
        if step.choice == "invalid":
            self.clock += timing.seconds + self.flow.reaction_time
            return wrong_key(node)
        self.clock += timing.key_offsets.get(step.choice[0], timing.seconds) + self.flow.reaction_time
        self.queued = step.choice[1:]
        return step.choice[0]

    async def wait_key(self, seconds: float) -> str:
        self.clock += seconds
        key, self.queued = self.queued[:1], self.queued[1:]
        return key


def wrong_key(node: MenuNode) -> str:
    """The costliest wrong key: a strict prefix of a multi-key option (the engine waits for more)."""
    prefixes = [option[:1] for option in node.options if len(option) > 1 and option[:1] not in node.options]
    return (
        prefixes[0]
        if prefixes
        else next(key for key in "0123456789*#" if not any(o.startswith(key) for o in node.options))
    )


def all_paths() -> list[ParameterSet]:
    found = []
    for name, root in (("shipped", REPO), ("alt", FIXTURES / "alt")):
        config = load_config(root)
        timings = estimate(config.prompts)
        found += [
            pytest.param(name, path, id=f"{name}: {path.describe()}")
            for path in timed_paths(config.flows["112"], config.sop, timings)
        ]
    return found


@pytest.fixture(scope="module")
def shipped() -> Config:
    return load_config(REPO)


@pytest.mark.parametrize(("name", "path"), all_paths())
async def test_every_listed_path_replays_through_the_engine(name: str, path: TimedPath) -> None:
    """Each path the analysis lists (languages, replays, back keys) is one the engine takes: same prompts,
    same category and language, and no slower than the analysis' worst case."""
    config = load_config(REPO if name == "shipped" else FIXTURES / "alt")
    flow = config.flows["112"]
    timings = estimate(config.prompts)
    caller = ReplayCaller(flow, list(path.steps), timings)
    result = await FlowEngine(flow).run(caller)
    assert caller.heard == [(flow.nodes[step.node].prompt, step.language) for step in path.steps]
    assert not caller.steps
    assert (result.category, result.language) == (path.category, path.language)
    assert caller.clock <= path.from_answer + 0.01, (caller.clock, path.from_answer)


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
    """Per play: key until announced + reaction; silence: prompt + timeout; wrong key: prompt + reaction."""
    flow = alt_config.flows["112"]
    pintu = flow.nodes["pintu"]
    timing = PromptTiming(seconds=4.0, key_offsets={"7": 1.5, "8": 3.0})
    assert choice_seconds(flow, pintu, "7", timing) == 1.5 + 1.0
    assert choice_seconds(flow, pintu, "#", timing) == 4.0 + 1.0  # never announced: whole prompt
    assert choice_seconds(flow, pintu, "silence", timing) == 4.0 + 2.0  # per play: replays are steps
    assert choice_seconds(flow, pintu, "invalid", timing) == 4.0 + 1.0
    paths = timed_paths(
        flow,
        alt_config.sop,
        {("salam", "id"): PromptTiming(1.0), ("pintu", "id"): timing, ("bantuan", "id"): PromptTiming(2.0, {"3": 1.0})},
    )
    times = {path.describe(): path.seconds for path in paths}
    assert times["sapa[next] → pintu[8] → bantuan[3] → medis"] == 1.0 + 4.0 + 2.0
    assert times["sapa[next] → pintu[7] → api"] == 1.0 + 2.5


@dataclass
class TimedCaller:
    """Presses each key after its delay (seconds after the previous one); the first during the prompt."""

    presses: list[tuple[str, float]]
    clock: float = 0.0

    async def play(self, prompt: str, language: str, escape_keys: str) -> str:
        if not self.presses:
            return ""
        key, delay = self.presses.pop(0)
        self.clock += delay
        return key

    async def wait_key(self, seconds: float) -> str:
        if self.presses and self.presses[0][1] <= seconds:
            key, delay = self.presses.pop(0)
            self.clock += delay
            return key
        self.clock += seconds
        return ""


async def test_a_slow_second_5_still_flags_a_silent_caller(shipped: Config) -> None:
    """5, then 5 three seconds later (a caller who cannot speak, slowly): the silent-caller category and flag."""
    result = await FlowEngine(shipped.flows["112"]).run(TimedCaller([("5", 1.0), ("5", 3.0)]))
    assert (result.category, result.flags, result.exit) == ("darurat-senyap", ["silent"], "selected")


async def test_a_5_too_late_is_a_wrong_key_after_the_whole_wait(shipped: Config) -> None:
    """A second 5 after the wait counts no more: the lone 5 goes to a human, after exactly the analysed wait."""
    flow = shipped.flows["112"]
    utama = flow.nodes["utama"]
    assert isinstance(utama, MenuNode)
    caller = TimedCaller([("5", 1.0), ("5", utama.inter_digit_timeout + 0.5)])
    result = await FlowEngine(flow).run(caller)
    assert (result.category, result.exit) == ("darurat-umum", "invalid")
    assert caller.clock == 1.0 + utama.inter_digit_timeout


def test_the_analysis_counts_the_whole_wait_for_a_slow_55(shipped: Config) -> None:
    """ivr check's worst case for 55 and for a lone 5 is the slowest caller the engine still waits for."""
    flow = shipped.flows["112"]
    utama = flow.nodes["utama"]
    timing = PromptTiming(seconds=7.0, key_offsets={"1": 3.0})
    slow = 7.0 + flow.reaction_time + utama.inter_digit_timeout
    assert choice_seconds(flow, utama, "55", timing) == slow
    assert choice_seconds(flow, utama, "invalid", timing) == slow


def test_only_menus_whose_every_way_out_is_a_category_on_one_digit_are_last() -> None:
    """Of the shipped flow only darurat can be handed to Asterisk whole: the main menus lead to other
    menus (and take 55), non-darurat replays a wrong key and goes back."""
    flow = load_config(REPO).flows["112"]
    assert [name for name, node in flow.nodes.items() if isinstance(node, MenuNode) and node.is_last] == ["darurat"]
    darurat = flow.nodes["darurat"]
    assert isinstance(darurat, MenuNode)
    assert not replace(darurat, replay_on_invalid=1).is_last
    assert not replace(darurat, options={**darurat.options, "*": darurat.on_silence}).is_last


async def test_a_last_menu_is_offered_to_the_hand_off_and_played_by_the_engine_if_declined() -> None:
    """The hook gets the darurat menu only; its key goes through the menu's options as any key would
    (7: a wrong key, darurat-umum); declined (None), the engine plays the menu itself."""
    flow = load_config(REPO).flows["112"]
    offered: list[str] = []

    async def hand_off(menu: MenuNode, _result: FlowResult) -> str | None:
        offered.append(menu.name)
        return "7"

    channel = FakeChannel({"menu-utama": ("keys", "1")})
    result = await FlowEngine(flow, hand_off).run(channel)
    assert (offered, result.category, result.exit, result.keys) == (["darurat"], "darurat-umum", "invalid", "17")
    assert [prompt for prompt, _ in channel.played] == ["menu-utama"]

    async def decline(menu: MenuNode, _result: FlowResult) -> str | None:
        return None

    channel = FakeChannel({"menu-utama": ("keys", "1"), "menu-darurat": ("keys", "3")})
    result = await FlowEngine(flow, decline).run(channel)
    assert (result.category, [prompt for prompt, _ in channel.played]) == ("kejahatan", ["menu-utama", "menu-darurat"])
