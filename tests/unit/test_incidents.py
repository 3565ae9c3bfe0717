"""Incidents: what an operator may store, the status steps (open → dispatched → closed), calls linked
in one action, an append-only trail of changes, and the HTTP API behind the console's login."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ivr.incidents import KECAMATAN, IncidentConflict, IncidentInvalid, check_transition, clean_fields
from ivr.store.db import StoreError, Target, connect
from ivr.store.incidents import IncidentStore
from ivr.web.console import Console
from ivr.web.incidents import Incidents
from tests.fakes.floor_kit import DEWI
from tests.unit.test_console_web import PASSWORDS, UNIQUEID, Web, a_call_rings, login, post, serve

AGENCIES = ("damkar", "psc119", "polresta")
CATEGORIES = ("kebakaran", "darurat-umum")
HOSTILE = 'Jl. O\'Neil "x"; DROP TABLE incidents; -- <script>alert(1)</script>'


@pytest.fixture
def store(store_target: Target) -> Iterator[IncidentStore]:
    opened = IncidentStore(store_target)
    yield opened
    opened.close()


def test_kabupaten_tangerang_has_29_kecamatan() -> None:
    """The form's list is the regency's 29 kecamatan, each once."""
    assert (len(KECAMATAN), len(set(KECAMATAN))) == (29, 29)


def test_fields_are_checked_with_a_message_naming_the_field() -> None:
    """Valid fields pass; each bad one is refused with its name and what is expected."""
    good = clean_fields(
        {"kecamatan": "Cikupa", "address": " Jl. Raya ", "victims": 2, "agencies": ["damkar", "damkar"]},
        AGENCIES,
        CATEGORIES,
    )
    assert good == {"kecamatan": "Cikupa", "address": "Jl. Raya", "victims": 2, "agencies": ("damkar",)}
    bad: list[tuple[dict[str, Any], str]] = [
        ({"kecamatan": "Jakarta"}, "kecamatan: one of Kabupaten Tangerang's 29 kecamatan, not 'Jakarta'"),
        ({"victims": True}, "victims: a whole number, or null when not known"),
        ({"victims": -1}, "victims: between 0 and 10000"),
        ({"agencies": ["damkar", "bnpb"]}, "agencies: not in the SOP: bnpb (known: damkar, polresta, psc119)"),
        ({"what": "x" * 2001}, "what: text of at most 2000 characters"),
        ({"category": "ufo"}, "category: one of the SOP's categories, not 'ufo'"),
    ]
    for body, message in bad:
        with pytest.raises(IncidentInvalid) as refused:
            clean_fields(body, AGENCIES, CATEGORIES)
        assert str(refused.value) == message


def test_status_steps_go_forward_only() -> None:
    """open → dispatched → closed (or open → closed); nothing goes back, a closed one stays closed."""
    check_transition("open", "dispatched")
    check_transition("open", "closed")
    check_transition("dispatched", "closed")
    for current, wanted in (("dispatched", "open"), ("closed", "open"), ("closed", "dispatched")):
        with pytest.raises(IncidentConflict):
            check_transition(current, wanted)


def test_an_incident_opened_from_a_call_holds_it_and_the_trail_says_who(store: IncidentStore) -> None:
    """Opened with the call in hand: the call is linked, text is stored verbatim, the trail has both steps."""
    incident = store.open("budi", {"address": HOSTILE, "agencies": ("damkar",), "victims": 0}, uniqueid="1700.1")
    assert (incident.status, incident.calls, incident.address, incident.agencies) == (
        "open",
        ("1700.1",),
        HOSTILE,
        ("damkar",),
    )
    assert [event["action"] for event in store.events(incident.id)] == ["opened", "call_linked"]
    assert store.of_call("1700.1") == [incident.id]


def test_five_callers_one_fire(store: IncidentStore) -> None:
    """More calls link to the same incident in one step each; linking one twice changes nothing."""
    incident = store.open("budi", {"what": "Kebakaran gudang"}, uniqueid="1700.1")
    for n in range(2, 6):
        store.link_call(incident.id, f"1700.{n}", "siti")
    store.link_call(incident.id, "1700.3", "siti")
    assert store.get(incident.id).calls == tuple(f"1700.{n}" for n in range(1, 6))
    assert [event["action"] for event in store.events(incident.id)].count("call_linked") == 5


def test_closing_records_who_and_when_and_freezes_it(store: IncidentStore) -> None:
    """Dispatched then closed: closed_at/by set; a closed incident takes no edit and no call."""
    incident = store.open("budi", {})
    store.update(incident.id, "budi", {"agencies": ("damkar",)}, status="dispatched")
    closed = store.update(incident.id, "hendra", {}, status="closed")
    assert (closed.status, closed.closed_by) == ("closed", "hendra") and closed.closed_at
    with pytest.raises(IncidentConflict):
        store.update(incident.id, "budi", {"what": "lagi"})
    with pytest.raises(IncidentConflict):
        store.link_call(incident.id, "1700.9", "budi")
    steps = [event["detail"] for event in store.events(incident.id) if event["action"] == "status"]
    assert steps == [{"from": "open", "to": "dispatched"}, {"from": "dispatched", "to": "closed"}]


def test_the_trail_cannot_be_rewritten(store: IncidentStore, store_target: Target) -> None:
    """incident_events refuses UPDATE and DELETE, even from another connection to the database."""
    store.open("budi", {})
    db = connect(store_target)
    for statement in ("UPDATE incident_events SET actor = 'x'", "DELETE FROM incident_events"):
        with pytest.raises(StoreError, match="append-only"):
            db.run(statement)
    assert [action for (action,) in db.run("SELECT action FROM incident_events").rows] == ["opened"]
    db.close()


# Over HTTP, behind the console's login


@pytest.fixture
async def web(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Web]:
    incidents = IncidentStore(tmp_path / "incidents.sqlite3")

    def behind(console: Console) -> list[Incidents]:
        return [Incidents(incidents, console)]

    opened = await serve(tmp_path, monkeypatch, behind_console=behind)
    yield opened
    await opened.client.close()
    await opened.kit.close()
    incidents.close()


async def test_the_api_needs_a_login_and_the_csrf_token(web: Web) -> None:
    """Anonymous: 401; logged in without the token: 403 csrf; with it: 201."""
    response = await web.client.get("/api/incidents")
    assert response.status == 401
    csrf = await login(web.client)
    assert (await post(web.client, "/api/incidents", {}, None))[0] == 403
    status, body = await post(web.client, "/api/incidents", {"kecamatan": "Curug"}, csrf)
    assert (status, body["incident"]["kecamatan"], body["incident"]["opened_by"]) == (201, "Curug", "budi")


async def test_an_operator_opens_links_dispatches_and_closes(web: Web) -> None:
    """From the call in hand: open with it, see it listed, dispatch, close; each step in the audit log."""
    csrf = await login(web.client)
    await post(web.client, "/api/state", {"action": "available"}, csrf)
    await a_call_rings(web)
    status, body = await post(
        web.client,
        "/api/incidents",
        {"uniqueid": UNIQUEID, "what": HOSTILE, "agencies": ["damkar"], "victims": None},
        csrf,
    )
    assert status == 201, body
    incident = body["incident"]
    assert (incident["calls"], incident["what"]) == ([UNIQUEID], HOSTILE)
    listed = await (await web.client.get("/api/incidents")).json()
    assert [item["id"] for item in listed["incidents"]] == [incident["id"]]
    path = f"/api/incidents/{incident['id']}"
    assert (await post(web.client, f"{path}/calls", {"uniqueid": "1700.77"}, csrf))[0] == 200
    assert (await post(web.client, path, {"status": "dispatched"}, csrf))[0] == 200
    status, body = await post(web.client, path, {"status": "open"}, csrf)
    assert (status, body["error"]) == (409, "incident_conflict")
    status, body = await post(web.client, path, {"status": "closed"}, csrf)
    assert (status, body["incident"]["status"], body["incident"]["calls"]) == (200, "closed", [UNIQUEID, "1700.77"])
    actions = [entry["action"] for entry in web.kit.console.audit_log()]
    assert actions[:4] == ["incident_updated", "incident_updated", "incident_call_linked", "incident_opened"]


async def test_bad_input_is_a_clear_400_and_unknown_is_404(web: Web) -> None:
    """A kecamatan not in the regency: 400 naming the field; an incident that does not exist: 404."""
    csrf = await login(web.client)
    status, body = await post(web.client, "/api/incidents", {"kecamatan": "Bekasi"}, csrf)
    assert (status, body["error"]) == (400, "invalid_incident") and body["detail"].startswith("kecamatan:")
    status, body = await post(web.client, "/api/incidents/999/calls", {"uniqueid": "1"}, csrf)
    assert (status, body["error"]) == (404, "unknown_incident")


async def test_the_form_offers_the_kecamatan_and_the_agencies_that_can_be_sent(web: Web) -> None:
    """Options: all 29 kecamatan, the SOP's agencies but not the central call-takers themselves."""
    await login(web.client)
    options = await (await web.client.get("/api/incidents/options")).json()
    assert len(options["kecamatan"]) == 29
    names = [agency["name"] for agency in options["agencies"]]
    assert "damkar" in names and "c112" not in names


async def test_agency_staff_see_and_change_only_their_agencys_incidents(web: Web) -> None:
    """budi (central) sees both; dewi (Damkar) sees Damkar's fire, not the police case, and may not change
    or link to it (403 not_your_agency) — until a call of that case rings her, which puts it in her sight."""
    csrf = await login(web.client)
    police = (await post(web.client, "/api/incidents", {"agencies": ["polresta"]}, csrf))[1]["incident"]["id"]
    fire = (await post(web.client, "/api/incidents", {"agencies": ["damkar"]}, csrf))[1]["incident"]["id"]
    listed = await (await web.client.get("/api/incidents")).json()
    assert sorted(item["id"] for item in listed["incidents"]) == sorted([police, fire])

    dewi = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        response = await dewi.post(
            web.client.make_url("/api/login"), json={"operator": "dewi", "password": PASSWORDS["dewi"]}
        )
        headers = {"X-CSRF-Token": (await response.json())["csrf"]}

        async def dewi_sees() -> list[int]:
            listing = await (await dewi.get(web.client.make_url("/api/incidents"))).json()
            return [item["id"] for item in listing["incidents"]]

        async def dewi_posts(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            response = await dewi.post(web.client.make_url(path), json=body, headers=headers)
            return response.status, await response.json()

        assert await dewi_sees() == [fire]
        status, body = await dewi_posts(f"/api/incidents/{police}", {"status": "dispatched"})
        assert (status, body["error"]) == (403, "not_your_agency")
        status, body = await dewi_posts(f"/api/incidents/{police}/calls", {"uniqueid": "1700.9"})
        assert (status, body["error"]) == (403, "not_your_agency")
        assert (await dewi_posts(f"/api/incidents/{fire}", {"status": "dispatched"}))[0] == 200

        await dewi_posts("/api/state", {"action": "available"})
        await a_call_rings(web, DEWI)
        assert (await post(web.client, f"/api/incidents/{police}/calls", {"uniqueid": UNIQUEID}, csrf))[0] == 200
        assert sorted(await dewi_sees()) == sorted([police, fire])
        assert (await dewi_posts(f"/api/incidents/{police}", {"what": "pencurian motor"}))[0] == 200
    finally:
        await dewi.close()
