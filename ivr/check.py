"""``ivr check`` and every reload: load the YAML, prove the safety rules, time every path.

The same function decides whether an edited configuration may take effect in a running service,
so what ``ivr check`` accepts is exactly what ``ivr serve`` will run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from ivr.config import Config, ConfigError, Problem, load_config
from ivr.config.calendar import ConfigWarning, calendar_warning
from ivr.config.staffing import staffing_warnings
from ivr.flow.analysis import (
    IncompleteProof,
    TimedPath,
    over_budget,
    safety_findings,
    session_seconds,
    timed_paths,
)
from ivr.prompts.build import PromptBuildError, PromptTiming, build_all, estimate, tools_missing


@dataclass
class CheckResult:
    config: Config | None
    problems: list[Problem] = field(default_factory=list)
    paths: dict[str, list[TimedPath]] = field(default_factory=dict)
    timing_source: str = "audio"
    # Printed, never fatal: the configuration is used all the same.
    warnings: list[ConfigWarning] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.config is not None and not self.problems


def prompt_timings(config: Config, sounds_dir: Path | None) -> tuple[dict[tuple[str, str], PromptTiming], str]:
    """Build the audio when we can (cached), so times are the real lengths; else estimate from text."""
    if sounds_dir is None or tools_missing():
        return estimate(config.prompts), "estimated from text length (espeak-ng/sox not installed)"
    recordings = config.root / "dialplan" / "recordings"
    try:
        return build_all(config.prompts, sounds_dir, recordings), "measured from the built audio"
    except PromptBuildError as error:
        return estimate(config.prompts), f"estimated from text length ({error})"


def check(root: Path, sounds_dir: Path | None, today: date | None = None) -> CheckResult:
    """``today`` (default: the SOP's local date now) is when the holiday calendar must still cover 60 days."""
    try:
        config = load_config(root)
    except ConfigError as error:
        return CheckResult(None, list(error.problems))
    timings, source = prompt_timings(config, sounds_dir)
    result = CheckResult(config, timing_source=source)
    gap = calendar_warning(config.sop, today or datetime.now(config.sop.zone()).date())
    result.warnings.extend([gap] if gap else [])
    result.warnings.extend(staffing_warnings(config.sop))
    for script, flow in sorted(config.flows.items()):
        findings = safety_findings(flow)
        for finding in findings:
            line, col = flow.positions.get(finding.node, (1, 1))
            result.problems.append(Problem(flow.file, line, col, f"nodes.{finding.node}", finding.message))
        if any(finding.loop for finding in findings):
            continue  # a caller who loops forever has no worst case to time: the loop is the error
        try:
            paths = timed_paths(flow, config.sop, timings)
        except IncompleteProof as error:
            line, col = flow.positions.get(flow.start, (1, 1))
            result.problems.append(Problem(flow.file, line, col, f"nodes.{flow.start}", str(error)))
            continue
        result.paths[script] = paths
        # One problem per node where slow paths end: its worst path, and how many more (all are listed).
        slow: dict[str, list[TimedPath]] = {}
        for path in over_budget(flow, paths):
            slow.setdefault(path.steps[-1].node, []).append(path)
        for last, ending in slow.items():
            path = max(ending, key=lambda p: (p.seconds, -len(p.steps)))
            line, col = flow.positions.get(last, (1, 1))
            since = " since the caller came back (⟲)" if path.came_back else ""
            more = f" (and {len(ending) - 1} more path(s) ending here)" if len(ending) > 1 else ""
            result.problems.append(
                Problem(
                    flow.file,
                    line,
                    col,
                    f"nodes.{last}",
                    f"emergency path {path.describe()} ({path.language}) takes {path.seconds:.1f} s{since}, over "
                    f"the {flow.emergency_budget:g} s emergency_budget{more}: shorten its prompts or timeouts",
                )
            )
    result.problems.sort()
    if result.problems:
        result.config = None
    return result


def session_worst_case(config: Config, sounds_dir: Path | None) -> float:
    """The longest a FastAGI session of ours may hold a caller, over every flow and every path
    ``check`` lists: the path with every key pressed as late as the flow allows
    (``analysis.session_seconds``), then the prank warning in that path's language, which the
    service may play after the menu. Raises ``IncompleteProof`` where ``check`` would fail."""
    timings, _source = prompt_timings(config, sounds_dir)
    warning = config.sop.prank.warning_prompt
    worst = 0.0
    for flow in config.flows.values():
        if any(finding.loop for finding in safety_findings(flow)):
            continue  # ``check`` refuses such a flow: it is never served
        for path in timed_paths(flow, config.sop, timings):
            warned = timings.get((warning, path.language)) or timings.get((warning, flow.default_language))
            worst = max(worst, session_seconds(flow, path, timings) + (warned.seconds if warned else 0.0))
    return round(worst, 2)
