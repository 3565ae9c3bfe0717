"""The shared point of the two engines: one window of a scenario, time-compressed, the same callers in both.

Compression by ``k``: arrivals come ``k`` times as fast, and the operators' talk, the wrap-up of the SOP
and the genuine callers' redial delay last ``1/k`` as long; everything a caller hears stays real (the
prompts are real audio, so the menu, the flow's timeouts and the callers' key timing are not compressed),
and so do patience and the SOP's max_wait. The operator's answer delay is compressed (it occupies the
operator as talk does). Queueing at the operators is that
of the uncompressed line (arrival rate times service time is unchanged); what the menu and patience add
is not. Both engines run on exactly these compressed figures: the SimPy engine (``simulate_window``) and
the real Asterisk (bench/loadmodel/asterisk_run.py) meet the same callers at the same seconds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.loadmodel.engine import HOUR, Arrivals, Caller, LineSimulation, Run
from bench.loadmodel.model import Dist, Model, Scenario
from ivr.config import Config
from ivr.config.flow import Flow
from ivr.flow.engine import FlowEngine
from ivr.flow.simulate import ScriptedChannel
from ivr.prompts.build import PromptTiming

# The policy of model.yaml the real line runs: the shipped flow and SOP, triage learning from outcomes.
LINE_POLICY = "triage"
CATEGORY_HEADER = re.compile(r"^  ([A-Za-z0-9_-]+):\s*$")


def _shorter(dist: Dist, k: float) -> Dist:
    return replace(dist, mean=dist.mean / k, minimum=dist.minimum / k)


def compressed(model: Model, k: float) -> Model:
    """``model`` with arrivals ``k`` times as fast; talk, the operator's answer delay (both occupy the
    operator) and the redial delay ``k`` times as short; no warm-up days."""
    kinds = {
        name: replace(
            kind,
            talk=_shorter(kind.talk, k),
            redial=replace(kind.redial, delay=_shorter(kind.redial.delay, k)),
        )
        for name, kind in model.kinds.items()
    }
    return replace(
        model,
        calls_per_day=model.calls_per_day * k,
        kinds=kinds,
        answer_delay=_shorter(model.answer_delay, k),
        warmup_days=0,
    )


def wrapup_seconds(default_wrapup: int, k: float) -> int:
    """The SOP's wrap-up compressed (whole seconds, as the SOP writes it; at least one)."""
    return max(1, round(default_wrapup / k))


def compress_categories(path: Path, seconds: int) -> None:
    """Give every category of an SOP categories file ``wrapup_seconds: seconds`` (a bench copy only:
    the shipped file sets none, so every category has the default)."""
    lines = path.read_text().splitlines()
    out, in_categories = [], False
    for line in lines:
        if re.match(r"\s+wrapup_seconds:", line):
            raise ValueError(f"{path}: already sets wrapup_seconds; the bench only adds it")
        out.append(line)
        if line.startswith("categories:"):
            in_categories = True
        elif line and not line.startswith((" ", "#")):
            in_categories = False
        elif in_categories and CATEGORY_HEADER.fullmatch(line):
            out.append(f"    wrapup_seconds: {seconds}")
    path.write_text("\n".join(out) + "\n")


@dataclass(frozen=True)
class Window:
    """Which calls of a scenario's first measured day form the shared point."""

    scenario: Scenario
    hour: int  # local hour the window starts at (the surge hour for a surge scenario)
    seconds: float  # of compressed time

    @property
    def start(self) -> float:
        return self.hour * HOUR


def window_callers(model: Model, window: Window, seed: int) -> tuple[Arrivals, list[Caller]]:
    """The first calls (no redials) arriving in the window of the compressed ``model``'s first day."""
    arrivals = Arrivals(model, window.scenario, seed, 1)
    end = window.start + window.seconds
    return arrivals, [caller for caller in arrivals.first_calls() if window.start <= caller.arrival < end]


class _PressRecorder(ScriptedChannel):
    """The scripted caller of ``ivr simulate``, remembering when (s from answer) it pressed each key."""

    def __init__(self, keys: str, timings: Mapping[tuple[str, str], PromptTiming], flow: Flow) -> None:
        super().__init__(keys, dict(timings), flow.default_language, flow.reaction_time)
        self.presses: list[tuple[float, str]] = []

    async def play(self, prompt: str, language: str, escape_keys: str) -> str:
        key = await super().play(prompt, language, escape_keys)
        if key:
            self.presses.append((self.clock, key))
        return key

    async def wait_key(self, seconds: float) -> str:
        key = await super().wait_key(seconds)
        if key:
            self.presses.append((self.clock, key))
        return key


def presses(flow: Flow, timings: Mapping[tuple[str, str], PromptTiming], keys: str) -> list[tuple[float, str]]:
    """When a caller with ``keys`` presses each, in seconds from Asterisk's answer: the moment the SimPy
    engine's caller presses it (the prompt announced it, plus the reaction time). Keys the flow never
    asks for are not pressed."""
    caller = _PressRecorder(keys, timings, flow)
    walk = FlowEngine(flow).run(caller)
    try:
        walk.send(None)
    except StopIteration:
        return caller.presses
    raise RuntimeError("the scripted caller never waits: the flow engine suspended")


class _WindowSimulation(LineSimulation):
    def __init__(self, callers: list[Caller], arrivals: Arrivals, clock_zero: datetime, *args: Any) -> None:
        super().__init__(*args)
        self.arrivals = arrivals
        self.callers = callers
        self.midnight = clock_zero

    def run(self) -> Run:
        for caller in self.callers:
            self.env.process(self._call(caller))
        self.env.run()
        flags = sum(len(flags) for _, flags in self.histories.values())
        return Run(self.policy.name, self.results, flags, self.central_busy, self.env.now)


def simulate_window(
    model: Model,
    config: Config,
    timings: Mapping[tuple[str, str], PromptTiming],
    window: Window,
    seed: int,
    started: datetime,
) -> Run:
    """The SimPy engine on the window's callers, its clock set to the real run's start."""
    arrivals, callers = window_callers(model, window, seed)
    simulation = _WindowSimulation(
        # Model second ``window.start`` is the real run's start: agency hours and holidays as it met them.
        callers,
        arrivals,
        started - timedelta(seconds=window.start),
        model,
        window.scenario,
        model.policies[LINE_POLICY],
        config,
        timings,
        seed,
        1,
    )
    return simulation.run()
