"""One AMI connection over panoramisk's Manager: login, events, actions with a timeout, clean close.

panoramisk reconnects on its own after a lost connection (about every ``reconnect_timeout`` s);
this wrapper adds what it lacks: an awaitable "logged in and FullyBooted", a timeout on every
action, and a close that does not schedule yet another reconnect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from typing import Any

import structlog
from panoramisk import Manager
from panoramisk.message import Message

log = structlog.get_logger("ivr.ami")

EventCallback = Callable[[dict[str, str]], None]


class AmiError(Exception):
    code = "ami_error"


class AmiTimeout(AmiError):
    code = "ami_timeout"


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk's Manager that stays closed once closed."""

    closing = False

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        if self.closing:
            return None
        return super().connect(*args, **kwargs)

    def connection_lost(self, exc: Any) -> None:
        if self.closing:
            return
        log.warning("ami_connection_lost")
        super().connection_lost(exc)


def _plain(event: Message) -> dict[str, str]:
    """The event as a plain dict of strings (a repeated header's list as its str(), as before).

    Read from panoramisk's own store of (key, value) pairs when it has one: its Mapping interface
    lower-cases each key on every lookup, which cost the event loop ~1 ms a call at a surge (py-spy)."""
    store = event.__dict__.get("_store")
    pairs = store.values() if type(store) is dict else event.items()
    return {str(key): value if type(value) is str else str(value) for key, value in pairs}


class AmiClient:
    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        events: str = "on",
        only_events: Collection[str] | None = None,
    ) -> None:
        """``events``: the event classes to receive ('on' for all, or e.g. 'system,agent').
        ``only_events``: the account's eventfilter lets no other event through (SERVICE_EVENTS): a
        listener for another would never be called, so ``on`` refuses it."""
        self._only_events = frozenset(only_events) if only_events is not None else None
        self._booted = asyncio.Event()
        self._listeners: list[tuple[str, EventCallback]] = []
        self._ready_hooks: list[Callable[[], None]] = []
        self.manager = _Manager(
            host=host,
            port=port,
            username=username,
            secret=secret,
            events=events,
            ping_delay=10,
            ping_interval=10,
            reconnect_timeout=1,
            encoding="utf-8",
            on_login=self._on_login,
            on_disconnect=self._on_disconnect,
            on_connect=lambda _manager: None,
        )
        self.manager.register_event("*", self._dispatch)

    def _on_login(self, _manager: Manager) -> None:
        log.info("ami_logged_in")

    def _on_disconnect(self, _manager: Manager, _exc: Any) -> None:
        self._booted.clear()

    def _dispatch(self, _manager: Manager, event: Message) -> None:
        name = str(event.get("Event", ""))
        if name == "FullyBooted":
            # Sent after every login, so also after a reconnect: state must be rebuilt then.
            self._booted.set()
            for hook in list(self._ready_hooks):
                hook()
        if name == "Shutdown":
            self._booted.clear()
        fields = _plain(event)
        for pattern, callback in list(self._listeners):
            if pattern in ("*", name):
                try:
                    callback(fields)
                except Exception:
                    # A listener's bug must not reach panoramisk: it would drop the AMI connection.
                    log.exception("ami_listener_failed", ami_event=name)

    def on(self, event: str, callback: EventCallback) -> Callable[[], None]:
        """Call ``callback(fields)`` for each event named ``event`` (or "*"); returns an unsubscribe."""
        if self._only_events is not None and event != "*" and event not in self._only_events:
            raise ValueError(f"AMI event {event!r} is filtered out for this account: add it to SERVICE_EVENTS")
        entry = (event, callback)
        self._listeners.append(entry)
        return lambda: self._listeners.remove(entry) if entry in self._listeners else None

    def on_ready(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` after each login that found Asterisk fully booted (reconnects included)."""
        self._ready_hooks.append(hook)
        if self.ready:
            hook()

    async def connect(self, timeout: float = 15.0) -> None:
        """Connect and wait until logged in and Asterisk is FullyBooted."""
        self.manager.connect()
        try:
            await asyncio.wait_for(self._booted.wait(), timeout)
        except TimeoutError as error:
            raise AmiTimeout(f"AMI not ready (FullyBooted) within {timeout:.0f}s") from error

    def start(self) -> None:
        """Connect in the background: panoramisk retries until Asterisk answers; ``action`` waits for
        the login (up to its timeout)."""
        self.manager.connect()

    @property
    def ready(self) -> bool:
        return self._booted.is_set()

    async def action(self, fields: dict[str, Any], timeout: float = 5.0, as_list: bool = False) -> Any:
        """Send an action; its first response (``as_list``: all messages up to the list's end).

        ``as_list`` is always explicit: panoramisk's guess takes QueueAdd's "Added interface to
        queue" for the start of a list and then waits forever.
        """
        if not self.ready:
            try:
                await asyncio.wait_for(self._booted.wait(), timeout)
            except TimeoutError as error:
                raise AmiTimeout(f"AMI not connected for {fields.get('Action')}") from error
        future = self.manager.send_action(dict(fields), as_list=as_list)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError as error:
            raise AmiTimeout(f"AMI action {fields.get('Action')} got no answer in {timeout}s") from error

    async def close(self) -> None:
        self.manager.closing = True
        self.manager.close()
        await asyncio.sleep(0)
