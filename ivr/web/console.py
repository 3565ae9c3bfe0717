"""The console over HTTP: login, the operator's own state and outcomes, the live picture on a WebSocket.

Only translation lives here (auth, CSRF, JSON, sockets); the rules are in ``ivr.operators`` and the
Asterisk actions in ``ivr.ami.agents``. Every state-changing request needs a session cookie and the
session's CSRF token in ``X-CSRF-Token``; an operator acts only as themselves (no request names
another operator); supervisors and admins read the audit log. The contract with the page (ivr/web/static/) is
docs/console-api.md.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import structlog
from aiohttp import WSMsgType, web

from ivr.ami.agents import AgentActionFailed
from ivr.ami.client import AmiError
from ivr.asterisk.phones import PhoneError
from ivr.config.roster import Operator
from ivr.config.spec import NAME
from ivr.operators.auth import SESSION_IDLE, SESSION_LIFETIME, LoginThrottle, new_token
from ivr.operators.floor import OUTCOME_KEYS, Floor, NoConsultation, NotYourCall, TransferFailed
from ivr.operators.states import PAUSE_REASONS
from ivr.store.calls import UnknownDisposition
from ivr.store.console import ConsoleStore, Session
from ivr.web.http import cross_site_or_not_json, error, json_object, security_headers, too_many

log = structlog.get_logger("ivr.web")

STATIC_DIR = Path(__file__).parent / "static"
COOKIE = "siaga_session"
# The page's WebSocket keeps the session alive while it is open; a closed tab does not.
WS_TOUCH_INTERVAL = 60.0
SESSION_SWEEP_INTERVAL = 60.0
STATE_ACTIONS = ("available", "pause", "logout")
# Logins being verified at once (each ~0.3 s of scrypt on one thread); more wait is refused at once.
MAX_VERIFYING = 4


class Passwords(Protocol):
    def verify(self, operator_id: str, password: str) -> bool: ...


class Phones(Protocol):
    """The operators' browser phones in Asterisk (``ivr.asterisk.phones.BrowserPhones``)."""

    ws_url: str

    async def issue(self, operator: Operator) -> str:
        """A fresh SIP password that works from now on (the old one stops working)."""

    async def revoke(self, operator: Operator) -> None: ...

    def current(self, operator: Operator) -> str | None:
        """The password Asterisk accepts now, if any."""

    def account(self, operator: Operator, password: str) -> dict[str, str]:
        """The ``sip`` object of /api/me: what JsSIP needs to register."""


SESSION_KEY = web.RequestKey("console_session", Session)


class Console:
    def __init__(
        self,
        floor: Floor,
        sessions: ConsoleStore,
        passwords: Passwords,
        phones: Phones,
        secure_cookie: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.floor = floor
        self.sessions = sessions
        self.passwords = passwords
        self.phones = phones
        self.secure_cookie = secure_cookie
        self.clock = clock
        self.throttle = LoginThrottle()
        # SIP passwords issued for live sessions; after a restart of the service a new one is issued.
        self.sip_passwords: dict[str, str] = {}
        self.sockets: set[web.WebSocketResponse] = set()
        self._scrypt = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scrypt")
        self._verifying = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.page("console.html"))
        app.router.add_get("/login", self.page("login.html"))
        app.router.add_static("/static/", STATIC_DIR, append_version=False)
        app.router.add_post("/api/login", self.login)
        app.router.add_post("/api/logout", self.logout)
        app.router.add_get("/api/me", self.me)
        app.router.add_post("/api/state", self.state)
        app.router.add_post("/api/calls/{uniqueid}/outcome", self.outcome)
        app.router.add_post("/api/calls/{uniqueid}/transfer", self.complete_transfer)
        app.router.add_get("/api/audit", self.audit)
        app.router.add_get("/ws", self.websocket)
        app.middlewares.append(self.guard)
        app.on_shutdown.append(self._close_sockets)

    async def _close_sockets(self, _app: web.Application) -> None:
        """A stopping service says so to every console (1001: going away), which reconnects to the next
        one at once; otherwise the server's graceful shutdown would wait on each open socket."""
        await asyncio.gather(
            *(socket.close(code=1001, message=b"service restarting") for socket in list(self.sockets)),
            return_exceptions=True,
        )

    def page(self, name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def serve(_request: web.Request) -> web.StreamResponse:
            return web.FileResponse(STATIC_DIR / name, headers={"Cache-Control": "no-store"})

        return serve

    # Middleware: who is asking, and may they
    @web.middleware
    async def guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        path = request.path
        # /ws/* too: other pages' live sockets (the wallboard's) get the same session and origin rules.
        websocket = path == "/ws" or path.startswith("/ws/")
        needs_session = (path.startswith("/api/") and path not in ("/api/login", "/api/sop")) or websocket
        if websocket and request.headers.get("Origin") not in (None, f"{request.scheme}://{request.host}"):
            return error(403, "cross_origin", "a WebSocket from another site is refused")  # it carries caller data
        if request.method == "POST":
            refused = cross_site_or_not_json(request)
            if refused is not None:
                return refused
        if needs_session:
            session = self._session(request)
            if session is None:
                return error(401, "not_logged_in", "log in first")
            if session.operator not in self.floor.roster():
                # Taken out of the roster: the session ends here; the sweep takes them out of the queues.
                self.sessions.end_session(request.cookies.get(COOKIE, ""))
                return error(401, "not_in_roster", "this operator is no longer in the roster")
            if request.method == "POST" and not hmac.compare_digest(
                request.headers.get("X-CSRF-Token", "").encode("utf-8", "surrogateescape"), session.csrf.encode()
            ):
                return error(403, "csrf", "missing or wrong X-CSRF-Token: reload the page")
            request[SESSION_KEY] = session
        response = await handler(request)
        security_headers(response, self.phones.ws_url)
        return response

    def _session(self, request: web.Request) -> Session | None:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        return self.sessions.session(token, self.clock(), SESSION_IDLE)

    def operator_of(self, request: web.Request) -> Operator:
        """The logged-in operator of a request the guard let through (a session is there)."""
        return self.floor.roster()[request[SESSION_KEY].operator]

    # Handlers
    async def login(self, request: web.Request) -> web.Response:
        """``{"operator", "password"}`` → ``{"ok", "csrf"}`` and the session cookie; 401; 429."""
        body = await json_object(request)
        if body is None or not isinstance(body.get("operator"), str) or not isinstance(body.get("password"), str):
            return error(400, "invalid_body", 'expected {"operator": "...", "password": "..."}')
        operator_id, password = body["operator"].strip(), body["password"]
        if not NAME.fullmatch(operator_id) or len(password) > 256:
            # Not an id at all (a password typed in the wrong field?): never logged, never a throttle key.
            return error(401, "bad_credentials", "unknown operator or wrong password")
        # An id is locked per address (a stranger elsewhere cannot keep an operator out); an address
        # that sprays ids is locked on its own.
        keys = (f"operator:{operator_id}@{request.remote}", f"address:{request.remote}")
        now = self.clock()
        wait = self.throttle.retry_after(keys, now)
        if wait > 0:
            return too_many(wait)
        if self._verifying >= MAX_VERIFYING:
            return too_many(1.0)
        operator = self.floor.roster().get(operator_id)
        self._verifying += 1
        try:
            # Unknown ids spend the same scrypt as known ones (PasswordFile.verify): timing tells nothing.
            # Its own thread: a burst of logins must not take the threads the calls' history lookups use.
            valid = await asyncio.get_running_loop().run_in_executor(
                self._scrypt, self.passwords.verify, operator_id, password
            )
        finally:
            self._verifying -= 1
        if operator is None or not valid:
            wait = self.throttle.failed(keys, now)
            known = operator_id if operator is not None else "(not in the roster)"
            self.sessions.audit(known, "login_failed", {"address": request.remote})
            log.warning("console_login_failed", operator=known, address=request.remote)
            if wait > 0:
                return too_many(wait)
            return error(401, "bad_credentials", "unknown operator or wrong password")
        self.throttle.succeeded(keys[0])
        # The phone first: a session without a working phone credential would outlive a failed login.
        try:
            self.sip_passwords[operator.id] = await self.phones.issue(operator)
        except PhoneError as failure:
            log.error("console_login_phone_failed", operator=operator.id, error=str(failure))
            return error(503, "phone_unavailable", f"the browser phone could not be set up: {failure}")
        token, csrf = new_token(), secrets.token_urlsafe(24)
        self.sessions.add_session(token, operator.id, csrf, now, SESSION_LIFETIME)
        self.sessions.audit(operator.id, "login", {"address": request.remote})
        log.info("console_login", operator=operator.id)
        response = web.json_response({"ok": True, "csrf": csrf})
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            secure=self.secure_cookie,
            samesite="Strict",
            max_age=int(SESSION_LIFETIME),
            path="/",
        )
        return response

    async def logout(self, request: web.Request) -> web.Response:
        operator = self.operator_of(request)
        self.sessions.end_session(request.cookies.get(COOKIE, ""))
        self.sessions.audit(operator.id, "logout")
        if operator.id not in self.sessions.operators_with_sessions(self.clock(), SESSION_IDLE):
            await self._leave(operator)
        response = web.json_response({"ok": True})
        response.del_cookie(COOKIE, path="/")
        return response

    async def _leave(self, operator: Operator) -> None:
        """The operator's last session ended: out of the queues, and their SIP credential revoked."""
        try:
            await self.floor.agents.logout(operator)
        except (AgentActionFailed, AmiError) as failure:
            log.error("console_logout_queues_failed", operator=operator.id, error=str(failure))
        self.sip_passwords.pop(operator.id, None)
        try:
            await self.phones.revoke(operator)
        except PhoneError as failure:
            log.error("console_logout_phone_failed", operator=operator.id, error=str(failure))

    async def me(self, request: web.Request) -> web.Response:
        operator = self.operator_of(request)
        session = request[SESSION_KEY]
        if operator.id not in self.sip_passwords:
            # Our service restarted under a live session: the phone keeps the password Asterisk holds.
            self.sip_passwords[operator.id] = self.phones.current(operator) or await self.phones.issue(operator)
        sop = self.floor.config().sop
        agency = sop.agencies.get(operator.agency)
        queues = []
        for name in operator.queues:
            owner = sop.agency_of(name)
            queues.append({"name": name, "label": owner.label if owner else name})
        return web.json_response(
            {
                "operator": {
                    "id": operator.id,
                    "name": operator.name,
                    "role": operator.role,
                    "agency": operator.agency,
                    "agency_label": agency.label if agency else operator.agency,
                    "queues": queues,
                },
                "csrf": session.csrf,
                "sip": self.phones.account(operator, self.sip_passwords[operator.id]),
                # Where a call in hand may be sent (a blind transfer): the SOP's queues but the operator's own.
                "transfer_targets": [
                    {"queue": name, "label": f"{owner.label} ({name})" if (owner := sop.agency_of(name)) else name}
                    for name in sorted(sop.queues)
                    if name not in operator.queues
                ],
                "pause_reasons": list(PAUSE_REASONS),
                "outcomes": [{"code": code, "key": key} for code, key in OUTCOME_KEYS],
            },
            headers={"Cache-Control": "no-store"},
        )

    async def state(self, request: web.Request) -> web.Response:
        """``{"action": "available" | "pause" | "logout", "reason"?}`` for the operator themselves."""
        operator = self.operator_of(request)
        body = await json_object(request)
        action = body.get("action") if body else None
        if action not in STATE_ACTIONS:
            return error(400, "invalid_action", f"action must be one of: {', '.join(STATE_ACTIONS)}")
        reason = body.get("reason") if body else None
        if action == "pause" and reason not in PAUSE_REASONS:
            return error(400, "invalid_reason", f"reason must be one of: {', '.join(PAUSE_REASONS)}")
        agents = self.floor.agents
        try:
            if action == "available":
                await agents.available(operator)
            elif action == "pause":
                await agents.pause(operator, str(reason))
            else:
                await agents.logout(operator)
        except (AgentActionFailed, AmiError) as failure:
            return error(503, "asterisk_refused", f"Asterisk did not take it: {failure}")
        self.sessions.audit(operator.id, "state", {"action": action, "reason": reason})
        self.floor.push(operator.id)
        return web.json_response({"ok": True, "state": self.floor.picture(operator)[0]["state"]})

    async def outcome(self, request: web.Request) -> web.Response:
        """``{"outcome": "prank"}`` for a call the operator has (or had) in hand."""
        operator = self.operator_of(request)
        body = await json_object(request)
        outcome = body.get("outcome") if body else None
        if not isinstance(outcome, str):
            return error(400, "invalid_body", 'expected a JSON object like {"outcome": "prank"}')
        uniqueid = request.match_info["uniqueid"]
        try:
            found = await self.floor.outcome(operator, uniqueid, outcome)
        except UnknownDisposition as failure:
            return error(400, failure.code, str(failure))
        except NotYourCall as failure:
            return error(403, failure.code, str(failure))
        except (AgentActionFailed, AmiError) as failure:
            # The outcome is recorded; only ending the wrap-up failed.
            log.error("outcome_wrapup_end_failed", operator=operator.id, error=str(failure))
            found = True
        if not found:
            return error(404, "unknown_call", "no call with this uniqueid")
        self.sessions.audit(operator.id, "outcome", {"uniqueid": uniqueid, "outcome": outcome})
        return web.json_response({"ok": True, "state": self.floor.picture(operator)[0]["state"]})

    async def complete_transfer(self, request: web.Request) -> web.Response:
        """Selesaikan: the citizen of my call in hand goes to the agency operator who answered my
        consultation about it (``Floor.complete_transfer``); my own legs end."""
        operator = self.operator_of(request)
        uniqueid = request.match_info["uniqueid"]
        try:
            to = await self.floor.complete_transfer(operator, uniqueid)
        except NotYourCall as failure:
            return error(403, failure.code, str(failure))
        except NoConsultation as failure:
            return error(409, failure.code, str(failure))
        except TransferFailed as failure:
            return error(503, failure.code, str(failure))
        self.sessions.audit(operator.id, "warm_transfer", {"uniqueid": uniqueid, "to": to})
        return web.json_response({"ok": True, "to": to})

    async def audit(self, request: web.Request) -> web.Response:
        operator = self.operator_of(request)
        if operator.role not in ("supervisor", "admin"):
            return error(403, "forbidden", "the audit log is for supervisors and admins")
        return web.json_response({"entries": self.sessions.audit_log()})

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        operator = self.operator_of(request)
        token = request.cookies.get(COOKIE, "")
        socket = web.WebSocketResponse(heartbeat=20.0)
        await socket.prepare(request)
        self.sockets.add(socket)
        outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        unsubscribe = self.floor.subscribe(operator, outbox.put_nowait)
        sender = asyncio.create_task(self._send_or_close(socket, outbox, token))
        try:
            async for message in socket:
                if message.type == WSMsgType.ERROR:
                    break
        finally:
            self.sockets.discard(socket)
            unsubscribe()
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        return socket

    async def _send_loop(
        self, socket: web.WebSocketResponse, outbox: asyncio.Queue[dict[str, Any]], token: str
    ) -> None:
        next_touch = self.clock() + WS_TOUCH_INTERVAL
        while not socket.closed:
            try:
                message = await asyncio.wait_for(outbox.get(), WS_TOUCH_INTERVAL)
                await socket.send_json(message)
            except TimeoutError:
                pass
            if self.clock() >= next_touch:
                next_touch = self.clock() + WS_TOUCH_INTERVAL
                if self.sessions.session(token, self.clock(), SESSION_IDLE) is None:
                    await socket.close(code=4401, message=b"session ended")
                    return

    async def _send_or_close(
        self, socket: web.WebSocketResponse, outbox: asyncio.Queue[dict[str, Any]], token: str
    ) -> None:
        """A failure here (the store, the socket) closes the socket: the page reconnects and says so,
        instead of looking connected while no pop can reach it."""
        try:
            await self._send_loop(socket, outbox, token)
        except Exception:
            log.exception("console_websocket_send_failed")
            await socket.close(code=1011, message=b"server error")

    async def sweep_sessions(self) -> None:
        """Sessions that died of age or idleness, or were ended elsewhere (``ivr passwd``): their
        operators leave the queues, visibly (audit). One failure never ends the sweep."""
        while True:
            await asyncio.sleep(SESSION_SWEEP_INTERVAL)
            try:
                await self.sweep_once()
            except Exception:
                log.exception("console_session_sweep_failed")

    async def sweep_once(self) -> None:
        now = self.clock()
        expired = set(self.sessions.expire_sessions(now, SESSION_IDLE))
        alive = self.sessions.operators_with_sessions(now, SESSION_IDLE)
        # In the queues by the console's word, with no session left to answer for it.
        orphans = {op for op, position in self.sessions.positions().items() if position.logged_in} - alive
        roster = self.floor.roster()
        for operator_id in sorted(expired | orphans):
            self.sessions.audit(operator_id, "session_expired")
            log.warning("console_session_expired", operator=operator_id)
            # Someone taken out of the roster may still be a queue member: only their id is needed for that.
            await self._leave(roster.get(operator_id) or Operator(operator_id, operator_id, "operator", "", ()))
