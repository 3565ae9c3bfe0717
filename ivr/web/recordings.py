"""A call's recording, played back for supervisors only (every play audited). Under /api/, so behind
the console's login guard."""

from __future__ import annotations

from aiohttp import web

from ivr.store.recordings import Recordings
from ivr.web.console import Console
from ivr.web.http import error


class RecordingsWeb:
    def __init__(self, recordings: Recordings, console: Console) -> None:
        self.recordings = recordings
        self.console = console

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/recordings/{uniqueid}", self.play)

    async def play(self, request: web.Request) -> web.StreamResponse:
        viewer = self.console.operator_of(request)
        if viewer.role != "supervisor":
            return error(403, "forbidden", "recordings are for supervisors")
        uniqueid = request.match_info["uniqueid"]
        path = self.recordings.path_of(uniqueid)
        if path is None:
            return error(404, "no_recording", "no recording of this call (not answered, deleted, or the disk was full)")
        self.console.sessions.audit(viewer.id, "recording_played", {"uniqueid": uniqueid})
        return web.FileResponse(path, headers={"Content-Type": "audio/wav", "Cache-Control": "no-store"})
