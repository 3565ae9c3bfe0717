"""A policy's configuration: the shipped ``dialplan/112.yaml`` and ``sop/`` with the policy's edits,
proved by the same analysis ``ivr check`` runs (every path ends at a human, no emergency path newly
over the budget).

An edit is what an admin could write in the YAML; it is made on the loaded, frozen config so the
shipped files stay the single source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from bench.loadmodel.model import Policy
from ivr.config import Config
from ivr.config.flow import MenuNode, Target
from ivr.flow.analysis import over_budget, safety_findings, timed_paths
from ivr.prompts.build import PromptTiming

SCRIPT = "112"
# The category a silent caller lands in when ``silent_priority`` is set: a copy of the first menu's
# silence category at that priority (same queue, overflow and checklist).
QUIET_CATEGORY = "darurat-diam"


class PolicyError(ValueError):
    """The policy's edited flow would fail ``ivr check``."""


def policy_config(base: Config, policy: Policy, timings: Mapping[tuple[str, str], PromptTiming]) -> Config:
    """The configuration this policy runs on (``base`` itself when it changes nothing)."""
    flow = base.flows[SCRIPT]
    first = flow.nodes[flow.start]
    if not isinstance(first, MenuNode):
        return base
    sop = base.sop
    general = first.on_silence.category
    cap = policy.max_wait
    if cap is not None:
        capped = {
            name: replace(c, max_wait=min(c.max_wait, cap) if c.max_wait else 0) for name, c in sop.categories.items()
        }
        sop = replace(sop, categories=capped)
    if policy.skip_busy is not None:
        every = {name: replace(c, skip_busy=policy.skip_busy) for name, c in sop.categories.items()}
        sop = replace(sop, categories=every)
    if policy.silent_priority is not None:
        held = sop.categories[general]
        quiet = replace(
            held,
            name=QUIET_CATEGORY,
            label=f"{held.label} (tanpa tombol)",
            priority=policy.silent_priority,
        )
        sop = replace(sop, categories={**sop.categories, QUIET_CATEGORY: quiet})
        first = replace(first, on_silence=replace(first.on_silence, category=QUIET_CATEGORY))
    if policy.key1_direct:
        first = replace(first, options={**first.options, "1": Target(category=general)})
    edited = replace(flow, nodes={**flow.nodes, flow.start: first})
    findings = safety_findings(edited)
    # Judged against the shipped flow under the same prompt timings (estimates may be longer than the
    # built audio): the edit must not put any path over the budget that was within it.
    slow_before = {path.steps for path in over_budget(flow, timed_paths(flow, base.sop, timings))}
    slow = [path for path in over_budget(edited, timed_paths(edited, sop, timings)) if path.steps not in slow_before]
    if findings or slow:
        problems = [finding.message for finding in findings] + [path.describe() for path in slow]
        raise PolicyError(f"policy '{policy.name}' fails ivr check: {'; '.join(problems)}")
    return replace(base, flows={**base.flows, SCRIPT: edited}, sop=sop)
