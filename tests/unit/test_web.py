"""The web side's guards: the disposition API refuses bad JSON, non-JSON and cross-site writes with
a clear 4xx (never a 500 and a traceback); /healthz raises an alarm when the store fails."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ivr.agi.server import AgiServer
from ivr.config.live import LiveConfig
from ivr.settings import Settings
from ivr.store.calls import CallStore, IvrRecord
from ivr.store.spool import StoreHealth
from ivr.web.app import build_web_app

ALT = Path(__file__).resolve().parents[1] / "fixtures" / "alt"


async def handler(_session: Any) -> None:
    return None


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    store = CallStore(tmp_path / "calls.sqlite3")
    store.write(
        IvrRecord(
            "1700.1",
            "2026-12-02T03:00:00+00:00",
            "0812",
            "",
            "siaga112",
            "",
            "id",
            "silence",
            "darurat-umum",
            "q112",
            9,
            "routed",
            9.0,
        )
    )
    health = StoreHealth(False, 3, 0, "OSError('disk I/O error')")
    app = build_web_app(Settings(root=ALT), LiveConfig(ALT, None), AgiServer(handler), None, store, lambda: health)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client
    store.close()


async def test_a_disposition_is_recorded(client: TestClient) -> None:  # type: ignore[type-arg]
    """A same-origin JSON POST with a known disposition: 200."""
    response = await client.post("/api/calls/1700.1/disposition", json={"disposition": "prank"})
    assert response.status == 200


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        ("{not json", {"Content-Type": "application/json"}, 400, "invalid_json"),
        ('["prank"]', {"Content-Type": "application/json"}, 400, "invalid_body"),
        ('{"disposition": "bogus"}', {"Content-Type": "application/json"}, 400, "unknown_disposition"),
        ("disposition=prank", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "not_json"),
        (
            '{"disposition": "prank"}',
            {"Content-Type": "application/json", "Origin": "http://evil.example"},
            403,
            "cross_origin",
        ),
        (
            '{"disposition": "prank"}',
            {"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"},
            403,
            "cross_origin",
        ),
    ],
)
async def test_bad_disposition_requests_get_a_clear_4xx(
    client: TestClient,
    body: str,  # type: ignore[type-arg]
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    """Each bad request is refused with its own status and stable error code, not a 500."""
    response = await client.post("/api/calls/1700.1/disposition", data=body, headers=headers)
    assert (response.status, (await response.json())["error"]) == (status, code)


async def test_unknown_call_is_404(client: TestClient) -> None:  # type: ignore[type-arg]
    """A uniqueid we have no record of: 404 unknown_call."""
    response = await client.post("/api/calls/nope/disposition", json={"disposition": "prank"})
    assert (response.status, (await response.json())["error"]) == (404, "unknown_call")


async def test_healthz_alarms_when_the_store_fails(client: TestClient) -> None:  # type: ignore[type-arg]
    """A failing store: /healthz answers 503 and names it (calls are still answered meanwhile)."""
    response = await client.get("/healthz")
    body = await response.json()
    assert response.status == 503
    assert body["store"]["spooled"] == 3
    assert any(alarm.startswith("store_failing") for alarm in body["alarms"])
