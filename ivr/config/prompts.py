"""Prompt texts (``dialplan/prompts.yaml``): per prompt id and language, one text or a list of segments.

A segment may name the key it announces (``{key: "1", text: "Darurat, tekan satu."}``). The builder
speaks segments one by one, so it knows when each key has been announced; ``ivr check`` uses that
to time every path, and refuses a prompt that announces a key its menu does not have.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.config.flow import DIGIT_KEYS
from ivr.config.nodes import Node


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


def parse_prompts(top: Node, prompts: Prompts) -> None:
    found = top.fields(("prompts",))
    if "prompts" not in found:
        return
    for prompt_id, texts in found["prompts"].items():
        prompts[prompt_id] = {}
        for language, value in texts.items():
            segments = _segments(value)
            if not segments:
                value.error("a prompt needs some text")
                continue
            prompts[prompt_id][language] = PromptText(
                prompt_id, language, segments, value.line, value.col
            )


def _segments(value: Node) -> tuple[Segment, ...]:
    if not value.is_mapping() and value.node.tag == "tag:yaml.org,2002:seq":
        found: list[Segment] = []
        for item in value.sequence():
            if item.is_mapping():
                fields = item.fields(("text",), ("key",))
                key = fields["key"].text() if "key" in fields else ""
                if key and not DIGIT_KEYS.fullmatch(key):
                    fields["key"].error("a key is 1 to 4 of 0-9 * # (quote it: \"1\")")
                text = fields["text"].text() if "text" in fields else ""
                if text.strip():
                    found.append(Segment(text.strip(), key))
            else:
                text = item.text()
                if text.strip():
                    found.append(Segment(text.strip()))
        return tuple(found)
    text = value.text()
    return (Segment(text.strip()),) if text.strip() else ()
