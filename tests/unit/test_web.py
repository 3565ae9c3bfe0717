"""/healthz raises an alarm when the store fails (the console's API: test_console_web.py)."""

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
    app = build_web_app(Settings(root=ALT), LiveConfig(ALT, None), AgiServer(handler), None, lambda: health)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client
    store.close()


async def test_healthz_alarms_when_the_store_fails(client: TestClient) -> None:  # type: ignore[type-arg]
    """A failing store: /healthz answers 503 and names it (calls are still answered meanwhile)."""
    response = await client.get("/healthz")
    body = await response.json()
    assert response.status == 503
    assert body["store"]["spooled"] == 3
    assert any(alarm.startswith("store_failing") for alarm in body["alarms"])
