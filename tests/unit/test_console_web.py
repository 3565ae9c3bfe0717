"""The console over HTTP and WebSocket (ivr.web.console): auth, CSRF, roles, outcomes, audit, live pushes.

Served by ``build_web_app(..., console=Console(...))`` on aiohttp's test server, over the app_queue fake
and real stores; the passwords and the browser phones are small recording fakes of their protocols.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web import Application, Request

import ivr.web.console as console_module
from ivr.agi.server import AgiServer
from ivr.asterisk.phones import PhoneError
from ivr.config.live import LiveConfig
from ivr.config.roster import Operator
from ivr.operators.auth import FIRST_LOCK, SESSION_IDLE
from ivr.operators.states import AVAILABLE, WRAP_UP
from ivr.settings import Settings
from ivr.store.db import Target
from ivr.web.app import Routes, build_web_app
from ivr.web.console import COOKIE, Console
from tests.fakes.app_queue import settled, until
from tests.fakes.floor_kit import BUDI, DEWI, REPO, ROSTER, FloorKit, given_call, open_floor, shipped_config

ALT = REPO / "tests" / "fixtures" / "alt"
PASSWORDS = {
    "budi": "budi-rahasia-112",
    "ani": "ani-rahasia-112",
    "sari": "sari-rahasia-112",
    "dewi": "dewi-rahasia-112",
}
WS_URL = "wss://127.0.0.1:18089/ws"
UNIQUEID = "1733100000.7"
Client = TestClient[Request, Application]


class Clock:
    """The console's clock, moved by the test (sessions and the login throttle read it)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


@dataclass
class PasswordBook:
    """``Passwords``: a fixed book; records whose password was checked."""

    passwords: dict[str, str]
    checked: list[str] = field(default_factory=list)

    def verify(self, operator_id: str, password: str) -> bool:
        self.checked.append(operator_id)
        return self.passwords.get(operator_id) == password


@dataclass
class PhoneBook:
    """``Phones``: issues numbered SIP passwords and records revocations."""

    ws_url: str = WS_URL
    issued: list[tuple[str, str]] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    fail_revoke: bool = False

    async def issue(self, operator: Operator) -> str:
        secret = f"sip-{operator.id}-{len(self.issued) + 1}"
        self.issued.append((operator.id, secret))
        return secret

    async def revoke(self, operator: Operator) -> None:
        self.revoked.append(operator.id)
        if self.fail_revoke:
            raise PhoneError("res_pjsip reload refused: a full reload is running")

    def current(self, operator: Operator) -> str | None:
        """What Asterisk holds: the last password issued and not revoked since."""
        issued = [secret for op_id, secret in self.issued if op_id == operator.id]
        return issued[-1] if issued and operator.id not in self.revoked else None

    def account(self, operator: Operator, password: str) -> dict[str, str]:
        host = WS_URL.split("://", 1)[1].split(":", 1)[0]
        return {
            "ws_url": self.ws_url,
            "uri": f"sip:{operator.sip_user}@{host}",
            "user": operator.sip_user,
            "password": password,
            "display_name": operator.name,
        }


@dataclass
class Web:
    client: Client
    kit: FloorKit
    console: Console
    passwords: PasswordBook
    phones: PhoneBook
    clock: Clock


@functools.cache
def live_config() -> LiveConfig:
    return LiveConfig(ALT, None)


async def no_agi(_session: Any) -> None:
    return None


async def serve(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    secure_cookie: bool = False,
    behind_console: Callable[[Console], Sequence[Routes]] = lambda _console: (),
    store: Target | None = None,
    phones: PhoneBook | None = None,
) -> Web:
    """The console on aiohttp's test server; ``behind_console``: more routes under its guard.
    ``store`` and ``phones``: shared with another service (a standby on the same database and Asterisk)."""
    static = tmp_path / "static"
    static.mkdir(parents=True)
    (static / "login.html").write_text("<!doctype html><title>Masuk</title>", encoding="utf-8")
    (static / "console.html").write_text("<!doctype html><title>Konsol 112</title>", encoding="utf-8")
    monkeypatch.setattr(console_module, "STATIC_DIR", static)
    kit = await open_floor(tmp_path, store=store)
    passwords, phones, clock = PasswordBook(dict(PASSWORDS)), phones or PhoneBook(), Clock()
    console = Console(kit.floor, kit.console, passwords, phones, secure_cookie=secure_cookie, clock=clock)
    app = build_web_app(
        Settings(root=ALT), live_config(), AgiServer(no_agi), None, None, console, behind_console(console)
    )
    client: Client = TestClient(TestServer(app))
    await client.start_server()
    return Web(client, kit, console, passwords, phones, clock)


@pytest.fixture
async def web(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Web]:
    opened = await serve(tmp_path, monkeypatch)
    yield opened
    await opened.client.close()
    await opened.kit.close()


async def login(client: Client, operator: str = "budi", password: str | None = None) -> str:
    """Log in; returns the CSRF token."""
    response = await client.post("/api/login", json={"operator": operator, "password": password or PASSWORDS[operator]})
    assert response.status == 200, await response.text()
    body = await response.json()
    csrf: str = body["csrf"]
    return csrf


async def post(client: Client, path: str, body: Any, csrf: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"X-CSRF-Token": csrf} if csrf is not None else {}
    response = await client.post(path, json=body, headers=headers)
    return response.status, await response.json()


async def post_as(web: Web, operator: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    """A POST from another operator's console (their own session beside the test client's)."""
    other = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        response = await other.post(
            web.client.make_url("/api/login"), json={"operator": operator, "password": PASSWORDS[operator]}
        )
        csrf = (await response.json())["csrf"]
        response = await other.post(web.client.make_url(path), json=body, headers={"X-CSRF-Token": csrf})
        return response.status, await response.json()
    finally:
        await other.close()


async def a_call_rings(web: Web, operator: Operator = BUDI) -> None:
    """A routed call (darurat-umum, q112) rings ``operator``; waits for the floor's screen pop."""
    given_call(web.kit.calls, UNIQUEID, category="darurat-umum", queue="q112", started_at=datetime.now(UTC).isoformat())
    web.kit.fake.join(UNIQUEID, "q112", "081234567890")
    web.kit.fake.ring(UNIQUEID, operator.interface)
    # The pop is completed with the call's record and the caller's history (the store is read after).
    await until(
        lambda: operator.id in web.kit.floor.calls and web.kit.floor.calls[operator.id].standing is not None,
        what="the screen pop",
    )


async def a_call_is_answered(web: Web, operator: Operator = BUDI) -> None:
    """``a_call_rings`` and the operator answers: the call is theirs to close."""
    await a_call_rings(web, operator)
    web.kit.fake.connect(UNIQUEID, operator.interface)
    await until(lambda: web.kit.floor.calls[operator.id].phase == "on_call", what="the answer")


# Who may ask


async def test_anonymous_requests_are_401(web: Web) -> None:
    """No session: /api/me, /api/audit, POST /api/state and the WebSocket all answer 401 not_logged_in."""
    for method, path in (("GET", "/api/me"), ("GET", "/api/audit"), ("POST", "/api/state"), ("POST", "/api/logout")):
        response = await web.client.request(method, path, json={"action": "available"})
        assert (response.status, (await response.json())["error"]) == (401, "not_logged_in"), path
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await web.client.ws_connect("/ws")
    assert refused.value.status == 401
    assert web.kit.fake.sent("QueueAdd") == []


async def test_a_wrong_password_is_401_and_audited(web: Web) -> None:
    """Wrong password: 401 bad_credentials, no cookie, and a login_failed entry in the audit log."""
    response = await web.client.post("/api/login", json={"operator": "budi", "password": "tebakan"})
    assert (response.status, (await response.json())["error"]) == (401, "bad_credentials")
    assert COOKIE not in response.cookies
    assert [(e["actor"], e["action"]) for e in web.kit.console.audit_log()] == [("budi", "login_failed")]


async def test_an_unknown_operator_costs_a_password_check_too(web: Web) -> None:
    """An id not in the roster: the same 401, after the same password check (timing tells nothing)."""
    response = await web.client.post("/api/login", json={"operator": "hacker", "password": "x"})
    assert (response.status, (await response.json())["error"]) == (401, "bad_credentials")
    assert web.passwords.checked == ["hacker"]


async def test_a_login_body_that_is_not_the_expected_object_is_400(web: Web) -> None:
    """A password that is not a string: 400 invalid_body, nothing checked."""
    status, body = await post(web.client, "/api/login", {"operator": "budi", "password": 112}, None)
    assert (status, body["error"]) == (400, "invalid_body")
    assert web.passwords.checked == []


async def test_password_guessing_is_slowed(web: Web) -> None:
    """Wrong passwords: 401 four times, then 429; a try in the wait is 429 with Retry-After; after it, login works."""
    # The fifth failure already answers 429: FREE_FAILURES counts tries, the lock applies to the next one.
    codes = []
    for n in range(5):
        response = await web.client.post("/api/login", json={"operator": "budi", "password": f"salah-{n}"})
        codes.append(response.status)
    assert codes == [401, 401, 401, 401, 429]
    checked = len(web.passwords.checked)
    response = await web.client.post("/api/login", json={"operator": "budi", "password": PASSWORDS["budi"]})
    body = await response.json()
    assert (response.status, body["error"], body["retry_after"]) == (429, "too_many_attempts", FIRST_LOCK)
    assert response.headers["Retry-After"] == str(int(FIRST_LOCK))
    assert len(web.passwords.checked) == checked
    web.clock.now += FIRST_LOCK
    await login(web.client)


async def test_login_sets_an_httponly_strict_secure_cookie(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A good login: {"ok", "csrf"} and a session cookie that is HttpOnly, SameSite=Strict and Secure."""
    web = await serve(tmp_path, monkeypatch, secure_cookie=True)
    try:
        response = await web.client.post("/api/login", json={"operator": "budi", "password": PASSWORDS["budi"]})
        body = await response.json()
        assert (response.status, body["ok"]) == (200, True)
        cookie = response.cookies[COOKIE]
        assert cookie["httponly"] is True
        assert cookie["secure"] is True
        assert cookie["samesite"] == "Strict"
        assert cookie["path"] == "/"
        assert cookie.value not in (body["csrf"], "")
        assert web.phones.issued == [("budi", "sip-budi-1")]
        assert [(e["actor"], e["action"]) for e in web.kit.console.audit_log()] == [("budi", "login")]
    finally:
        await web.client.close()
        await web.kit.close()


async def test_a_session_made_on_one_service_is_accepted_by_its_standby(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_dsn: str
) -> None:
    """Two services on one PostgreSQL and one Asterisk, behind one address: budi logs in on A; when his
    page reconnects to B, B takes his cookie and CSRF token, gives his phone the SIP password Asterisk
    holds (no new one), and his logout on B ends the session on A too."""
    phones = PhoneBook()
    a = await serve(tmp_path / "a", monkeypatch, store=postgres_dsn, phones=phones)
    b = await serve(tmp_path / "b", monkeypatch, store=postgres_dsn, phones=phones)
    try:
        response = await a.client.post("/api/login", json={"operator": "budi", "password": PASSWORDS["budi"]})
        csrf = (await response.json())["csrf"]
        cookie = {"Cookie": f"{COOKIE}={response.cookies[COOKIE].value}"}
        me = await b.client.get("/api/me", headers=cookie)
        assert me.status == 200, await me.text()
        body = await me.json()
        assert (body["operator"]["id"], body["sip"]["password"]) == ("budi", "sip-budi-1")
        assert phones.issued == [("budi", "sip-budi-1")]
        state = await b.client.post(
            "/api/state", json={"action": "available"}, headers={**cookie, "X-CSRF-Token": csrf}
        )
        assert state.status == 200, await state.text()
        assert b.kit.fake.sent("QueueAdd"), "B acted for budi"
        async with b.client.ws_connect("/ws", headers=cookie) as socket:
            pushed = [(await socket.receive_json(timeout=5))["type"] for _message in range(3)]
            assert pushed == ["state", "queues", "call"]
        logout = await b.client.post("/api/logout", json={}, headers={**cookie, "X-CSRF-Token": csrf})
        assert logout.status == 200
        assert (await a.client.get("/api/me", headers=cookie)).status == 401
    finally:
        for web in (a, b):
            await web.client.close()
            await web.kit.close()


async def test_a_post_without_the_csrf_token_is_403(web: Web) -> None:
    """Logged in: POST /api/state without X-CSRF-Token, or with a wrong one, is 403 csrf; with it, 200."""
    csrf = await login(web.client)
    assert await post(web.client, "/api/state", {"action": "available"}, None) == (
        403,
        {"error": "csrf", "detail": "missing or wrong X-CSRF-Token: reload the page"},
    )
    status, body = await post(web.client, "/api/state", {"action": "available"}, csrf + "x")
    assert (status, body["error"]) == (403, "csrf")
    assert web.kit.fake.sent("QueueAdd") == []
    status, body = await post(web.client, "/api/state", {"action": "available"}, csrf)
    assert (status, body["ok"], body["state"]["state"]) == (200, True, AVAILABLE)
    assert list(web.kit.fake.memberships(BUDI.interface)) == ["q112"]


async def test_a_csrf_token_with_non_ascii_characters_is_403_not_a_crash(web: Web) -> None:
    """X-CSRF-Token with a non-ASCII character: refused as csrf (403), not a 500 from the comparison."""
    await login(web.client)
    response = await web.client.post(
        "/api/state", data=b'{"action": "available"}', headers={"X-CSRF-Token": "é", "Content-Type": "application/json"}
    )
    assert response.status == 403


async def test_a_cross_origin_post_is_403(web: Web) -> None:
    """Another site's Origin, or Sec-Fetch-Site: cross-site, is refused even with the CSRF token; our own is not."""
    csrf = await login(web.client)
    own = str(web.client.make_url("/")).rstrip("/")
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        response = await web.client.post(
            "/api/state", json={"action": "available"}, headers={"X-CSRF-Token": csrf, **headers}
        )
        assert (response.status, (await response.json())["error"]) == (403, "cross_origin"), headers
    response = await web.client.post(
        "/api/state", json={"action": "available"}, headers={"X-CSRF-Token": csrf, "Origin": own}
    )
    assert response.status == 200


async def test_a_cross_origin_login_is_403(web: Web) -> None:
    """Login CSRF: another site's page cannot log a browser in as someone."""
    response = await web.client.post(
        "/api/login",
        json={"operator": "budi", "password": PASSWORDS["budi"]},
        headers={"Origin": "http://evil.example"},
    )
    assert response.status == 403
    assert web.passwords.checked == []


async def test_a_cross_origin_websocket_is_refused(web: Web) -> None:
    """The WebSocket carries caller data: a handshake from another origin is refused like a cross-origin POST."""
    await login(web.client)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await web.client.ws_connect("/ws", headers={"Origin": "http://evil.example"})
    assert refused.value.status == 403


async def test_a_form_post_is_415(web: Web) -> None:
    """A form-encoded POST (what a cross-site form can send) is 415 not_json, even with the token."""
    csrf = await login(web.client)
    response = await web.client.post("/api/state", data={"action": "available"}, headers={"X-CSRF-Token": csrf})
    assert (response.status, (await response.json())["error"]) == (415, "not_json")
    assert web.kit.fake.sent("QueueAdd") == []


async def test_an_idle_session_is_401(web: Web) -> None:
    """Unused for SESSION_IDLE seconds: 401, the page goes back to /login."""
    await login(web.client)
    web.clock.now += SESSION_IDLE
    response = await web.client.get("/api/me")
    assert response.status == 401


async def test_an_operator_taken_off_the_roster_is_logged_out(web: Web) -> None:
    """budi's session outlives his place in the roster: 401 not_in_roster, and the session is gone."""
    await login(web.client)
    reduced = shipped_config({k: v for k, v in ROSTER.items() if k != "budi"})
    web.kit.floor.config = lambda: reduced
    response = await web.client.get("/api/me")
    assert (response.status, (await response.json())["error"]) == (401, "not_in_roster")
    assert web.kit.console.operators_with_sessions(web.clock(), SESSION_IDLE) == set()


# What an operator does


async def test_me_describes_the_operator_the_phone_and_the_keys(web: Web) -> None:
    """/api/me: who I am (agency label, queue labels), my browser phone's SIP identity, pause reasons, outcome keys."""
    csrf = await login(web.client)
    response = await web.client.get("/api/me")
    body = await response.json()
    sop = web.kit.config.sop
    assert body["operator"] == {
        "id": "budi",
        "name": "Budi Santoso",
        "role": "operator",
        "agency": "c112",
        "agency_label": sop.agencies["c112"].label,
        "queues": [{"name": "q112", "label": sop.agencies["c112"].label}],
    }
    assert body["csrf"] == csrf
    assert body["sip"] == {
        "ws_url": WS_URL,
        "uri": "sip:op-budi@127.0.0.1",
        "user": "op-budi",
        "password": "sip-budi-1",
        "display_name": "Budi Santoso",
    }
    assert body["pause_reasons"] == ["Istirahat", "Sholat", "Administrasi", "Pelatihan"]
    assert [(o["code"], o["key"]) for o in body["outcomes"]] == [
        ("genuine", "1"),
        ("info", "2"),
        ("prank", "3"),
        ("silent", "4"),
        ("misdial", "5"),
    ]
    assert response.headers["Cache-Control"] == "no-store"


async def test_state_pause_with_a_reason_and_the_checks_on_it(web: Web) -> None:
    """pause Sholat → paused in Asterisk; an unknown reason or action is 400 and changes nothing."""
    csrf = await login(web.client)
    status, body = await post(web.client, "/api/state", {"action": "pause", "reason": "Sholat"}, csrf)
    assert (status, body["state"]["state"], body["state"]["reason"]) == (200, "paused", "Sholat")
    assert [(m.paused, m.paused_reason) for m in web.kit.fake.memberships(BUDI.interface).values()] == [
        (True, "Sholat")
    ]
    pauses = len(web.kit.fake.sent("QueuePause"))
    status, body = await post(web.client, "/api/state", {"action": "pause", "reason": "Tidur"}, csrf)
    assert (status, body["error"]) == (400, "invalid_reason")
    status, body = await post(web.client, "/api/state", {"action": "sudo"}, csrf)
    assert (status, body["error"]) == (400, "invalid_action")
    assert len(web.kit.fake.sent("QueuePause")) == pauses


async def test_state_logout_leaves_the_queues_but_not_the_console(web: Web) -> None:
    """action logout: out of every queue, the console session stays (GET /api/me still 200)."""
    csrf = await login(web.client)
    await post(web.client, "/api/state", {"action": "available"}, csrf)
    status, body = await post(web.client, "/api/state", {"action": "logout"}, csrf)
    assert (status, body["state"]["state"]) == (200, "logged_out")
    assert web.kit.fake.memberships(BUDI.interface) == {}
    assert (await web.client.get("/api/me")).status == 200


async def test_an_operator_acts_only_as_themselves(web: Web) -> None:
    """A body naming another operator is ignored: budi's request pauses budi, never ani."""
    csrf = await login(web.client)
    await post(web.client, "/api/state", {"action": "pause", "reason": "Sholat", "operator": "ani"}, csrf)
    assert web.kit.fake.memberships("PJSIP/op-ani") == {}
    assert list(web.kit.fake.memberships(BUDI.interface)) == ["q112"]


async def test_asterisk_refusing_a_state_change_is_503(web: Web) -> None:
    """Asterisk answers Error to the pause: 503 asterisk_refused, nothing audited as done."""
    csrf = await login(web.client)
    await post(web.client, "/api/state", {"action": "available"}, csrf)
    web.kit.fake.refuse_next("QueuePause", "Interface not found")
    status, body = await post(web.client, "/api/state", {"action": "pause", "reason": "Istirahat"}, csrf)
    assert (status, body["error"]) == (503, "asterisk_refused")
    assert ("state", {"action": "pause", "reason": "Istirahat"}) not in [
        (e["action"], e["detail"]) for e in web.kit.console.audit_log()
    ]


# Outcomes


async def test_a_junk_outcome_closes_my_call_and_makes_me_available(web: Web) -> None:
    """prank for the call I had: 200, recorded, audited, and I am available again (wrap-up ended)."""
    csrf = await login(web.client)
    await post(web.client, "/api/state", {"action": "available"}, csrf)
    await a_call_rings(web)
    web.kit.fake.connect(UNIQUEID, BUDI.interface)
    web.kit.fake.complete(UNIQUEID, BUDI.interface)
    await until(lambda: web.kit.agents.state(BUDI).state == WRAP_UP, what="wrap-up")
    status, body = await post(web.client, f"/api/calls/{UNIQUEID}/outcome", {"outcome": "prank"}, csrf)
    assert (status, body["ok"], body["state"]["state"]) == (200, True, AVAILABLE)
    assert web.kit.calls.get(UNIQUEID)["disposition"] == "prank"  # type: ignore[index]
    assert ("outcome", {"outcome": "prank", "uniqueid": UNIQUEID}) in [
        (e["action"], e["detail"]) for e in web.kit.console.audit_log()
    ]


async def test_an_outcome_for_another_operators_call_is_403(web: Web) -> None:
    """ani sends an outcome for the call ringing budi: 403 not_your_call, nothing recorded."""
    csrf = await login(web.client)
    await post(web.client, "/api/state", {"action": "available"}, csrf)
    await a_call_rings(web)
    status, body = await post_as(web, "ani", f"/api/calls/{UNIQUEID}/outcome", {"outcome": "prank"})
    assert (status, body["error"]) == (403, "not_your_call")
    assert web.kit.calls.get(UNIQUEID)["disposition"] == ""  # type: ignore[index]


async def test_an_unknown_outcome_is_400(web: Web) -> None:
    """An outcome outside the dispositions, for my own call: 400 unknown_disposition."""
    csrf = await login(web.client)
    await post(web.client, "/api/state", {"action": "available"}, csrf)
    await a_call_is_answered(web)
    status, body = await post(web.client, f"/api/calls/{UNIQUEID}/outcome", {"outcome": "lucu"}, csrf)
    assert (status, body["error"]) == (400, "unknown_disposition")
    status, body = await post(web.client, f"/api/calls/{UNIQUEID}/outcome", ["prank"], csrf)
    assert (status, body["error"]) == (400, "invalid_body")


async def test_an_outcome_for_an_unknown_call_is_404(web: Web) -> None:
    """A supervisor (who may close any call) names a uniqueid nobody has: 404 unknown_call."""
    csrf = await login(web.client, "sari")
    status, body = await post(web.client, "/api/calls/0000.0/outcome", {"outcome": "prank"}, csrf)
    assert (status, body["error"]) == (404, "unknown_call")


async def test_the_unauthenticated_disposition_route_is_gone(web: Web) -> None:
    """The old POST /api/calls/{id}/disposition: 401 without a session, 404 with one."""
    response = await web.client.post(f"/api/calls/{UNIQUEID}/disposition", json={"disposition": "prank"})
    assert response.status == 401
    csrf = await login(web.client)
    response = await web.client.post(
        f"/api/calls/{UNIQUEID}/disposition", json={"disposition": "prank"}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status == 404


# Audit, logout, live pushes, pages


async def test_a_warm_transfer_is_completed_only_by_its_operator_and_audited(web: Web) -> None:
    """budi, his citizen on hold, posts Selesaikan: 409 no_consultation until dewi (Damkar) answered
    his consultation; ani: 403 not_your_call; Asterisk refusing the bridge: 503 transfer_failed; then
    200 with whom the call went to, audited."""
    csrf = await login(web.client)
    await post(web.client, "/api/state", {"action": "available"}, csrf)
    await a_call_is_answered(web)
    path = f"/api/calls/{UNIQUEID}/transfer"
    status, body = await post(web.client, path, {}, csrf)
    assert (status, body["error"]) == (409, "no_consultation")

    await web.kit.agents.available(DEWI)
    consult_leg = "1733100000.8"
    web.kit.fake.join(consult_leg, "q-damkar", "", "Budi", "PJSIP/op-budi-00000033", f"SIAGA_CONSULT_FOR={UNIQUEID}")
    web.kit.fake.ring(consult_leg, DEWI.interface)
    web.kit.fake.connect(consult_leg, DEWI.interface)
    await until(lambda: web.kit.floor.calls.get("dewi") and web.kit.floor.calls["dewi"].phase == "on_call", what="dewi")
    web.kit.fake.refuse_next("Bridge", "Channel1 does not exist: PJSIP/trunk112-00000007")
    status, body = await post(web.client, path, {}, csrf)
    assert (status, body["error"]) == (503, "transfer_failed")

    status, body = await post_as(web, "ani", path, {})
    assert (status, body["error"]) == (403, "not_your_call")

    status, body = await post(web.client, path, {}, csrf)
    assert (status, body) == (200, {"ok": True, "to": "dewi"})
    assert ("warm_transfer", {"uniqueid": UNIQUEID, "to": "dewi"}) in [
        (e["action"], e["detail"]) for e in web.kit.console.audit_log()
    ]


async def test_the_audit_log_is_for_supervisors(web: Web) -> None:
    """An operator reading /api/audit: 403; the supervisor: 200 with logins, state changes and outcomes."""
    csrf = await login(web.client)
    await post(web.client, "/api/state", {"action": "available"}, csrf)
    await a_call_is_answered(web)
    await post(web.client, f"/api/calls/{UNIQUEID}/outcome", {"outcome": "silent"}, csrf)
    response = await web.client.get("/api/audit")
    assert (response.status, (await response.json())["error"]) == (403, "forbidden")
    await login(web.client, "sari")
    response = await web.client.get("/api/audit")
    assert response.status == 200
    seen = [(e["actor"], e["action"]) for e in (await response.json())["entries"]]
    assert seen == [("sari", "login"), ("budi", "outcome"), ("budi", "state"), ("budi", "login")]


async def test_logout_revokes_the_sip_credential_and_leaves_the_queues(web: Web) -> None:
    """POST /api/logout: out of the queues, SIP password revoked, cookie gone, next request 401, audited."""
    csrf = await login(web.client)
    await post(web.client, "/api/state", {"action": "available"}, csrf)
    status, body = await post(web.client, "/api/logout", {}, csrf)
    assert (status, body) == (200, {"ok": True})
    assert web.phones.revoked == ["budi"]
    assert web.kit.fake.memberships(BUDI.interface) == {}
    assert web.kit.console.positions()["budi"].logged_in is False
    assert (await web.client.get("/api/me")).status == 401
    assert web.kit.console.audit_log()[0]["action"] == "logout"


async def test_logging_out_one_tab_keeps_the_operator_working_in_another(web: Web) -> None:
    """Two sessions for budi: logging out of one leaves him in the queues with his SIP credential."""
    other = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        await other.post(web.client.make_url("/api/login"), json={"operator": "budi", "password": PASSWORDS["budi"]})
        csrf = await login(web.client)
        await post(web.client, "/api/state", {"action": "available"}, csrf)
        await post(web.client, "/api/logout", {}, csrf)
        assert web.phones.revoked == []
        assert list(web.kit.fake.memberships(BUDI.interface)) == ["q112"]
        assert (await other.get(web.client.make_url("/api/me"))).status == 200
    finally:
        await other.close()


async def test_the_websocket_sends_the_picture_then_the_screen_pop(web: Web) -> None:
    """/ws on connect: state, queues, call (none); when the fake rings budi: a call message with the pop."""
    csrf = await login(web.client)
    await post(web.client, "/api/state", {"action": "available"}, csrf)
    socket = await web.client.ws_connect("/ws")
    try:
        first = [await socket.receive_json(timeout=3) for _ in range(3)]
        assert [m["type"] for m in first] == ["state", "queues", "call"]
        assert (first[0]["state"]["state"], first[2]["call"]) == (AVAILABLE, None)
        assert first[1]["queues"][0]["name"] == "q112"
        await a_call_rings(web)
        # The pop goes out at once, then again completed from the store (category, history, standing).
        while True:
            message = await socket.receive_json(timeout=3)
            if message["type"] == "call" and message["call"] is not None and message["call"]["category"]:
                break
        pop = message["call"]
        assert (pop["uniqueid"], pop["caller"], pop["category"], pop["phase"]) == (
            UNIQUEID,
            "081234567890",
            "darurat-umum",
            "ringing",
        )
        assert pop["category_label"] == web.kit.config.sop.categories["darurat-umum"].label
    finally:
        await socket.close()
    await settled()
    assert web.kit.floor._subscribers["budi"] == []  # closed socket: unsubscribed


async def test_pages_carry_the_security_headers(web: Web) -> None:
    """/login and / are served with a strict CSP (our origin and the phone's WSS only), nosniff, no framing."""
    for path in ("/login", "/"):
        response = await web.client.get(path)
        assert response.status == 200, path
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp
        assert "script-src 'self'" in csp
        assert "connect-src 'self' wss://127.0.0.1:18089" in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"


# Review fixes: sessions that end elsewhere, ids that are not ids


async def test_an_operator_whose_sessions_ended_elsewhere_leaves_the_queues_at_the_next_sweep(web: Web) -> None:
    """`ivr passwd` ends budi's sessions: the sweep takes him out of q112 and revokes his phone,
    and a phone that cannot be revoked (Asterisk busy) does not stop the sweep."""
    csrf = await login(web.client)
    await post(web.client, "/api/state", {"action": "available"}, csrf)
    await settled()
    assert web.kit.console.end_sessions_of("budi") == 1
    web.phones.fail_revoke = True
    await web.console.sweep_once()
    await settled()
    assert [fields["Interface"] for fields in web.kit.fake.sent("QueueRemove")] == [BUDI.interface]
    assert web.kit.agents.state(BUDI).state == "logged_out"
    assert ("budi", "session_expired") in [(e["actor"], e["action"]) for e in web.kit.console.audit_log()]


async def test_a_login_with_something_that_is_no_id_is_refused_and_not_logged(web: Web) -> None:
    """A password typed into the id field: 401, and the audit log does not keep the text."""
    response = await web.client.post("/api/login", json={"operator": "Rahasia Sekali 123!", "password": "x"})
    assert response.status == 401
    assert all("Rahasia" not in str(entry) for entry in web.kit.console.audit_log())
