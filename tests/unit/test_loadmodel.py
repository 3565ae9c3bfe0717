"""The load model's simulation (bench/loadmodel) on the shipped configuration, in a few model hours:
invariants that must hold whatever the figures in model.yaml, so the bench cannot rot."""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest

from bench.loadmodel.engine import Arrivals, Caller, CallResult, LineSimulation
from bench.loadmodel.model import Model, ModelError, load_model
from bench.loadmodel.policies import policy_config
from ivr.config import Config, load_config
from ivr.flow.analysis import timed_paths
from ivr.prompts.build import PromptTiming, estimate

REPO = Path(__file__).resolve().parents[2]
MODEL_FILE = REPO / "bench" / "loadmodel" / "model.yaml"


@cache
def _shipped() -> tuple[Config, dict[tuple[str, str], PromptTiming]]:
    config = load_config(REPO)
    return config, estimate(config.prompts)


def given_model() -> Model:
    """The shipped model, without warm-up days: one model day is the whole run."""
    return replace(load_model(MODEL_FILE), warmup_days=0)


def given_run(policy: str, scenario: str, seed: int = 7, central: int | None = None) -> list[CallResult]:
    model = given_model()
    config, timings = _shipped()
    chosen = model.policies[policy]
    simulation = LineSimulation(
        model, model.scenarios[scenario], chosen, policy_config(config, chosen, timings), timings, seed, 1, central
    )
    run = simulation.run()
    assert all(queue.waiting == 0 for queue in simulation.queues.values()), "callers left in a queue"
    return run.results


def test_every_genuine_caller_reaches_a_human_or_is_counted_abandoned() -> None:
    """Under a surge with one call-taker, each genuine call ends answered or abandoned, never neither or both."""
    results = given_run("shipped", "surge20", central=1)
    genuine = [result for result in results if result.caller.kind == "genuine"]
    assert any(result.abandoned for result in genuine) and any(result.to_human is not None for result in genuine)
    for result in genuine:
        assert (result.to_human is None) == bool(result.abandoned), result
    redials = [result for result in genuine if result.caller.attempt > 1]
    assert {result.caller.incident for result in redials} <= {
        result.caller.incident for result in genuine if result.abandoned
    }


def test_the_same_seed_gives_the_same_run() -> None:
    """Seed determinism: one seed, one history of calls; another seed, another."""

    def summary(results: list[CallResult]) -> list[tuple[str, float, str, float | None]]:
        return [(r.caller.number, round(r.caller.arrival, 6), r.abandoned, r.to_human) for r in results]

    first = summary(given_run("triage", "surge10", seed=3))
    assert first == summary(given_run("triage", "surge10", seed=3))
    assert first != summary(given_run("triage", "surge10", seed=4))


def test_higher_priority_waits_less_in_the_central_queue_under_load() -> None:
    """Asterisk's QUEUE_PRIO under a surge with one call-taker: callers at the emergency priorities wait less
    than those queued below them (silent lines, flagged numbers)."""
    results = given_run("silent8", "surge20", central=1)

    def queue_waits(top: bool) -> list[float]:
        # Answered or not: a caller who gave up waited too (answered waits alone favour the impatient).
        return [r.queue_wait for r in results if r.queues and r.queues[-1] == "q112" and (r.priority >= 9) == top]

    urgent, below = queue_waits(True), queue_waits(False)
    assert len(urgent) > 10 and len(below) > 10, (len(urgent), len(below))
    assert sum(urgent) / len(urgent) < sum(below) / len(below) / 2


def test_the_darurat_path_takes_the_time_ivr_check_gives_it() -> None:
    """A caller pressing 1 then 1 spends in the simulated menu what `ivr check` times for that path."""
    config, timings = _shipped()
    flow = config.flows["112"]
    checked = {
        tuple(step.choice for step in path.steps): path.seconds for path in timed_paths(flow, config.sop, timings)
    }
    results = given_run("shipped", "normal")
    fire = [result for result in results if result.pressed == "11" and not result.abandoned]
    assert fire and {result.category for result in fire} == {"kebakaran"}
    for result in fire:
        assert result.ivr_seconds == pytest.approx(checked[("1", "1")], abs=0.01)


def test_key1_when_free_skips_the_darurat_menu_only_while_a_call_taker_is_free() -> None:
    """Policy key1free under a surge with one call-taker: some callers who press 1 go straight to the
    call-takers (in the menu exactly what `ivr check` times for key 1 alone), others hear the darurat
    sub-menu because the call-taker was busy or someone waited."""
    model = given_model()
    config, timings = _shipped()
    direct_flow = policy_config(config, model.policies["key1"], timings).flows["112"]
    direct_time = {
        tuple(step.choice for step in path.steps): path.seconds
        for path in timed_paths(direct_flow, config.sop, timings)
    }[("1",)]
    results = given_run("key1free", "surge20", central=1)
    direct = [r for r in results if r.pressed == "1" and r.ivr_seconds == pytest.approx(direct_time, abs=0.01)]
    sub_menu = [r for r in results if len(r.pressed) == 2 and r.pressed.startswith("1")]
    assert direct and sub_menu, (len(direct), len(sub_menu))
    assert {r.category for r in direct} == {"darurat-umum"}


def test_a_typo_in_the_model_is_reported_at_its_line(tmp_path: Path) -> None:
    """An analyst's typo: file:line:col, the dotted path, and the key they meant."""
    text = MODEL_FILE.read_text()
    assert "    talk: {mean: 15, cv: 0.3}\n" in text
    broken = tmp_path / "model.yaml"
    broken.write_text(text.replace("    talk: {mean: 15, cv: 0.3}\n", "    talc: {mean: 15, cv: 0.3}\n", 1))
    line = text.splitlines().index("    talk: {mean: 15, cv: 0.3}") + 1
    with pytest.raises(ModelError) as raised:
        load_model(broken, "model.yaml")
    messages = [str(problem) for problem in raised.value.problems]
    assert f"model.yaml:{line}:5: kinds.ghost.talc: unknown key (did you mean 'talk'?)" in messages


def test_numbers_of_draws_genuine_callers_from_a_junk_pool_and_leaves_the_other_callers_as_they_were() -> None:
    """numbers_of: that share of genuine calls comes from the ghost pool's numbers; every other call keeps
    its number and time, so turning it off changes nothing else."""
    model = given_model()
    genuine = model.kinds["genuine"]

    def callers(borrowed: dict[str, float]) -> list[Caller]:
        kinds = {**model.kinds, "genuine": replace(genuine, numbers=replace(genuine.numbers, borrowed=borrowed))}
        return Arrivals(replace(model, kinds=kinds), model.scenarios["surge20"], 7, 1).first_calls()

    every, none = callers({"ghost": 1.0}), callers({})
    ghost_numbers = {c.number for c in none if c.kind == "ghost"}
    assert all(c.number.startswith("0811") for c in every if c.kind == "genuine")
    assert any(c.number in ghost_numbers for c in every if c.kind == "genuine")
    assert not any(c.number.startswith("0811") for c in none if c.kind == "genuine")
    assert [(c.number, c.arrival) for c in every if c.kind != "genuine"] == [
        (c.number, c.arrival) for c in none if c.kind != "genuine"
    ]
