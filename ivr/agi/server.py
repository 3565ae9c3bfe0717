"""Our FastAGI server: one asyncio.Protocol per Asterisk connection, bounded in bytes, time and count.

A connection that sends too much, too little or nothing at all is closed on its own; no other call
waits on it. Each accepted session runs the handler in its own task with the call's uniqueid bound
into the log context, and ends with one summary line.
"""

from __future__ import annotations

import asyncio
import collections
import math
import os
import resource
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import structlog

from ivr import logs
from ivr.agi.conversation import (
    AgiSessionError,
    Answer,
    ChannelHungUp,
    ClosedBeforeHeaders,
    CommandTimeout,
    ConnectionLost,
    Conversation,
    DeadChannel,
    DroppedReply,
    Headers,
    OutOfStep,
    Synchronised,
)
from ivr.agi.protocol import AgiProtocolError, Reply

__all__ = [
    "AgiEnvironment",
    "AgiServer",
    "AgiSession",
    "AgiSessionError",
    "ChannelHungUp",
    "CommandTimeout",
    "ConnectionLost",
    "Handler",
    "OutOfStep",
    "ServerLimits",
]

log = structlog.get_logger("ivr.agi")


@dataclass(frozen=True, slots=True)
class AgiEnvironment:
    """The call's ``agi_*`` header block. The properties read the dict themselves rather than through
    ``get``: each is read for every call, by the server and by the handler."""

    headers: dict[str, str]

    def get(self, key: str, default: str = "") -> str:
        return self.headers.get(key, default)

    @property
    def uniqueid(self) -> str:
        return self.headers.get("agi_uniqueid", "")

    @property
    def script(self) -> str:
        """The request path, ``112`` in ``agi://host:port/112``."""
        headers = self.headers
        return headers.get("agi_network_script") or headers.get("agi_request", "").rsplit("/", 1)[-1]

    @property
    def caller_number(self) -> str:
        return self.headers.get("agi_callerid", "")

    @property
    def caller_name(self) -> str:
        return self.headers.get("agi_calleridname", "")


@dataclass(frozen=True)
class ServerLimits:
    header_timeout: float = 5.0
    sync_timeout: float = 5.0
    max_connections: int = 1000

    def effective_max_connections(self) -> int:
        # Leave file descriptors for everything else the process does (AMI, web, logs, SQLite).
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return max(1, min(self.max_connections, soft - 64))


Handler = Callable[["AgiSession"], Awaitable[None]]


class SyncNonces:
    """The sync's nonces: 8 bytes of the OS's random source each, as hex (nobody who can put text in a
    caller name can guess one). Drawn 512 at a time: one getrandom call per 512 calls instead of one
    per call (1% of the server's time per call, py-spy). A forked child draws afresh, never replaying
    its parent's."""

    BYTES = 8
    BATCH = 512

    def __init__(self) -> None:
        self._pool = b""
        self._next = 0
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._pool, self._next = b"", 0

    def take(self) -> str:
        start = self._next
        if start >= len(self._pool):
            self._pool, start = os.urandom(self.BYTES * self.BATCH), 0
        self._next = start + self.BYTES
        return self._pool[start : start + self.BYTES].hex()


_nonces = SyncNonces()


class AgiSession:
    """One call's command channel over a Conversation. ``command`` sends a line and returns its reply.

    The protocol rules are the conversation's; this only waits: one future per command, settled by
    the connection when the answer (or an error) arrives, or by the server's watchdog at the deadline.
    """

    __slots__ = (
        "_deadline",
        "_early",
        "_loop",
        "_timeout",
        "_transport",
        "_waiter",
        "conversation",
        "env",
        "sent_at",
        "summary",
    )

    def __init__(self, env: AgiEnvironment, conversation: Conversation, transport: asyncio.Transport) -> None:
        self.env = env
        self.summary: dict[str, Any] = {}
        self.conversation = conversation
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._waiter: asyncio.Future[Reply | Synchronised] | None = None
        # Answers of the last batch (or the error that ended it) that came before their command's
        # turn was awaited.
        self._early: collections.deque[Reply | Synchronised | AgiSessionError] = collections.deque()
        self._deadline = 0.0
        self._timeout = 0.0
        self.sent_at = 0.0  # when the last command was written (time.monotonic)

    @property
    def hung_up(self) -> bool:
        return self.conversation.hung_up

    @property
    def closed(self) -> bool:
        return self.conversation.closed

    @property
    def commands_sent(self) -> int:
        return self.conversation.commands_sent

    @property
    def noise_lines(self) -> int:
        return self.conversation.noise_lines

    @property
    def noise_samples(self) -> list[str]:
        return self.conversation.noise_samples

    def command(self, line: str, timeout: float = 30.0, last: bool = False) -> asyncio.Future[Reply]:
        """Send ``line``; await what this returns for its reply (ChannelHungUp if the channel is gone).
        A plain method returning the reply's future, not a coroutine: one frame less on every command of
        every call. ``last``: the session's last command. Our side of the stream closes right behind
        it, so Asterisk runs it, then reads the end and returns from AGI() at once: the dialplan goes on
        without waiting for us to read the reply (still read, to know the command ran)."""
        self._transport.write(self.conversation.send_command(line, last))
        self.sent_at = now = time.monotonic()
        if last:
            self._transport.write_eof()
        return cast("asyncio.Future[Reply]", self._answer(timeout, now))

    async def last_batch(
        self, lines: Sequence[str], timeout: float = 30.0, proceed: Callable[[], bool] | None = None
    ) -> list[Reply] | None:
        """The session's last commands, written at once with our side's end right behind them:
        Asterisk runs them one after another and leaves AGI() without a round trip through us.
        Their replies, in order; ``timeout`` bounds each. ``proceed``: asked right before writing (in
        the same step, nothing can change in between); False sends nothing and returns None."""
        if proceed is not None and not proceed():
            return None
        self._transport.write(self.conversation.send_last_batch(lines))
        self.sent_at = time.monotonic()
        self._transport.write_eof()
        # Each reply's bound runs from when it is awaited, as a single command's does.
        return [cast(Reply, await self._answer(timeout, time.monotonic())) for _line in lines]

    def synchronise(self, timeout: float = 5.0) -> asyncio.Future[Reply | Synchronised]:
        """Match replies to commands before the first real one (the conversation drops all before the
        echo); await what this returns. A plain method, as ``command`` is."""
        self._transport.write(self.conversation.send_sync(_nonces.take()))
        return self._answer(timeout, time.monotonic())

    def _answer(self, timeout: float, now: float) -> asyncio.Future[Reply | Synchronised]:
        """What to await for the next answer (``now``: when its command was written). Settled by the
        connection when the answer or an error arrives, or by the watchdog at the deadline; whoever
        settles it forgets it."""
        waiter: asyncio.Future[Reply | Synchronised] = self._loop.create_future()
        if self._early:
            early = self._early.popleft()
            if isinstance(early, AgiSessionError):
                waiter.set_exception(early)
            else:
                waiter.set_result(early)
            return waiter
        self._deadline = now + timeout
        self._timeout = timeout
        self._waiter = waiter
        return waiter

    def _settle(self, answer: Answer) -> None:
        if isinstance(answer, DeadChannel):
            self._fail(ChannelHungUp(answer.reply.text))
            return
        waiter = self._waiter
        if waiter is None:
            # Only a batch has answers in flight that nobody awaits yet: the conversation yields a
            # reply only while one is owed, and a single command's waiter is made in the same step as
            # its write, before any answer can be read.
            self._early.append(answer)
            return
        self._waiter = None
        if not waiter.done():
            waiter.set_result(answer)
        # else its await was cancelled: the answer is that command's, never the next one's.

    def _fail(self, error: AgiSessionError) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        else:
            # What ended the connection is news to whoever awaits next.
            self._early.append(error)

    def _expire_if_due(self, now: float) -> None:
        """Called by the server's watchdog: one sweep for all sessions instead of a timer per command.
        A waiter is kept until its answer comes, even if its await was cancelled: an overdue answer
        is a broken stream either way."""
        if self._waiter is not None and now >= self._deadline:
            self._transport.abort()
            self._fail(CommandTimeout(f"no AGI reply within {self._timeout:.1f}s"))

    def close(self) -> None:
        if not self.conversation.closed:
            self.conversation.close()
            self._transport.close()


class _Connection(asyncio.Protocol):
    __slots__ = ("conversation", "header_deadline", "server", "session", "transport")

    def __init__(self, server: AgiServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.conversation = Conversation()
        self.session: AgiSession | None = None
        # When the header block must be complete (time.monotonic): the server's watchdog enforces it, in
        # the sweep it makes anyway, instead of a timer armed and cancelled for every call.
        self.header_deadline = math.inf

    @property
    def peer(self) -> str:
        """Asterisk's end as host:port, for a log line: asked for only when one is written (uvloop's
        first ask is a getpeername call, 5-7 µs; its transport still answers after the close)."""
        peer = self.transport.get_extra_info("peername") if self.transport is not None else None
        return f"{peer[0]}:{peer[1]}" if peer else "?"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike: no isinstance here.
        self.transport = cast(asyncio.Transport, transport)
        if not self.server._admit(self):
            self.transport.abort()
            return
        self.header_deadline = time.monotonic() + self.server.limits.header_timeout

    def _expire_headers_if_due(self, now: float) -> None:
        if now >= self.header_deadline:
            self.header_deadline = math.inf  # once: the abort's connection_lost comes a moment later
            log.warning("agi_header_timeout", peer=self.peer, received=self.conversation.header_bytes)
            self._abort()

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        session = self.session
        if session is not None:
            # The hot path: a plain answer to the one outstanding command.
            reply = self.conversation.receive_plain_reply(data)
            if reply is not None:
                session._settle(reply)
                return
        try:
            events = self.conversation.receive_data(data)
        except (AgiProtocolError, AgiSessionError) as error:
            log.warning(error.code, peer=self.peer, error=str(error))
            self._abort()
            if self.session is not None:
                self.session._fail(error if isinstance(error, AgiSessionError) else ConnectionLost(str(error)))
            return
        session = self.session
        for event in events:
            kind = type(event)
            if kind is Reply or kind is DeadChannel or kind is Synchronised:
                assert session is not None
                session._settle(cast("Answer", event))
            elif kind is DroppedReply:
                dropped = cast("DroppedReply", event)
                log.warning(
                    "agi_reply_before_sync_dropped" if dropped.before_sync else "agi_unsolicited_reply_dropped",
                    code=dropped.reply.code,
                    text=dropped.reply.text[:200],
                )
            elif kind is Headers:
                session = self._start_session(cast("Headers", event))
            # HangupNotice, NoiseLine: their state is the conversation's, summarised at the call's end.

    def _start_session(self, headers: Headers) -> AgiSession:
        assert self.transport is not None
        self.header_deadline = math.inf
        session = self.session = AgiSession(AgiEnvironment(headers.headers), self.conversation, self.transport)
        if headers.duplicate_keys or headers.malformed_lines:
            session.summary["suspicious_headers"] = {
                "duplicate_keys": list(headers.duplicate_keys[:20]),
                "malformed_lines": headers.malformed_lines,
            }
        self.server._spawn(session)
        return session

    def connection_lost(self, exc: Exception | None) -> None:
        self.header_deadline = math.inf
        try:
            self.conversation.receive_eof()
        except ClosedBeforeHeaders:
            log.info("agi_closed_before_headers", peer=self.peer)
        except ConnectionLost as error:
            if self.session is not None:
                self.session._fail(error)
        self.server._release(self)


class AgiServer:
    def __init__(
        self,
        handler: Handler,
        host: str = "127.0.0.1",
        port: int = 4573,
        limits: ServerLimits | None = None,
    ) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.limits = limits or ServerLimits()
        self._max = self.limits.effective_max_connections()
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._refused = 0
        self._refused_logged_at = 0.0
        self._watchdog: asyncio.Task[None] | None = None
        # The call's summary line, written once per call: a logger bound once (at start, when logging
        # is configured) instead of the module's lazy proxy building one for every line. Tests'
        # capture_logs still sees it: it edits the configured processor list in place.
        self._call_log: Any = log

    @property
    def active_sessions(self) -> int:
        return len(self._tasks)

    @property
    def open_connections(self) -> int:
        """Connections counted against the cap (sessions plus those still sending headers)."""
        return len(self._connections)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), self.host, self.port, reuse_address=True, backlog=1024
        )
        sockname = self._server.sockets[0].getsockname()
        self.port = sockname[1]
        self._watchdog = loop.create_task(self._watch())
        self._call_log = log.bind()
        log.info("agi_server_listening", host=self.host, port=self.port, max_connections=self._max)

    async def _watch(self, interval: float = 0.1) -> None:
        """Time limits for every connection, its header block and then each command's reply: one
        overdue by up to ``interval`` is noticed."""
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for connection in list(self._connections):
                session = connection.session
                if session is not None:
                    session._expire_if_due(now)
                else:
                    connection._expire_headers_if_due(now)

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            await asyncio.gather(self._watchdog, return_exceptions=True)
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for connection in list(self._connections):
            connection._abort()
        if self._server is not None:
            await self._server.wait_closed()

    def _admit(self, connection: _Connection) -> bool:
        if len(self._connections) >= self._max:
            self._refused += 1
            now = time.monotonic()
            # One line per 10 s at most: a flood must not become a log storm.
            if now - self._refused_logged_at >= 10.0:
                log.warning("agi_connection_cap_reached", cap=self._max, refused=self._refused)
                self._refused_logged_at = now
                self._refused = 0
            return False
        self._connections.add(connection)
        return True

    def _release(self, connection: _Connection) -> None:
        self._connections.discard(connection)

    def _spawn(self, session: AgiSession) -> None:
        task = session._loop.create_task(self._run(session))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, session: AgiSession) -> None:
        env = session.env
        logs.bind_call(uniqueid=env.uniqueid, caller=env.caller_number, script=env.script)
        started = time.monotonic()
        outcome = "completed"
        try:
            await session.synchronise(self.limits.sync_timeout)
            await self.handler(session)
        except ChannelHungUp:
            outcome = "caller_hung_up"
        except AgiSessionError as error:
            outcome = "caller_hung_up" if session.hung_up else error.code
        except Exception:
            outcome = "handler_error"
            log.exception("agi_handler_failed")
        finally:
            session.close()
            if session.noise_lines:
                session.summary["noise_lines"] = session.noise_lines
                session.summary["noise_samples"] = session.noise_samples
            self._call_log.info(
                "agi_call_end",
                outcome=outcome,
                caller_name=env.caller_name,
                channel=env.get("agi_channel"),
                duration_ms=round((time.monotonic() - started) * 1000, 1),
                commands=session.commands_sent,
                **session.summary,
            )
