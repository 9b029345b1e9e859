"""Cross-cutting HTTP protection: CSRF for browser sessions, rate limits, security headers."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncGenerator
from typing import Any

from litestar import Litestar, Request
from litestar.middleware import AbstractMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.types import Message, Receive, Scope, Send

from service.auth.guards import SESSION_COOKIE
from service.net import client_address
from service.settings import Settings


class SessionCSRFMiddleware(CSRFMiddleware):
    """Litestar's double-submit CSRF check, for requests that carry the session cookie.

    Only a browser sends that cookie on its own, so only those requests can be
    forged cross-site; a request with an Authorization header (which no other
    site can make a browser send) and anonymous guests pass.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (_has_header(scope, b"authorization") or not _has_cookie(scope, SESSION_COOKIE)):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _has_cookie(scope: Scope, name: str) -> bool:
    prefix = f"{name}=".encode()
    for key, value in scope["headers"]:
        if key == b"cookie" and any(part.strip().startswith(prefix) for part in value.split(b";")):
            return True
    return False


def _has_header(scope: Scope, name: bytes) -> bool:
    return any(key == name for key, _ in scope["headers"])


# The pages load nothing from elsewhere and run no inline script or style.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    # A guest's address holds the dwelling's QR token: never hand it to another site.
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(self), geolocation=(), microphone=()"),
]
CSP_HEADER = (b"content-security-policy", CONTENT_SECURITY_POLICY.encode())
NO_STORE_HEADER = (b"cache-control", b"no-store")


class SecurityHeadersMiddleware(AbstractMiddleware):
    """Security headers on every answer; API answers are not cached unless a route says otherwise.

    The OpenAPI viewers under /schema load their scripts from a CDN, so they get no CSP.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        extra = list(SECURITY_HEADERS)
        if not path.startswith("/schema"):
            extra.append(CSP_HEADER)
        if path.startswith("/api/"):
            extra.append(NO_STORE_HEADER)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(header for header in extra if header[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


_PUBLIC_REGISTRATION = re.compile(r"^/api/v1/public/dwellings/([^/]+)/(stays|verifications)$")


def rate_limits(settings: Settings) -> list[RateLimitConfig]:
    """Per client address on login and on public writes, and per QR token, so a leaked code cannot flood a dwelling.

    The counts live in each instance's memory: behind N instances the limits are N times as generous.
    """

    def address(prefix: str):
        return lambda request: f"{prefix}:{client_address(request, settings.trusted_proxies)}"

    def is_post(path_test):
        async def check(request: Request[Any, Any, Any]) -> bool:
            return request.method == "POST" and path_test(request.url.path)
        return check

    def token(request: Request[Any, Any, Any]) -> str:
        match = _PUBLIC_REGISTRATION.match(request.url.path)
        return f"token:{match.group(1) if match else ''}"

    # Without the informational RateLimit-* headers on every answer (a twentieth of a registration's
    # CPU); a refusal still says when to come back (Retry-After, the window of a minute).
    return [
        RateLimitConfig(rate_limit=("minute", settings.rate_limit_login_per_minute), set_rate_limit_headers=False,
                        identifier_for_request=address("login"),
                        check_throttle_handler=is_post(lambda path: path == "/api/v1/auth/login")),
        RateLimitConfig(rate_limit=("minute", settings.rate_limit_public_per_minute), set_rate_limit_headers=False,
                        identifier_for_request=address("public"),
                        check_throttle_handler=is_post(lambda path: path.startswith("/api/v1/public/"))),
        RateLimitConfig(rate_limit=("minute", settings.rate_limit_token_per_minute), set_rate_limit_headers=False,
                        identifier_for_request=token,
                        check_throttle_handler=is_post(lambda path: bool(_PUBLIC_REGISTRATION.match(path)))),
    ]


RATE_LIMIT_SWEEP_SECONDS = 60


@contextlib.asynccontextmanager
async def swept_rate_limits(app: Litestar) -> AsyncGenerator[None, None]:
    """The limiters' memory store drops an entry only when its key comes again: sweep the
    expired ones, so addresses seen once (or an attacker's many) do not pile up."""

    async def sweep() -> None:
        while True:
            await asyncio.sleep(RATE_LIMIT_SWEEP_SECONDS)
            await app.stores.get("rate_limit").delete_expired()

    task = asyncio.create_task(sweep())
    try:
        yield
    finally:
        task.cancel()
