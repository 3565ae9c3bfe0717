"""Our FastAGI server against a scripted fake Asterisk on loopback: limits, sync, hangup, isolation."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import cast

import pytest
import structlog
import uvloop

from ivr import logs
from ivr.agi.conversation import ConnectionLost, Conversation
from ivr.agi.protocol import Reply
from ivr.agi.server import (
    AgiEnvironment,
    AgiServer,
    AgiSession,
    ChannelHungUp,
    CommandTimeout,
    ServerLimits,
    SyncNonces,
)

ENV = b"agi_network: yes\nagi_network_script: 112\nagi_uniqueid: 42.1\nagi_callerid: 0812\n\n"


class FakeAsterisk:
    """Plays Asterisk's side of one FastAGI connection: echoes the sync nonce, answers commands."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.commands: list[str] = []

    @classmethod
    async def connect(cls, port: int, env: bytes = ENV) -> FakeAsterisk:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(env)
        return cls(reader, writer)

    @classmethod
    async def synced(cls, port: int) -> FakeAsterisk:
        """Connected, and the server's sync nonce echoed: its next line is the handler's."""
        fake = await cls.connect(port)
        nonce = (await fake.reader.readline()).decode().split('"')[1]
        fake.writer.write(f"200 result=1 ({nonce})\n".encode())
        return fake

    async def serve(self, reply: bytes = b"200 result=0\n", hangup_after: int | None = None) -> None:
        while line := await self.reader.readline():
            command = line.decode().rstrip("\n")
            self.commands.append(command)
            if command.startswith("GET FULL VARIABLE"):
                nonce = command.split('"')[1]
                self.writer.write(f"200 result=1 ({nonce})\n".encode())
            elif hangup_after is not None and len(self.commands) > hangup_after:
                self.writer.write(b"HANGUP\n511 Command Not Permitted on a dead channel\n")
            else:
                # The command's position rides in the reply, so a handler can see which line it answers.
                self.writer.write(reply.replace(b"{n}", str(len(self.commands)).encode()))


@dataclass
class Served:
    """The server under test, the sessions its handler saw and the replies that handler got."""

    agi: AgiServer
    seen: list[AgiSession] = field(default_factory=list)
    answers: list[Reply] = field(default_factory=list)


@pytest.fixture
async def server() -> AsyncIterator[Served]:
    async def handler(session: AgiSession) -> None:
        served.seen.append(session)
        served.answers.append(await session.command('STREAM FILE "x" ""'))
        served.answers.append(await session.command('SET VARIABLE IVR_ACTION "queue"'))

    agi = AgiServer(handler, "127.0.0.1", 0, ServerLimits(header_timeout=0.5, max_connections=50))
    served = Served(agi)
    await agi.start()
    yield served
    await agi.close()


async def test_a_session_runs_the_handler_after_the_sync(server: Served) -> None:
    """The first command is the nonce echo; then the handler's commands, then the socket closes."""
    agi, seen = server.agi, server.seen
    fake = await FakeAsterisk.connect(agi.port)
    await asyncio.wait_for(fake.serve(), 5)
    assert fake.commands[0].startswith("GET FULL VARIABLE")
    assert fake.commands[1:] == ['STREAM FILE "x" ""', 'SET VARIABLE IVR_ACTION "queue"']
    assert seen[0].env.uniqueid == "42.1" and seen[0].env.script == "112"


async def test_the_last_command_closes_our_side_before_its_reply() -> None:
    """Asterisk reads the end of the stream right after the route (so AGI() returns at once), and the
    handler still gets the reply that follows."""
    answered: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()

    async def handler(session: AgiSession) -> None:
        answered.set_result(await session.command('SET VARIABLE IVR_ROUTE "queue,q112"', last=True))

    agi = AgiServer(handler, "127.0.0.1", 0)
    await agi.start()
    try:
        fake = await FakeAsterisk.synced(agi.port)
        assert await fake.reader.readline() == b'SET VARIABLE IVR_ROUTE "queue,q112"\n'
        assert await asyncio.wait_for(fake.reader.read(), 2) == b""  # the end, before any reply
        fake.writer.write(b"200 result=1\n")
        await fake.writer.drain()
        answer = await asyncio.wait_for(answered, 2)
        assert (answer.code, answer.result) == (200, "1")
    finally:
        await agi.close()


SMUGGLED = b"200 result=49\nagi_context: x\n"


async def test_replies_smuggled_before_the_sync_are_dropped(server: Served) -> None:
    """Reply-looking lines in the header segment are not taken as answers to our commands."""
    agi, seen = server.agi, server.seen
    fake = await FakeAsterisk.connect(agi.port, ENV + SMUGGLED)
    await asyncio.wait_for(fake.serve(reply=b"200 result=0 (answer {n})\n"), 5)
    assert len(fake.commands) == 3
    assert seen[0].noise_lines == 1
    # Commands 2 and 3 each got their own answer, not the smuggled line or the sync echo.
    assert [reply.data for reply in server.answers] == ["answer 2", "answer 3"]


async def test_replies_arriving_after_the_sync_was_sent_wait_for_its_echo(server: Served) -> None:
    """A smuggled reply that lands after our sync went out is dropped: only the nonce echo ends the sync."""
    with structlog.testing.capture_logs() as logged:
        fake = await FakeAsterisk.connect(server.agi.port)
        sync = (await asyncio.wait_for(fake.reader.readline(), 3)).decode().rstrip("\n")
        fake.commands.append(sync)
        fake.writer.write(SMUGGLED)
        # The echo goes out only once the server has dealt with the smuggled line, as Asterisk's would.
        await until(lambda: any(line["event"] == "agi_reply_before_sync_dropped" for line in logged))
        fake.writer.write(f"200 result=1 ({sync.split(chr(34))[1]})\n".encode())
        await asyncio.wait_for(fake.serve(reply=b"200 result=0 (answer {n})\n"), 5)
    assert [reply.data for reply in server.answers] == ["answer 2", "answer 3"]


async def until(condition: Callable[[], bool], seconds: float = 3.0) -> None:
    """Poll ``condition`` until it holds; fail the test at the deadline."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.01)


async def test_each_calls_log_lines_carry_its_own_identity() -> None:
    """Two calls at once: every line logged inside a call, the handler's and the server's summary,
    carries that call's uniqueid, caller and script (bound once per call, merged by the configured
    pipeline's processors); a key the line names itself wins."""
    both_in = asyncio.Event()
    inside = 0

    async def handler(session: AgiSession) -> None:
        nonlocal inside
        inside += 1
        if inside == 2:
            both_in.set()
        await both_in.wait()  # each logs while the other call is bound too
        structlog.get_logger("test").info("handler_step", script="own")
        await session.command("NOOP")

    agi = AgiServer(handler, "127.0.0.1", 0)
    await agi.start()
    try:
        with structlog.testing.capture_logs(list(logs.CONTEXT_PROCESSORS)) as logged:
            fakes = [
                await FakeAsterisk.connect(
                    agi.port, f"agi_network_script: 11{n}\nagi_uniqueid: 7.{n}\nagi_callerid: 081{n}\n\n".encode()
                )
                for n in (1, 2)
            ]
            await asyncio.wait_for(asyncio.gather(*(fake.serve() for fake in fakes)), 5)
            await until(lambda: sum(line["event"] == "agi_call_end" for line in logged) == 2)
    finally:
        await agi.close()
    seen = sorted(
        (line["event"], line.get("uniqueid"), line.get("caller"), line.get("script"))
        for line in logged
        if line["event"] in ("handler_step", "agi_call_end")
    )
    assert seen == [
        ("agi_call_end", "7.1", "0811", "111"),
        ("agi_call_end", "7.2", "0812", "112"),
        ("handler_step", "7.1", "0811", "own"),
        ("handler_step", "7.2", "0812", "own"),
    ]


async def test_hangup_notice_ends_the_session(server: Served) -> None:
    """HANGUP then 511 raise ChannelHungUp inside the handler and the connection is closed."""
    agi, seen = server.agi, server.seen
    fake = await FakeAsterisk.connect(agi.port)
    await asyncio.wait_for(fake.serve(hangup_after=1), 5)
    assert seen[0].hung_up and seen[0].closed
    assert len(fake.commands) == 2  # the sync and the one command that met the hangup


async def test_early_close_and_silence_do_not_block_a_real_session(
    server: Served,
) -> None:
    """A client that closes before the blank line, and one that stalls, leave a real call served."""
    agi, seen = server.agi, server.seen
    _reader, early = await asyncio.open_connection("127.0.0.1", agi.port)
    early.write(b"agi_network: yes\n")
    early.close()
    stalled_reader, stalled = await asyncio.open_connection("127.0.0.1", agi.port)
    stalled.write(b"agi_network: yes\n")
    fake = await FakeAsterisk.connect(agi.port)
    await asyncio.wait_for(fake.serve(), 5)
    assert len(fake.commands) == 3
    # The stalled client is cut at the header timeout (0.5 s here).
    assert await asyncio.wait_for(stalled_reader.read(), 3) == b""
    stalled.close()
    assert len(seen) == 1


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_a_connection_cut_inside_its_headers_is_logged_with_its_peer(loop_kind: str) -> None:
    """The peer is asked of the transport only for the log line, after the connection is gone: both
    loops still answer then (uvloop is what `ivr serve` runs)."""

    async def scenario() -> tuple[str, list[dict[str, object]]]:
        agi = AgiServer(lambda session: asyncio.sleep(0), "127.0.0.1", 0)
        await agi.start()
        try:
            with structlog.testing.capture_logs() as logged:
                _reader, early = await asyncio.open_connection("127.0.0.1", agi.port)
                host, port = early.get_extra_info("sockname")[:2]
                early.write(b"agi_network: yes\n")
                await early.drain()
                early.close()
                await until(lambda: any(line["event"] == "agi_closed_before_headers" for line in logged))
        finally:
            await agi.close()
        return f"{host}:{port}", logged

    runner = asyncio.Runner(loop_factory=uvloop.new_event_loop) if loop_kind == "uvloop" else asyncio.Runner()
    with runner:
        client, logged = runner.run(scenario())
    assert [line["peer"] for line in logged if line["event"] == "agi_closed_before_headers"] == [client]


async def test_oversized_headers_are_refused_quickly() -> None:
    """A header block over the limit is cut at once, long before the header timeout would."""
    seen: list[AgiSession] = []

    async def handler(session: AgiSession) -> None:
        seen.append(session)

    # A header timeout far beyond the wait below: only the byte cap can close this connection in time.
    agi = AgiServer(handler, "127.0.0.1", 0, ServerLimits(header_timeout=60))
    await agi.start()
    try:
        with structlog.testing.capture_logs() as logged:
            reader, writer = await asyncio.open_connection("127.0.0.1", agi.port)
            writer.write(b"agi_x: " + b"A" * (1 << 20))
            with contextlib.suppress(ConnectionError):
                await asyncio.wait_for(writer.drain(), 2)
                assert await asyncio.wait_for(reader.read(), 2) == b""
            writer.close()
    finally:
        await agi.close()
    assert seen == []
    assert [line["event"] for line in logged if line["log_level"] == "warning"] == ["agi_headers_too_large"]


async def test_connection_cap_refuses_beyond_it() -> None:
    """Past the cap a connection is closed at once; under it, sessions are served."""

    async def handler(session: AgiSession) -> None:
        await session.command("NOOP")

    agi = AgiServer(handler, "127.0.0.1", 0, ServerLimits(header_timeout=5, max_connections=2))
    await agi.start()
    try:
        held = [await FakeAsterisk.connect(agi.port) for _ in range(2)]
        for fake in held:
            # Each held connection is admitted: its session starts and sends the sync.
            assert (await asyncio.wait_for(fake.reader.readline(), 3)).startswith(b"GET FULL VARIABLE")
        assert await given_refused(agi.port)
        for fake in held:
            fake.writer.close()
        # The cap counts open connections: once the held ones are gone a new call is served in full.
        await until(lambda: agi.open_connections == 0)
        fake = await FakeAsterisk.connect(agi.port)
        await asyncio.wait_for(fake.serve(), 5)
        assert fake.commands[1:] == ["NOOP"]
    finally:
        await agi.close()


async def given_refused(port: int) -> bool:
    """True when the server closes a new connection without sending anything."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(ENV)
    try:
        return await asyncio.wait_for(reader.read(), 3) == b""
    except ConnectionResetError:
        return True
    finally:
        writer.close()


async def test_command_after_hangup_raises() -> None:
    """A handler that keeps going after the caller hung up gets ChannelHungUp, not a stale reply."""
    raised: list[BaseException] = []

    async def handler(session: AgiSession) -> None:
        try:
            await session.command('STREAM FILE "x" ""')
        except ChannelHungUp as error:
            raised.append(error)
            raise

    agi = AgiServer(handler, "127.0.0.1", 0)
    await agi.start()
    try:
        fake = await FakeAsterisk.connect(agi.port)
        await asyncio.wait_for(fake.serve(hangup_after=0), 5)
    finally:
        await agi.close()
    assert raised


async def test_hangup_notice_then_close_is_the_caller_hanging_up() -> None:
    """With AGIEXITONHANGUP Asterisk may write HANGUP and close without a 511: still a caller hang-up."""

    async def handler(session: AgiSession) -> None:
        await session.command('STREAM FILE "x" ""')

    agi = AgiServer(handler, "127.0.0.1", 0)
    await agi.start()
    try:
        with structlog.testing.capture_logs() as logged:
            reader, writer = await asyncio.open_connection("127.0.0.1", agi.port)
            writer.write(ENV)
            sync = (await reader.readline()).decode()
            writer.write(f"200 result=1 ({sync.split(chr(34))[1]})\n".encode())
            assert (await reader.readline()).startswith(b"STREAM FILE")
            writer.write(b"HANGUP\n")
            writer.close()
            await until(lambda: any(line["event"] == "agi_call_end" for line in logged))
    finally:
        await agi.close()
    ends = [line for line in logged if line["event"] == "agi_call_end"]
    assert ends and ends[0]["outcome"] == "caller_hung_up"


async def test_a_command_without_reply_times_out_and_drops_the_connection() -> None:
    """No reply within the bound: the handler gets CommandTimeout and the socket closes even if it lingers."""
    raised: list[BaseException] = []
    release = asyncio.Event()

    async def handler(session: AgiSession) -> None:
        try:
            await session.command("NOOP", timeout=0.2)
        except CommandTimeout as error:
            raised.append(error)
            # A handler that swallows the timeout must not keep Asterisk waiting on this socket.
            await release.wait()

    agi = AgiServer(handler, "127.0.0.1", 0)
    await agi.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", agi.port)
        writer.write(ENV)
        sync = (await asyncio.wait_for(reader.readline(), 3)).decode()
        writer.write(f"200 result=1 ({sync.split(chr(34))[1]})\n".encode())
        assert await asyncio.wait_for(reader.readline(), 3) == b"NOOP\n"
        with contextlib.suppress(ConnectionResetError):
            assert await asyncio.wait_for(reader.read(), 3) == b""
        writer.close()
    finally:
        release.set()
        await agi.close()
    assert len(raised) == 1


async def test_an_answered_command_s_bound_ends_with_its_answer() -> None:
    """A handler busy past a command's bound after its reply came (a database write, a slow
    lookup) keeps its connection: the bound is for the reply, not for the call."""
    answers: list[Reply] = []

    async def handler(session: AgiSession) -> None:
        answers.append(await session.command("NOOP", timeout=0.2))
        await asyncio.sleep(0.5)
        answers.append(await session.command("NOOP", timeout=0.2))

    agi = AgiServer(handler, "127.0.0.1", 0)
    await agi.start()
    try:
        fake = await FakeAsterisk.connect(agi.port)
        await asyncio.wait_for(fake.serve(b"200 result={n}\n"), 5)
    finally:
        await agi.close()
    assert [answer.result for answer in answers] == ["2", "3"]


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        pytest.param(
            b"200 result=1\n200 result=0\n200 result=1 (7)\n", [("1", ""), ("0", ""), ("1", "7")], id="each-in-order"
        ),
        pytest.param(
            b"200 result=1\nHANGUP\n511 Command Not Permitted\n511 Command Not Permitted\n",
            "hung up: Command Not Permitted",
            id="hang-up-inside",
        ),
    ],
)
async def test_the_last_batch_ends_our_side_and_hands_on_what_asterisk_answered(
    answers: bytes, expected: object
) -> None:
    """Three commands, then the end of our stream, before any reply; Asterisk answers all three in one
    write (as res_agi does when it runs them back to back). Each reply reaches the handler, in order. A
    caller who hangs up inside the batch (HANGUP and 511s after the first reply, all read before the
    handler awaits the second) raises ChannelHungUp: dead answers are turned into it where they are
    settled, the early ones too."""
    outcome: asyncio.Future[object] = asyncio.get_running_loop().create_future()

    async def handler(session: AgiSession) -> None:
        try:
            replies = await session.last_batch(['SET VARIABLE A "1"', 'EXEC Read "K"', "GET VARIABLE K"], 5)
        except ChannelHungUp as error:
            outcome.set_result(f"hung up: {error}")
        else:
            outcome.set_result([(reply.result, reply.data) for reply in replies or []])

    agi = AgiServer(handler, "127.0.0.1", 0)
    await agi.start()
    try:
        fake = await FakeAsterisk.synced(agi.port)
        assert await asyncio.wait_for(fake.reader.read(), 2) == b'SET VARIABLE A "1"\nEXEC Read "K"\nGET VARIABLE K\n'
        fake.writer.write(answers)
        await fake.writer.drain()
        assert await asyncio.wait_for(outcome, 2) == expected
    finally:
        await agi.close()


def given_idle_session(transport: object) -> tuple[Conversation, AgiSession]:
    """A session past its sync, over ``transport``, outside any server (the test plays the connection)."""
    conversation = Conversation()
    conversation.receive_data(ENV)
    conversation.send_sync("abc1")
    conversation.receive_data(b"200 result=1 (abc1)\n")
    return conversation, AgiSession(AgiEnvironment({}), conversation, cast(asyncio.Transport, transport))


async def test_a_cancelled_commands_late_answer_is_never_the_next_commands() -> None:
    """A handler gives up awaiting a command (its task's await cancelled) and goes on: the answer that
    comes later belongs to that command and is dropped, so the next command gets its own answer."""

    class Transport:
        def write(self, data: bytes) -> None: ...
        def abort(self) -> None: ...

    conversation, session = given_idle_session(Transport())
    abandoned = asyncio.ensure_future(asyncio.wait_for(session.command("GET VARIABLE A", 60), 0.01))
    with pytest.raises(TimeoutError):
        await abandoned
    [late] = conversation.receive_data(b"200 result=1 (late)\n")
    session._settle(cast(Reply, late))
    answer = session.command("GET VARIABLE B", 60)
    [own] = conversation.receive_data(b"200 result=1 (own)\n")
    session._settle(cast(Reply, own))
    assert (await asyncio.wait_for(answer, 1)).data == "own"


async def test_an_overdue_answer_closes_the_connection_even_after_its_await_was_cancelled() -> None:
    """The answer to a command whose await was cancelled never comes: the watchdog still ends the
    connection at its bound (Asterisk then takes the caller on), and the next await learns why."""
    aborted: list[bool] = []

    class Transport:
        def write(self, data: bytes) -> None: ...
        def abort(self) -> None:
            aborted.append(True)

    _conversation, session = given_idle_session(Transport())
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(session.command("GET VARIABLE A", 5), 0.01)
    session._expire_if_due(time.monotonic() + 10)
    session._expire_if_due(time.monotonic() + 20)  # once: the first sweep forgot the waiter
    assert aborted == [True]
    with pytest.raises(CommandTimeout):
        await session._answer(1, time.monotonic())


async def test_a_connection_lost_inside_the_last_batch_ends_it_at_once() -> None:
    """Asterisk answers the first command of the batch and closes, both read in one turn of the loop
    (before the handler awaits the second reply): the handler learns it now, not at the batch's time
    bound."""

    class Transport:
        def write(self, data: bytes) -> None: ...
        def write_eof(self) -> None: ...
        def close(self) -> None: ...
        def abort(self) -> None: ...

    conversation, session = given_idle_session(Transport())
    batch = asyncio.ensure_future(session.last_batch(["NOOP", 'EXEC Read "K"', "GET VARIABLE K"], 60))
    await asyncio.sleep(0)  # the batch is written and its first reply awaited
    [first] = conversation.receive_data(b"200 result=1\n")
    session._settle(cast(Reply, first))
    with pytest.raises(ConnectionLost):
        conversation.receive_eof()
    session._fail(ConnectionLost("closed"))
    with pytest.raises(ConnectionLost):
        await asyncio.wait_for(batch, 1)


async def test_a_last_batch_that_may_not_proceed_sends_nothing() -> None:
    """``proceed`` is asked as the batch would be written: False, and nothing is written, the
    stream stays open and the session may still send commands (the menu stays with our service)."""
    written: list[bytes] = []

    class Transport:
        def write(self, data: bytes) -> None:
            written.append(data)

        def write_eof(self) -> None:
            written.append(b"<eof>")

    conversation, session = given_idle_session(Transport())
    assert await asyncio.wait_for(session.last_batch(["NOOP"], 1, proceed=lambda: False), 2) is None
    assert written == [] and not conversation.finished
    conversation.send_command("NOOP")


def test_sync_nonces_never_repeat_across_draws_nor_in_a_forked_child() -> None:
    """Nonces come 512 to a draw from the OS; the next draw is fresh, and a forked child (which
    inherits the pool) draws its own instead of taking what its parent takes next."""
    nonces = SyncNonces()
    taken = [nonces.take() for _ in range(SyncNonces.BATCH * 2 + 1)]
    assert len(set(taken)) == len(taken)
    assert all(re.fullmatch("[0-9a-f]{16}", nonce) for nonce in taken)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's side: whatever happens, it never returns into pytest
        try:
            os.write(write, nonces.take().encode())
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    from_child = os.read(read, 64).decode()
    os.close(read)
    os.close(write)
    assert re.fullmatch("[0-9a-f]{16}", from_child)
    assert from_child != nonces.take()
