"""The FastAGI servers measured side by side, each run in its own process by bench/run_agi.py.

    python bench/agi_servers.py KIND PORT [--uvloop]

KIND:
  ours        our AgiServer (bounded parser, nonce sync, quoting) with the real call's exchange
  ours-full   our AgiServer running the real CallService: shipped flow, routing, SQLite record
  panoramisk  panoramisk 1.4's FastAGI Application sending the same commands
  floor       a bare asyncio.Protocol ping-pong: headers to the blank line, the same commands, no parsing

The exchange is what our service sent for a caller who presses 1 then 1 (kebakaran) when the results
in results/agi.md were measured: sync (GET FULL VARIABLE), 2 STREAM FILE, 7 SET VARIABLE = 10
commands. Kept at 10 so the servers stay comparable with those results; since issue 14 the service
sets the route in one SET VARIABLE (4 commands a call), which only makes every server cheaper.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import sys
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SOUNDS = ROOT / "var" / "asterisk" / "data" / "sounds"
COMMANDS = [
    f'STREAM FILE "{SOUNDS}/id/menu-utama" "0123456789*#"',
    f'STREAM FILE "{SOUNDS}/id/menu-darurat" "0123456789*#"',
    'SET VARIABLE IVR_TARGET "q-damkar"',
    'SET VARIABLE IVR_PRIORITY "10"',
    'SET VARIABLE IVR_CATEGORY "kebakaran"',
    'SET VARIABLE IVR_TIMEOUT "30"',
    'SET VARIABLE IVR_TRIED "q-damkar"',
    'SET VARIABLE IVR_FLAGS ""',
    'SET VARIABLE IVR_ACTION "queue"',
]


async def run_ours(port: int, full: bool) -> None:
    from ivr import logs
    from ivr.agi.server import AgiServer, AgiSession, ServerLimits

    logs.configure("warning", json=True)  # one info line per call would measure logging, not AGI
    if full:
        import tempfile

        from ivr.check import check
        from ivr.service import CallService
        from ivr.store.calls import CallStore

        result = check(ROOT, SOUNDS)
        assert result.config is not None, result.problems
        config = result.config
        store = CallStore(Path(tempfile.mkdtemp()) / "bench.sqlite3")
        handler = CallService(lambda: config, SOUNDS, store).handle
    else:

        async def handler(session: AgiSession) -> None:
            for command in COMMANDS:
                await session.command(command)

    server = AgiServer(handler, "127.0.0.1", port, ServerLimits(max_connections=20000))
    await server.start()
    await asyncio.Event().wait()


async def run_panoramisk(port: int) -> None:
    from panoramisk.fast_agi import Application

    logging.disable(logging.CRITICAL)  # its per-request info lines, as for ours

    async def route(request: Any) -> None:
        await request.send_command('GET FULL VARIABLE "0123456789abcdef"')
        for command in COMMANDS:
            await request.send_command(command)

    app = Application()
    app.add_route("112", route)
    server = await asyncio.start_server(app.handler, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


class Floor(asyncio.Protocol):
    """The least a FastAGI server can do: no parsing beyond finding line ends."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.buffer = b""
        self.in_headers = True
        self.step = 0

    def _send(self) -> None:
        if self.step == 0:
            self.transport.write(b'GET FULL VARIABLE "0123456789abcdef"\n')
        elif self.step <= len(COMMANDS):
            self.transport.write(COMMANDS[self.step - 1].encode() + b"\n")
        else:
            self.transport.close()
        self.step += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.in_headers:
            end = self.buffer.find(b"\n\n")
            if end < 0:
                return
            self.in_headers = False
            self.buffer = self.buffer[end + 2 :]
            self._send()
        while b"\n" in self.buffer:
            _line, self.buffer = self.buffer.split(b"\n", 1)
            self._send()


async def run_floor(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Floor, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("ours", "ours-full", "panoramisk", "floor"))
    parser.add_argument("port", type=int)
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.uvloop:
        import uvloop

        uvloop.install()
    runners = {
        "ours": lambda: run_ours(args.port, False),
        "ours-full": lambda: run_ours(args.port, True),
        "panoramisk": lambda: run_panoramisk(args.port),
        "floor": lambda: run_floor(args.port),
    }
    asyncio.run(runners[args.kind]())


if __name__ == "__main__":
    main()
