"""Loading ``dialplan/`` and ``sop/`` into one frozen, cross-checked ``Config`` (or every error at once)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ivr.config.chains import chain_problems
from ivr.config.errors import ConfigError, Problem, Problems
from ivr.config.flow import DIGIT_KEYS, Flow, MenuNode, PlayNode, Target, parse_flow
from ivr.config.nodes import load_file
from ivr.config.prompts import Prompts, parse_prompts
from ivr.config.roster import check_roster
from ivr.config.sop import Sop, SopParts, parse_sop_file
from ivr.config.spec import NAME

__all__ = ["Config", "ConfigError", "Problem", "load_config"]

PROMPTS_FILE = "prompts.yaml"
PROMPTS_PATH = f"dialplan/{PROMPTS_FILE}"


@dataclass(frozen=True)
class Config:
    root: Path
    flows: dict[str, Flow]
    prompts: Prompts
    sop: Sop

    def flow_for(self, script: str) -> Flow | None:
        return self.flows.get(script)


def _display(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _yaml_files(directory: Path) -> list[Path]:
    return sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])


def load_config(root: Path) -> Config:
    """Read and check everything; raises ConfigError listing every problem found."""
    problems = Problems()
    flows: dict[str, Flow] = {}
    prompts: Prompts = {}
    parts = SopParts()

    dialplan = root / "dialplan"
    sop_dir = root / "sop"
    for missing in (dialplan, sop_dir):
        if not missing.is_dir():
            problems.add(_display(root, missing), 1, 1, "(dir)", "directory not found")
    problems.raise_if_any()

    flow_files = 0
    for path in _yaml_files(dialplan):
        flow_files += path.name != PROMPTS_FILE
        top = load_file(path, _display(root, path), problems)
        if top is None:
            continue
        if path.name == PROMPTS_FILE:
            parse_prompts(top, prompts)
            continue
        flow = parse_flow(top)
        if flow is not None:
            flows[path.stem] = flow

    for path in _yaml_files(sop_dir):
        top = load_file(path, _display(root, path), problems)
        if top is not None:
            # A file may hold any of the SOP sections; which file holds which is the admins' choice.
            parse_sop_file(top, parts)

    sop = parts.build()
    _check_sop(sop, parts, problems, prompts)
    for flow in flows.values():
        _check_flow(flow, sop, prompts, problems)
    if not flow_files:
        problems.add("dialplan", 1, 1, "(dir)", "no call flow found (expected dialplan/112.yaml)")
    problems.raise_if_any()
    return Config(root, flows, prompts, sop)


def _check_sop(sop: Sop, parts: SopParts, problems: Problems, prompts: Prompts) -> None:
    central = [agency for agency in sop.agencies.values() if agency.central]
    if sop.agencies and len(central) != 1:
        problems.add(
            *sop.agencies_at,
            "agencies",
            f"exactly one agency must be 'central: true' (the 24/7 call-takers), found {len(central)}",
        )
    queues = sop.queues
    if queues:
        for where, queue in parts.refs:
            if queue not in queues:
                where.error(f"unknown queue '{queue}' (known: {', '.join(sorted(queues))})")
    for name, category in sop.categories.items():
        agency = sop.agency_of(category.queue)
        if category.route == "bridge" and agency is not None and agency.bridge is None:
            file, line, col = sop.positions.get(f"{name}.route", ("sop", 1, 1))
            problems.add(
                file,
                line,
                col,
                f"categories.{name}.route",
                f"route 'bridge' needs a 'bridge:' on agency '{agency.name}' (or use route 'queue')",
            )
    check_roster(sop, parts.roster)
    for problem in chain_problems(sop):
        problems.add(problem.file, problem.line, problem.col, problem.path, problem.message)
    warning = sop.prank.warning_prompt
    if warning and warning not in prompts:
        problems.add(*sop.agencies_at, "prank.warning_prompt", f"prompt '{warning}' is not in dialplan/{PROMPTS_FILE}")


def _check_flow(flow: Flow, sop: Sop, prompts: Prompts, problems: Problems) -> None:
    def report(target_or_pos: Target | tuple[int, int], path: str, message: str) -> None:
        if isinstance(target_or_pos, Target):
            problems.add(flow.file, target_or_pos.line, target_or_pos.col, target_or_pos.path, message)
        else:
            problems.add(flow.file, target_or_pos[0], target_or_pos[1], path, message)

    # A refused name (say, with a newline) is shown quoted, so the message stays on one line.
    known_nodes = ", ".join(name if NAME.fullmatch(name) else json.dumps(name) for name in flow.declared)
    if flow.start not in flow.declared:
        report((1, 1), "start", f"unknown node '{flow.start}' (known: {known_nodes})")

    def check_target(target: Target) -> None:
        if target.node and target.node not in flow.declared:
            report(target, "", f"unknown node '{target.node}' (known: {known_nodes})")
        # With no categories at all, the SOP file itself is broken and says so; don't repeat it here.
        if target.category and sop.categories and target.category not in sop.categories:
            report(target, "", f"unknown category '{target.category}' (known: {', '.join(sorted(sop.categories))})")
        if target.language and target.language not in flow.languages:
            report(target, "", f"unknown language '{target.language}' (known: {', '.join(flow.languages)})")

    for name, node in flow.nodes.items():
        position = flow.positions.get(name, (1, 1))
        missing = [language for language in flow.languages if language not in prompts.get(node.prompt, {})]
        if missing:
            report(
                position,
                f"nodes.{name}.prompt",
                f"prompt '{node.prompt}' has no text for {', '.join(missing)} in dialplan/{PROMPTS_FILE}",
            )
        if isinstance(node, MenuNode):
            for target in (*node.options.values(), node.on_silence, node.on_invalid):
                check_target(target)
            for language, text in prompts.get(node.prompt, {}).items():
                for key in text.announced_keys:
                    if key not in node.options and DIGIT_KEYS.fullmatch(key):  # a malformed key is reported as such
                        problems.add(
                            PROMPTS_PATH,
                            text.line,
                            text.col,
                            f"prompts.{node.prompt}.{language}",
                            f"announces key '{key}' but menu '{name}' has no such option "
                            f"(options: {', '.join(node.options)})",
                        )
        elif isinstance(node, PlayNode):
            check_target(node.next)
