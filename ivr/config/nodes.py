"""Reading YAML with positions: every value keeps the file, line and column it came from.

``yaml.compose`` gives nodes with marks; ``Node`` wraps one with its dotted path so a loader can say
``dialplan/112.yaml:14:9: nodes.main.options."3": unknown node 'billing' (known: ...)``.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ivr.config.errors import Problems

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_STR = "tag:yaml.org,2002:str"


class _Missing:
    pass


MISSING: Any = _Missing()


def _key_text(key: str) -> str:
    plain = key.replace("_", "").replace("-", "").isalnum() and not key[:1].isdigit()
    # JSON quoting keeps a key with a newline (refused, but reported) on the one line of its message.
    return key if plain else json.dumps(key, ensure_ascii=False)


@dataclass(frozen=True)
class Node:
    node: yaml.Node
    file: str
    path: str
    problems: Problems

    @property
    def line(self) -> int:
        return int(self.node.start_mark.line) + 1

    @property
    def col(self) -> int:
        return int(self.node.start_mark.column) + 1

    def error(self, message: str) -> None:
        self.problems.add(self.file, self.line, self.col, self.path or "(top)", message)

    def child_path(self, key: str) -> str:
        text = _key_text(key)
        return f"{self.path}.{text}" if self.path else text

    # --- mappings -----------------------------------------------------------------------------

    def is_mapping(self) -> bool:
        return isinstance(self.node, yaml.MappingNode)

    def items(self) -> Iterator[tuple[str, Node]]:
        """Key/value pairs of a mapping; a non-mapping is reported and yields nothing."""
        if not isinstance(self.node, yaml.MappingNode):
            self.error(f"expected a mapping, got {self.kind()}")
            return
        seen: set[str] = set()
        for key_node, value_node in self.node.value:
            key = str(key_node.value)
            key_at = Node(key_node, self.file, self.child_path(key), self.problems)
            if not isinstance(key_node, yaml.ScalarNode):
                key_at.error("keys must be plain text")
                continue
            if key in seen:
                key_at.error("duplicate key (the first one would be silently overridden)")
                continue
            seen.add(key)
            yield key, Node(value_node, self.file, self.child_path(key), self.problems)

    def get(self, key: str) -> Node | None:
        """A mapping's value for ``key`` without reporting anything (for dispatch on a 'type')."""
        if not isinstance(self.node, yaml.MappingNode):
            return None
        for key_node, value_node in self.node.value:
            if str(key_node.value) == key:
                return Node(value_node, self.file, self.child_path(key), self.problems)
        return None

    def fields(
        self,
        required: tuple[str, ...],
        optional: tuple[str, ...] = (),
        refused: Callable[[str], str | None] | None = None,
    ) -> dict[str, Node]:
        """The known keys of a mapping; unknown keys and missing required ones are reported.

        ``refused`` gives the message for an unknown key that must not be there at all (a password in
        a file reviewed in git), instead of "unknown key": the fix is elsewhere, not a spelling.
        """
        known = required + optional
        found: dict[str, Node] = {}
        for key, value in self.items():
            if key not in known:
                self.key(key).error((refused(key) if refused else None) or f"unknown key{_suggest(key, known)}")
                continue
            found[key] = value
        if self.is_mapping():
            for key in required:
                if key not in found:
                    self.error(f"missing required key '{key}'")
        return found

    def key(self, key: str) -> Node:
        """Where ``key`` itself is written in this mapping (for a message about the name, not its value)."""
        return Node(self._key_node(key), self.file, self.child_path(key), self.problems)

    def _key_node(self, key: str) -> yaml.Node:
        assert isinstance(self.node, yaml.MappingNode)
        for key_node, _value in self.node.value:
            if str(key_node.value) == key:
                return key_node
        return self.node

    # --- sequences and scalars ----------------------------------------------------------------

    def is_sequence(self) -> bool:
        return isinstance(self.node, yaml.SequenceNode)

    def is_text(self) -> bool:
        """What ``text()`` takes without a complaint."""
        return isinstance(self.node, yaml.ScalarNode) and self.node.tag in (_STR, _INT)

    def elements(self) -> list[Node]:
        """A list's items without reporting anything (for positions of items already read)."""
        if not isinstance(self.node, yaml.SequenceNode):
            return []
        return [
            Node(item, self.file, f"{self.path}[{index}]", self.problems) for index, item in enumerate(self.node.value)
        ]

    def sequence(self) -> list[Node]:
        if not isinstance(self.node, yaml.SequenceNode):
            self.error(f"expected a list, got {self.kind()}")
            return []
        return [
            Node(item, self.file, f"{self.path}[{index}]", self.problems) for index, item in enumerate(self.node.value)
        ]

    def kind(self) -> str:
        if isinstance(self.node, yaml.MappingNode):
            return "a mapping"
        if isinstance(self.node, yaml.SequenceNode):
            return "a list"
        tag = self.node.tag
        names = {_INT: "a number", _FLOAT: "a number", _BOOL: "true/false", _NULL: "nothing"}
        return names.get(tag, f"'{self.node.value}'")

    def text(self, default: Any = MISSING) -> str:
        if self.is_text():
            return str(self.node.value)
        self.error(f"expected text, got {self.kind()}")
        return "" if default is MISSING else default

    def number(self, minimum: float | None = None, maximum: float | None = None) -> float:
        value: float | None = None
        if isinstance(self.node, yaml.ScalarNode) and self.node.tag in (_INT, _FLOAT):
            value = float(self.node.value)
        if value is None:
            self.error(f"expected a number, got {self.kind()}")
            return minimum or 0.0
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            self.error(f"{value:g} is out of range ({_range(minimum, maximum)})")
        return value

    def integer(self, minimum: int | None = None, maximum: int | None = None) -> int:
        if not (isinstance(self.node, yaml.ScalarNode) and self.node.tag == _INT):
            self.error(f"expected a whole number, got {self.kind()}")
            return minimum or 0
        value = int(self.node.value)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            self.error(f"{value} is out of range ({_range(minimum, maximum)})")
        return value

    def boolean(self) -> bool:
        if isinstance(self.node, yaml.ScalarNode) and self.node.tag == _BOOL:
            return str(self.node.value).lower() in ("true", "yes", "on")
        self.error(f"expected true or false, got {self.kind()}")
        return False

    def choice(self, choices: tuple[str, ...]) -> str:
        value = self.text()
        if value and value not in choices:
            self.error(f"'{value}' is not one of: {', '.join(choices)}")
        return value


def _range(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"{minimum:g} to {maximum:g}"
    if minimum is not None:
        return f"at least {minimum:g}"
    return f"at most {maximum:g}"


def _suggest(key: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (known: {', '.join(known)})"


def load_file(path: Path, display: str, problems: Problems) -> Node | None:
    """Parse one YAML file into a positioned node; a syntax error is reported with its position."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problems.add(display, 1, 1, "(file)", f"cannot read: {error}")
        return None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problems.add(display, line, col, "(syntax)", f"{error.problem or error} ({error.context or 'YAML'})")
        return None
    if node is None:
        problems.add(display, 1, 1, "(top)", "file is empty")
        return None
    return Node(node, display, "", problems)
