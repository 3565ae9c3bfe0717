"""The line in model time (SimPy): callers from the load model through our real flow, routing and triage.

- The menu is ``ivr.flow.engine.FlowEngine`` on the shipped (or the policy's) flow. Its channel is the
  scripted caller of ``ivr simulate`` (a key as soon as the prompt has announced it, plus the flow's
  reaction time: the timing model of ``ivr check``); each play and wait spends that time in SimPy.
- The route is ``ivr.routing.decide`` with the live state of the simulated queues, and again on each
  overflow with the steps tried, keeping the caller's priority (as ``ivr.service`` does).
- Triage is ``ivr.routing.triage.assess`` on each number's history of operator dispositions, recording
  the flags it raises; a flagged caller hears the warning prompt before queueing.
- Asterisk's queues are priority queues, first come first served within a priority; a queue's
  operators take its calls only. A call waits until an operator is free, its step's max_wait runs
  out (next step), or the caller's patience does (abandoned).

Callers are drawn per attempt from the seed alone, so every policy meets the same callers.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import random
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Any

import simpy

from bench.loadmodel.model import JUNK, KINDS, RANDOM_KEY, KeyChoice, Model, Policy, Scenario
from ivr.config import Config
from ivr.config.flow import MenuNode
from ivr.config.sop import CATEGORY
from ivr.flow.engine import FlowEngine, FlowResult
from ivr.flow.simulate import ScriptedChannel
from ivr.prompts.build import PromptTiming
from ivr.routing.decide import Decision, QueueState, Standing, decide, fallback_decision
from ivr.routing.triage import CallerHistory, Flag, assess

DAY = 86400.0
HOUR = 3600.0
# What the operator closes each kind of call as (ivr.routing.triage.DISPOSITIONS).
DISPOSITION = {"genuine": "genuine", "informasi": "info", "prank": "prank", "ghost": "silent"}
# Number prefixes per kind, so a pool's numbers never meet another kind's.
_NUMBER_PREFIX = {"ghost": "0811", "prank": "0812", "informasi": "0813", "genuine": "0814"}


@dataclass(frozen=True)
class Caller:
    """One call attempt: everything about the caller, drawn before the run."""

    incident: int
    attempt: int  # 1 for the first call, 2 for the first redial, ...
    kind: str
    number: str
    arrival: float  # model seconds from the first day's midnight, when Asterisk answers
    keys: str
    patience: float
    talk: float
    answer_delay: float
    warning_draw: float  # hangs up at the prank warning when below the kind's share
    measured: bool


@dataclass
class CallResult:
    caller: Caller
    ivr_seconds: float = 0.0
    category: str = ""
    priority: int = 0
    pressed: str = ""
    flagged: bool = False
    queues: list[str] = field(default_factory=list)
    to_human: float | None = None  # seconds from Asterisk's answer to an operator's
    queue_wait: float = 0.0  # seconds in the last queue, until an operator answered or the caller gave up
    abandoned: str = ""  # "", "menu", "warning" or "queue"
    operator_seconds: float = 0.0  # ring (answer_delay), talk and wrap-up
    wrapup_seconds: float = 0.0


@dataclass
class _Waiter:
    priority: int
    served: simpy.Event
    cancelled: bool = False


class SimQueue:
    """One Asterisk queue: callers by priority (higher first), first come first served within one."""

    def __init__(self, env: simpy.Environment, name: str, operators: int) -> None:
        self.env = env
        self.name = name
        self.members = operators
        self.free = list(range(operators))  # longest idle first (rrmemory, as far as it matters)
        self._heap: list[tuple[int, int, _Waiter]] = []
        self._order = itertools.count()
        self.waiting = 0

    def join(self, priority: int) -> _Waiter:
        waiter = _Waiter(priority, self.env.event())
        if self.free:
            waiter.served.succeed(self.free.pop(0))
            return waiter
        heapq.heappush(self._heap, (-priority, next(self._order), waiter))
        self.waiting += 1
        return waiter

    def leave(self, waiter: _Waiter) -> None:
        waiter.cancelled = True
        self.waiting -= 1

    def release(self, operator: int) -> None:
        while self._heap:
            _, _, waiter = heapq.heappop(self._heap)
            if not waiter.cancelled:
                self.waiting -= 1
                waiter.served.succeed(operator)
                return
        self.free.append(operator)

    def state(self) -> QueueState:
        # What ivr.ami.live reports: every member logged in and not paused (ready), those serving a caller
        # (talk and wrap-up) on a call. Routing decides what that means (the category's skip_busy).
        return QueueState(self.name, self.members, self.members, self.waiting, self.members - len(self.free))


class _Elapse:
    """What the channel awaits: the SimPy process driving the engine spends ``seconds``, then resumes it."""

    def __init__(self, seconds: float, outcome: str) -> None:
        self.seconds = seconds
        self.outcome = outcome

    def __await__(self) -> Generator[_Elapse, None, str]:
        yield self
        return self.outcome


class _Diverted(Exception):
    """The policy took the caller out of the menu before ``prompt`` (``key1_when_free``)."""


@dataclass
class ModelChannel:
    """The engine's ``Channel`` in model time: the scripted caller of ``ivr simulate`` says how long.
    ``divert``: asked before each prompt; True ends the menu there (_Diverted)."""

    caller: ScriptedChannel
    divert: Callable[[str], bool] | None = None

    async def play(self, prompt: str, language: str, escape_keys: str) -> str:
        if self.divert is not None and self.divert(prompt):
            raise _Diverted(prompt)
        before = self.caller.clock
        key = await self.caller.play(prompt, language, escape_keys)
        return await _Elapse(self.caller.clock - before, key)

    async def wait_key(self, seconds: float) -> str:
        before = self.caller.clock
        key = await self.caller.wait_key(seconds)
        return await _Elapse(self.caller.clock - before, key)


def _choose_keys(choices: tuple[KeyChoice, ...], rng: random.Random) -> str:
    keys = rng.choices([choice.keys for choice in choices], weights=[choice.weight for choice in choices])[0]
    return "".join(rng.choice("0123456789") if key == RANDOM_KEY else key for key in keys)


@dataclass(frozen=True)
class Arrivals:
    """The callers of a run: first attempts drawn hour by hour; redials drawn when a caller gives up."""

    model: Model
    scenario: Scenario
    seed: int
    days: int

    def first_calls(self) -> list[Caller]:
        rng = random.Random(f"{self.seed}:arrivals")
        pools = {name: self._pool_weights(name) for name in KINDS}
        callers: list[Caller] = []
        incident = itertools.count(1)
        for day in range(self.model.warmup_days + self.days):
            measured_day = day >= self.model.warmup_days
            for hour in range(24):
                surge = self.scenario.surge if measured_day and self.scenario.surge else None
                in_surge = surge is not None and surge.hour == hour
                if surge is not None and in_surge:
                    rate, mix = surge.multiplier * self.model.peak_hour_rate, surge.mix
                else:
                    rate, mix = self.model.hourly_rate(hour, self.scenario.load), self.scenario.mix
                shares = self.model.mixes[mix].shares
                measured = measured_day and (self.scenario.surge is None or in_surge)
                start = day * DAY + hour * HOUR
                at = start + rng.expovariate(rate / HOUR) if rate > 0 else start + HOUR
                while at < start + HOUR:
                    kind = rng.choices(list(shares), weights=list(shares.values()))[0]
                    case = next(incident)
                    number = self._borrowed(kind, case, pools) or self._number(kind, case, pools[kind], rng)
                    callers.append(self.attempt(kind, case, 1, number, at, mix, measured))
                    at += rng.expovariate(rate / HOUR)
        return callers

    def _pool_weights(self, kind: str) -> list[float]:
        numbers = self.model.kinds[kind].numbers
        return list(itertools.accumulate((n + 1) ** -numbers.zipf for n in range(numbers.pool)))

    def _borrowed(self, kind: str, incident: int, pools: Mapping[str, list[float]]) -> str:
        """A number of another kind's pool for this call (model.yaml's numbers_of), or ''. Its own random
        stream: the callers of every other call stay those of a model without numbers_of."""
        borrowed = self.model.kinds[kind].numbers.borrowed
        if not borrowed:
            return ""
        rng = random.Random(f"{self.seed}:{incident}:borrowed")
        draw = rng.random()
        for owner, share in borrowed.items():
            if draw < share and pools[owner]:
                return self._number(owner, incident, pools[owner], rng)
            draw -= share
        return ""

    def _number(self, kind: str, incident: int, cumulative: list[float], rng: random.Random) -> str:
        if not cumulative:
            return f"{_NUMBER_PREFIX[kind]}{incident:08d}"
        index = bisect.bisect_left(cumulative, rng.random() * cumulative[-1])
        return f"{_NUMBER_PREFIX[kind]}{index:08d}"

    def attempt(
        self, kind: str, incident: int, attempt: int, number: str, arrival: float, mix: str, measured: bool
    ) -> Caller:
        # Seeded by the attempt alone: the same caller whichever policy runs and whatever came before.
        rng = random.Random(f"{self.seed}:{number}:{arrival:.6f}:{attempt}")
        behaviour = self.model.kinds[kind]
        keys = self.model.mixes[mix].keys.get(kind, behaviour.keys)
        return Caller(
            incident=incident,
            attempt=attempt,
            kind=kind,
            number=number,
            arrival=arrival,
            keys=_choose_keys(keys, rng),
            patience=behaviour.patience.draw(rng),
            talk=behaviour.talk.draw(rng),
            answer_delay=self.model.answer_delay.draw(rng),
            warning_draw=rng.random(),
            measured=measured,
        )

    def redial(self, caller: Caller, mix: str) -> Caller | None:
        redial = self.model.kinds[caller.kind].redial
        rng = random.Random(f"{self.seed}:{caller.number}:{caller.arrival:.6f}:{caller.attempt}:redial")
        if caller.attempt >= redial.max_calls or rng.random() >= redial.probability:
            return None
        again = caller.arrival + redial.delay.draw(rng)
        return self.attempt(
            caller.kind, caller.incident, caller.attempt + 1, caller.number, again, mix, caller.measured
        )


@dataclass
class Run:
    policy: str
    results: list[CallResult]
    flags_raised: int
    central_busy_seconds: float
    model_seconds: float


class LineSimulation:
    def __init__(
        self,
        model: Model,
        scenario: Scenario,
        policy: Policy,
        config: Config,
        timings: Mapping[tuple[str, str], PromptTiming],
        seed: int,
        days: int,
        central_operators: int | None = None,
    ) -> None:
        self.model = model
        self.scenario = scenario
        self.policy = policy
        self.config = config
        self.sop = config.sop
        self.flow = config.flows["112"]
        self.timings = dict(timings)
        self.arrivals = Arrivals(model, scenario, seed, days)
        self.env = simpy.Environment()
        self.midnight = datetime.combine(model.start_date, time(0), tzinfo=self.sop.zone())
        central = self.sop.central_queue.name
        central_agency = self.sop.agency_of(central)
        staff = {
            name: sum(1 for op in self.sop.operators.values() if name in op.queues and op.agency != central_agency.name)
            for name in self.sop.queues
            if name != central and central_agency is not None
        }
        pooled = sum(staff.values()) if policy.pooled else 0
        self.queues = {central: SimQueue(self.env, central, (central_operators or model.central_operators) + pooled)}
        for name, count in staff.items():
            self.queues[name] = SimQueue(self.env, name, 0 if policy.pooled else count)
        self.histories: dict[str, tuple[list[tuple[datetime, str]], list[Flag]]] = {}
        first = self.flow.nodes[self.flow.start]
        key1 = first.options["1"].node if isinstance(first, MenuNode) else ""
        self._key1_prompt = self.flow.nodes[key1].prompt if key1 else ""
        self._general = first.on_silence.category if isinstance(first, MenuNode) else ""
        self.results: list[CallResult] = []
        self.central_busy = 0.0

    def run(self) -> Run:
        for caller in self.arrivals.first_calls():
            self.env.process(self._call(caller))
        self.env.run()
        flags = sum(len(flags) for _, flags in self.histories.values())
        return Run(self.policy.name, self.results, flags, self.central_busy, self.env.now)

    def _now(self) -> datetime:
        return self.midnight + timedelta(seconds=self.env.now)

    def _live(self) -> dict[str, QueueState]:
        return {name: queue.state() for name, queue in self.queues.items()}

    def _call(self, caller: Caller) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(max(0.0, caller.arrival - self.env.now))
        result = CallResult(caller)
        self.results.append(result)
        start = self.env.now
        deadline = start + caller.patience
        decision, standing = fallback_decision(self.sop, "", "no menu: one queue, first come first served"), None
        if self.policy.menu:
            menu = yield from self._menu(caller, deadline)
            if menu is None:
                yield from self._gave_up(result, "menu")
                return
            result.pressed = menu.keys
            standing = self._standing(caller) if self.policy.triage else Standing()
            result.flagged = standing.flagged
            decision = decide(menu.category, self.sop, self._now(), self._live(), standing)
            if decision.warn:
                warned = yield from self._warning(caller, menu.language, deadline)
                if not warned:
                    yield from self._gave_up(result, "warning" if self.env.now < deadline else "menu")
                    return
        result.ivr_seconds = self.env.now - start
        result.category, result.priority = decision.category, decision.priority
        operator = None
        while operator is None:
            if decision.action != "queue":  # a bridge: modelled as never answered, on to the next step
                yield self.env.timeout(min(decision.timeout, max(0.0, deadline - self.env.now)))
            else:
                queue = self.queues[decision.target]
                result.queues.append(queue.name)
                waiter = queue.join(decision.priority)
                joined = self.env.now
                limits = [waiter.served, self.env.timeout(max(0.0, deadline - self.env.now))]
                if decision.timeout:
                    limits.append(self.env.timeout(decision.timeout))
                yield self.env.any_of(limits)
                result.queue_wait = self.env.now - joined
                if waiter.served.triggered:
                    operator = (queue, waiter.served.value)
                    break
                queue.leave(waiter)
            if self.env.now >= deadline:
                yield from self._gave_up(result, "queue")
                return
            following = decide(decision.category, self.sop, self._now(), self._live(), tried=decision.tried)
            decision = replace(following, priority=decision.priority)
        yield from self._handled(result, decision, *operator, start)

    def _central_free(self, prompt: str) -> bool:
        """``key1_when_free``: the darurat sub-menu is skipped while a call-taker is free and nobody waits."""
        central = self.queues[self.sop.central_queue.name]
        return prompt == self._key1_prompt and bool(central.free) and central.waiting == 0

    def _menu(self, caller: Caller, deadline: float) -> Generator[simpy.Event, Any, FlowResult | None]:
        script = ScriptedChannel(caller.keys, self.timings, self.flow.default_language, self.flow.reaction_time)
        engine = FlowEngine(self.flow)
        steps = engine.run(ModelChannel(script, self._central_free if self.policy.key1_when_free else None))
        try:
            pending = steps.send(None)
            while True:
                if self.env.now + pending.seconds > deadline:
                    steps.close()
                    yield self.env.timeout(deadline - self.env.now)
                    return None
                yield self.env.timeout(pending.seconds)
                pending = steps.send(None)
        except StopIteration as done:
            finished: FlowResult = done.value
            return finished
        except _Diverted:
            return replace(engine.result, category=self._general, exit="selected")

    def _warning(self, caller: Caller, language: str, deadline: float) -> Generator[simpy.Event, Any, bool]:
        prompt = self.sop.prank.warning_prompt
        timing = self.timings.get((prompt, language)) or self.timings.get((prompt, self.flow.default_language))
        seconds = timing.seconds if timing else 0.0
        yield self.env.timeout(min(seconds, max(0.0, deadline - self.env.now)))
        return (
            self.env.now < deadline and caller.warning_draw >= self.model.kinds[caller.kind].flagged.hangs_up_at_warning
        )

    def _gave_up(self, result: CallResult, where: str) -> Generator[simpy.Event, Any, None]:
        result.abandoned = where
        result.ivr_seconds = result.ivr_seconds or self.env.now - result.caller.arrival
        caller = result.caller
        mix = self.scenario.mix
        surge = self.scenario.surge
        if surge is not None and caller.measured:
            mix = surge.mix
        again = self.arrivals.redial(caller, mix)
        if again is not None:
            self.env.process(self._call(again))
        yield from ()

    def _standing(self, caller: Caller) -> Standing:
        dispositions, flags = self.histories.setdefault(caller.number, ([], []))
        standing, new_flag = assess(CallerHistory(caller.number, dispositions, flags), self.sop.prank, self._now())
        if new_flag is not None:
            flags.append(new_flag)
        return standing

    def _handled(
        self, result: CallResult, decision: Decision, queue: SimQueue, operator: int, start: float
    ) -> Generator[simpy.Event, Any, None]:
        caller = result.caller
        answered = self.env.now
        yield self.env.timeout(caller.answer_delay)
        result.to_human = self.env.now - start
        behaviour = self.model.kinds[caller.kind]
        talk = caller.talk * (behaviour.flagged.talk_factor if result.flagged else 1.0)
        category = self.sop.categories.get(decision.category)
        default_wrapup = float(CATEGORY.default("wrapup_seconds"))
        wrapup = 0.0 if caller.kind in JUNK else (category.wrapup_seconds if category else default_wrapup)
        yield self.env.timeout(talk + wrapup)
        result.operator_seconds, result.wrapup_seconds = self.env.now - answered, wrapup
        if queue.name == self.sop.central_queue.name:
            self.central_busy += result.operator_seconds
        dispositions, _flags = self.histories.setdefault(caller.number, ([], []))
        dispositions.append((self.midnight + timedelta(seconds=start), DISPOSITION[caller.kind]))
        queue.release(operator)
