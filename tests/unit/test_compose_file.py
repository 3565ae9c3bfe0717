"""The compose file a center runs (docker/compose.yaml): no simulated operator unless the demo
override is added, and every container restarts when it exits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def given_services(name: str) -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((DOCKER / name).read_text())["services"]
    return services


def test_the_production_compose_file_logs_in_no_simulated_operator() -> None:
    """Simulated operators would take real 112 callers: only compose.demo.yaml sets them."""
    production = {name: service.get("environment") or {} for name, service in given_services("compose.yaml").items()}
    assert all("IVR_SIM_OPERATORS" not in environment for environment in production.values()), production
    assert int(given_services("compose.demo.yaml")["ivr"]["environment"]["IVR_SIM_OPERATORS"]) > 0


def test_every_container_restarts_when_it_exits() -> None:
    """restart: always on Asterisk, the service and PostgreSQL, like the systemd units' Restart=always."""
    services = given_services("compose.yaml")
    assert {name: service.get("restart") for name, service in services.items()} == dict.fromkeys(services, "always")
