"""The test stacks' ports (tests/ports.py): never from the range the kernel hands to outgoing connections."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.ports import free_port


def test_test_ports_are_below_the_ephemeral_range_bindable_and_never_handed_out_twice() -> None:
    ephemeral_start = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(20000 <= port < ephemeral_start for port in ports), (min(ports), max(ports), ephemeral_start)
    with socket.socket() as server:
        server.bind(("127.0.0.1", ports[0]))  # still free: picking it bound nothing for good
