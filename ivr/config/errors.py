"""Configuration errors as ``file:line:col: path: message``, collected so that all are reported at once."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.path}: {self.message}"


class ConfigError(Exception):
    """One or more problems; the configuration that had them is never used."""

    code = "config_invalid"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


@dataclass
class Problems:
    """Collector passed through loading; ``raise_if_any`` at the end."""

    items: list[Problem] = field(default_factory=list)

    def add(self, file: str, line: int, col: int, path: str, message: str) -> None:
        self.items.append(Problem(file, line, col, path, message))

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(self.items)
