"""Call flows (``dialplan/*.yaml``) as frozen models.

A flow is a set of named nodes. A ``menu`` plays a prompt and maps digits to a target; a ``play``
node plays a prompt and goes on. A target is a node name (text), ``{category: X}`` (route the call
to SOP category X), or ``{language: en, next: node}``. Silence and wrong keys have targets of
their own, so no path ends without one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from ivr.config.nodes import Node

DIGIT_KEYS = re.compile(r"[0-9*#]{1,4}")
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


@dataclass(frozen=True)
class Target:
    """Where a key (or silence) leads: exactly one of node / category; language switches first."""

    node: str = ""
    category: str = ""
    language: str = ""
    flags: tuple[str, ...] = ()
    line: int = 0
    col: int = 0
    path: str = ""


@dataclass(frozen=True)
class MenuNode:
    name: str
    prompt: str
    options: dict[str, Target]
    on_silence: Target
    on_invalid: Target
    timeout: float = 3.0
    # How often the menu is played again before silence / a wrong key takes its target. Silence
    # defaults to 0: a caller who stays on the line is put through, not made to listen again.
    replay_on_silence: int = 0
    replay_on_invalid: int = 2
    # How long the engine waits for the next key while the keys so far only start a multi-key option
    # ("5" of "55"). Long enough for a caller who cannot speak and presses 5, then 5 slowly (2 s missed
    # them); `ivr check` counts the whole wait on every path through such a menu.
    inter_digit_timeout: float = 3.5
    kind: Literal["menu"] = "menu"


@dataclass(frozen=True)
class PlayNode:
    name: str
    prompt: str
    next: Target
    # Digits pressed while this prompt plays are kept for the next menu (a caller who knows the menu).
    barge_in: bool = True
    kind: Literal["play"] = "play"


FlowNode = MenuNode | PlayNode


@dataclass(frozen=True)
class Flow:
    name: str
    file: str
    languages: tuple[str, ...]
    start: str
    nodes: dict[str, FlowNode]
    emergency_budget: float = 12.0
    # Every node name written in the file, valid or not: references are checked against these, so
    # one broken node does not make every reference to it an error too.
    declared: tuple[str, ...] = ()
    # Seconds a caller needs to press a key once it was announced (for worst-case path times).
    reaction_time: float = 1.0
    positions: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def default_language(self) -> str:
        return self.languages[0]


MENU_KEYS = ("type", "prompt", "options", "on_silence", "on_invalid", "timeout",
             "replay_on_silence", "replay_on_invalid", "inter_digit_timeout")
PLAY_KEYS = ("type", "prompt", "next", "barge_in")


def parse_target(at: Node) -> Target:
    if at.is_mapping():
        found = at.fields((), ("node", "category", "language", "next", "flag"))
        node = found["node"].text() if "node" in found else ""
        if "next" in found:
            node = found["next"].text()
        category = found["category"].text() if "category" in found else ""
        language = found["language"].text() if "language" in found else ""
        flags = (found["flag"].text(),) if "flag" in found else ()
        if bool(node) == bool(category):
            at.error("give exactly one of 'next' (a node) or 'category' (an SOP category)")
        return Target(node, category, language, flags, at.line, at.col, at.path)
    return Target(node=at.text(), line=at.line, col=at.col, path=at.path)


def parse_flow(top: Node) -> Flow | None:
    found = top.fields(("flow", "start", "nodes"), ("languages", "emergency_budget", "reaction_time"))
    name = found["flow"].text() if "flow" in found else ""
    languages: tuple[str, ...] = ("id",)
    if "languages" in found:
        languages = tuple(item.text() for item in found["languages"].sequence()) or ("id",)
    budget = found["emergency_budget"].number(1, 120) if "emergency_budget" in found else 12.0
    reaction = found["reaction_time"].number(0, 5) if "reaction_time" in found else 1.0
    nodes: dict[str, FlowNode] = {}
    positions: dict[str, tuple[int, int]] = {}
    declared: list[str] = []
    if "nodes" in found:
        for node_name, spec in found["nodes"].items():
            declared.append(node_name)
            if not NAME.fullmatch(node_name):
                spec.error("node names are lower-case letters, digits, '-' and '_'")
            parsed = _parse_node(node_name, spec)
            if parsed is not None:
                nodes[node_name] = parsed
                positions[node_name] = (spec.line, spec.col)
    start = found["start"].text() if "start" in found else ""
    if not ("flow" in found and "start" in found and "nodes" in found):
        return None
    return Flow(name, top.file, languages, start, nodes, budget, tuple(declared), reaction, positions)


def _parse_node(name: str, spec: Node) -> FlowNode | None:
    if not spec.is_mapping():
        spec.error(f"expected a mapping with 'type: menu' or 'type: play', got {spec.kind()}")
        return None
    type_node = spec.get("type")
    if type_node is None:
        spec.error("missing required key 'type' (menu or play)")
        return None
    kind = type_node.choice(("menu", "play"))
    if kind == "play":
        found = spec.fields(("type", "prompt", "next"), PLAY_KEYS)
        barge_in = found["barge_in"].boolean() if "barge_in" in found else True
        if "prompt" not in found or "next" not in found:
            return None
        return PlayNode(name, found["prompt"].text(), parse_target(found["next"]), barge_in)
    if kind == "menu":
        found = spec.fields(("type", "prompt", "options", "on_silence", "on_invalid"), MENU_KEYS)
        options: dict[str, Target] = {}
        if "options" in found:
            for digits, target in found["options"].items():
                if not DIGIT_KEYS.fullmatch(digits):
                    target.error("option keys are 1 to 4 of 0-9 * # (quote them: \"1\")")
                    continue
                options[digits] = parse_target(target)
        timeout = found["timeout"].number(0.5, 30) if "timeout" in found else 3.0
        on_silence = found["replay_on_silence"].integer(0, 3) if "replay_on_silence" in found else 0
        on_invalid = found["replay_on_invalid"].integer(0, 5) if "replay_on_invalid" in found else 2
        inter = (found["inter_digit_timeout"].number(0.5, 10)
                 if "inter_digit_timeout" in found else MenuNode.inter_digit_timeout)
        required = ("prompt", "options", "on_silence", "on_invalid")
        if any(key not in found for key in required):
            return None
        return MenuNode(
            name, found["prompt"].text(), options, parse_target(found["on_silence"]),
            parse_target(found["on_invalid"]), timeout, on_silence, on_invalid, inter,
        )
    return None
