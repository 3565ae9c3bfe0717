"""`ivr up` as a center runs it, with faults injected by the test: Asterisk killed, a corrupt store,
a second `ivr up` on the same ports. Whatever happens to our service, Asterisk keeps answering 112."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from ivr.asterisk import process
from ivr.settings import Settings
from ivr.store.calls import CallStore
from tests.integration.conftest import free_port, given_root, until


@dataclass
class Up:
    root: Path
    env: dict[str, str]
    child: asyncio.subprocess.Process
    settings: Settings

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.env['IVR_WEB_PORT']}/healthz"


def _health(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def given_healthy(up: Up, timeout: float = 60.0) -> dict[str, object]:
    """Poll /healthz until it answers 200 (AMI ready, store healthy), with a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: object = None
    while loop.time() < deadline:
        assert up.child.returncode is None, f"ivr up exited with {up.child.returncode}"
        try:
            status, body = await asyncio.to_thread(_health, up.health_url)
        except OSError as error:
            last = error
        else:
            last = body
            if status == 200:
                return body
        await asyncio.sleep(0.3)
    raise AssertionError(f"ivr up never became healthy: {last}")


def up_env() -> dict[str, str]:
    ports = {
        name: str(free_port())
        for name in ("IVR_AGI_PORT", "IVR_WEB_PORT", "IVR_AMI_PORT", "IVR_SIP_PORT", "IVR_WSS_PORT")
    }
    return {**{k: v for k, v in os.environ.items() if k != "IVR_SIM_OPERATORS"}, **ports}


async def start_ivr(
    root: Path, env: dict[str, str], *args: str, stderr: int = asyncio.subprocess.PIPE
) -> asyncio.subprocess.Process:
    """`ivr --root ROOT --log-format json ARGS…` in its own process, as a center (or systemd) runs it."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ivr",
        "--root",
        str(root),
        "--log-format",
        "json",
        *args,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=stderr,
    )


@asynccontextmanager
async def running_up(tmp_path: Path, *extra: str, before: object = None) -> AsyncIterator[Up]:
    root = given_root(tmp_path / "siaga")
    if callable(before):
        before(root)
    env = up_env()
    # Nobody reads its stderr while the test runs: DEVNULL, or a full pipe would stall `ivr up`.
    child = await start_ivr(root, env, "up", *extra, stderr=asyncio.subprocess.DEVNULL)
    settings = Settings.load(root)
    up = Up(root, env, child, settings)
    try:
        yield up
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(child.wait(), 20)
            except TimeoutError:
                child.kill()
                await child.wait()
        # Whatever the test did, leave no Asterisk behind.
        stopped = process.stop(Settings.load(root))
        assert not stopped or child.returncode != 0, "ivr up left the Asterisk it started running after Ctrl-C"


def ivr_call(up: Up, *keys: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "ivr", "--root", str(up.root), "call", "--json", "--timeout", "30", "--press", *keys],
        env=up.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout)
    return result


async def test_a_killed_asterisk_is_restarted_and_the_line_answers_again(tmp_path: Path) -> None:
    """kill -9 of Asterisk under `ivr up --demo`: a new Asterisk answers, and a fire call reaches Damkar."""
    async with running_up(tmp_path, "--demo") as up:
        await given_healthy(up)
        leader = process.running_pid(up.settings)
        assert leader is not None
        asterisk = process._asterisk_pid(leader)
        assert asterisk is not None
        os.kill(asterisk, signal.SIGKILL)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while process.running_pid(up.settings) in (None, leader):
            assert loop.time() < deadline, "Asterisk was not restarted within 30 s"
            await asyncio.sleep(0.2)
        await given_healthy(up)
        result = await asyncio.to_thread(ivr_call, up, "1", "1")
        assert (result["queue"], result["answered"]) == ("q-damkar", True), result
        # ivr serve folds Asterisk's queue_log into its store by itself: who answered, after how long.
        store = CallStore(up.settings.store_file)
        try:
            row = await until(
                lambda: (found := store.get(f"{result['channel']}-in")) and found["queue_outcome"] and found, timeout=20
            )
        finally:
            store.close()
        assert (row["outcome"], row["queue_outcome"]) == ("routed", "answered")


async def test_a_corrupt_store_costs_history_not_the_service(tmp_path: Path) -> None:
    """Garbage in the store file: `ivr up` starts anyway, moves it aside, and /healthz is green."""

    def corrupt(root: Path) -> None:
        (root / "var").mkdir()
        (root / "var" / "siaga112.sqlite3").write_bytes(b"\x00garbage" * 512)

    async with running_up(tmp_path, before=corrupt) as up:
        body = await given_healthy(up)
        assert body["store"] == {"healthy": True, "spooled": 0, "dropped": 0, "last_error": ""}
        assert list((up.root / "var").glob("siaga112.sqlite3.corrupt-*"))


async def test_a_second_ivr_up_that_fails_leaves_asterisk_answering(tmp_path: Path) -> None:
    """A second `ivr up` on the same ports fails (port in use) and exits 1, but stops nothing."""
    async with running_up(tmp_path) as up:
        await given_healthy(up)
        leader = process.running_pid(up.settings)
        second = await start_ivr(up.root, up.env, "up")
        _, err = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 1, err.decode()[-2000:]
        assert "keeps answering 112" in err.decode()
        assert process.running_pid(up.settings) == leader
        await given_healthy(up)


async def test_asterisk_run_is_asterisk_in_the_foreground_for_systemd(tmp_path: Path) -> None:
    """`ivr asterisk run` (what siaga-asterisk.service starts) becomes the Asterisk process itself:
    the pid file names it, AMI answers, and when it dies the line's state says so at once."""
    root = given_root(tmp_path / "siaga")
    env = up_env()
    child = await start_ivr(root, env, "asterisk", "run", stderr=asyncio.subprocess.DEVNULL)
    settings = Settings.load(root)
    try:
        status = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "ivr", "--root", str(root), "asterisk", "status"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while status.returncode != 0:
            assert child.returncode is None and loop.time() < deadline, status.stdout
            await asyncio.sleep(0.3)
            status = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "ivr", "--root", str(root), "asterisk", "status"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        assert process.running_pid(settings) == child.pid
        child.kill()
        await child.wait()
        # No Asterisk may outlive the process its supervisor watches (it would hold the ports).
        deadline = loop.time() + 5
        while process._group_alive(child.pid):
            assert loop.time() < deadline, "an orphaned Asterisk outlived `ivr asterisk run`"
            await asyncio.sleep(0.1)
        assert process.running_pid(settings) is None
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        process.stop(settings)


async def test_a_bad_yaml_edit_does_not_keep_asterisk_from_starting(tmp_path: Path) -> None:
    """After a good render, an admin breaks dialplan/112.yaml; Asterisk then crashes or the host
    reboots: `ivr asterisk run` starts Asterisk on the last good rendering and says so."""
    root = given_root(tmp_path / "siaga")
    env = up_env()
    rendered = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "ivr", "--root", str(root), "render"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    flow = root / "dialplan" / "112.yaml"
    flow.write_text(flow.read_text().replace("start: utama", "start: nowhere"))
    child = await start_ivr(root, env, "asterisk", "run")
    settings = replace(Settings.load(root), ami_port=int(env["IVR_AMI_PORT"]))
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not (await asyncio.to_thread(process.status, settings)).ready:
            assert child.returncode is None, "ivr asterisk run exited on a bad YAML edit"
            assert loop.time() < deadline, "Asterisk never became ready"
            await asyncio.sleep(0.3)
        assert process.running_pid(settings) == child.pid
    finally:
        if child.returncode is None:
            child.kill()
        _, err = await child.communicate()
        process.stop(settings)
    assert "config_invalid_starting_on_last_good_render" in err.decode()
