"""The console's pages (ivr/web/static/) in a real headless Chromium against a FAKE of our server.

`FakeConsoleServer` is not ivr/web: it is a throw-away aiohttp app in this file that speaks the
contract of docs/console-api.md with canned data, so the page's behaviour (login, screen pop, shortcuts,
CSRF header, reconnect) is proved without Asterisk. The real server and WebRTC audio are proved by the
end-to-end tests on the real stack. Chromium is Debian's (/usr/bin/chromium), driven by Playwright.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSCloseCode, web
from playwright.async_api import Browser, BrowserContext, Dialog, Page, async_playwright, expect

STATIC = Path(__file__).resolve().parents[2] / "ivr" / "web" / "static"
CHROMIUM = "/usr/bin/chromium"
OPERATOR, PASSWORD = "budi", "rahasia-112"
RATE_LIMITED = "dibatasi"  # the fake answers 429 for this operator id
HOSTILE = "<img src=x onerror=alert(1)>\"'"
SESSION_COOKIE = "siaga_session"
UID = "1733100000.42"

JsonDict = dict[str, Any]


def canned_call(**overrides: Any) -> JsonDict:
    call: JsonDict = {
        "uniqueid": UID,
        "phase": "on_call",
        "caller": "081234567890",
        "caller_name": "Siti Aminah",
        "keys": "11",
        "keys_known": True,
        "category": "kebakaran",
        "category_label": "Kebakaran",
        "emergency": True,
        "queue": "q-damkar",
        "route_reason": "office hours",
        "route_reason_id": "jam kantor",
        "waited_seconds": 8.1,
        "rang_at": 1733100000.0,
        "history": [{"at": "2026-12-01T10:00:00+07:00", "outcome": "prank", "category": "kebakaran"}],
        "standing": {
            "flag": "prank",
            "flagged": True,
            "level": 1,
            "until": "2026-12-03T10:00:00+07:00",
            "whitelisted": False,
            "pranks": 3,
            "silent": 0,
        },
        "checklist": ["Alamat lengkap", "Ada korban?"],
        "outcome": None,
    }
    call.update(overrides)
    return call


@dataclass(frozen=True)
class RecordedPost:
    path: str
    body: JsonDict
    csrf: str | None
    content_type: str


@dataclass
class FakeConsoleServer:
    """A fake of the lead's ivr/web server: the docs/console-api.md contract, canned data, in-process."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    sessions: set[str] = field(default_factory=set)
    state: JsonDict = field(
        default_factory=lambda: {"state": "on_call", "reason": None, "since": 0.0, "wrapup_until": None}
    )
    queues: list[JsonDict] = field(
        default_factory=lambda: [
            {"name": "q112", "label": "112 Umum", "waiting": 2, "longest_wait": 14.2, "available": 1}
        ]
    )
    call: JsonDict | None = field(default_factory=canned_call)
    posts: list[RecordedPost] = field(default_factory=list)
    sockets: set[web.WebSocketResponse] = field(default_factory=set)
    refuse_ws: bool = False
    url: str = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/login", self.page("login.html"))
        app.router.add_get("/", self.page("console.html"))
        app.router.add_static("/static/", STATIC)
        app.router.add_post("/api/login", self.login)
        app.router.add_get("/api/me", self.me)
        app.router.add_post("/api/state", self.set_state)
        app.router.add_post("/api/logout", self.logout)
        app.router.add_post("/api/calls/{uniqueid}/outcome", self.outcome)
        app.router.add_get("/ws", self.websocket)
        return app

    @staticmethod
    def page(name: str) -> Any:
        async def handler(_request: web.Request) -> web.StreamResponse:
            return web.FileResponse(STATIC / name)

        return handler

    def _authed(self, request: web.Request) -> bool:
        return request.cookies.get(SESSION_COOKIE) in self.sessions

    @staticmethod
    def _error(status: int, code: str) -> web.Response:
        return web.json_response({"error": code, "detail": code}, status=status)

    async def login(self, request: web.Request) -> web.StreamResponse:
        if request.content_type != "application/json":
            return self._error(415, "json_only")
        body = await request.json()
        if body.get("operator") == RATE_LIMITED:
            return web.json_response({"error": "too_many_attempts", "retry_after": 12}, status=429)
        if (body.get("operator"), body.get("password")) != (OPERATOR, PASSWORD):
            return self._error(401, "bad_credentials")
        sid = secrets.token_urlsafe(16)
        self.sessions.add(sid)
        response = web.json_response({"ok": True, "csrf": self.csrf})
        response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="Strict")
        return response

    async def me(self, request: web.Request) -> web.StreamResponse:
        if not self._authed(request):
            return self._error(401, "unauthorized")
        return web.json_response(
            {
                "operator": {
                    "id": OPERATOR,
                    "name": "Budi Santoso",
                    "role": "operator",
                    "agency": "c112",
                    "agency_label": "112 Kominfo",
                    "queues": [{"name": "q112", "label": "112 Umum"}],
                },
                "csrf": self.csrf,
                # No SIP server in this fake: the page's phone fails to register and says so.
                "sip": {
                    "ws_url": self.url.replace("http", "ws") + "/no-sip-here",
                    "uri": "sip:op-budi@127.0.0.1",
                    "user": "op-budi",
                    "password": "x",
                    "display_name": "Budi Santoso",
                },
                "pause_reasons": ["Istirahat", "Sholat", "Administrasi", "Pelatihan"],
                "outcomes": [
                    {"code": c, "key": str(i)}
                    for i, c in enumerate(["genuine", "info", "prank", "silent", "misdial"], 1)
                ],
            }
        )

    async def _guarded_post(self, request: web.Request) -> JsonDict | web.Response:
        if not self._authed(request):
            return self._error(401, "unauthorized")
        if request.headers.get("X-CSRF-Token") != self.csrf:
            return self._error(403, "csrf")
        if request.content_type != "application/json":
            return self._error(415, "json_only")
        body: JsonDict = await request.json()
        self.posts.append(RecordedPost(request.path, body, request.headers.get("X-CSRF-Token"), request.content_type))
        return body

    async def set_state(self, request: web.Request) -> web.StreamResponse:
        body = await self._guarded_post(request)
        if isinstance(body, web.Response):
            return body
        return web.json_response({"ok": True, "state": self.state})

    async def logout(self, request: web.Request) -> web.StreamResponse:
        body = await self._guarded_post(request)
        if isinstance(body, web.Response):
            return body
        self.sessions.discard(request.cookies.get(SESSION_COOKIE, ""))
        return web.json_response({"ok": True})

    async def outcome(self, request: web.Request) -> web.StreamResponse:
        body = await self._guarded_post(request)
        if isinstance(body, web.Response):
            return body
        if self.call is None or request.match_info["uniqueid"] != self.call["uniqueid"]:
            return self._error(404, "unknown_call")
        return web.json_response({"ok": True, "state": self.state})

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        if not self._authed(request):
            return self._error(401, "unauthorized")
        if self.refuse_ws:
            return self._error(503, "restarting")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.add(ws)
        try:
            await ws.send_json({"type": "state", "state": self.state})
            await ws.send_json({"type": "queues", "queues": self.queues})
            await ws.send_json({"type": "call", "call": self.call})
            async for _ in ws:
                pass
        finally:
            self.sockets.discard(ws)
        return ws

    async def drop_sockets(self) -> None:
        """What a service restart or a network blip looks like from the page."""
        for ws in list(self.sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY)

    def outcome_posts(self) -> list[str]:
        return [p.body.get("outcome", "") for p in self.posts if p.path.endswith("/outcome")]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"],
        )
        yield chromium
        await chromium.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeConsoleServer]:
    server = FakeConsoleServer()
    runner = web.AppRunner(server.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.url = f"http://127.0.0.1:{port}"
    yield server
    await server.drop_sockets()
    await runner.cleanup()


@dataclass
class Watched:
    """A page with every dialog and uncaught script error it raised."""

    page: Page
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
async def context(browser: Browser, fake: FakeConsoleServer) -> AsyncIterator[BrowserContext]:
    # A browser zone far from WIB, so a time converted to the browser's zone would show.
    ctx = await browser.new_context(base_url=fake.url, timezone_id="America/New_York")
    ctx.set_default_timeout(5_000)
    yield ctx
    await ctx.close()


@pytest.fixture
async def watched(context: BrowserContext) -> Watched:
    page = await context.new_page()
    watched = Watched(page)

    async def on_dialog(dialog: Dialog) -> None:
        watched.dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda exc: watched.errors.append(str(exc)))
    return watched


# Stands in for the vendored JsSIP in the phone test: records what the page asks of the library, and the
# order of its fetches, so "hang up, then record" is visible. The real JsSIP is loaded everywhere else.
FAKE_JSSIP = """
window.__sip = [];
(() => {
  const log = window.__sip;
  const realFetch = window.fetch.bind(window);
  window.fetch = (url, init) => { log.push(["fetch", String(url)]); return realFetch(url, init); };
  class Emitter {
    constructor() { this.handlers = {}; }
    on(ev, fn) { (this.handlers[ev] = this.handlers[ev] || []).push(fn); }
    emit(ev, arg) { for (const fn of this.handlers[ev] || []) fn(arg); }
  }
  class Session extends Emitter {
    constructor() { super(); this.ended = false; this.connection = null; }
    answer(options) { log.push(["answer", options]); this.emit("accepted", {}); this.emit("confirmed", {}); }
    terminate() { log.push(["terminate"]); this.ended = true; this.emit("ended", {}); }
    isEnded() { return this.ended; }
    isMuted() { return { audio: false }; }
    isOnHold() { return { local: false }; }
  }
  class UA extends Emitter {
    constructor(config) { super(); log.push(["ua", config.uri, config.authorization_user]); window.__ua = this; }
    start() { this.emit("connecting", {}); this.emit("registered", {}); }
    stop() {}
    ring() { this.emit("newRTCSession", { originator: "remote", session: new Session() }); }
  }
  window.JsSIP = { UA, WebSocketInterface: function (url) { log.push(["ws", url]); }, version: "fake" };
})();
"""


async def given_logged_in(context: BrowserContext, page: Page) -> None:
    """A session cookie in the browser (the login form has its own test), then the console."""
    response = await context.request.post(
        "/api/login",
        data=json.dumps({"operator": OPERATOR, "password": PASSWORD}),
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 200
    await page.goto("/")
    await expect(page.locator("#pop-caller-number")).to_have_text("081234567890")


async def test_login_shows_401_and_429_then_opens_the_console(watched: Watched, fake: FakeConsoleServer) -> None:
    """Wrong password says so, a rate-limited id says "try again in 12 s", good credentials open "/"."""
    page = watched.page
    await page.goto("/")  # not logged in: the console sends the browser to the login page
    await expect(page).to_have_url(re.compile(r"/login$"))

    await page.fill("#operator", OPERATOR)
    await page.fill("#password", "salah")
    await page.click("#login-submit")
    await expect(page.locator("#login-message")).to_have_text("ID petugas atau kata sandi salah.")

    await page.fill("#operator", RATE_LIMITED)
    await page.fill("#password", "apa saja")
    await page.click("#login-submit")
    await expect(page.locator("#login-message")).to_have_text(re.compile(r"Coba lagi dalam 1[12] detik\."))
    await expect(page.locator("#login-submit")).to_be_disabled()

    await page.reload()  # the lock is per page; the server is what really limits
    await page.fill("#operator", OPERATOR)
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await expect(page).to_have_url(fake.url + "/")
    await expect(page.locator("#op-name")).to_have_text("Budi Santoso")
    await expect(page.locator("#state-badge")).to_have_text("Sedang menerima panggilan")
    assert await page.evaluate("window.JsSIP.version") == "3.13.8"
    # The real JsSIP UA was built from /api/me's sip block and tried the fake's (absent) SIP socket.
    await expect(page.locator("#phone-reg")).to_have_text("Tidak tersambung ke server telepon")
    assert watched.errors == []


async def test_screen_pop_shows_hostile_caller_data_as_text_before_answering(
    watched: Watched, context: BrowserContext, fake: FakeConsoleServer
) -> None:
    """A ringing call's pop writes caller-controlled markup as text: no element, no script, no dialog."""
    fake.call = canned_call(
        phase="ringing",
        caller_name=HOSTILE,
        category_label="<b>Kebakaran</b>",
        route_reason="after hours \"→\" q112 '<svg onload=alert(2)>'",
        route_reason_id="di luar jam \"→\" q112 '<svg onload=alert(2)>'",
        checklist=["<script>window.__pwned = 1</script>", "Ada korban?"],
        history=[{"at": "<img src=y onerror=alert(3)>", "outcome": "prank", "category": "<i>x</i>"}],
    )
    page = watched.page
    await given_logged_in(context, page)
    await expect(page.locator("#pop-caller-name")).to_have_text(HOSTILE)
    await expect(page.locator("#pop-phase")).to_have_text("Berdering — belum dijawab")
    await expect(page.locator("#pop-category")).to_have_text("<b>Kebakaran</b>")
    await expect(page.locator("#pop-emergency")).to_have_text("DARURAT")
    await expect(page.locator("#pop-checklist li").first).to_have_text("<script>window.__pwned = 1</script>")
    # The center's wall-clock time as the server wrote it (+07:00), though this browser runs in New York.
    await expect(page.locator("#pop-standing")).to_have_text("Status nomor: ISENG (prank) sampai 3 Des 2026, 10.00")
    await expect(page.locator("#pop-keys")).to_have_text("1 1")
    await expect(page.locator("#pop-route")).to_have_text("di luar jam \"→\" q112 '<svg onload=alert(2)>'")
    assert await page.locator("img, b, i, svg, #pop script").count() == 0
    assert await page.evaluate("window.__pwned") is None
    assert watched.dialogs == []
    assert watched.errors == []


async def test_keys_not_pressed_and_keys_not_known_are_said_apart(
    watched: Watched, context: BrowserContext, fake: FakeConsoleServer
) -> None:
    """A caller who pressed nothing: "tidak ada"; a call our service has no menu record of (rebuilt
    from Asterisk's records): "tidak diketahui", not a claim that nothing was pressed."""
    page = watched.page
    fake.call = canned_call(keys="", keys_known=True)
    await given_logged_in(context, page)
    await expect(page.locator("#pop-keys")).to_have_text("tidak ada")
    fake.call = canned_call(keys="", keys_known=False)
    await page.reload()
    await expect(page.locator("#pop-keys")).to_have_text("tidak diketahui (layanan IVR tidak mencatat)")
    assert watched.errors == []


async def test_key_3_closes_a_prank_call_with_the_csrf_header(
    watched: Watched, context: BrowserContext, fake: FakeConsoleServer
) -> None:
    """Pressing 3 POSTs {"outcome": "prank"} for the call in hand, as JSON, with the X-CSRF-Token from /api/me."""
    page = watched.page
    await given_logged_in(context, page)
    await expect(page.locator('button[data-outcome="prank"]')).to_contain_text("3")
    async with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/outcome")) as sent:
        await page.keyboard.press("3")
    request = await sent.value
    response = await request.response()
    assert response is not None and response.status == 200
    assert fake.posts == [
        RecordedPost(f"/api/calls/{UID}/outcome", {"outcome": "prank"}, fake.csrf, "application/json")
    ]
    await expect(page.locator("#pop-outcome")).to_have_text("Hasil tercatat: Iseng")
    assert watched.errors == []


async def test_shortcuts_are_ignored_while_typing_notes(
    watched: Watched, context: BrowserContext, fake: FakeConsoleServer
) -> None:
    """Digits typed into the notes stay text and record nothing; the same key outside the notes does."""
    page = watched.page
    await given_logged_in(context, page)
    notes = page.locator("#notes")
    await notes.click()
    await page.keyboard.type("Jl. Raya Serang km 3, RT 1/5, ada 2 korban")
    await expect(notes).to_have_value("Jl. Raya Serang km 3, RT 1/5, ada 2 korban")
    await page.locator("#pop-title").click()  # focus leaves the notes
    async with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/outcome")) as sent:
        await page.keyboard.press("2")
    await (await sent.value).response()
    assert fake.outcome_posts() == ["info"]  # the 3, 1, 5 and 2 typed into the notes sent nothing before it
    assert watched.errors == []


async def test_reconnect_banner_keeps_the_picture_and_the_notes(
    watched: Watched, context: BrowserContext, fake: FakeConsoleServer
) -> None:
    """When the socket drops the banner shows and the last pop stays; notes survive reconnect and reload."""
    page = watched.page
    await given_logged_in(context, page)
    await page.locator("#notes").fill("Api di lantai 2, dekat Pasar Cikupa")
    banner = page.locator("#banner-reconnect")
    await expect(banner).to_be_hidden()

    fake.refuse_ws = True
    await fake.drop_sockets()
    await expect(banner).to_be_visible()
    await expect(banner).to_have_text("Terhubung kembali… (tampilan belum diperbarui)")
    await expect(page.locator("#workspace")).to_have_class(re.compile(r"\bstale\b"))
    await expect(page.locator("#pop-caller-number")).to_have_text("081234567890")
    await expect(page.locator("#notes")).to_have_value("Api di lantai 2, dekat Pasar Cikupa")

    fake.refuse_ws = False
    await expect(banner).to_be_hidden(timeout=12_000)  # backoff is at most 5 s
    await expect(page.locator("#notes")).to_have_value("Api di lantai 2, dekat Pasar Cikupa")

    await page.reload()
    await expect(page.locator("#pop-caller-number")).to_have_text("081234567890")
    await expect(page.locator("#notes")).to_have_value("Api di lantai 2, dekat Pasar Cikupa")
    assert watched.errors == []


async def test_a_dropped_socket_with_the_session_gone_goes_to_login(
    watched: Watched, context: BrowserContext, fake: FakeConsoleServer
) -> None:
    """If the server no longer knows the session (401), the console goes to /login instead of retrying."""
    page = watched.page
    await given_logged_in(context, page)
    fake.sessions.clear()
    await fake.drop_sockets()
    await expect(page).to_have_url(re.compile(r"/login$"))
    assert watched.errors == []


async def test_english_switch_is_remembered(watched: Watched, context: BrowserContext, fake: FakeConsoleServer) -> None:
    """The English switch relabels the console, the route's reason included, and the choice survives a reload."""
    page = watched.page
    await given_logged_in(context, page)
    await expect(page.locator("#state-badge")).to_have_text("Sedang menerima panggilan")
    await expect(page.locator("#pop-route")).to_have_text("jam kantor")
    await page.click("#lang-switch")
    await expect(page.locator("#state-badge")).to_have_text("On a call")
    await expect(page.locator("#pop-route")).to_have_text("office hours")
    await expect(page.locator('button[data-outcome="silent"]')).to_have_text("4 Silent (ghost)")
    await page.reload()
    await expect(page.locator("#state-badge")).to_have_text("On a call")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    assert watched.errors == []


async def test_phone_answers_audio_only_and_junk_hangs_up_before_recording(
    watched: Watched, context: BrowserContext, fake: FakeConsoleServer
) -> None:
    """A answers with audio only and no ICE servers; 1 keeps the call; 3 hangs up, then POSTs; H hangs up."""
    await context.route(
        "**/static/vendor/jssip-3.13.8.min.js",
        lambda route: route.fulfill(body=FAKE_JSSIP, content_type="text/javascript"),
    )
    page = watched.page
    await given_logged_in(context, page)
    await expect(page.locator("#phone-reg")).to_have_text("Terdaftar")
    sip: list[list[Any]] = await page.evaluate("window.__sip")
    assert ["ua", "sip:op-budi@127.0.0.1", "op-budi"] in sip

    await page.evaluate("window.__ua.ring()")
    await expect(page.locator("#btn-answer")).to_be_enabled()
    await expect(page.locator("#phone-call")).to_have_text("Panggilan masuk")
    await expect(page.locator("body")).to_have_class(re.compile(r"\bringing\b"))
    await page.keyboard.press("a")
    await expect(page.locator("#phone-call")).to_have_text("Tersambung")
    answers = [e for e in await page.evaluate("window.__sip") if e[0] == "answer"]
    assert answers == [
        ["answer", {"mediaConstraints": {"audio": True, "video": False}, "pcConfig": {"iceServers": []}}]
    ]

    async with page.expect_request(lambda r: r.url.endswith("/outcome")) as sent:
        await page.keyboard.press("1")
    await (await sent.value).response()
    await expect(page.locator("#phone-call")).to_have_text("Tersambung")  # genuine keeps the caller
    # The page takes keys again once it has read the answer (a key while a POST is out is dropped).
    await expect(page.locator('[data-outcome="genuine"]')).to_have_class(re.compile(r"\bchosen\b"))
    await expect(page.locator('[data-outcome="prank"]')).to_be_enabled()

    async with page.expect_request(lambda r: r.url.endswith("/outcome")) as sent:
        await page.keyboard.press("3")
    await (await sent.value).response()
    await expect(page.locator("#phone-call")).to_have_text("Tidak ada panggilan")
    # The phone's steps and the outcome POSTs, in order (the incident and callback panels fetch too).
    steps = [e[0] if e[0] != "fetch" else e[1] for e in await page.evaluate("window.__sip")]
    steps = [step for step in steps if step in ("answer", "terminate") or step.endswith("/outcome")]
    outcome_url = f"/api/calls/{UID}/outcome"
    assert steps[steps.index("answer") :] == ["answer", outcome_url, "terminate", outcome_url]
    assert fake.outcome_posts() == ["genuine", "prank"]

    await page.evaluate("window.__ua.ring()")
    await expect(page.locator("#btn-hangup")).to_be_enabled()
    await page.keyboard.press("h")
    await expect(page.locator("#phone-call")).to_have_text("Tidak ada panggilan")
    assert [e[0] for e in await page.evaluate("window.__sip")][-1] == "terminate"
    assert watched.errors == []
