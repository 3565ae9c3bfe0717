"""bench/run_surge.py --syscalls: reading `perf stat -x ,` (what Asterisk's threads did per call)."""

from __future__ import annotations

import pytest

from bench.run_surge import perf_counts

# As perf 6.x prints it for `perf stat -x , -e raw_syscalls:sys_enter,sched:sched_switch,syscalls:sys_enter_tgkill`.
PRINTED = """109,,raw_syscalls:sys_enter,1266986,100.00,,
2,,sched:sched_switch,1266986,100.00,,
0,,syscalls:sys_enter_tgkill,1266986,100.00,,
"""


def test_each_counter_is_read_by_its_event_name() -> None:
    assert perf_counts(PRINTED) == {"syscalls": 109, "switches": 2, "tgkills": 0}


def test_a_counter_perf_could_not_count_fails_the_run_instead_of_reading_as_zero() -> None:
    """A tracepoint perf cannot open prints <not counted>: the bench stops rather than report a count it lacks."""
    printed = PRINTED.replace("0,,syscalls:sys_enter_tgkill", "<not counted>,,syscalls:sys_enter_tgkill")
    with pytest.raises(SystemExit, match="no counts"):
        perf_counts(printed)
