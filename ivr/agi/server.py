"""Our FastAGI server: one asyncio.Protocol per Asterisk connection, bounded in bytes, time and count.

A connection that sends too much, too little or nothing at all is closed on its own; no other call
waits on it. Each accepted session runs the handler in its own task with the call's uniqueid bound
into the log context, and ends with one summary line.
"""

from __future__ import annotations

import asyncio
import resource
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import structlog

from ivr.agi import commands
from ivr.agi.protocol import (
    AgiProtocolError,
    HangupNotice,
    HeaderParser,
    NoiseLine,
    Reply,
    ReplyEvent,
    ReplyParser,
)

log = structlog.get_logger("ivr.agi")


class AgiSessionError(Exception):
    code = "agi_session_error"


class ChannelHungUp(AgiSessionError):
    """The caller hung up (HANGUP notice or 511 on a dead channel)."""

    code = "agi_channel_hung_up"


class ConnectionLost(AgiSessionError):
    """Asterisk closed the socket (EOF) while we waited for a reply."""

    code = "agi_connection_lost"


class CommandTimeout(AgiSessionError):
    """No reply within the command's bound; the connection is dropped so Asterisk falls back."""

    code = "agi_command_timeout"


class OutOfStep(AgiSessionError):
    """The reply stream could not be matched to our commands."""

    code = "agi_out_of_step"


@dataclass(frozen=True)
class AgiEnvironment:
    headers: dict[str, str]

    def get(self, key: str, default: str = "") -> str:
        return self.headers.get(key, default)

    @property
    def uniqueid(self) -> str:
        return self.get("agi_uniqueid")

    @property
    def script(self) -> str:
        """The request path, ``112`` in ``agi://host:port/112``."""
        return self.get("agi_network_script") or self.get("agi_request").rsplit("/", 1)[-1]

    @property
    def caller_number(self) -> str:
        return self.get("agi_callerid")

    @property
    def caller_name(self) -> str:
        return self.get("agi_calleridname")


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


@dataclass
class AgiSession:
    """One call's command channel. ``command`` sends a line and returns its reply."""

    env: AgiEnvironment
    transport: asyncio.Transport
    summary: dict[str, Any] = field(default_factory=dict)
    hung_up: bool = False
    closed: bool = False
    commands_sent: int = 0
    noise_lines: int = 0
    noise_samples: list[str] = field(default_factory=list)
    _replies: deque[Reply] = field(default_factory=deque)
    # One future per wait, resolved by the protocol: cheaper than Event + wait_for (a task each).
    _waiter: asyncio.Future[None] | None = None
    _deadline: float = 0.0
    _timed_out: bool = False

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _deliver(self, event: ReplyEvent) -> None:
        if isinstance(event, HangupNotice):
            self.hung_up = True
            self._wake()
        elif isinstance(event, NoiseLine):
            # Only a caller name carrying newlines produces these; summarised once in agi_call_end.
            self.noise_lines += 1
            if len(self.noise_samples) < 5:
                self.noise_samples.append(event.text[:200])
        else:
            self._replies.append(event)
            self._wake()

    def _lost(self) -> None:
        self.closed = True
        self._wake()

    def _expire_if_due(self, now: float) -> None:
        """Called by the server's watchdog: one sweep for all sessions instead of a timer per command."""
        if self._waiter is not None and now >= self._deadline:
            self._timed_out = True
            self._wake()

    async def _next_reply(self, timeout: float) -> Reply:
        if self._replies:
            return self._replies.popleft()
        self._deadline = time.monotonic() + timeout
        self._timed_out = False
        loop = asyncio.get_running_loop()
        while not self._replies:
            if self.closed:
                raise ConnectionLost("Asterisk closed the AGI connection")
            if self._timed_out:
                self.transport.abort()
                raise CommandTimeout(f"no AGI reply within {timeout:.1f}s")
            self._waiter = loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._replies.popleft()

    def _send(self, line: str) -> None:
        if self.closed:
            raise ConnectionLost("AGI connection already closed")
        while self._replies:
            stale = self._replies.popleft()
            log.warning("agi_unsolicited_reply_dropped", code=stale.code, text=stale.text[:200])
        self.commands_sent += 1
        self.transport.write(line.encode("utf-8") + b"\n")

    async def command(self, line: str, timeout: float = 30.0) -> Reply:
        self._send(line)
        reply = await self._next_reply(timeout)
        if reply.code == 511 or (reply.ok and reply.result == "-1" and self.hung_up):
            raise ChannelHungUp(reply.text)
        return reply

    async def synchronise(self, timeout: float = 5.0) -> None:
        """Match replies to commands before the first real one.

        A caller name can carry a newline and a blank line into the header block, so lines that
        look like replies may already sit in the stream. We ask Asterisk to echo a nonce nobody can
        guess and drop every reply before it.
        """
        nonce = secrets.token_hex(8)
        self._send(commands.get_full_variable(nonce))
        deadline = time.monotonic() + timeout
        for _ in range(64):
            reply = await self._next_reply(deadline - time.monotonic())
            if reply.code == 511:
                raise ChannelHungUp(reply.text)
            if reply.ok and reply.data == nonce:
                return
            log.warning("agi_reply_before_sync_dropped", code=reply.code, text=reply.text[:200])
        raise OutOfStep("AGI reply stream never echoed our sync nonce")

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()


class _Connection(asyncio.Protocol):
    def __init__(self, server: AgiServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.headers = HeaderParser()
        self.replies = ReplyParser()
        self.session: AgiSession | None = None
        self.header_timer: asyncio.TimerHandle | None = None
        self.peer = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike: no isinstance here.
        self.transport = cast(asyncio.Transport, transport)
        peer = self.transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        if not self.server._admit(self):
            self.transport.abort()
            return
        loop = asyncio.get_running_loop()
        self.header_timer = loop.call_later(self.server.limits.header_timeout, self._header_timeout)

    def _header_timeout(self) -> None:
        log.warning("agi_header_timeout", peer=self.peer, received=self.headers._consumed)
        self._abort()

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        try:
            if self.session is None:
                rest = self.headers.feed(data)
                if not self.headers.complete:
                    return
                self._start_session()
                data = rest
            assert self.session is not None
            for event in self.replies.feed(data):
                self.session._deliver(event)
        except AgiProtocolError as error:
            log.warning(error.code, peer=self.peer, error=str(error))
            self._abort()

    def _start_session(self) -> None:
        assert self.transport is not None
        if self.header_timer is not None:
            self.header_timer.cancel()
        env = AgiEnvironment(dict(self.headers.headers))
        self.session = AgiSession(env=env, transport=self.transport)
        if self.headers.duplicate_keys or self.headers.malformed_lines:
            self.session.summary["suspicious_headers"] = {
                "duplicate_keys": self.headers.duplicate_keys[:20],
                "malformed_lines": self.headers.malformed_lines,
            }
        self.server._spawn(self.session)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
        if self.session is None:
            if self.headers._consumed or self.headers._buffer:
                log.info("agi_closed_before_headers", peer=self.peer)
        else:
            self.session._lost()
        self.server._release(self)


class AgiServer:
    def __init__(
        self, handler: Handler, host: str = "127.0.0.1", port: int = 4573,
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
        log.info("agi_server_listening", host=self.host, port=self.port, max_connections=self._max)

    async def _watch(self, interval: float = 0.1) -> None:
        """Command time limits for every session: a reply overdue by up to ``interval`` is noticed."""
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for connection in list(self._connections):
                if connection.session is not None:
                    connection.session._expire_if_due(now)

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
        task = asyncio.get_running_loop().create_task(self._run(session))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, session: AgiSession) -> None:
        env = session.env
        structlog.contextvars.bind_contextvars(
            uniqueid=env.uniqueid, caller=env.caller_number, script=env.script
        )
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
            log.info(
                "agi_call_end",
                outcome=outcome,
                caller_name=env.caller_name,
                channel=env.get("agi_channel"),
                duration_ms=round((time.monotonic() - started) * 1000, 1),
                commands=session.commands_sent,
                **session.summary,
            )
