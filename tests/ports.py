"""Ports for the servers the tests start: below the kernel's ephemeral range.

A test picks its ports first and binds them later (Asterisk's config names the FastAGI port long before
`ivr serve` listens on it). A port from the ephemeral range can be taken in between as the local port of
any outgoing connection (an AMI login, the browser's): the CI run of 2026-12-03 lost a whole e2e module
so ("address already in use" on the FastAGI port). The kernel never hands out a port below that range on
its own. Asterisk's RTP ports (asterisk-config/rtp.conf, 16000-16999) are below where we start.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_FIRST = 20000
_handed_out: set[int] = set()


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _bindable(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):  # SIP listens on both
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port() -> int:
    """A loopback port nothing holds now, outside the ephemeral range, not handed out before in this run."""
    last = _ephemeral_start() - 1
    if last <= _FIRST:
        raise RuntimeError(f"the ephemeral port range starts at {last + 1}: no room below it for test ports")
    for _ in range(1000):
        port = random.randint(_FIRST, last)
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free port between {_FIRST} and {last} after 1000 tries")
