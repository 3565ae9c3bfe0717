"""Call flows (``dialplan/*.yaml``) as frozen models.

A flow is a set of named nodes. A ``menu`` plays a prompt and maps digits to a target; a ``play``
node plays a prompt and goes on. A target is a node name (text), ``{category: X}`` (route the call
to SOP category X), or ``{language: en, next: node}``. Silence and wrong keys have targets of
their own, so no path ends without one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from ivr.config.nodes import Node
from ivr.config.spec import (
    NAME,
    PLAIN_NAMES,
    Boolean,
    Choice,
    Field,
    Found,
    Integer,
    Key,
    ListOf,
    MapOf,
    Number,
    Obj,
    Ref,
    Tagged,
    Text,
)

DIGIT_KEYS = re.compile(r"[0-9*#]{1,4}")


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


GIVE_ONE = "give exactly one of 'next' (a node) or 'category' (an SOP category)"
TARGET_FIELDS = Obj(
    (
        Field("next", Ref(NAME), "the node to go to"),
        Field("node", Ref(NAME), "the node to go to (another name for 'next')"),
        Field("category", Ref(NAME), "route the call to this SOP category"),
        Field("language", Text(), "switch the caller's language first (one of the flow's languages)"),
        Field("flag", Text(), "a flag recorded on the call"),
    )
)
_GOES = ("next", "node", "category")


@dataclass(frozen=True)
class TargetKind:
    """A node name (text), or a mapping with exactly one of next/node/category."""

    def read(self, at: Node) -> Target:
        if not at.is_mapping():
            node = at.text()
            if at.is_text() and not node:
                at.error(f"expected a node name, got {at.kind()}")
            return Target(node=node, line=at.line, col=at.col, path=at.path)
        found = TARGET_FIELDS.read(at)
        node = found["next"] if "next" in found else found["node"] if "node" in found else ""
        category = found["category"] if "category" in found else ""
        if sum(key in found for key in _GOES) != 1 or not (node or category):
            at.error(GIVE_ONE)
        language = found["language"] if "language" in found else ""
        flags = (found["flag"],) if "flag" in found else ()
        return Target(node, category, language, flags, at.line, at.col, at.path)

    def schema(self) -> dict[str, Any]:
        return {
            "description": "A node name, {next: NODE}, or {category: NAME}; 'language' switches first.",
            "oneOf": [
                Ref(NAME).schema(),
                {**TARGET_FIELDS.schema(), "oneOf": [{"required": [key]} for key in _GOES]},
            ],
        }


TARGET = TargetKind()

MENU = Obj(
    (
        Field("type", Choice(("menu",)), "a menu plays a prompt and waits for a key", required=True),
        Field("prompt", Text(), "the prompt id in dialplan/prompts.yaml", required=True),
        Field(
            "options",
            MapOf(TARGET, Key(DIGIT_KEYS, 'option keys are 1 to 4 of 0-9 * # (quote them: "1")')),
            "key(s) pressed → where the call goes",
            required=True,
        ),
        Field("on_silence", TARGET, "where the call goes when no key is pressed", required=True),
        Field("on_invalid", TARGET, "where the call goes after a wrong key", required=True),
        Field("timeout", Number(0.5, 30), "seconds to wait for a key after the prompt", default=3.0),
        # Silence defaults to 0: a caller who stays on the line is put through, not made to listen again.
        Field("replay_on_silence", Integer(0, 3), "times the menu is played again on silence", default=0),
        Field("replay_on_invalid", Integer(0, 5), "times the menu is played again after a wrong key", default=2),
        # Long enough for a caller who cannot speak and presses 5, then 5 slowly (2 s missed them); `ivr check`
        # counts the whole wait on every path through such a menu.
        Field(
            "inter_digit_timeout",
            Number(0.5, 10),
            "seconds to wait for the next key while the keys so far only start a longer option",
            default=3.5,
        ),
    )
)
PLAY = Obj(
    (
        Field("type", Choice(("play",)), "a play node plays a prompt and goes on", required=True),
        Field("prompt", Text(), "the prompt id in dialplan/prompts.yaml", required=True),
        Field("next", TARGET, "where the call goes after the prompt", required=True),
        Field("barge_in", Boolean(), "keys pressed during the prompt are kept for the next menu", default=True),
    )
)


FLOW_FILE = Obj(
    (
        Field("flow", Text(), "the flow's name", required=True),
        Field(
            "languages",
            ListOf(Text(), 1, "give at least one language (the first is the default)"),
            "the caller's languages; the first is the default",
            default=("id",),
        ),
        Field(
            "emergency_budget",
            Number(1, 120),
            "seconds within which every emergency path must reach a call-taker",
            default=12.0,
        ),
        Field("reaction_time", Number(0, 5), "seconds a caller needs to press a key once announced", default=1.0),
        Field("start", Ref(NAME), "the first node", required=True),
        Field(
            "nodes",
            MapOf(Tagged({"menu": MENU, "play": PLAY}), Key(NAME, f"node names are {PLAIN_NAMES}"), keep_bad_keys=True),
            "the nodes by name",
            required=True,
        ),
    ),
    title="Siaga 112 call flow (dialplan/<script>.yaml)",
)


@dataclass(frozen=True)
class MenuNode:
    name: str
    prompt: str
    options: dict[str, Target]
    on_silence: Target
    on_invalid: Target
    # Defaults and their reasons: the MENU table above.
    timeout: float = MENU.default("timeout")
    replay_on_silence: int = MENU.default("replay_on_silence")
    replay_on_invalid: int = MENU.default("replay_on_invalid")
    inter_digit_timeout: float = MENU.default("inter_digit_timeout")
    kind: Literal["menu"] = "menu"

    @property
    def is_last(self) -> bool:
        """Every way out is an SOP category, each option one digit, nothing asked again: the whole
        menu can be handed to Asterisk with a route for every outcome (``ivr.service``)."""
        targets = (*self.options.values(), self.on_silence, self.on_invalid)
        return (
            self.replay_on_silence == 0
            and self.replay_on_invalid == 0
            and all(len(key) == 1 and key in "0123456789" for key in self.options)
            and all(target.category for target in targets)
        )


@dataclass(frozen=True)
class PlayNode:
    name: str
    prompt: str
    next: Target
    barge_in: bool = PLAY.default("barge_in")
    kind: Literal["play"] = "play"


FlowNode = MenuNode | PlayNode


@dataclass(frozen=True)
class Flow:
    name: str
    file: str
    languages: tuple[str, ...]
    start: str
    nodes: dict[str, FlowNode]
    emergency_budget: float = FLOW_FILE.default("emergency_budget")
    # Every node name written in the file, valid or not: references are checked against these, so
    # one broken node does not make every reference to it an error too.
    declared: tuple[str, ...] = ()
    # Seconds a caller needs to press a key once it was announced (for worst-case path times).
    reaction_time: float = FLOW_FILE.default("reaction_time")
    positions: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def default_language(self) -> str:
        return self.languages[0]


def parse_target(at: Node) -> Target:
    return TARGET.read(at)


def parse_flow(top: Node) -> Flow | None:
    found = FLOW_FILE.read(top)
    nodes: dict[str, FlowNode] = {}
    positions: dict[str, tuple[int, int]] = {}
    declared: list[str] = list(found["nodes"]) if "nodes" in found else []
    for name, read in (found["nodes"] if "nodes" in found else {}).items():
        node = _build_node(name, read)
        if node is not None and read is not None:
            nodes[name] = node
            positions[name] = (read[1].at.line, read[1].at.col)
    if not found.complete:
        return None
    languages = found["languages"] or FLOW_FILE.default("languages")  # a broken list was reported
    return Flow(
        found["flow"],
        top.file,
        languages,
        found["start"],
        nodes,
        found["emergency_budget"],
        tuple(declared),
        found["reaction_time"],
        positions,
    )


def _build_node(name: str, read: tuple[str, Found] | None) -> FlowNode | None:
    if read is None or not read[1].complete:
        return None
    kind, found = read
    if kind == "play":
        return PlayNode(name, found["prompt"], found["next"], found["barge_in"])
    return MenuNode(
        name,
        found["prompt"],
        found["options"],
        found["on_silence"],
        found["on_invalid"],
        found["timeout"],
        found["replay_on_silence"],
        found["replay_on_invalid"],
        found["inter_digit_timeout"],
    )
