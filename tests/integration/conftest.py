"""The real stack for integration tests: a real Asterisk 22 on a private copy of the configuration,
our FastAGI server in this process, and one AMI connection.

Nothing here skips: if Asterisk cannot be found or provisioned, the session fails with the reason.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, TypeVar

import pytest

from ivr import logs
from ivr.agi.protocol import Reply
from ivr.agi.server import AgiServer, AgiSession
from ivr.ami.client import AmiClient
from ivr.ami.dtmf import KeyLedger
from ivr.ami.live import LiveQueues
from ivr.ami.operators import login_sim_operators
from ivr.ami.testcall import CallReport, place_call
from ivr.asterisk import process
from ivr.asterisk.lastline import launcher_path
from ivr.asterisk.provision import find_or_provision
from ivr.asterisk.render import load_secrets, render, runtime_dirs
from ivr.config import load_config
from ivr.config.live import LiveConfig
from ivr.config.roster import Operator
from ivr.prompts.build import build_all
from ivr.routing.decide import fallback_priority
from ivr.service import CallService
from ivr.settings import Settings
from ivr.store.calls import CallStore
from ivr.store.reconcile import AsteriskRecords
from tests.ports import free_port

REPO = Path(__file__).resolve().parents[2]
# Longer than the test flow's longest session (9.2 s prompt + 4 s wait), short enough to test quickly.
AGI_SESSION_LIMIT = 18

T = TypeVar("T")


def given_root(target: Path, *, dialplan: Path | None = None, sop: Path | None = None) -> Path:
    """A private copy of the configuration (so tests may edit it), optionally with other flows/SOP."""
    for name, source in (("dialplan", dialplan), ("sop", sop), ("asterisk-config", None)):
        shutil.copytree(source or REPO / name, target / name)
    return target


SEATS = 2  # simulated operators logged in per queue


@functools.cache
def _shipped_fallback_priority() -> int:
    return fallback_priority(load_config(REPO).sop)


def fallback_route(agi_status: str) -> dict[str, str]:
    """The dialplan's route event for a caller it queued itself: the central queue at the priority of
    the shipped SOP's most urgent category (the priority the event reads back from the channel)."""
    return {"Action": "fallback", "AgiStatus": agi_status, "QueuePriority": str(_shipped_fallback_priority())}


@dataclass
class Stack:
    settings: Settings
    config: LiveConfig
    store: CallStore

    @property
    def second_agi_port(self) -> int:
        """The port of the second FastAGI service the dialplan tries (served only when a test does)."""
        return int(self.settings.agi_urls[1].rsplit(":", 1)[1])


def start_stack(root: Path, operators: Mapping[str, Operator] | None = None) -> Stack:
    """Prompts, rendered config and a running Asterisk for ``root``, on free ports.

    Two FastAGI services are rendered: ours (``agi_port``) and a second one (``Stack.second_agi_port``)
    that nothing serves unless a test starts it, so our service down means: the second refuses too,
    then the last line (the classic AGI script) takes the call.
    ``operators``: a roster to render phones for, in place of the one in ``root``'s SOP."""
    agi_port = free_port()
    settings = replace(
        Settings.load(root),
        agi_port=agi_port,
        fastagi_urls=(f"agi://127.0.0.1:{agi_port}", f"agi://127.0.0.1:{free_port()}"),
        ami_port=free_port(),
        sip_port=free_port(),
        web_port=free_port(),
        wss_port=free_port(),
        agi_session_limit=AGI_SESSION_LIMIT,
        sim_operators=SEATS,
    )
    config = load_config(root)
    build_all(config.prompts, settings.sounds_dir, root / "dialplan" / "recordings", runtime_dirs(settings)["moh_dir"])
    install = find_or_provision()
    sop = config.sop if operators is None else replace(config.sop, operators=dict(operators))
    conf = render(settings, sop, install)
    try:
        process.start(settings, install, conf, timeout=60)
    except Exception:
        print((settings.asterisk_dir / "log" / "console.log").read_text(errors="replace")[-4000:])
        raise
    return Stack(settings, LiveConfig(root, settings.sounds_dir), CallStore(settings.store_target))


def stop_stack(stack: Stack) -> None:
    process.stop(stack.settings)
    stack.store.close()
    messages = stack.settings.asterisk_dir / "log" / "messages.log"
    if messages.exists() and os.environ.get("IVR_TEST_DUMP_ASTERISK_LOG"):
        print(messages.read_text(errors="replace")[-20000:])


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The shipped configuration (a private copy that tests may edit)."""
    stack = start_stack(given_root(tmp_path_factory.mktemp("siaga")))
    try:
        yield stack
    finally:
        stop_stack(stack)


class AgiSwitch:
    """Owns the FastAGI port: the real service by default; tests may stop it or put another there."""

    def __init__(self, stack: Stack, live: LiveQueues, port: int | None = None) -> None:
        self.stack = stack
        self.live = live
        self.port = port or stack.settings.agi_port
        self.use_live_state = True  # a test may turn it off to exercise Asterisk's own joinempty rules
        # Every key callers press, from AMI, as `ivr serve` keeps it (the test account reads dtmf too).
        self.keys = KeyLedger(lambda: live.client.ready)
        live.client.on("DTMFEnd", self.keys.on_dtmf_end)
        live.client.on_ready(self.keys.on_login)
        self.service = CallService(
            stack.config.current,
            stack.settings.sounds_dir,
            stack.store,
            lambda: self.live.snapshot() if self.use_live_state else None,
            keys=self.keys,
        )
        self.server: AgiServer | None = None
        self.sessions: list[AgiSession] = []
        # Seconds our service waits before each command: a test's stand-in for a service under load.
        self.command_delay = 0.0

    async def _handle(self, session: AgiSession) -> None:
        self.sessions.append(session)
        await self.service.handle(SlowSession(session, self) if self.command_delay else session)

    async def start_real(self) -> None:
        await self.stop()
        self.server = AgiServer(self._handle, "127.0.0.1", self.port)
        await self.server.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None


class SlowSession:
    """A session whose every command waits ``switch.command_delay`` first (the gap keys fall into)."""

    def __init__(self, session: AgiSession, switch: AgiSwitch) -> None:
        self.session = session
        self.switch = switch
        self.env = session.env
        self.summary = session.summary

    @property
    def hung_up(self) -> bool:
        return self.session.hung_up

    @property
    def sent_at(self) -> float:
        return self.session.sent_at

    async def command(self, line: str, timeout: float = 30.0, last: bool = False) -> Reply:
        await asyncio.sleep(self.switch.command_delay)
        return await self.session.command(line, timeout, last)

    async def last_batch(
        self, lines: Sequence[str], timeout: float = 30.0, proceed: Callable[[], bool] | None = None
    ) -> list[Reply] | None:
        await asyncio.sleep(self.switch.command_delay)
        return await self.session.last_batch(lines, timeout, proceed)


async def start_serve(
    stack: Stack,
    web_port: int = 0,
    stderr: int | IO[bytes] = asyncio.subprocess.DEVNULL,
    agi_port: int | None = None,
    more_env: Mapping[str, str] | None = None,
) -> asyncio.subprocess.Process:
    """`ivr serve` as users run it, its own process, on the stack's ports (no simulated operators of its own);
    ``agi_port``: another FastAGI port (a second instance), ``more_env``: more settings (a shared store)."""
    env = {key: value for key, value in os.environ.items() if key != "IVR_SIM_OPERATORS"}
    env.update(more_env or {})
    env.update(
        IVR_AGI_PORT=str(agi_port or stack.settings.agi_port),
        IVR_WEB_PORT=str(web_port),
        IVR_AMI_PORT=str(stack.settings.ami_port),
        # A re-render by `ivr serve` (an SOP edit) must keep the stack's WSS port, not take the default.
        IVR_WSS_PORT=str(stack.settings.wss_port),
    )
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ivr",
        "--root",
        str(stack.settings.root),
        "serve",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=stderr,
    )


@contextmanager
def last_line_broken(stack: Stack) -> Iterator[None]:
    """The last line's launcher gone for the block: Asterisk finds no script (AGISTATUS NOTFOUND), so
    a call no FastAGI service routes is left to the dialplan alone."""
    launcher = launcher_path(stack.settings)
    hidden = launcher.with_name(launcher.name + ".hidden")
    launcher.rename(hidden)
    try:
        yield
    finally:
        hidden.rename(launcher)


@asynccontextmanager
async def serving_agi(stack: Stack, live: LiveQueues, port: int | None = None) -> AsyncIterator[AgiSwitch]:
    """Our FastAGI service for ``stack``, in this process, for as long as the block runs (on ``port``:
    the second service's)."""
    logs.configure("info", json=True)
    switch = AgiSwitch(stack, live, port)
    await switch.start_real()
    try:
        yield switch
    finally:
        await switch.stop()


@asynccontextmanager
async def connected_ami(stack: Stack, seats: int = SEATS) -> AsyncIterator[tuple[AmiClient, LiveQueues]]:
    """``seats`` simulated operators per queue (0: none, e.g. when a real phone must take the call)."""
    client, live = await _given_ami(stack, seats)
    try:
        yield client, live
    finally:
        await live.close()
        await client.close()


async def _given_ami(stack: Stack, seats: int = SEATS) -> tuple[AmiClient, LiveQueues]:
    """One AMI connection with live queue state; simulated operators log in after every (re)login."""
    keys = load_secrets(stack.settings, create=False)
    # The test-call account: tests originate, follow every event and hang up; the service's cannot hang up.
    client = AmiClient("127.0.0.1", stack.settings.ami_port, keys.test_ami_user, keys.test_ami_secret)
    live = LiveQueues(client)
    queues = sorted(stack.config.current().sop.queues)
    logged_in: list[asyncio.Task[int]] = []
    client.on_ready(
        lambda: logged_in.append(asyncio.get_running_loop().create_task(login_sim_operators(client, queues, seats)))
    )
    await client.connect(timeout=20)
    await until(lambda: logged_in and logged_in[-1].done(), timeout=20)
    await live.resync()
    return client, live


@pytest.fixture(scope="session")
async def ami_live(stack: Stack) -> AsyncIterator[tuple[AmiClient, LiveQueues]]:
    async with connected_ami(stack) as connected:
        yield connected


@pytest.fixture(scope="session")
def ami(ami_live: tuple[AmiClient, LiveQueues]) -> AmiClient:
    return ami_live[0]


@pytest.fixture(scope="session")
async def agi(stack: Stack, ami_live: tuple[AmiClient, LiveQueues]) -> AsyncIterator[AgiSwitch]:
    async with serving_agi(stack, ami_live[1]) as switch:
        yield switch


Caller = Callable[..., Awaitable[CallReport]]


@pytest.fixture
def call(ami: AmiClient, agi: AgiSwitch) -> Caller:
    """Place one simulated call: ``await call("1")`` → what AMI saw happen to it."""

    async def place(keys: str = "", **options: Any) -> CallReport:
        return await place_call(ami, keys, **options)

    return place


async def until(check: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy; fail with a clear message at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


def given_records(stack: Stack) -> AsteriskRecords:
    """What `ivr serve` folds into the store on duty: the stack's Asterisk's queue_log and CDR."""
    return AsteriskRecords(stack.store, stack.settings.asterisk_dir / "log")


async def synced_row(
    records: AsteriskRecords, stack: Stack, uniqueid: str, timeout: float = 20.0, **expected: object
) -> dict[str, object]:
    """Sync Asterisk's records into the store until the call's row shows ``expected`` (CDRs are
    written when the call ends)."""

    def matches() -> dict[str, object] | None:
        records.sync()
        row = stack.store.get(uniqueid)
        return row if row and all(row[key] == value for key, value in expected.items()) else None

    return await until(matches, timeout=timeout, interval=0.3)


async def until_async(check: Callable[[], Awaitable[T | None]], timeout: float = 15.0, interval: float = 0.1) -> T:
    """``until`` for a check that must await (an AMI action, the browser)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Until something accepts connections on 127.0.0.1:``port`` (a service started in its own process)."""

    async def connectable() -> bool:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        return True

    deadline = asyncio.get_running_loop().time() + timeout
    while not await connectable():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"nothing listening on {port} after {timeout}s")
        await asyncio.sleep(0.1)


async def call_killing_serve_at_first_prompt(
    stack: Stack, ami: AmiClient, placing: Coroutine[Any, Any, CallReport], command: str = "STREAM FILE"
) -> CallReport:
    """`ivr serve` in its own process on our FastAGI port; once it listens the call ``placing`` is
    placed, and the service is killed (SIGKILL) as soon as Asterisk runs its first ``command``."""
    child = await start_serve(stack)
    streaming: list[str] = []

    def on_agi(fields: dict[str, str]) -> None:
        if fields.get("Command", "").startswith(command):
            streaming.append(fields.get("Uniqueid", ""))

    unsubscribe = ami.on("AGIExecStart", on_agi)
    placed: asyncio.Task[CallReport] | None = None
    try:
        await wait_for_port(stack.settings.agi_port)
        placed = asyncio.ensure_future(placing)
        await until(lambda: streaming, timeout=15)
        child.send_signal(signal.SIGKILL)
        return await placed
    finally:
        unsubscribe()
        if placed is None:
            placing.close()
        else:
            placed.cancel()
        if child.returncode is None:
            child.kill()
        await child.wait()
