"""``ivr simulate``: the real flow engine over a scripted caller and a virtual clock, no Asterisk.

The scripted caller presses its next key as soon as the prompt has announced it (plus the flow's
reaction time), the same worst-case model ``ivr check`` uses; with no keys left it stays silent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ivr.config import Config
from ivr.flow.analysis import _timing
from ivr.flow.engine import FlowEngine
from ivr.prompts.build import PromptTiming, build_all, estimate, tools_missing
from ivr.routing.decide import QueueState, Standing, decide
from ivr.routing.triage import assess, normalise_number
from ivr.store.calls import CallStore


@dataclass
class ScriptedChannel:
    keys: str
    timings: dict[tuple[str, str], PromptTiming]
    default_language: str
    reaction: float
    clock: float = 0.0
    steps: list[dict[str, Any]] = field(default_factory=list)

    def _note(self, what: str) -> None:
        self.steps.append({"at": round(self.clock, 2), "what": what})

    async def play(self, prompt: str, language: str, escape_keys: str) -> str:
        timing = _timing(self.timings, prompt, language, self.default_language)
        key = self.keys[:1]
        if key and key in escape_keys:
            self.keys = self.keys[1:]
            heard = min(timing.key_offsets.get(key, timing.seconds), timing.seconds)
            self.clock += heard + self.reaction
            self._note(f"prompt {language}/{prompt}, key {key} pressed")
            return key
        self.clock += timing.seconds
        self._note(f"prompt {language}/{prompt} played to the end ({timing.seconds:.1f} s)")
        return ""

    async def wait_key(self, seconds: float) -> str:
        key = self.keys[:1]
        if key:
            self.keys = self.keys[1:]
            self.clock += self.reaction
            self._note(f"key {key} pressed")
            return key
        self.clock += seconds
        self._note(f"silence for {seconds:g} s")
        return ""


def busy_queues(config: Config, names: Iterable[str]) -> dict[str, QueueState]:
    """Live state in which each of ``names`` is busy: every operator of the roster there on a call
    (at least one, so the queue counts as staffed). Other queues stay unknown, as with AMI down."""
    sop = config.sop
    unknown = [name for name in names if name not in sop.queues]
    if unknown:
        raise KeyError(f"no queue {', '.join(unknown)} in the SOP (known: {', '.join(sorted(sop.queues))})")
    states = {}
    for name in names:
        staff = max(1, sum(name in operator.queues for operator in sop.operators.values()))
        states[name] = QueueState(name, members=staff, ready=staff, on_call=staff)
    return states


def simulate(
    config: Config,
    keys: str,
    script: str = "112",
    caller: str = "",
    at: datetime | None = None,
    sounds_dir: Path | None = None,
    store: CallStore | None = None,
    busy: Iterable[str] = (),
) -> dict[str, Any]:
    """Where a call pressing ``keys`` would go; ``busy``: queues taken as busy (all operators on a call)."""
    live = busy_queues(config, busy) if busy else None
    flow = config.flow_for(script)
    if flow is None:
        raise KeyError(f"no flow dialplan/{script}.yaml (known: {', '.join(sorted(config.flows))})")
    if sounds_dir is not None and not tools_missing():
        timings = build_all(config.prompts, sounds_dir, config.root / "dialplan" / "recordings")
    else:
        timings = estimate(config.prompts)
    channel = ScriptedChannel(keys, timings, flow.default_language, flow.reaction_time)
    result = asyncio.run(FlowEngine(flow).run(channel))
    when = at or datetime.now().astimezone()
    standing = Standing()
    if store is not None and caller:
        # Read-only: a simulation never records a flag.
        history = store.history(normalise_number(caller), when - timedelta(days=365))
        standing, _ = assess(history, config.sop.prank, when)
    decision = decide(result.category, config.sop, when, live, standing)
    return {
        "caller": caller,
        "at": when.isoformat(timespec="seconds"),
        "flagged": standing.flagged,
        "busy": sorted(live or {}),
        "pressed": keys,
        "unused_keys": channel.keys,
        "flow": flow.name,
        "nodes": result.nodes,
        "steps": channel.steps,
        "language": result.language,
        "flags": result.flags,
        "exit": result.exit,
        "category": result.category,
        "route": {
            "action": decision.action,
            "target": decision.target,
            "priority": decision.priority,
            "timeout": decision.timeout,
            "warn": decision.warn,
            "reason": decision.reason,
        },
        "seconds": round(channel.clock, 2),
    }
