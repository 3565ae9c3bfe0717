"""What the service's logs say when stopping hangs."""

from __future__ import annotations

import threading

from structlog.testing import capture_logs

from ivr.logs import report_slow_shutdown


def _stuck_in_a_blocking_call(release: threading.Event) -> None:
    release.wait(10)


def test_a_slow_shutdown_says_where_each_thread_is() -> None:
    release = threading.Event()
    worker = threading.Thread(target=_stuck_in_a_blocking_call, args=(release,), name="stuck-worker")
    worker.start()
    try:
        with capture_logs() as logs:
            timer = report_slow_shutdown(after=0.05)
            timer.join(5)
    finally:
        release.set()
        worker.join()
    [event] = [entry for entry in logs if entry["event"] == "shutdown_slow"]
    [stack] = [text for name, text in event["threads"].items() if name.startswith("stuck-worker")]
    assert "_stuck_in_a_blocking_call" in stack
