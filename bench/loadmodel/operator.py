"""A simulated operator at the console, as a real one works: logs in (POST /api/login), takes the SIP
credential the session issues (GET /api/me), registers a phone with it, says ready (POST /api/state),
reads the pop on the console's WebSocket, answers the ringing phone, talks, hangs up and gives the call
its outcome (POST /api/calls/{uniqueid}/outcome): the disposition prank triage learns from.

What the operator "knows" of a caller (how long they talk, what they really are) comes from the bench's
``CallBook`` by the pop's uniqueid: that is the simulated citizen, not something the console tells.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.loadmodel.engine import DISPOSITION, Caller
from bench.loadmodel.phone import Incoming, SipPhone
from ivr.web.console import COOKIE

POP_SECONDS = 5.0  # how long the phone may ring before the pop of its call shows
LOGIN_ATTEMPTS = 30


@dataclass
class Handled:
    """What an operator did with one call (seconds on ``time.time()``)."""

    operator: str
    answered_at: float
    hung_up_at: float = 0.0
    flagged: bool = False
    outcome: str = ""
    accepted: bool = False  # the console took the outcome
    settled: bool = False  # the outcome was posted, whatever the console answered


@dataclass
class CallBook:
    """The bench's simulated citizens by the uniqueid their call has in the queue, and what operators did."""

    callers: dict[str, Caller] = field(default_factory=dict)
    handled: dict[str, Handled] = field(default_factory=dict)
    talk_factor: Callable[[Caller], float] = lambda _caller: 1.0
    errors: list[str] = field(default_factory=list)

    def in_hand(self) -> int:
        """Calls an operator answered whose outcome is not posted yet (talking, or the pop lagging)."""
        return sum(not handled.settled for handled in self.handled.values())


class ConsoleOperator:
    def __init__(self, operator_id: str, password: str, web: str, sip: tuple[str, int], book: CallBook) -> None:
        self.id = operator_id
        self.password = password
        self.web = web
        self.sip = sip
        self.book = book
        self.pop: dict[str, Any] | None = None
        self.pop_changed = asyncio.Event()
        self.phone: SipPhone | None = None
        self.taken: set[str] = set()
        self._headers: dict[str, str] = {}

    async def shift(self, ready: asyncio.Event) -> None:
        """Log in, get ready, then take calls until cancelled."""
        async with aiohttp.ClientSession() as http:
            await self._login(http)
            async with http.get(f"{self.web}/api/me", headers=self._headers) as reply:
                sip = (await reply.json())["sip"]
            self.phone = SipPhone(self.sip, sip["user"], sip["password"])
            await self.phone.register()
            tasks = [
                asyncio.create_task(self._watch(http)),
                asyncio.create_task(self.phone.keep_registered()),
            ]
            try:
                await self._post(http, "/api/state", {"action": "available"})
                ready.set()
                while True:
                    await self._take(http, await self.phone.rings.get())
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self.phone.close()

    async def _login(self, http: aiohttp.ClientSession) -> None:
        body = {"operator": self.id, "password": self.password}
        for _attempt in range(LOGIN_ATTEMPTS):
            async with http.post(f"{self.web}/api/login", json=body) as reply:
                if reply.status == 429:  # a whole shift logging in at once: the console says when to retry
                    await asyncio.sleep(float((await reply.json()).get("retry_after", 1)))
                    continue
                if reply.status != 200:
                    raise ConnectionError(f"login of {self.id}: {reply.status} {await reply.text()}")
                csrf = (await reply.json())["csrf"]
                # Set by hand: the session cookie is Secure, and the bench speaks plain HTTP on loopback.
                self._headers = {"Cookie": f"{COOKIE}={reply.cookies[COOKIE].value}", "X-CSRF-Token": csrf}
                return
        raise ConnectionError(f"login of {self.id}: still refused after {LOGIN_ATTEMPTS} attempts")

    async def _post(self, http: aiohttp.ClientSession, path: str, body: dict[str, str]) -> bool:
        async with http.post(f"{self.web}{path}", json=body, headers=self._headers) as reply:
            if reply.status != 200:
                self.book.errors.append(f"{self.id} {path}: {reply.status} {await reply.text()}")
            return reply.status == 200

    async def _watch(self, http: aiohttp.ClientSession) -> None:
        """The console's live picture: the call in hand (its pop) as the page shows it."""
        async with http.ws_connect(f"{self.web}/ws", headers={"Cookie": self._headers["Cookie"]}) as socket:
            async for message in socket:
                data = message.json()
                if data.get("type") == "call":
                    self.pop = data["call"]
                    self.pop_changed.set()

    def _shows(self, phases: tuple[str, ...], uniqueid: str | None) -> bool:
        pop = self.pop
        if not pop or pop.get("phase") not in phases:
            return False
        # A call this operator already took may still show (its end not yet seen): not the one ringing.
        return pop.get("uniqueid") == uniqueid if uniqueid else pop.get("uniqueid") not in self.taken

    async def _pop(self, phases: tuple[str, ...], seconds: float, uniqueid: str | None = None) -> dict[str, Any] | None:
        """The pop once it shows a call in one of ``phases`` (``uniqueid``'s, or one not taken yet)."""
        deadline = time.monotonic() + seconds
        while not self._shows(phases, uniqueid):
            self.pop_changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self.pop_changed.wait(), remaining)
            except TimeoutError:
                return None
        return self.pop

    async def _take(self, http: aiohttp.ClientSession, ringing: Incoming) -> None:
        assert self.phone is not None
        pop = await self._pop(("ringing", "on_call"), POP_SECONDS)
        caller = self.book.callers.get(pop["uniqueid"]) if pop else None
        if pop is None or caller is None:
            self.book.errors.append(f"{self.id}: a call rang with no pop of a bench caller ({pop})")
            return
        uniqueid = pop["uniqueid"]
        self.taken.add(uniqueid)
        try:
            await asyncio.wait_for(ringing.ended.wait(), caller.answer_delay)
            return  # the caller gave up (or the queue rang someone else) while it rang
        except TimeoutError:
            pass
        self.phone.answer(ringing)
        handled = Handled(self.id, time.time())
        self.book.handled[uniqueid] = handled
        # The standing (flagged or not) comes with the completed pop, which may follow the ring.
        pop = await self._pop(("on_call",), POP_SECONDS, uniqueid) or pop
        handled.flagged = bool((pop.get("standing") or {}).get("flagged"))
        talk = caller.talk * (self.book.talk_factor(caller) if handled.flagged else 1.0)
        try:
            await asyncio.wait_for(ringing.ended.wait(), max(0.0, handled.answered_at + talk - time.time()))
        except TimeoutError:
            self.phone.hang_up(ringing)
        handled.hung_up_at = time.time()
        # The outcome needs the call in hand (on_call or after): the console's AgentConnect may lag the answer.
        await self._pop(("on_call", "wrap_up", "ended"), POP_SECONDS, uniqueid)
        handled.outcome = DISPOSITION[caller.kind]
        handled.accepted = await self._post(http, f"/api/calls/{uniqueid}/outcome", {"outcome": handled.outcome})
        handled.settled = True
