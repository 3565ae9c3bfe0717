"""The test stacks' ports (tests/ports.py): never from the range the kernel hands to outgoing connections."""

from __future__ import annotations

import socket

import pytest

from tests import ports
from tests.ports import free_port


@pytest.mark.parametrize(
    ("ephemeral", "expected"),
    [
        ((32768, 60999), (20000, 32767)),  # Linux's default: below it
        ((10000, 60999), (61000, 65535)),  # no room below: above it
    ],
)
def test_test_ports_are_outside_the_ephemeral_range_bindable_and_never_handed_out_twice(
    monkeypatch: pytest.MonkeyPatch, ephemeral: tuple[int, int], expected: tuple[int, int]
) -> None:
    monkeypatch.setattr(ports, "ephemeral_range", lambda: ephemeral)
    picked = [free_port() for _ in range(200)]
    assert len(set(picked)) == len(picked)
    assert all(expected[0] <= port <= expected[1] for port in picked), (min(picked), max(picked), expected)
    with socket.socket() as server:
        server.bind(("127.0.0.1", picked[0]))  # still free: picking it bound nothing for good


def test_a_machine_whose_ephemeral_range_leaves_no_room_still_gets_a_free_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "ephemeral_range", lambda: (1024, 65535))
    port = free_port()
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
