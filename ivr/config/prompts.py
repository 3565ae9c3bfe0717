"""Prompt texts (``dialplan/prompts.yaml``): per prompt id and language, one text or a list of segments.

A segment may name the key it announces (``{key: "1", text: "Darurat, tekan satu."}``). The builder
speaks segments one by one, so it knows when each key has been announced; ``ivr check`` uses that
to time every path, and refuses a prompt that announces a key its menu does not have.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ivr.config.flow import DIGIT_KEYS
from ivr.config.nodes import Node
from ivr.config.spec import Field, MapOf, Obj, Text


@dataclass(frozen=True)
class Segment:
    text: str
    key: str = ""


@dataclass(frozen=True)
class PromptText:
    prompt: str
    language: str
    segments: tuple[Segment, ...]
    line: int = 0
    col: int = 0

    @property
    def text(self) -> str:
        return " ".join(segment.text for segment in self.segments)

    @property
    def announced_keys(self) -> tuple[str, ...]:
        return tuple(segment.key for segment in self.segments if segment.key)


Prompts = dict[str, dict[str, PromptText]]

SEGMENT = Obj(
    (
        Field("text", Text(), "what is said", required=True),
        Field(
            "key",
            Text(DIGIT_KEYS, 'a key is 1 to 4 of 0-9 * # (quote it: "1")'),
            "the key this segment announces (for timing and for `ivr check`)",
            default="",
        ),
    )
)
_SAYS = re.compile(r"(?s).*\S.*")  # some text, not only blanks


@dataclass(frozen=True)
class PromptTextKind:
    """One text, or a list of segments (text, or {text, key}); blanks alone are no text."""

    def read(self, at: Node) -> tuple[Segment, ...]:
        segments = self._segments(at)
        if not segments:
            at.error("a prompt needs some text")
        return segments

    @staticmethod
    def _segments(at: Node) -> tuple[Segment, ...]:
        if not at.is_sequence():
            text = at.text()
            return (Segment(text.strip()),) if text.strip() else ()
        found: list[Segment] = []
        for item in at.sequence():
            if item.is_mapping():
                fields = SEGMENT.read(item)
                text, key = (fields["text"] if "text" in fields else ""), fields["key"]
            else:
                text, key = item.text(), ""
            if text.strip():
                found.append(Segment(text.strip(), key))
        return tuple(found)

    def schema(self) -> dict[str, Any]:
        says = {"anyOf": [{"type": "string", "pattern": _SAYS.pattern}, {"type": "integer"}]}  # as Node.text
        return {
            "oneOf": [
                says,
                {
                    "type": "array",
                    "items": {"oneOf": [Text().schema(), SEGMENT.schema()]},
                    "contains": {"anyOf": [says, {"type": "object", "properties": {"text": says}}]},
                },
            ]
        }


PROMPTS_FILE = Obj(
    (Field("prompts", MapOf(MapOf(PromptTextKind())), "prompt id → language → text", required=True),),
    title="Siaga 112 prompt texts (dialplan/prompts.yaml)",
)


def parse_prompts(top: Node, prompts: Prompts) -> None:
    found = PROMPTS_FILE.read(top)
    if "prompts" not in found:
        return
    section = found.node("prompts")
    for prompt_id, texts in found["prompts"].items():
        prompts[prompt_id] = {}
        at = section.get(prompt_id)
        for language, segments in texts.items():
            value = at.get(language) if at is not None else None
            if segments and value is not None:
                prompts[prompt_id][language] = PromptText(prompt_id, language, segments, value.line, value.col)
