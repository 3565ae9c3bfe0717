"""What every part of the center's web answers the same way: errors with a stable code, the refusal
of cross-site and non-JSON writes, the JSON body, a throttled login, the security headers."""

from __future__ import annotations

from typing import Any

from aiohttp import web


def error(status: int, code: str, detail: str) -> web.Response:
    """Errors carry a stable code (tests and the page rely on it) and words for a person."""
    return web.json_response({"error": code, "detail": detail}, status=status)


def cross_site_or_not_json(request: web.Request) -> web.Response | None:
    """No write from another site's page, and JSON only (a cross-site form cannot send
    application/json without a preflight, which we never grant)."""
    origin = request.headers.get("Origin")
    if request.headers.get("Sec-Fetch-Site") == "cross-site" or (
        origin is not None and origin != f"{request.scheme}://{request.host}"
    ):
        return error(403, "cross_origin", "requests from another site are refused")
    if request.content_type != "application/json":
        return error(415, "not_json", "send Content-Type: application/json")
    return None


async def json_object(request: web.Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def too_many(wait: float) -> web.Response:
    retry = max(1, round(wait))
    return web.json_response(
        {
            "error": "too_many_attempts",
            "detail": f"too many failed logins: try again in {retry} s",
            "retry_after": retry,
        },
        status=429,
        headers={"Retry-After": str(retry)},
    )


def security_headers(response: web.StreamResponse, ws_url: str) -> None:
    if response.prepared:  # a WebSocket after its handshake
        return
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
        f"connect-src 'self' {ws_url.rsplit('/', 1)[0]}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
