"""The load model (``model.yaml``) as frozen, checked values; every error as ``file:line:col: path: message``.

Read with ``ivr.config.nodes`` (the same positioned reader as ``dialplan/`` and ``sop/``), so an
analyst's typo is reported like an admin's, all at once, with "did you mean".
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import yaml

from ivr.config.errors import Problems
from ivr.config.nodes import Node, load_file

KINDS = ("ghost", "prank", "informasi", "genuine")
JUNK = ("ghost", "prank")
# A caller's key: a digit, * or #, or "r" for a random digit (drawn per call).
KEY_CHARS = frozenset("0123456789*#r")
RANDOM_KEY = "r"
DEFAULT_MODEL = Path(__file__).with_name("model.yaml")


@dataclass(frozen=True)
class Dist:
    """minimum + a gamma draw with this mean and coefficient of variation (cv 0: the mean itself)."""

    mean: float
    cv: float = 0.0
    minimum: float = 0.0

    def draw(self, rng: random.Random) -> float:
        if self.mean <= 0:
            return self.minimum
        if self.cv <= 0:
            return self.minimum + self.mean
        shape = 1.0 / (self.cv * self.cv)
        return self.minimum + rng.gammavariate(shape, self.mean / shape)


@dataclass(frozen=True)
class KeyChoice:
    keys: str
    weight: float


@dataclass(frozen=True)
class Numbers:
    """Where a kind's caller numbers come from: a fresh one each call (pool 0), or a Zipf-weighted pool."""

    pool: int = 0
    zipf: float = 0.0
    # Per other kind, the share of this kind's calls made from a number of that kind's pool (a phone that
    # pocket-dials 112 may one day call it for a real emergency).
    borrowed: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Redial:
    probability: float = 0.0
    delay: Dist = field(default_factory=lambda: Dist(0.0))
    max_calls: int = 1


@dataclass(frozen=True)
class Flagged:
    """What a prank flag changes for this kind: the operator's time (the pop shows the flag) and
    whether the caller hangs up on the warning prompt."""

    talk_factor: float = 1.0
    hangs_up_at_warning: float = 0.0


@dataclass(frozen=True)
class Kind:
    name: str
    numbers: Numbers
    keys: tuple[KeyChoice, ...]
    patience: Dist
    talk: Dist
    flagged: Flagged = field(default_factory=Flagged)
    redial: Redial = field(default_factory=Redial)


@dataclass(frozen=True)
class Mix:
    name: str
    shares: dict[str, float]
    # Per kind, keys that replace the kind's own in this mix (a flood's callers press 'bencana').
    keys: dict[str, tuple[KeyChoice, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Surge:
    hour: int
    multiplier: float  # times the base day's peak hour
    mix: str


@dataclass(frozen=True)
class Scenario:
    name: str
    load: float  # times the base day, every hour
    mix: str
    surge: Surge | None = None


@dataclass(frozen=True)
class Policy:
    name: str
    menu: bool
    triage: bool
    silent_priority: int | None = None
    key1_direct: bool = False
    max_wait: int | None = None  # caps every category's max_wait (an SOP edit)
    skip_busy: bool | None = None  # sets every category's skip_busy (an SOP edit; None: as the SOP says)
    pooled: bool = False  # no menu: the agencies' operators answer the one queue too
    # Key 1 goes straight to the call-takers only while one of them is free and nobody waits for them
    # (the live state at the moment of the key); the darurat sub-menu otherwise.
    key1_when_free: bool = False


@dataclass(frozen=True)
class Model:
    file: str
    start_date: date
    warmup_days: int
    calls_per_day: float
    hourly_profile: tuple[float, ...]
    mixes: dict[str, Mix]
    kinds: dict[str, Kind]
    central_operators: int
    answer_delay: Dist
    scenarios: dict[str, Scenario]
    policies: dict[str, Policy]

    def hourly_rate(self, hour: int, load: float = 1.0) -> float:
        """Calls per hour in local hour ``hour`` of the base day times ``load``."""
        return self.calls_per_day * load * self.hourly_profile[hour] / sum(self.hourly_profile)

    @property
    def peak_hour_rate(self) -> float:
        return max(self.hourly_rate(hour) for hour in range(24))


class ModelError(ValueError):
    """The model file has problems; ``str()`` lists each as ``file:line:col: path: message``."""

    def __init__(self, problems: Problems) -> None:
        self.problems = sorted(problems.items)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def load_model(path: Path = DEFAULT_MODEL, display: str | None = None) -> Model:
    problems = Problems()
    top = load_file(path, display or str(path), problems)
    if top is None:
        raise ModelError(problems)
    model = _model(top, display or str(path))
    if problems.items:
        raise ModelError(problems)
    assert model is not None
    return model


def _model(top: Node, file: str) -> Model | None:
    found = top.fields(
        ("start_date", "arrivals", "mixes", "kinds", "operators", "scenarios", "policies"), ("warmup_days",)
    )
    if len(found) < 7:
        return None
    arrivals = found["arrivals"].fields(("calls_per_day", "hourly_profile"))
    per_day = arrivals["calls_per_day"].number(minimum=0) if "calls_per_day" in arrivals else 0.0
    profile: tuple[float, ...] = ()
    if "hourly_profile" in arrivals:
        hours = arrivals["hourly_profile"]
        profile = tuple(item.number(minimum=0) for item in hours.sequence())
        if hours.is_sequence() and len(profile) != 24:
            hours.error(f"expected 24 weights (local hours 00..23), got {len(profile)}")
        elif hours.is_sequence() and not any(profile):
            hours.error("every weight is 0: no call would ever arrive")
    kinds = {name: kind for name, at in found["kinds"].items() if (kind := _kind(name, at)) is not None}
    for missing in sorted(set(KINDS) - set(kinds)):
        found["kinds"].error(f"missing kind '{missing}' (every kind needs its behaviour)")
    mixes = {name: _mix(name, at) for name, at in found["mixes"].items()}
    operators = found["operators"].fields(("central", "answer_delay"))
    scenarios = {name: _scenario(name, at, mixes) for name, at in found["scenarios"].items()}
    policies = {name: _policy(name, at) for name, at in found["policies"].items()}
    return Model(
        file=file,
        start_date=_date(found["start_date"]),
        warmup_days=found["warmup_days"].integer(minimum=0, maximum=365) if "warmup_days" in found else 0,
        calls_per_day=per_day,
        hourly_profile=profile,
        mixes=mixes,
        kinds=kinds,
        central_operators=operators["central"].integer(minimum=1, maximum=500) if "central" in operators else 1,
        answer_delay=_dist(operators["answer_delay"]) if "answer_delay" in operators else Dist(0.0),
        scenarios=scenarios,
        policies=policies,
    )


def _date(at: Node) -> date:
    text = str(at.node.value) if isinstance(at.node, yaml.ScalarNode) else ""
    try:
        return date.fromisoformat(text)
    except ValueError:
        at.error(f"expected a date like 2026-02-02, got {at.kind()}")
        return date(2026, 1, 1)


def _dist(at: Node) -> Dist:
    found = at.fields(("mean",), ("cv", "minimum"))
    return Dist(
        mean=found["mean"].number(minimum=0) if "mean" in found else 0.0,
        cv=found["cv"].number(minimum=0, maximum=10) if "cv" in found else 0.0,
        minimum=found["minimum"].number(minimum=0) if "minimum" in found else 0.0,
    )


def _share(at: Node) -> float:
    return at.number(minimum=0, maximum=1)


def _keys(at: Node) -> tuple[KeyChoice, ...]:
    choices = []
    for item in at.sequence():
        found = item.fields(("keys", "weight"))
        keys = found["keys"].text() if "keys" in found else ""
        bad = sorted(set(keys) - KEY_CHARS)
        if bad:
            found["keys"].error(f"keys may hold 0-9, *, # and 'r' (a random digit), not {''.join(bad)!r}")
        weight = found["weight"].number(minimum=0) if "weight" in found else 0.0
        choices.append(KeyChoice(keys, weight))
    if at.is_sequence() and not any(choice.weight for choice in choices):
        at.error("needs at least one choice with a weight above 0")
    return tuple(choices)


def _kind(name: str, at: Node) -> Kind | None:
    if name not in KINDS:
        at.key(name).error(f"unknown kind (known: {', '.join(KINDS)})")
        return None
    found = at.fields(("numbers", "keys", "patience", "talk"), ("flagged", "redial", "numbers_of"))
    numbers = Numbers()
    if "numbers" in found:
        where = found["numbers"]
        if where.is_text() and where.text() == "fresh":
            numbers = Numbers()
        elif where.is_mapping():
            pool = where.fields(("pool", "zipf"))
            numbers = Numbers(
                pool["pool"].integer(minimum=1, maximum=10_000_000) if "pool" in pool else 1,
                pool["zipf"].number(minimum=0, maximum=5) if "zipf" in pool else 0.0,
            )
        else:
            where.error(f"expected 'fresh' or {{pool: N, zipf: S}}, got {where.kind()}")
    if "numbers_of" in found:
        borrowed = _kind_shares(found["numbers_of"], whole=False)
        if sum(borrowed.values()) > 1:
            found["numbers_of"].error(f"the shares sum to {sum(borrowed.values()):.3f}, more than 1")
        numbers = replace(numbers, borrowed=borrowed)
    flagged = Flagged()
    if "flagged" in found:
        parts = found["flagged"].fields((), ("talk_factor", "hangs_up_at_warning"))
        flagged = Flagged(
            parts["talk_factor"].number(minimum=0, maximum=10) if "talk_factor" in parts else 1.0,
            _share(parts["hangs_up_at_warning"]) if "hangs_up_at_warning" in parts else 0.0,
        )
    redial = Redial()
    if "redial" in found:
        parts = found["redial"].fields(("probability", "delay", "max_calls"))
        redial = Redial(
            _share(parts["probability"]) if "probability" in parts else 0.0,
            _dist(parts["delay"]) if "delay" in parts else Dist(0.0),
            parts["max_calls"].integer(minimum=1, maximum=20) if "max_calls" in parts else 1,
        )
    return Kind(
        name,
        numbers,
        _keys(found["keys"]) if "keys" in found else (),
        _dist(found["patience"]) if "patience" in found else Dist(0.0),
        _dist(found["talk"]) if "talk" in found else Dist(0.0),
        flagged,
        redial,
    )


def _kind_shares(at: Node, whole: bool = True) -> dict[str, float]:
    """Shares per kind; ``whole``: they must sum to 1."""
    shares = {}
    for kind, value in at.items():
        if kind not in KINDS:
            at.key(kind).error(f"unknown kind (known: {', '.join(KINDS)})")
            continue
        shares[kind] = _share(value)
    if whole and at.is_mapping() and abs(sum(shares.values()) - 1.0) > 0.01:
        at.error(f"the shares sum to {sum(shares.values()):.3f}, not 1")
    return shares


def _mix(name: str, at: Node) -> Mix:
    if at.get("shares") is None:
        return Mix(name, _kind_shares(at))
    found = at.fields(("shares",), ("keys",))
    keys: dict[str, tuple[KeyChoice, ...]] = {}
    for kind, value in found["keys"].items() if "keys" in found else ():
        if kind not in KINDS:
            found["keys"].key(kind).error(f"unknown kind (known: {', '.join(KINDS)})")
        keys[kind] = _keys(value)
    return Mix(name, _kind_shares(found["shares"]), keys)


def _mix_name(at: Node, mixes: dict[str, Mix]) -> str:
    name = at.text()
    if name and name not in mixes:
        at.error(f"unknown mix '{name}' (known: {', '.join(mixes)})")
    return name


def _scenario(name: str, at: Node, mixes: dict[str, Mix]) -> Scenario:
    found = at.fields(("load", "mix"), ("surge",))
    surge = None
    if "surge" in found:
        parts = found["surge"].fields(("hour", "multiplier", "mix"))
        if len(parts) == 3:
            surge = Surge(
                parts["hour"].integer(minimum=0, maximum=23),
                parts["multiplier"].number(minimum=0),
                _mix_name(parts["mix"], mixes),
            )
    return Scenario(
        name,
        found["load"].number(minimum=0) if "load" in found else 1.0,
        _mix_name(found["mix"], mixes) if "mix" in found else "",
        surge,
    )


def _policy(name: str, at: Node) -> Policy:
    found = at.fields(
        ("menu", "triage"), ("silent_priority", "key1_direct", "key1_when_free", "max_wait", "skip_busy", "pooled")
    )
    menu = found["menu"].boolean() if "menu" in found else True
    policy = Policy(
        name,
        menu,
        found["triage"].boolean() if "triage" in found else False,
        found["silent_priority"].integer(minimum=0, maximum=100) if "silent_priority" in found else None,
        found["key1_direct"].boolean() if "key1_direct" in found else False,
        found["max_wait"].integer(minimum=1, maximum=3600) if "max_wait" in found else None,
        found["skip_busy"].boolean() if "skip_busy" in found else None,
        found["pooled"].boolean() if "pooled" in found else False,
        found["key1_when_free"].boolean() if "key1_when_free" in found else False,
    )
    if menu and policy.pooled:
        at.error("pooled is for menu: false (one queue for everyone); with a menu the SOP's queues apply")
    edits = (policy.silent_priority, policy.max_wait, policy.skip_busy)
    routed = (policy.triage, policy.key1_direct, policy.key1_when_free, *(edit is not None for edit in edits))
    if not menu and any(routed):
        at.error("with menu: false there is no menu and no routing: the other keys of a policy need one")
    return policy
