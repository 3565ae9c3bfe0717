"""One table of fields per YAML object: the loaders read through it and ``ivr schema`` is generated from it.

A field says its name, whether it is required, its kind (text with an optional pattern, a whole number or a
number in a range, true/false, a choice, a list, a map, a date, a nested object), its default and a line of
help. ``Obj.read`` checks a YAML mapping against the table (unknown keys with "did you mean", missing required
keys, each value's own rule) and returns what it found with the defaults filled in; ``schema()`` gives the
same rules as JSON Schema (draft 2020-12). Rules that need more than one value (an unknown queue, a safe
flow, a loop) are not fields' rules: they stay in the loaders and ``ivr check``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from ivr.config.nodes import Node

DRAFT = "https://json-schema.org/draft/2020-12/schema"
# Names that travel into Asterisk (queues, categories, nodes): plain, short, nothing to expand.
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
PLAIN_NAMES = "lower-case letters, digits, '-' and '_'"
NO_DEFAULT: Any = object()


def anchored(pattern: re.Pattern[str]) -> str:
    """``pattern`` as a JSON Schema pattern that, like ``re.fullmatch``, refuses a trailing newline.

    JSON Schema patterns are searched, not matched; Python's ``$`` also matches before a final newline
    (and the jsonschema package uses Python's ``re``), so the end is pinned with a look-ahead that
    ECMA-262 regexes (editors) read the same way.
    """
    return f"^(?:{pattern.pattern})$(?!\\n)"


class Kind(Protocol):
    def read(self, at: Node) -> Any:
        """The value at ``at``; a value breaking the rule is reported there and a stand-in returned."""

    def schema(self) -> dict[str, Any]:
        """The same rule as JSON Schema."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    as_yaml = getattr(value, "as_yaml", None)  # a model whose default is written as text (Hours: '24/7')
    return as_yaml() if callable(as_yaml) else value


def text_schema(pattern: re.Pattern[str] | None) -> dict[str, Any]:
    """Text as ``Node.text`` takes it: a string, or a whole number YAML read unquoted (``key: 1``)."""
    if pattern is None:
        return {"type": ["string", "integer"]}
    text = {"type": "string", "pattern": anchored(pattern)}
    if not pattern.fullmatch("1"):
        return text
    return {"anyOf": [text, {"type": "integer", "minimum": 0}]}


@dataclass(frozen=True)
class Text:
    """Text (YAML also gives numbers as text: ``key: 1``); with a pattern, matched whole or ``message``."""

    pattern: re.Pattern[str] | None = None
    message: str = ""

    def read(self, at: Node) -> str:
        value = at.text()
        if self.pattern is not None and at.is_text() and not self.pattern.fullmatch(value):
            at.error(self.message)
        return value

    def schema(self) -> dict[str, Any]:
        return text_schema(self.pattern)


@dataclass(frozen=True)
class Ref:
    """The name of something that must exist elsewhere (a node, a category, a queue).

    Whether it exists is a cross-file rule of the loader ("unknown node 'x' (known: ...)"); the schema,
    which sees one file, can only say what such names look like.
    """

    pattern: re.Pattern[str]

    def read(self, at: Node) -> str:
        return at.text()

    def schema(self) -> dict[str, Any]:
        return text_schema(self.pattern)


@dataclass(frozen=True)
class Integer:
    minimum: int
    maximum: int

    def read(self, at: Node) -> int:
        return at.integer(self.minimum, self.maximum)

    def schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.minimum, "maximum": self.maximum}


@dataclass(frozen=True)
class Number:
    minimum: float
    maximum: float

    def read(self, at: Node) -> float:
        return at.number(self.minimum, self.maximum)

    def schema(self) -> dict[str, Any]:
        return {"type": "number", "minimum": self.minimum, "maximum": self.maximum}


@dataclass(frozen=True)
class Boolean:
    def read(self, at: Node) -> bool:
        return at.boolean()

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


@dataclass(frozen=True)
class Choice:
    choices: tuple[str, ...]

    def read(self, at: Node) -> str:
        return at.choice(self.choices)

    def schema(self) -> dict[str, Any]:
        return {"enum": list(self.choices)}


DATE = re.compile(r"\d{4}-\d\d-\d\d")
# The same dates as JSON Schema can say them (a 31st of a 30-day month is the loader's alone).
_DATE_SCHEMA = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$(?!\n)"


def is_date(text: str) -> bool:
    """``2026-08-17`` and nothing else (``date.fromisoformat`` alone also takes ``20260817``)."""
    if not DATE.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Date:
    """A day written 2026-12-31, quoted or not (unquoted, YAML 1.1 reads a timestamp: the scalar is taken)."""

    message: str

    def read(self, at: Node) -> date | None:
        written = at.node.value if isinstance(at.node.value, str) else ""  # a list or mapping: not a date
        if not is_date(written):
            at.error(f"{self.message}, got {at.kind()}")
            return None
        return date.fromisoformat(written)

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": _DATE_SCHEMA}


@dataclass(frozen=True)
class Key:
    """The rule for the keys of a map; ``message`` may name the key as ``{key}``."""

    pattern: re.Pattern[str]
    message: str
    date: bool = False

    def valid(self, key: str) -> bool:
        return is_date(key) if self.date else bool(self.pattern.fullmatch(key))

    def schema(self) -> dict[str, Any]:
        return {"pattern": _DATE_SCHEMA if self.date else anchored(self.pattern)}


@dataclass(frozen=True)
class ListOf:
    item: Kind
    min_items: int = 0
    empty_message: str = ""

    def read(self, at: Node) -> tuple[Any, ...]:
        items = at.sequence()
        if at.is_sequence() and len(items) < self.min_items:
            at.error(self.empty_message)
        return tuple(self.item.read(item) for item in items)

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "array", "items": self.item.schema()}
        if self.min_items:
            schema["minItems"] = self.min_items
        return schema


@dataclass(frozen=True)
class MapOf:
    """A mapping of names to values of one kind; a key breaking ``key`` is reported at its value.

    Keys that break the rule are left out of what ``read`` returns, unless ``keep_bad_keys`` (call-flow
    nodes: references to a badly named node are then not reported a second time as unknown).
    """

    value: Kind
    key: Key | None = None
    keep_bad_keys: bool = False

    def entries(self, at: Node) -> Iterator[tuple[str, Node]]:
        for name, value in at.items():
            good = self.key is None or self.key.valid(name)
            if not good and self.key is not None:
                value.error(self.key.message.replace("{key}", name))
            if good or self.keep_bad_keys:
                yield name, value

    def read(self, at: Node) -> dict[str, Any]:
        return {name: self.value.read(value) for name, value in self.entries(at)}

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "object", "additionalProperties": self.value.schema()}
        if self.key is not None:
            schema["propertyNames"] = self.key.schema()
        return schema


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    help: str
    required: bool = False
    default: Any = NO_DEFAULT

    def schema(self) -> dict[str, Any]:
        schema = {"description": self.help, **self.kind.schema()}
        if self.default is not NO_DEFAULT:
            schema["default"] = _jsonable(self.default)
        return schema


@dataclass(frozen=True)
class Found:
    """What one mapping said: each field's value (its default when absent) and the node it came from."""

    at: Node
    spec: Obj
    nodes: dict[str, Node]
    values: dict[str, Any]

    def __contains__(self, name: str) -> bool:
        return name in self.nodes

    def __getitem__(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        default = self.spec.lookup(name).default
        if default is NO_DEFAULT:
            raise KeyError(name)
        return default

    def node(self, name: str) -> Node:
        return self.nodes[name]

    @property
    def complete(self) -> bool:
        """Every required field is there (a missing one was reported)."""
        return all(f.name in self.nodes for f in self.spec.fields if f.required)


@dataclass(frozen=True)
class Obj:
    """A mapping with a fixed set of keys: the table of one YAML object."""

    fields: tuple[Field, ...]
    title: str = ""
    # A key left empty (``ambulans-x:``) means "all defaults".
    nullable: bool = False
    # At least one key (an SOP file must say something).
    not_empty: str = ""
    # Keys refused with their own message rather than "unknown key" (secrets: ``ivr passwd`` keeps them).
    refuse: Key | None = None
    by_name: Mapping[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})

    def lookup(self, name: str) -> Field:
        return self.by_name[name]

    def default(self, name: str) -> Any:
        """The default of ``name``, for the dataclass built from this table."""
        value = self.by_name[name].default
        assert value is not NO_DEFAULT, f"{name} has no default"
        return value

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)

    def _refused(self, key: str) -> str | None:
        assert self.refuse is not None
        return self.refuse.message.replace("{key}", key) if self.refuse.valid(key) else None

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if not f.required)

    def read(self, at: Node) -> Found:
        if self.nullable and at.kind() == "nothing":
            return Found(at, self, {}, {})
        nodes = at.fields(self.required, self.optional, self._refused if self.refuse is not None else None)
        if self.not_empty and at.is_mapping() and not nodes and not at.node.value:
            at.error(self.not_empty)
        values = {name: self.by_name[name].kind.read(node) for name, node in nodes.items()}
        return Found(at, self, nodes, values)

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": ["object", "null"] if self.nullable else "object",
            "additionalProperties": False,
            "properties": {f.name: f.schema() for f in self.fields},
        }
        if self.required:
            schema["required"] = list(self.required)
        if self.not_empty:
            schema["minProperties"] = 1
        return schema


@dataclass(frozen=True)
class Tagged:
    """A mapping whose ``type`` says which table it follows."""

    variants: Mapping[str, Obj]
    tag: str = "type"

    def read(self, at: Node) -> tuple[str, Found] | None:
        names = tuple(self.variants)
        if not at.is_mapping():
            shapes = " or ".join(f"'{self.tag}: {name}'" for name in names)
            at.error(f"expected a mapping with {shapes}, got {at.kind()}")
            return None
        tag = at.get(self.tag)
        if tag is None:
            at.error(f"missing required key '{self.tag}' ({' or '.join(names)})")
            return None
        name = tag.choice(names)
        if name not in self.variants:
            return None
        return name, self.variants[name].read(at)

    def schema(self) -> dict[str, Any]:
        return {"oneOf": [variant.schema() for variant in self.variants.values()]}


def document(kind: Kind, title: str) -> dict[str, Any]:
    """A whole JSON Schema document for an editor."""
    return {"$schema": DRAFT, "title": title, **kind.schema()}
