"""The console's login throttle: free tries, then doubling waits up to a cap; success and time forgive."""

from __future__ import annotations

from ivr.operators.auth import (
    ADDRESS_FREE_FAILURES,
    FAILURE_WINDOW,
    FIRST_LOCK,
    FREE_FAILURES,
    MAX_LOCK,
    LoginThrottle,
)

BUDI = ("operator:budi", "address:10.0.0.7")
T0 = 1_800_000_000.0


def fail(throttle: LoginThrottle, times: int, keys: tuple[str, ...] = BUDI, at: float = T0) -> list[float]:
    return [throttle.failed(keys, at) for _ in range(times)]


def test_failures_below_the_threshold_cost_no_wait() -> None:
    """The first FREE_FAILURES - 1 wrong passwords impose no wait at all."""
    throttle = LoginThrottle()
    assert fail(throttle, FREE_FAILURES - 1) == [0.0] * (FREE_FAILURES - 1)
    assert throttle.retry_after(BUDI, T0) == 0.0


def test_the_threshold_failure_locks_for_the_first_wait() -> None:
    """The FREE_FAILURES-th failure locks the id for FIRST_LOCK seconds, then lifts; not yet its address."""
    throttle = LoginThrottle()
    fail(throttle, FREE_FAILURES - 1)
    assert throttle.failed(BUDI, T0) == FIRST_LOCK
    assert throttle.retry_after(BUDI, T0) == FIRST_LOCK
    assert throttle.retry_after(("operator:budi",), T0 + 1) == FIRST_LOCK - 1
    assert throttle.retry_after(("address:10.0.0.7",), T0 + 1) == 0.0
    assert throttle.retry_after(BUDI, T0 + FIRST_LOCK) == 0.0


def test_an_address_locks_after_its_own_larger_threshold() -> None:
    """A sprayer trying many ids from one address is locked at ADDRESS_FREE_FAILURES (a center's NAT is not at 5)."""
    throttle = LoginThrottle()
    waits = [throttle.failed((f"operator:x{n}", "address:10.0.0.9"), T0) for n in range(ADDRESS_FREE_FAILURES)]
    assert waits == [0.0] * (ADDRESS_FREE_FAILURES - 1) + [FIRST_LOCK]
    assert throttle.retry_after(("operator:someone-else", "address:10.0.0.9"), T0) == FIRST_LOCK


def test_each_further_failure_doubles_the_wait() -> None:
    """After the threshold: 2 s, 4 s, 8 s, 16 s."""
    throttle = LoginThrottle()
    fail(throttle, FREE_FAILURES - 1)
    assert fail(throttle, 4) == [FIRST_LOCK, FIRST_LOCK * 2, FIRST_LOCK * 4, FIRST_LOCK * 8]


def test_the_wait_is_capped() -> None:
    """However many failures, no wait is longer than MAX_LOCK."""
    throttle = LoginThrottle()
    waits = fail(throttle, FREE_FAILURES + 20)
    assert max(waits) == MAX_LOCK
    assert waits[-1] == MAX_LOCK
    assert throttle.retry_after(BUDI, T0) == MAX_LOCK


def test_success_clears_the_operator_not_the_address() -> None:
    """A right password clears that id's record; the address keeps its failures (a sprayer stays slowed)."""
    throttle = LoginThrottle()
    fail(throttle, ADDRESS_FREE_FAILURES)
    throttle.succeeded("operator:budi")
    assert throttle.retry_after(("operator:budi",), T0) == 0.0
    assert throttle.retry_after(("address:10.0.0.7",), T0) == FIRST_LOCK
    # The id starts over: one new failure is free again.
    assert throttle.failed(("operator:budi",), T0 + 10) == 0.0


def test_old_failures_are_forgotten() -> None:
    """Failures older than FAILURE_WINDOW do not count toward the threshold."""
    throttle = LoginThrottle()
    fail(throttle, FREE_FAILURES - 1, at=T0)
    assert throttle.failed(BUDI, T0 + FAILURE_WINDOW + 1) == 0.0
    assert throttle.retry_after(BUDI, T0 + FAILURE_WINDOW + 1) == 0.0


def test_failures_inside_the_window_still_count() -> None:
    """Failures spread over less than FAILURE_WINDOW add up (the window is not reset by each try)."""
    throttle = LoginThrottle()
    step = (FAILURE_WINDOW - 1) / FREE_FAILURES
    waits = [throttle.failed(BUDI, T0 + i * step) for i in range(FREE_FAILURES)]
    assert waits[-1] == FIRST_LOCK


def test_another_id_from_elsewhere_is_not_slowed() -> None:
    """Locking budi from one address does not slow ani from another address."""
    throttle = LoginThrottle()
    fail(throttle, FREE_FAILURES)
    assert throttle.retry_after(("operator:ani", "address:10.0.0.8"), T0) == 0.0


def test_memory_stays_bounded_under_a_spray_of_ids() -> None:
    """Ten thousand made-up ids: once their failures are old, the next failure drops their records."""
    throttle = LoginThrottle()
    for n in range(10_000):
        throttle.failed((f"operator:nobody{n}",), T0)
    throttle.failed(("operator:late",), T0 + FAILURE_WINDOW + 1)
    assert len(throttle._records) < 10  # private on purpose: memory is the behaviour under test
