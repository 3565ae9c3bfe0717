"""What can be proved about a flow before any call: every path ends at a human, and how long it takes.

The paths are those the engine (``ivr.flow.engine``) can take: its state is (node, language,
silences so far, wrong keys so far), and each play of a menu is one step (a key, silence, or a wrong
key that either replays the menu or takes ``on_silence``/``on_invalid``). A language switch that
comes back to the same node is a new state, so it is explored.

Which paths are listed (finite, yet every edge is covered): each edge is taken at most once per
path, where an edge is a key in a (node, language), or silence / a wrong key in a full state (so
every replay is walked). A caller may go back to a menu already heard and choose again there, and
every language or back key is followed, but no path makes the same choice twice: going round the
same choice again is the caller's own doing, and after a back key the clock restarts anyway (below),
so the round is timed like the path that took it first. Past ``engine.MAX_STEPS`` nodes the engine
gives up and the router sends the caller to the central call-takers: such a path is listed with
category "". More than ``MAX_PATHS`` paths: the proof is incomplete, and ``timed_paths`` raises.

Timing model (worst case for a caller who follows the prompt, in seconds):
- a key of a menu: until the prompt has announced it (the end of its segment; the whole prompt if
  it is never announced), plus the flow's ``reaction_time``; each further key of a multi-key option
  ("55") up to the menu's ``inter_digit_timeout`` (the engine waits that long for a slow caller);
- silence: the whole prompt plus the timeout, per play;
- a wrong key: the whole prompt plus a reaction, per play; in a menu with multi-key options, plus
  the waits for the rest of one (a lone "5" is held that long before it counts as wrong);
- a ``play`` node: the whole prompt.

The emergency budget counts from answer, except for a caller who came back: a key pressed in a
menu that the caller chose with a key and where holding is not an emergency (the non-emergency
menu), leading on to a node or an emergency category, restarts the clock. That caller said "not an
emergency" and then changed their mind; from that key on they must reach a human as fast as a new
caller. (From answer no back path could meet any budget: the first menu alone takes 8 s to offer
"not an emergency".) ``TimedPath.from_answer`` keeps the whole time, and ``ivr check`` prints it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ivr.config.flow import Flow, FlowNode, MenuNode, PlayNode, Target
from ivr.config.sop import Sop
from ivr.flow.engine import MAX_STEPS
from ivr.prompts.build import PromptTiming

MAX_PATHS = 20000


class IncompleteProof(Exception):
    """More paths than ``MAX_PATHS``: the ones not listed were never timed."""

    def __init__(self, flow: str, limit: int) -> None:
        super().__init__(
            f"flow '{flow}' has more than {limit} paths: the proof is incomplete "
            f"(split the flow into fewer menus, or fewer replays)"
        )
        self.limit = limit


@dataclass(frozen=True)
class Step:
    node: str
    choice: str  # a key, 'silence', 'invalid' or 'next'
    language: str
    seconds: float
    # The caller came back: the emergency budget counts from the end of this step.
    restarts_clock: bool = False


@dataclass(frozen=True)
class TimedPath:
    steps: tuple[Step, ...]
    category: str  # "" when the engine gives up (the router's central call-takers)
    emergency: bool
    seconds: float  # what the emergency budget is held to (see the module docstring)
    from_answer: float = -1.0
    default_language: str = ""

    def describe(self) -> str:
        parts = []
        for step in self.steps:
            language = f"({step.language})" if step.language != self.default_language else ""
            parts.append(f"{step.node}{language}[{step.choice}]" + (" ⟲" if step.restarts_clock else ""))
        return " → ".join([*parts, self.category or "central (engine step bound)"])

    @property
    def language(self) -> str:
        return self.steps[-1].language if self.steps else ""

    @property
    def came_back(self) -> bool:
        return any(step.restarts_clock for step in self.steps)


@dataclass(frozen=True)
class Finding:
    node: str
    message: str
    loop: bool = False  # a caller never reaches a call-taker: there is no worst case to time


def _edges(node: FlowNode) -> list[tuple[str, Target]]:
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
                target = (
                    node.next
                    if isinstance(node, PlayNode)
                    else (node.on_silence if kind == "silence" else node.on_invalid)
                )
                if target.category or target.node not in flow.nodes:
                    break
                if target.node in chain:
                    cycle = [*chain[chain.index(target.node) :], target.node]
                    if (kind, frozenset(cycle)) not in loops:  # one report per loop, where it starts
                        loops.add((kind, frozenset(cycle)))
                        findings.append(
                            Finding(
                                cycle[0],
                                f"on {kind}, a caller loops forever and never "
                                f"reaches a call-taker: {' → '.join(cycle)}",
                                loop=True,
                            )
                        )
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
    findings += [Finding(name, "never reached from 'start'") for name in flow.nodes if name not in reached]
    return findings


def _timing(timings: Mapping[tuple[str, str], PromptTiming], prompt: str, language: str, default: str) -> PromptTiming:
    found = timings.get((prompt, language)) or timings.get((prompt, default))
    return found or PromptTiming(0.0)


def digit_wait(flow: Flow, node: MenuNode) -> float:
    """Worst case for each key after the first of a multi-key option: the engine's whole wait."""
    return max(node.inter_digit_timeout, flow.reaction_time)


def choice_seconds(flow: Flow, node: FlowNode, choice: str, timing: PromptTiming) -> float:
    """Worst-case seconds of one play of ``node`` ending in ``choice`` (see the module docstring)."""
    if isinstance(node, PlayNode):
        return timing.seconds
    if choice == "silence":
        return timing.seconds + node.timeout
    if choice == "invalid":
        longest = max((len(key) for key in node.options), default=1)
        return timing.seconds + flow.reaction_time + (longest - 1) * digit_wait(flow, node)
    announced = timing.key_offsets.get(choice, timing.seconds)
    return announced + flow.reaction_time + (len(choice) - 1) * digit_wait(flow, node)


def _emergency(sop: Sop, category: str) -> bool:
    known = sop.categories.get(category)
    return known is None or known.emergency


def _emergency_on_hold(flow: Flow, sop: Sop, name: str) -> bool:
    """Whether a caller who holds from ``name`` on ends at an emergency category (unknown: yes)."""
    seen = set()
    while name in flow.nodes and name not in seen:
        seen.add(name)
        node = flow.nodes[name]
        target = node.next if isinstance(node, PlayNode) else node.on_silence
        if target.category:
            return _emergency(sop, target.category)
        name = target.node
    return True


@dataclass(frozen=True)
class _State:
    node: str
    language: str
    silences: int = 0
    invalids: int = 0


def timed_paths(
    flow: Flow, sop: Sop, timings: Mapping[tuple[str, str], PromptTiming], limit: int | None = None
) -> list[TimedPath]:
    """Every path from answer to a category (see the module docstring for which), with worst-case seconds.

    Raises ``IncompleteProof`` when there are more than ``limit`` (default ``MAX_PATHS``)."""
    cap = limit or MAX_PATHS
    paths: list[TimedPath] = []
    calm = {name for name in flow.nodes if not _emergency_on_hold(flow, sop, name)}

    def finish(steps: tuple[Step, ...], category: str, elapsed: float, since: float) -> None:
        if len(paths) >= cap:
            raise IncompleteProof(flow.name, cap)
        known = sop.categories.get(category)
        # No category (the engine gave up) is the central call-takers: an emergency as far as time goes.
        emergency = known.emergency if known else not category
        paths.append(
            TimedPath(steps, category, emergency, round(elapsed - since, 2), round(elapsed, 2), flow.default_language)
        )

    def follow(
        target: Target,
        language: str,
        steps: tuple[Step, ...],
        used: frozenset[tuple[_State, str]],
        entries: int,
        chosen: bool,
        elapsed: float,
        since: float,
    ) -> None:
        if entries >= MAX_STEPS:
            finish(steps, "", elapsed, since)
            return
        language = target.language or language
        if target.category:
            finish(steps, target.category, elapsed, since)
        elif target.node in flow.nodes:
            play(_State(target.node, language), steps, used, entries + 1, chosen, elapsed, since)

    def play(
        state: _State,
        steps: tuple[Step, ...],
        used: frozenset[tuple[_State, str]],
        entries: int,
        chosen: bool,
        elapsed: float,
        since: float,
    ) -> None:
        node = flow.nodes[state.node]
        timing = _timing(timings, node.prompt, state.language, flow.default_language)
        for choice, target in _edges(node):
            key = choice not in ("silence", "invalid", "next")
            # A key is one edge per (node, language) whatever the replays before it; silence and a
            # wrong key are one edge per retry count, so every replay is walked.
            edge = (_State(state.node, state.language) if key else state, choice)
            if edge in used:
                continue
            taken = used | {edge}
            spent = choice_seconds(flow, node, choice, timing)
            now = elapsed + spent
            restarts = key and chosen and state.node in calm and (bool(target.node) or _emergency(sop, target.category))
            step = Step(state.node, choice, state.language, round(spent, 2), restarts)
            path = (*steps, step)
            if isinstance(node, MenuNode) and choice == "silence" and state.silences < node.replay_on_silence:
                replay = _State(state.node, state.language, state.silences + 1, state.invalids)
                play(replay, path, taken, entries, chosen, now, since)
            elif isinstance(node, MenuNode) and choice == "invalid" and state.invalids < node.replay_on_invalid:
                replay = _State(state.node, state.language, state.silences, state.invalids + 1)
                play(replay, path, taken, entries, chosen, now, since)
            else:
                # A play node passes on how the caller got there (its keys go to the next menu).
                follow(
                    target,
                    state.language,
                    path,
                    taken,
                    entries,
                    key or (chosen and choice == "next"),
                    now,
                    now if restarts else since,
                )

    if flow.start in flow.nodes:
        follow(Target(node=flow.start), flow.default_language, (), frozenset(), 0, False, 0.0, 0.0)
    return paths


def over_budget(flow: Flow, paths: list[TimedPath]) -> list[TimedPath]:
    return [path for path in paths if path.emergency and path.seconds > flow.emergency_budget]


def session_seconds(flow: Flow, path: TimedPath, timings: Mapping[tuple[str, str], PromptTiming]) -> float:
    """Upper bound of the time our service holds the caller along ``path``: unlike the budget's model
    (a caller who follows the prompt), every play of a menu may end only after its whole prompt, its
    whole wait and the longest multi-key wait (a key pressed at the last moment), a play node after
    its whole prompt."""
    total = 0.0
    for step in path.steps:
        node = flow.nodes[step.node]
        timing = _timing(timings, node.prompt, step.language, flow.default_language)
        if isinstance(node, PlayNode):
            total += timing.seconds
            continue
        longest = max((len(key) for key in node.options), default=1)
        total += timing.seconds + node.timeout + (longest - 1) * digit_wait(flow, node)
    return round(total, 2)
