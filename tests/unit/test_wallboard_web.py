"""The wallboard over HTTP and WebSocket (ivr.web.wallboard): who may watch and act, CSRF, the picture's
numbers from known store rows and the app_queue fake, live pushes (only on change, throttled), force pause
and log-out, listen/whisper/barge, and the audit rows of each action.

Served like the console (tests/unit/test_console_web.py, whose recording fakes of the passwords and the
browser phones it reuses) with ``Wallboard(console, agi, calls).routes(app)`` added, as ``ivr serve`` does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

import ivr.web.wallboard as wallboard_module
from ivr.agi.server import AgiServer
from ivr.config.roster import Operator
from ivr.settings import Settings
from ivr.store.asterisk_records import QueueVisit
from ivr.web.app import build_web_app
from ivr.web.console import Console
from ivr.web.wallboard import LOOK_WINDOW, PUSH_INTERVAL, Wallboard
from tests.fakes.app_queue import settled, until
from tests.fakes.floor_kit import ANI, BUDI, DEWI, ROSTER, FloorKit, given_call, open_floor, shipped_config
from tests.unit.test_console_web import ALT, PASSWORDS, Client, Clock, PasswordBook, PhoneBook, live_config, no_agi

RINA = Operator("rina", "Rina Marlina", "admin", "c112", ())
STAFF = {**ROSTER, RINA.id: RINA}
WALLBOARD_PASSWORDS = {**PASSWORDS, "rina": "rina-rahasia-112", "dewi": "dewi-rahasia-112"}
# 10:00 WIB on 2 December 2026: "today" runs from 17:00 UTC on the 1st to 17:00 UTC on the 2nd.
NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC).timestamp()
UNIQUEID = "1733100000.7"


@dataclass
class Sessions:
    """``SessionCount``: callers in the menu now."""

    active_sessions: int = 0


@dataclass
class Board:
    kit: FloorKit
    console: Console
    wallboard: Wallboard
    agi: Sessions
    phones: PhoneBook
    clock: Clock
    sleeps: list[float] = field(default_factory=list)
    client: Client | None = None

    async def start(self) -> Client:
        app = build_web_app(Settings(root=ALT), live_config(), AgiServer(no_agi), None, None, console=self.console)
        self.wallboard.routes(app)
        self.client = TestClient(TestServer(app))
        await self.client.start_server()
        return self.client

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
        await self.kit.close()


async def assemble(tmp_path: Path) -> Board:
    """The floor on the fake, the console, and the wallboard on a clock the test moves (not yet serving)."""
    kit = await open_floor(tmp_path, config=shipped_config(STAFF))
    phones, clock = PhoneBook(), Clock()
    clock.now = NOW
    console = Console(kit.floor, kit.console, PasswordBook(dict(WALLBOARD_PASSWORDS)), phones, secure_cookie=False)
    agi = Sessions()
    sleeps: list[float] = []

    async def recorded_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(0)

    board = Wallboard(console, agi, kit.calls, clock=clock, sleep=recorded_sleep)
    return Board(kit, console, board, agi, phones, clock, sleeps)


@pytest.fixture
async def board(tmp_path: Path) -> AsyncIterator[Board]:
    assembled = await assemble(tmp_path)
    await assembled.start()
    yield assembled
    await assembled.close()


def web(board: Board) -> Client:
    assert board.client is not None
    return board.client


async def login(client: Client, operator: str) -> str:
    response = await client.post("/api/login", json={"operator": operator, "password": WALLBOARD_PASSWORDS[operator]})
    assert response.status == 200, await response.text()
    csrf: str = (await response.json())["csrf"]
    return csrf


async def post(client: Client, path: str, body: Any, csrf: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"X-CSRF-Token": csrf} if csrf is not None else {}
    response = await client.post(path, json=body, headers=headers)
    return response.status, await response.json()


async def next_picture(socket: aiohttp.ClientWebSocketResponse, wanted: Any = None) -> dict[str, Any]:
    """The next picture (for which ``wanted(picture)`` holds, if given), within 3 s."""
    while True:
        message: dict[str, Any] = await socket.receive_json(timeout=3)
        assert message["type"] == "floor"
        if wanted is None or wanted(message):
            return message


def row(picture: dict[str, Any], operator_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(op for op in picture["operators"] if op["id"] == operator_id)
    return found


def audit(board: Board) -> list[tuple[str, str, dict[str, Any]]]:
    return [(e["actor"], e["action"], e["detail"]) for e in reversed(board.kit.console.audit_log())]


async def on_a_call(board: Board, operator: Operator = BUDI) -> str:
    """A call rings ``operator`` and they answer; returns their leg (app_queue's DestChannel)."""
    await board.kit.agents.available(operator)
    given_call(
        board.kit.calls, UNIQUEID, category="darurat-umum", queue="q112", started_at=datetime.now(UTC).isoformat()
    )
    board.kit.fake.join(UNIQUEID, "q112", "081234567890")
    board.kit.fake.ring(UNIQUEID, operator.interface)
    # Before the answer, as for real, and completed from the store (the first pop goes out before that).
    await until(
        lambda: operator.id in board.kit.floor.calls and board.kit.floor.calls[operator.id].standing is not None,
        what="the screen pop",
    )
    board.kit.fake.connect(UNIQUEID, operator.interface)
    await until(lambda: board.kit.agents.state(operator).state == "on_call", what="on a call")
    return board.kit.fake.emitted("AgentConnect")[-1]["DestChannel"]


# Who may


async def test_anonymous_requests_are_401(board: Board) -> None:
    """No session: the socket and every action answer 401, and nothing reaches Asterisk."""
    for action in ("pause", "logout", "spy"):
        response = await web(board).post(f"/api/operators/budi/{action}", json={"reason": "Sholat", "mode": "listen"})
        assert (response.status, (await response.json())["error"]) == (401, "not_logged_in"), action
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await web(board).ws_connect("/ws/wallboard")
    assert refused.value.status == 401
    assert board.kit.fake.sent("QueuePause") == [] and board.kit.fake.sent("Originate") == []


async def test_an_operator_is_403_on_the_socket_and_every_action(board: Board) -> None:
    """budi (an operator) may neither watch nor pause, take out or listen to ani: 403, nothing sent, nothing audited."""
    await board.kit.agents.available(ANI)
    csrf = await login(web(board), "budi")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await web(board).ws_connect("/ws/wallboard")
    assert refused.value.status == 403
    pauses = len(board.kit.fake.sent("QueuePause"))
    for action, body in (("pause", {"reason": "Sholat"}), ("logout", {}), ("spy", {"mode": "listen"})):
        status, answer = await post(web(board), f"/api/operators/ani/{action}", body, csrf)
        assert (status, answer["error"]) == (403, "forbidden"), action
    assert len(board.kit.fake.sent("QueuePause")) == pauses and board.kit.fake.sent("QueueRemove") == []
    assert [action for _actor, action, _detail in audit(board)] == ["login"]


async def test_an_admin_may_pause_but_not_listen_in(board: Board) -> None:
    """rina (admin): listening in is for supervisors only (403); a force pause is hers to give (200, audited)."""
    await on_a_call(board)
    csrf = await login(web(board), "rina")
    status, answer = await post(web(board), "/api/operators/budi/spy", {"mode": "listen"}, csrf)
    assert (status, answer["error"]) == (403, "forbidden")
    assert board.kit.fake.sent("Originate") == []
    status, answer = await post(web(board), "/api/operators/budi/pause", {"reason": "Sholat"}, csrf)
    assert (status, answer["ok"]) == (200, True)
    assert audit(board)[-1] == ("rina", "force_pause", {"target": "budi", "reason": "Sholat"})


async def test_actions_need_the_csrf_token_and_our_origin(board: Board) -> None:
    """A supervisor's POST without the token, with a wrong one, or from another site: 403, ani stays unpaused."""
    await board.kit.agents.available(ANI)
    csrf = await login(web(board), "sari")
    for token in (None, csrf + "x"):
        status, answer = await post(web(board), "/api/operators/ani/pause", {"reason": "Sholat"}, token)
        assert (status, answer["error"]) == (403, "csrf")
    response = await web(board).post(
        "/api/operators/ani/pause",
        json={"reason": "Sholat"},
        headers={"X-CSRF-Token": csrf, "Origin": "http://evil.example"},
    )
    assert (response.status, (await response.json())["error"]) == (403, "cross_origin")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await web(board).ws_connect("/ws/wallboard", headers={"Origin": "http://evil.example"})
    assert refused.value.status == 403
    assert not any(member.paused for member in board.kit.fake.memberships(ANI.interface).values())


# Force pause and log-out


async def test_force_pause_pauses_in_asterisk_and_is_audited_with_actor_and_target(board: Board) -> None:
    """sari pauses budi with 'Administrasi': Asterisk has him paused with that reason; the audit says who and whom."""
    await board.kit.agents.available(BUDI)
    csrf = await login(web(board), "sari")
    status, answer = await post(web(board), "/api/operators/budi/pause", {"reason": "Administrasi"}, csrf)
    assert (status, answer["state"]["state"], answer["state"]["reason"]) == (200, "paused", "Administrasi")
    assert [(m.paused, m.paused_reason) for m in board.kit.fake.memberships(BUDI.interface).values()] == [
        (True, "Administrasi")
    ]
    assert audit(board)[-1] == ("sari", "force_pause", {"target": "budi", "reason": "Administrasi"})


async def test_force_pause_refuses_unknown_operators_reasons_and_the_logged_out(board: Board) -> None:
    """An id not in the roster or not a plain name (even with a trailing newline): 404; an unknown reason: 400;
    an operator in no queue: 409 (a pause would log them in)."""
    await board.kit.agents.available(BUDI)
    csrf = await login(web(board), "sari")
    for operator_id in ("nobody", "budi%0A", "BUDI"):
        status, answer = await post(web(board), f"/api/operators/{operator_id}/pause", {"reason": "Sholat"}, csrf)
        assert (status, answer["error"]) == (404, "unknown_operator"), operator_id
    status, answer = await post(web(board), "/api/operators/budi/pause", {"reason": "Tidur"}, csrf)
    assert (status, answer["error"]) == (400, "invalid_reason")
    status, answer = await post(web(board), "/api/operators/ani/pause", {"reason": "Sholat"}, csrf)
    assert (status, answer["error"]) == (409, "not_logged_in")
    assert board.kit.fake.memberships(ANI.interface) == {}
    assert not any(action == "force_pause" for _actor, action, _detail in audit(board))


async def test_force_logout_takes_the_operator_out_of_every_queue_and_is_audited(board: Board) -> None:
    """sari takes dewi (q-damkar and q112) out of both queues; audited with actor and target."""
    await board.kit.agents.available(DEWI)
    csrf = await login(web(board), "sari")
    status, answer = await post(web(board), "/api/operators/dewi/logout", {}, csrf)
    assert (status, answer["state"]["state"]) == (200, "logged_out")
    assert board.kit.fake.memberships(DEWI.interface) == {}
    assert audit(board)[-1] == ("sari", "force_logout", {"target": "dewi"})


async def test_asterisk_refusing_a_force_pause_is_503_and_not_audited(board: Board) -> None:
    """QueuePause answered with Error: 503 asterisk_refused, no force_pause row."""
    await board.kit.agents.available(BUDI)
    csrf = await login(web(board), "sari")
    board.kit.fake.refuse_next("QueuePause", "Interface not found")
    status, answer = await post(web(board), "/api/operators/budi/pause", {"reason": "Sholat"}, csrf)
    assert (status, answer["error"]) == (503, "asterisk_refused")
    assert not any(action == "force_pause" for _actor, action, _detail in audit(board))


# Listen, whisper, barge


async def test_listen_rings_the_supervisors_phone_with_chanspy_on_the_operators_leg(board: Board) -> None:
    """sari listens to budi's call: one Originate of PJSIP/op-sari running ChanSpy(budi's leg,qE); audited."""
    channel = await on_a_call(board)
    csrf = await login(web(board), "sari")
    status, answer = await post(web(board), "/api/operators/budi/spy", {"mode": "listen"}, csrf)
    assert (status, answer) == (200, {"ok": True, "mode": "listen", "target": "budi", "phone": "op-sari"})
    assert board.kit.fake.sent("Originate") == [
        {
            "Action": "Originate",
            "Channel": "PJSIP/op-sari",
            "Application": "ChanSpy",
            "Data": f"{channel},qE",
            "CallerID": '"listen budi" <budi>',
            "Timeout": "30000",
            "Async": "true",
        }
    ]
    assert audit(board)[-1] == ("sari", "spy", {"target": "budi", "mode": "listen", "channel": channel})


async def test_whisper_and_barge_use_w_and_b(board: Board) -> None:
    """whisper adds w (to the operator only), barge B (to both sides)."""
    channel = await on_a_call(board)
    csrf = await login(web(board), "sari")
    for mode in ("whisper", "barge"):
        status, _answer = await post(web(board), "/api/operators/budi/spy", {"mode": mode}, csrf)
        assert status == 200, mode
    assert [r["Data"] for r in board.kit.fake.sent("Originate")] == [f"{channel},qEw", f"{channel},qEB"]
    assert [d["mode"] for _a, action, d in audit(board) if action == "spy"] == ["whisper", "barge"]


async def test_listening_in_is_refused_when_it_cannot_work(board: Board) -> None:
    """Not on a call: 409; an unknown mode: 400; one's own call: 400; no browser phone signed in: 409."""
    await board.kit.agents.available(BUDI)
    csrf = await login(web(board), "sari")
    status, answer = await post(web(board), "/api/operators/budi/spy", {"mode": "listen"}, csrf)
    assert (status, answer["error"]) == (409, "not_on_call")
    await on_a_call(board)
    for body in ({"mode": "record"}, {"mode": ["listen"]}, ["listen"]):
        status, answer = await post(web(board), "/api/operators/budi/spy", body, csrf)
        assert (status, answer["error"]) == (400, "invalid_mode"), body
    status, answer = await post(web(board), "/api/operators/sari/spy", {"mode": "listen"}, csrf)
    assert (status, answer["error"]) == (400, "own_call")
    board.phones.revoked.append("sari")
    status, answer = await post(web(board), "/api/operators/budi/spy", {"mode": "listen"}, csrf)
    assert (status, answer["error"]) == (409, "no_phone")
    assert board.kit.fake.sent("Originate") == []
    assert not any(action == "spy" for _actor, action, _detail in audit(board))


async def test_without_the_originate_right_listening_in_is_503(board: Board) -> None:
    """An AMI account without `originate` (manager.conf before this feature): Permission denied → 503, not audited."""
    await on_a_call(board)
    board.kit.fake.write = frozenset({"agent"})
    csrf = await login(web(board), "sari")
    status, answer = await post(web(board), "/api/operators/budi/spy", {"mode": "listen"}, csrf)
    assert (status, answer["error"]) == (503, "asterisk_refused")
    assert "Permission denied" in answer["detail"]
    assert not any(action == "spy" for _actor, action, _detail in audit(board))


# The picture


def given_day(board: Board) -> None:
    """Calls of 2 December 2026 (WIB) and one on each side of that day, in the store."""
    calls = board.kit.calls

    def call(uid: str, at: str, queue_outcome: str = "", wait: float = 0.0, disposition: str = "") -> None:
        record = given_call(calls, uid, started_at=at, queue="q112", disposition=disposition)
        if queue_outcome:
            entered = datetime.fromisoformat(at)
            calls.apply_queue_visit(QueueVisit(uid, "q112", entered, queue_outcome, wait, "PJSIP/op-budi"))
        elif queue_outcome == "" and uid.startswith("ivr"):
            calls.write(replace(record, outcome="abandoned_in_ivr", queue=""))

    call("a1", "2026-12-02T01:00:00+00:00", "answered", 3, "prank")
    call("a2", "2026-12-02T01:10:00+00:00", "answered", 12, "genuine")
    call("a3", "2026-12-02T01:20:00+00:00", "answered", 15, "silent")
    call("a4", "2026-12-02T01:30:00+00:00", "answered", 18, "info")
    call("a5", "2026-12-02T01:40:00+00:00", "answered", 25, "prank")
    call("a6", "2026-12-01T17:00:00+00:00", "answered", 5, "genuine")  # 00:00 WIB: today
    call("b1", "2026-12-02T02:00:00+00:00", "abandoned", 40)
    call("ivr1", "2026-12-02T02:10:00+00:00")
    call("y1", "2026-12-01T16:59:59+00:00", "answered", 100, "prank")  # 23:59:59 WIB yesterday
    call("t1", "2026-12-02T17:00:00+00:00", "answered", 100, "prank")  # tomorrow


async def test_the_picture_counts_the_store_and_the_queues(tmp_path: Path) -> None:
    """Known rows and fake queue state → exact numbers: menu, waiting, members, NENA shares, abandons, prank/ghost."""
    board = await assemble(tmp_path)
    try:
        given_day(board)
        await board.kit.agents.available(BUDI)
        await board.kit.agents.available(DEWI)
        await board.kit.agents.pause(ANI, "Sholat")
        board.kit.fake.set_device(DEWI.interface, "5")  # her browser phone is not registered: in, not free
        board.kit.fake.join("1733100000.1", "q112", "081200000001")
        board.kit.fake.join("1733100000.2", "q112", "081200000002")
        board.agi.active_sessions = 3
        await board.start()
        await login(web(board), "sari")
        async with web(board).ws_connect("/ws/wallboard") as socket:
            picture = await next_picture(socket)
        assert (picture["ivr_calls"], picture["waiting"], picture["live"]) == (3, 2, True)
        queues = {q["name"]: q for q in picture["queues"]}
        assert {k: queues["q112"][k] for k in ("waiting", "members", "free", "paused")} == {
            "waiting": 2,
            "members": 3,
            "free": 1,
            "paused": 1,
        }
        assert {k: queues["q-damkar"][k] for k in ("waiting", "members", "free", "paused")} == {
            "waiting": 0,
            "members": 1,
            "free": 0,
            "paused": 0,
        }
        assert 0 <= picture["longest_wait"] < 3
        assert (row(picture, "ani")["state"], row(picture, "ani")["reason"]) == ("paused", "Sholat")
        assert (picture["by_state"]["available"], row(picture, "dewi")["state"]) == (1, "phone_offline")
        assert picture["today"] == {
            "calls": 8,
            "answered": 6,
            "answered_15": 4,
            "answered_20": 5,
            "nena": [
                {"seconds": 15, "target": 0.9, "share": 0.6667, "met": False},
                {"seconds": 20, "target": 0.95, "share": 0.8333, "met": False},
            ],
            "abandoned_queue": 1,
            "abandoned_ivr": 1,
            "prank": 2,
            "prank_share": 0.25,
            "ghost": 1,
            "ghost_share": 0.125,
        }
    finally:
        await board.close()


async def test_a_state_change_is_pushed_with_its_time_and_the_first_look_is_inexact(board: Board) -> None:
    """On connect: budi logged out, since the first look (inexact); he goes available 10 s later: pushed at once,
    since that moment (exact); his screen pop's category shows on his row, the caller's number does not."""
    await login(web(board), "sari")
    async with web(board).ws_connect("/ws/wallboard") as socket:
        first = await next_picture(socket)
        assert (row(first, "budi")["state"], row(first, "budi")["since_exact"]) == ("logged_out", False)
        board.clock.now = NOW + 10
        await board.kit.agents.available(BUDI)
        board.clock.now = NOW + 20  # the picture is built later than the change: "since" is the change's time
        pushed = await next_picture(socket, lambda p: row(p, "budi")["state"] == "available")
        assert (row(pushed, "budi")["since"], row(pushed, "budi")["since_exact"]) == (NOW + 10, True)
        board.clock.now = NOW + 40
        await on_a_call(board)
        on_call = await next_picture(socket, lambda p: (row(p, "budi")["call"] or {}).get("phase") == "on_call")
        assert row(on_call, "budi")["call"]["category_label"] == board.kit.config.sop.categories["darurat-umum"].label
        assert "081234567890" not in str(on_call)


async def test_a_burst_of_live_changes_is_looked_at_once_at_the_time_of_the_first(
    board: Board, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Live changes within LOOK_WINDOW (AMI delivers a queue step as several events, a surge many): one look
    at the operators' states, dated by the first change; a later change gets a look of its own."""
    looks: list[float | None] = []
    monkeypatch.setattr(board.wallboard, "_observe", lambda now=None: looks.append(now))
    for second in range(3):
        board.clock.now = NOW + second
        board.wallboard._changed()
        await asyncio.sleep(LOOK_WINDOW / 10)
    assert looks == []
    await asyncio.sleep(LOOK_WINDOW)
    board.clock.now = NOW + 5
    board.wallboard._changed()
    await asyncio.sleep(LOOK_WINDOW * 1.5)
    assert looks == [NOW, NOW + 5]


async def test_a_change_first_seen_at_a_resync_has_no_exact_start(board: Board) -> None:
    """AMI was away when budi paused (no event reached us): the resync shows it; "since" is marked inexact."""
    await login(web(board), "sari")
    async with web(board).ws_connect("/ws/wallboard") as socket:
        await next_picture(socket)
        await board.kit.agents.available(BUDI)
        first = await next_picture(socket, lambda p: row(p, "budi")["state"] == "available")
        assert row(first, "budi")["since_exact"] is True
        for member in board.kit.fake.memberships(BUDI.interface).values():
            member.paused, member.paused_reason = True, "Pelatihan"  # in Asterisk, unseen by us
        board.clock.now = NOW + 60
        await board.kit.live.resync()
        resynced = await next_picture(socket, lambda p: row(p, "budi")["state"] == "paused")
        assert (row(resynced, "budi")["since"], row(resynced, "budi")["since_exact"]) == (NOW + 60, False)


async def test_only_changes_are_pushed_and_each_push_is_followed_by_the_throttle(board: Board) -> None:
    """An AMI event that changes nothing sends nothing; every push is followed by a pause of PUSH_INTERVAL."""
    await board.kit.agents.available(BUDI)
    await login(web(board), "sari")
    async with web(board).ws_connect("/ws/wallboard") as socket:
        await next_picture(socket)
        await until(lambda: board.sleeps, what="the throttle after the first push")
        board.kit.fake.set_device(BUDI.interface, "1")  # the same device state again: a QueueMemberStatus event
        await until(lambda: not board.wallboard._wake.is_set(), what="the sender handling that event")
        await settled()
        await board.kit.agents.pause(BUDI, "Istirahat")
        pushed = await next_picture(socket)
        assert (row(pushed, "budi")["state"], row(pushed, "budi")["reason"]) == ("paused", "Istirahat")
        await until(lambda: len(board.sleeps) >= 2, what="the throttle after the second push")
    assert board.sleeps == [PUSH_INTERVAL, PUSH_INTERVAL]


class FlakySessions:
    """``SessionCount`` that fails the first time it is read (a bug or a fault while building a picture)."""

    def __init__(self) -> None:
        self.reads = 0

    @property
    def active_sessions(self) -> int:
        self.reads += 1
        if self.reads == 1:
            raise RuntimeError("first read fails")
        return 1


async def test_a_picture_that_fails_to_build_does_not_stop_the_wallboard(board: Board) -> None:
    """The first picture raises: it is logged, and the next one still reaches the supervisor."""
    board.wallboard.agi = FlakySessions()
    await login(web(board), "sari")
    async with web(board).ws_connect("/ws/wallboard") as socket:
        message: dict[str, Any] = await socket.receive_json(timeout=5)
    assert (message["type"], message["ivr_calls"]) == ("floor", 1)
    assert isinstance(board.wallboard.agi, FlakySessions) and board.wallboard.agi.reads >= 2


async def test_the_socket_closes_when_the_session_ends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """sari logs out in another tab: her wallboard socket is closed with 4401 at the next session check."""
    monkeypatch.setattr(wallboard_module, "WS_TOUCH_INTERVAL", 0.0)
    board = await assemble(tmp_path)
    try:
        await board.start()
        csrf = await login(web(board), "sari")
        async with web(board).ws_connect("/ws/wallboard") as socket:
            await next_picture(socket)
            status, _answer = await post(web(board), "/api/logout", {}, csrf)
            assert status == 200
            closing = await socket.receive(timeout=3)
            while closing.type == aiohttp.WSMsgType.TEXT:
                closing = await socket.receive(timeout=3)
            assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, 4401)
    finally:
        await board.close()


async def test_the_page_is_served_with_the_consoles_security_headers(board: Board) -> None:
    """/wallboard: the page with its script, a strict CSP, no framing; its script and style are served."""
    response = await web(board).get("/wallboard")
    assert response.status == 200
    assert '<script src="/static/wallboard.js">' in await response.text()
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    for asset in ("/static/wallboard.js", "/static/wallboard.css"):
        assert (await web(board).get(asset)).status == 200, asset
