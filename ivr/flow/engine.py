"""The IVR engine: runs a call flow over a ``Channel`` and says which SOP category the caller chose.

It knows nothing of sockets or routes. Every way out of ``run`` carries an outcome: a category the
caller chose, or the flow's silence/invalid target, or — when the flow itself misbehaves (a runaway
loop) — no category at all, which the router turns into the central call-takers.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from ivr.config.flow import Flow, MenuNode, PlayNode, Target

ALL_KEYS = "0123456789*#"
# A flow visits far fewer nodes than this; reaching it means a loop the checker missed.
MAX_STEPS = 25


class Channel(Protocol):
    """What the engine needs from a call. ``play`` returns the key that interrupted it, or ""."""

    async def play(self, prompt: str, language: str, escape_keys: str) -> str: ...

    async def wait_key(self, seconds: float) -> str: ...


@dataclass
class FlowResult:
    category: str = ""
    language: str = ""
    keys: str = ""
    nodes: list[str] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    # How the caller left the menu: 'selected', 'silence', 'invalid', or 'runaway'
    exit: str = ""
    seconds: float = 0.0


# Plays a last menu (``MenuNode.is_last``) and returns its key as ``Channel.wait_key`` would, having
# handed every outcome's route to Asterisk; None: it did not, the engine plays the menu itself.
LastMenu = Callable[[MenuNode, "FlowResult"], Awaitable[str | None]]


class FlowEngine:
    def __init__(self, flow: Flow, last_menu: LastMenu | None = None) -> None:
        self.flow = flow
        self.last_menu = last_menu
        # Kept up to date while the flow runs, so a caller who hangs up half way is still recorded.
        self.result = FlowResult(language=flow.default_language)

    async def run(self, channel: Channel) -> FlowResult:
        started = time.monotonic()
        result = self.result
        pending = ""
        target = Target(node=self.flow.start)
        for _step in range(MAX_STEPS):
            if target.language:
                result.language = target.language
            result.flags.extend(flag for flag in target.flags if flag not in result.flags)
            if target.category:
                result.category = target.category
                break
            node = self.flow.nodes[target.node]
            result.nodes.append(node.name)
            if isinstance(node, PlayNode):
                result.prompts.append(node.prompt)
                keys = ALL_KEYS if node.barge_in else ""
                pending += await channel.play(node.prompt, result.language, keys)
                target = node.next
                continue
            target, pending = await self._menu(node, channel, result, pending)
        else:
            result.exit = "runaway"
            result.category = ""
        result.seconds = round(time.monotonic() - started, 3)
        return result

    async def _menu(self, menu: MenuNode, channel: Channel, result: FlowResult, pending: str) -> tuple[Target, str]:
        longest = max((len(key) for key in menu.options), default=1)
        silences = invalids = 0
        while True:
            if pending:
                keys, pending = pending[:1], pending[1:]
            else:
                result.prompts.append(menu.prompt)
                handed = await self.last_menu(menu, result) if self.last_menu is not None and menu.is_last else None
                if handed is not None:
                    keys = handed
                else:
                    keys = await channel.play(menu.prompt, result.language, ALL_KEYS)
                    if not keys:
                        keys = await channel.wait_key(menu.timeout)
            # Multi-key options ("55"): keep reading while what we have is only a prefix.
            while (
                keys
                and keys not in menu.options
                and len(keys) < longest
                and any(option.startswith(keys) for option in menu.options)
            ):
                more = pending[:1] if pending else await channel.wait_key(menu.inter_digit_timeout)
                pending = pending[1:]
                if not more:
                    break
                keys += more
            result.keys += keys
            if keys in menu.options:
                result.exit = "selected"
                return menu.options[keys], ""
            # Keys typed ahead belonged to the choice that failed: start the replay clean.
            pending = ""
            if keys:
                result.exit = "invalid"
                invalids += 1
                if invalids > menu.replay_on_invalid:
                    return menu.on_invalid, ""
            else:
                result.exit = "silence"
                silences += 1
                if silences > menu.replay_on_silence:
                    return menu.on_silence, ""
