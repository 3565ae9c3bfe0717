"""An AMI account that is logged in only while it has work to do.

Every logged-in AMI session costs Asterisk CPU on every event of every call, whether or not the
session may read it (Login's ``Events: off`` included): measured on 22.10.1, a NoOp() dialplan line
cost 27.5 µs of Asterisk CPU with one session and 45.5 µs with two more (bench/results/ami_sessions.md;
in an earlier probe the two extra sessions cost the same even with ``Events: off``). A call makes
about 230 events, so an account that is used a few times a shift (a warm transfer's Bridge) costs
every caller's menu its share of the CPU if it sits logged in. This one logs in for its first action
and logs off once it has been idle for a while.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

import structlog

from ivr.ami.client import AmiError

log = structlog.get_logger("ivr.ami")

# Long enough that the handful of actions of one warm transfer (four Setvars, the Bridge, and on a
# refusal three more) share one login; short enough that the session is gone between transfers.
IDLE_SECONDS = 20.0
LOGIN_TIMEOUT = 5.0


class Session(Protocol):
    """What is needed of ``ivr.ami.client.AmiClient``."""

    async def connect(self, timeout: float = 15.0) -> None: ...

    async def action(self, fields: dict[str, Any], timeout: float = 5.0, as_list: bool = False) -> Any: ...

    async def close(self) -> None: ...


class OnDemandAmi:
    """``action`` as ``AmiClient.action``; the session behind it exists only around actions.

    ``connect`` makes a fresh, not yet connected client. A failed login raises ``AmiError`` (the
    client's ``AmiTimeout``) and leaves nothing behind: the next action tries again."""

    def __init__(self, connect: Callable[[], Session], idle_seconds: float = IDLE_SECONDS) -> None:
        self._connect = connect
        self._idle_seconds = idle_seconds
        self._session: Session | None = None
        self._login = asyncio.Lock()
        self._busy = 0
        self._idle: asyncio.TimerHandle | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def logged_in(self) -> bool:
        return self._session is not None

    async def action(self, fields: dict[str, Any], timeout: float = 5.0, as_list: bool = False) -> Any:
        self._busy += 1
        self._cancel_idle()
        try:
            session = await self._logged_in(timeout)
            return await session.action(fields, timeout, as_list)
        finally:
            self._busy -= 1
            if not self._busy and self._session is not None and not self._closed:
                self._idle = asyncio.get_running_loop().call_later(self._idle_seconds, self._log_off)

    async def _logged_in(self, timeout: float) -> Session:
        async with self._login:
            if self._closed:
                raise AmiError("the service is stopping")
            if self._session is None:
                session = self._connect()
                try:
                    await session.connect(timeout=min(timeout, LOGIN_TIMEOUT))
                except BaseException:
                    await session.close()
                    raise
                self._session = session
                log.info("ami_on_demand_logged_in")
            return self._session

    def _cancel_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _log_off(self) -> None:
        self._idle = None
        if self._busy or self._session is None:
            return
        session, self._session = self._session, None
        task = asyncio.ensure_future(session.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        log.info("ami_on_demand_logged_off")

    async def close(self) -> None:
        self._closed = True
        self._cancel_idle()
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
