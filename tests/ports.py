"""Ports for the servers the tests start: outside the kernel's ephemeral range where there is room.

A test picks its ports first and binds them later (Asterisk's config names the FastAGI port long before
`ivr serve` listens on it). A port from the ephemeral range can be taken in between as the local port of
any outgoing connection (an AMI login, the browser's): a run of tests/e2e on 2026-12-03 lost its whole
console module so ("address already in use" on the FastAGI port). The kernel never gives a port outside
that range to a socket that did not ask for it. Asterisk's RTP ports (asterisk-config/rtp.conf,
16000-16999) are below where we start.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_FIRST, _LAST = 20000, 65535
_ROOM = 1000  # a range smaller than this is no room
_handed_out: set[int] = set()


def ephemeral_range() -> tuple[int, int]:
    try:
        first, last = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[:2]
        return int(first), int(last)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def _bindable(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):  # SIP listens on both
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def _kernels_pick() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_port() -> int:
    """A loopback port nothing holds now, not handed out before in this run: outside the ephemeral range
    (below it, else above it); on a machine whose ephemeral range leaves no room, the kernel's pick."""
    start, end = ephemeral_range()
    ranges = [(low, high) for low, high in ((_FIRST, start - 1), (end + 1, _LAST)) if high - low >= _ROOM]
    if not ranges:
        return _kernels_pick()
    low, high = ranges[0]
    for _ in range(1000):
        port = random.randint(low, high)
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free port between {low} and {high} after 1000 tries")
