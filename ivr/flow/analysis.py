"""What can be proved about a flow before any call: every path ends at a human, and how long it takes.

Timing model (worst case for a caller who follows the prompt, in seconds from answer):
- a key of a menu: until the prompt has announced it (the end of its segment; the whole prompt if
  it is never announced), plus the flow's ``reaction_time`` for each key pressed;
- silence: the whole prompt plus the timeout, once per play (``replay_on_silence`` + 1 plays);
- a wrong key: the whole prompt plus a reaction, once per play (``replay_on_invalid`` + 1 plays);
- a ``play`` node: the whole prompt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ivr.config.flow import Flow, MenuNode, PlayNode, Target
from ivr.config.sop import Sop
from ivr.prompts.build import PromptTiming

MAX_PATHS = 5000


@dataclass(frozen=True)
class Step:
    node: str
    choice: str  # a key, 'silence', 'invalid' or 'next'
    language: str
    seconds: float


@dataclass(frozen=True)
class TimedPath:
    steps: tuple[Step, ...]
    category: str
    emergency: bool
    seconds: float

    def describe(self) -> str:
        parts = [f"{step.node}[{step.choice}]" for step in self.steps]
        return " → ".join([*parts, self.category])

    @property
    def language(self) -> str:
        return self.steps[-1].language if self.steps else ""


@dataclass(frozen=True)
class Finding:
    node: str
    message: str


def _edges(node: MenuNode | PlayNode) -> list[tuple[str, Target]]:
    if isinstance(node, PlayNode):
        return [("next", node.next)]
    return [*node.options.items(), ("silence", node.on_silence), ("invalid", node.on_invalid)]


def safety_findings(flow: Flow) -> list[Finding]:
    """Silence and wrong keys must lead to a call-taker from every node, with no loop on the way;
    and every node must be reachable (a node nobody reaches is a typo waiting to happen)."""
    findings: list[Finding] = []
    loops: set[tuple[str, frozenset[str]]] = set()
    for name in flow.nodes:
        for kind in ("silence", "invalid"):
            chain = [name]
            current = name
            while True:
                node = flow.nodes[current]
                target = node.next if isinstance(node, PlayNode) else (
                    node.on_silence if kind == "silence" else node.on_invalid)
                if target.category or target.node not in flow.nodes:
                    break
                if target.node in chain:
                    cycle = [*chain[chain.index(target.node):], target.node]
                    if (kind, frozenset(cycle)) not in loops:  # one report per loop, where it starts
                        loops.add((kind, frozenset(cycle)))
                        findings.append(Finding(cycle[0], f"on {kind}, a caller loops forever and never "
                                                f"reaches a call-taker: {' → '.join(cycle)}"))
                    break
                chain.append(target.node)
                current = target.node
    reached = {flow.start}
    frontier = [flow.start]
    while frontier:
        visiting = flow.nodes.get(frontier.pop())
        if visiting is None:
            continue
        for _choice, target in _edges(visiting):
            if target.node and target.node not in reached:
                reached.add(target.node)
                frontier.append(target.node)
    findings += [Finding(name, "never reached from 'start'") for name in flow.nodes
                 if name not in reached]
    return findings


def _timing(timings: Mapping[tuple[str, str], PromptTiming], prompt: str, language: str,
            default: str) -> PromptTiming:
    found = timings.get((prompt, language)) or timings.get((prompt, default))
    return found or PromptTiming(0.0)


def choice_seconds(flow: Flow, node: MenuNode | PlayNode, choice: str, timing: PromptTiming) -> float:
    if isinstance(node, PlayNode):
        return timing.seconds
    if choice == "silence":
        return (timing.seconds + node.timeout) * (node.replay_on_silence + 1)
    if choice == "invalid":
        return (timing.seconds + flow.reaction_time) * (node.replay_on_invalid + 1)
    announced = timing.key_offsets.get(choice, timing.seconds)
    return announced + flow.reaction_time * len(choice)


def timed_paths(flow: Flow, sop: Sop, timings: Mapping[tuple[str, str], PromptTiming]) -> list[TimedPath]:
    """Every loop-free path from answer to a category, with its worst-case seconds."""
    paths: list[TimedPath] = []

    def walk(name: str, language: str, steps: tuple[Step, ...], seen: frozenset[str],
             elapsed: float) -> None:
        if len(paths) >= MAX_PATHS:
            return
        node = flow.nodes[name]
        timing = _timing(timings, node.prompt, language, flow.default_language)
        for choice, target in _edges(node):
            spent = choice_seconds(flow, node, choice, timing)
            step = Step(name, choice, language, round(spent, 2))
            next_language = target.language or language
            if target.category:
                category = sop.categories.get(target.category)
                paths.append(TimedPath((*steps, step), target.category,
                                       bool(category and category.emergency),
                                       round(elapsed + spent, 2)))
                continue
            if target.node not in flow.nodes or target.node in seen:
                # Back to a menu already heard (a "back" key): the caller starts over there, and
                # the paths from that menu on are listed already.
                continue
            walk(target.node, next_language, (*steps, step), seen | {target.node}, elapsed + spent)

    if flow.start in flow.nodes:
        walk(flow.start, flow.default_language, (), frozenset({flow.start}), 0.0)
    return paths


def over_budget(flow: Flow, paths: list[TimedPath]) -> list[TimedPath]:
    return [path for path in paths if path.emergency and path.seconds > flow.emergency_budget]
