"""`ivr serve` as users run it (its own process, its own AMI connection) against the real Asterisk."""

from __future__ import annotations

import asyncio
import json
import signal
import urllib.request

from ivr.ami.client import AmiClient
from ivr.ami.testcall import place_call
from tests.integration.conftest import AgiSwitch, Stack, free_port, start_serve


def _get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as response:
        data: dict[str, object] = json.loads(response.read())
        return data


async def _stderr_until_exit(child: asyncio.subprocess.Process, seconds: float) -> bytes:
    """The child's whole stderr once it exits; if it does not within ``seconds``, fail with its last lines
    (what it was doing when the shutdown hung)."""
    assert child.stderr is not None
    err = bytearray()

    async def read_all() -> None:
        while chunk := await child.stderr.read(65536):  # type: ignore[union-attr]
            err.extend(chunk)
        await child.wait()

    try:
        await asyncio.wait_for(read_all(), seconds)
    except TimeoutError:
        child.kill()
        last_lines = err.decode()[-3000:]
        raise AssertionError(f"ivr serve still running {seconds} s after SIGTERM; last:\n{last_lines}") from None
    return bytes(err)


async def test_ivr_serve_routes_calls_reports_health_and_stops_cleanly(
    stack: Stack, agi: AgiSwitch, ami: AmiClient
) -> None:
    """The serve process answers FastAGI, keeps AMI ready through queue events, and exits 0 on SIGTERM;
    by default it logs no simulated operator in and says, per queue, that no real operator is there."""
    web_port = free_port()
    await agi.stop()
    child = await start_serve(stack, web_port, stderr=asyncio.subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{web_port}/healthz"

        async def healthy() -> bool:
            try:
                body = await asyncio.to_thread(_get_json, url)
            except OSError:
                return False
            return bool(body["ami"]["ready"])  # type: ignore[index]

        deadline = asyncio.get_running_loop().time() + 20
        while not await healthy():
            assert asyncio.get_running_loop().time() < deadline, "ivr serve never became healthy"
            await asyncio.sleep(0.2)
        report = await place_call(ami, "12", gap=1.0)
        assert (report.route["Category"], report.queue, report.answered) == ("kecelakaan", "q-psc119", True)
        assert await healthy(), "AMI in ivr serve did not survive the queue events of a call"
        child.send_signal(signal.SIGTERM)
        err = await _stderr_until_exit(child, 30)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        await agi.start_real()
    assert child.returncode == 0, err.decode()[-2000:]
    lines = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    assert not [line for line in lines if line.get("level") in ("error", "critical")], lines[-5:]
    assert not [line for line in lines if line.get("event") == "ami_connection_lost"]
    assert any(line.get("event") == "agi_call_end" and line.get("queue") == "q-psc119" for line in lines)
    # Production defaults: simulated operators only when asked (the test session logged its own in).
    assert not [line for line in lines if line.get("event") == "sim_operators_logged_in"]
    unstaffed = {line["queue"] for line in lines if line.get("event") == "queue_unstaffed"}
    assert unstaffed == set(stack.config.current().sop.queues), unstaffed
