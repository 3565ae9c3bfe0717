"""Our FastAGI server against a scripted fake Asterisk on loopback: limits, sync, hangup, isolation."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import structlog

from ivr.agi.server import AgiServer, AgiSession, ChannelHungUp, ServerLimits

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
                self.writer.write(reply)


@pytest.fixture
async def server() -> AsyncIterator[tuple[AgiServer, list[AgiSession]]]:
    seen: list[AgiSession] = []

    async def handler(session: AgiSession) -> None:
        seen.append(session)
        await session.command("STREAM FILE \"x\" \"\"")
        await session.command("SET VARIABLE IVR_ACTION \"queue\"")

    agi = AgiServer(handler, "127.0.0.1", 0, ServerLimits(header_timeout=0.5, max_connections=50))
    await agi.start()
    yield agi, seen
    await agi.close()


async def test_a_session_runs_the_handler_after_the_sync(server: tuple[AgiServer, list[AgiSession]]) -> None:
    """The first command is the nonce echo; then the handler's commands, then the socket closes."""
    agi, seen = server
    fake = await FakeAsterisk.connect(agi.port)
    await asyncio.wait_for(fake.serve(), 5)
    assert fake.commands[0].startswith("GET FULL VARIABLE")
    assert fake.commands[1:] == ['STREAM FILE "x" ""', 'SET VARIABLE IVR_ACTION "queue"']
    assert seen[0].env.uniqueid == "42.1" and seen[0].env.script == "112"


Served = tuple[AgiServer, list[AgiSession]]


async def test_replies_smuggled_before_the_sync_are_dropped(server: Served) -> None:
    """Reply-looking lines already in the stream are not taken as answers to our commands."""
    agi, seen = server
    fake = await FakeAsterisk.connect(agi.port, ENV + b"200 result=49\nagi_context: x\n")
    await asyncio.wait_for(fake.serve(reply=b"200 result=0\n"), 5)
    assert len(fake.commands) == 3
    assert seen[0].noise_lines == 1


async def test_hangup_notice_ends_the_session(server: tuple[AgiServer, list[AgiSession]]) -> None:
    """HANGUP then 511 raise ChannelHungUp inside the handler and the connection is closed."""
    agi, seen = server
    fake = await FakeAsterisk.connect(agi.port)
    await asyncio.wait_for(fake.serve(hangup_after=1), 5)
    assert seen[0].hung_up and seen[0].closed
    assert len(fake.commands) == 2  # the sync and the one command that met the hangup


async def test_early_close_and_silence_do_not_block_a_real_session(
    server: tuple[AgiServer, list[AgiSession]],
) -> None:
    """A client that closes before the blank line, and one that stalls, leave a real call served."""
    agi, seen = server
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


async def test_oversized_headers_are_refused_quickly(server: tuple[AgiServer, list[AgiSession]]) -> None:
    """A header block over the limit closes that connection; nothing reaches the handler."""
    agi, seen = server
    reader, writer = await asyncio.open_connection("127.0.0.1", agi.port)
    writer.write(b"agi_x: " + b"A" * (1 << 20))
    with contextlib.suppress(ConnectionError):
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 3) == b""
    writer.close()
    assert seen == []


async def test_connection_cap_refuses_beyond_it() -> None:
    """Past the cap a connection is closed at once; under it, sessions are served."""

    async def handler(session: AgiSession) -> None:
        await session.command("NOOP")

    agi = AgiServer(handler, "127.0.0.1", 0, ServerLimits(header_timeout=5, max_connections=2))
    await agi.start()
    try:
        held = [await asyncio.open_connection("127.0.0.1", agi.port) for _ in range(2)]
        reader, writer = await asyncio.open_connection("127.0.0.1", agi.port)
        assert await asyncio.wait_for(reader.read(), 3) == b""
        writer.close()
        for _reader, held_writer in held:
            held_writer.close()
    finally:
        await agi.close()


async def test_command_after_hangup_raises() -> None:
    """A handler that keeps going after the caller hung up gets ChannelHungUp, not a stale reply."""
    raised: list[BaseException] = []

    async def handler(session: AgiSession) -> None:
        try:
            await session.command("STREAM FILE \"x\" \"\"")
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
            for _ in range(100):
                if any(line["event"] == "agi_call_end" for line in logged):
                    break
                await asyncio.sleep(0.02)
    finally:
        await agi.close()
    ends = [line for line in logged if line["event"] == "agi_call_end"]
    assert ends and ends[0]["outcome"] == "caller_hung_up"
