"""`ivr serve` with the wallboard served, wired as ivr/app.py is to wire it (the wiring lines are in the
h-wallboard report): ``Wallboard(console, agi, store).routes(app)`` on the app ``build_web_app`` made.

The end-to-end test runs the service through this until ivr/app.py does it itself; from then on this
adds nothing (it only wires the wallboard into an app that does not serve /wallboard yet).
Run as ``python -m tests.e2e.serve_with_wallboard --root DIR serve``.
"""

from __future__ import annotations

import sys
from typing import Any

from aiohttp import web

import ivr.app
from ivr.cli import main
from ivr.store.calls import CallStore
from ivr.web.app import build_web_app as _build_web_app
from ivr.web.console import Console
from ivr.web.wallboard import Wallboard


def build_web_app(*args: Any, **kwargs: Any) -> web.Application:
    app = _build_web_app(*args, **kwargs)  # ivr/app.py calls it positionally
    settings, agi = args[0], args[2]
    console: Console | None = kwargs.get("console", args[5] if len(args) > 5 else None)
    served = {resource.canonical for resource in app.router.resources()}
    if console is not None and "/wallboard" not in served:
        # ivr/app.py passes its own CallStore; here a second connection to the same file (SQLite WAL).
        calls = CallStore(settings.store_file)
        Wallboard(console, agi, calls).routes(app)

        async def close(_app: web.Application) -> None:
            calls.close()

        app.on_cleanup.append(close)
    return app


if __name__ == "__main__":
    # ivr.app calls the name it imported: replace it there (no other module is touched).
    ivr.app.build_web_app = build_web_app  # type: ignore[attr-defined]
    raise SystemExit(main(sys.argv[1:]))
