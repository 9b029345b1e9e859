"""Cross-cutting HTTP protection: CSRF for browser sessions, rate limits, security headers."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
import time
import weakref
from collections import Counter
from secrets import compare_digest
from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import Any, Literal, TypeVar

import anyio
from litestar import Litestar, Request
from litestar.config.compression import CompressionConfig
from litestar.connection import ASGIConnection
from litestar.enums import CompressionEncoding
from litestar.middleware import ASGIMiddleware
from litestar.config.csrf import CSRFConfig
from litestar.enums import RequestEncodingType, ScopeType
from litestar.exceptions import PermissionDeniedException, TooManyRequestsException
from litestar.middleware._utils import should_bypass_middleware
from litestar.middleware.compression import CompressionMiddleware
from litestar.middleware.csrf import CSRF_SECRET_LENGTH, CSRFMiddleware, generate_csrf_hash, generate_csrf_token
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState
from redis.asyncio import Redis
from redis.exceptions import RedisError

from service.auth.guards import SESSION_COOKIE, bearer_token
from service.i18n import add_messages
from service.net import client_address
from service.problems import Problem
from service.settings import Settings


T = TypeVar("T")
log = logging.getLogger(__name__)

# Only these paths take cookie-authenticated writes without a CSRF token: guests' public routes
# (no session) and the login itself. Litestar searches the patterns anywhere in a path: anchored.
CSRF_EXEMPT = ["^/api/v1/public/", "^/api/v1/auth/login$"]


def csrf_config(secret: str, secure: bool) -> CSRFConfig:
    return CSRFConfig(secret=secret, cookie_name="csrftoken", header_name="x-csrftoken", cookie_secure=secure,
                      exclude=CSRF_EXEMPT)


class SessionCSRFMiddleware(CSRFMiddleware):
    """Litestar's double-submit CSRF check for requests authenticated by the session cookie, with
    the token bound to that session: its HMAC key derives from the session token, so a token issued
    to one session (read by another user of the computer, or planted) fails with any other session.

    Only a browser sends the cookie on its own, so only those requests can be forged cross-site. A
    request authenticated by a valid bearer token (which no other site can make a browser send)
    passes, and so do anonymous ones; any other Authorization header changes nothing.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        session = _session_of(scope) if scope["type"] == "http" else None
        if session is None or _bearer_authenticated(scope) or should_bypass_middleware(
            scope=scope, scopes=self.scopes, exclude_opt_key=self.config.exclude_from_csrf_key,
            exclude_path_pattern=self.exclude,
        ):
            await self.app(scope, receive, send)
            return
        secret = hmac.new(self.config.secret.encode(), hashlib.sha256(session.encode()).digest(), "sha256").hexdigest()
        request: Request[Any, Any, Any] = scope["litestar_app"].request_class(scope=scope, receive=receive)
        cookie_token = request.cookies.get(self.config.cookie_name)
        if cookie_token is not None and not _signed_by(cookie_token, secret):
            cookie_token = None  # another session's token: a safe request gets a new one
        if request.method in self.config.safe_methods:
            token = ScopeState.from_scope(scope).csrf_token = cookie_token or generate_csrf_token(secret)
            await self.app(scope, receive, self.create_send_wrapper(send=send, token=token, csrf_cookie=cookie_token))
            return
        sent = request.headers.get(self.config.header_name)
        if sent is None and request.content_type[0] in {RequestEncodingType.URL_ENCODED, RequestEncodingType.MULTI_PART}:
            sent = (await request.form()).get("_csrf_token")
        if cookie_token is None or not isinstance(sent, str) or not compare_digest(sent, cookie_token):
            raise PermissionDeniedException("CSRF token verification failed")
        ScopeState.from_scope(scope).csrf_token = sent
        await self.app(scope, receive, send)


def _signed_by(token: str, secret: str) -> bool:
    """Litestar's token format: 64 hex characters of randomness, then their HMAC under ``secret``."""
    return len(token) > CSRF_SECRET_LENGTH and compare_digest(
        token[CSRF_SECRET_LENGTH:], generate_csrf_hash(token[:CSRF_SECRET_LENGTH], secret))


def _bearer_authenticated(scope: Scope) -> bool:
    """The session middleware authenticated this request by its bearer token, not by the cookie."""
    authorization = next((value for key, value in scope["headers"] if key == b"authorization"), b"")
    token = bearer_token(authorization.decode("latin-1"))
    return token is not None and scope.get("user") is not None and scope.get("auth") == token


def _session_of(scope: Scope) -> str | None:
    """The session token the CSRF token is bound to: the one that authenticated the request. A Cookie header
    may carry several session cookies (one planted for the site by a sibling host or for a narrower path comes
    first); binding to another than the authenticating one would let a planted session's token through."""
    if scope.get("user") is not None:
        return scope.get("auth")
    return ASGIConnection(scope).cookies.get(SESSION_COOKIE)  # as the authentication read it


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


class SecurityHeadersMiddleware(ASGIMiddleware):
    """Security headers, the CSP among them, on every answer (the API viewer at /schema too); API answers
    are not cached unless a route says otherwise."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        path: str = scope.get("path", "")
        extra = [*SECURITY_HEADERS, CSP_HEADER]
        if path.startswith("/api/"):
            extra.append(NO_STORE_HEADER)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(header for header in extra if header[0] not in present)
                message["headers"] = headers
            await send(message)

        await next_app(scope, receive, with_headers)


class CompressionExceptStreams(CompressionMiddleware):
    """Litestar's compression, except for server-sent events. Each open stream would keep a compressor
    of its own for hours (brotli's window is 4 MB: a thousand police views, gigabytes) and flush it
    after every small event, which saves next to nothing; and an event must never wait in a buffer."""

    def create_compression_send_wrapper(
        self, send: Send, compression_encoding: Literal[CompressionEncoding.BROTLI, CompressionEncoding.GZIP] | str,
        scope: Scope,
    ) -> Send:
        compressing = super().create_compression_send_wrapper(send, compression_encoding, scope)
        streaming = False

        async def send_wrapper(message: Message) -> None:
            nonlocal streaming
            if message["type"] == "http.response.start":
                streaming = any(name.lower() == b"content-type" and value.startswith(b"text/event-stream")
                                for name, value in message.get("headers", []))
            await (send if streaming else compressing)(message)

        return send_wrapper


# Brotli where the browser takes it (all current ones over HTTPS and on localhost), else gzip.
COMPRESSION = CompressionConfig(backend="brotli", brotli_gzip_fallback=True, middleware_class=CompressionExceptStreams)


_PUBLIC_REGISTRATION = re.compile(r"^/api/v1/public/dwellings/([^/]+)/(stays|verifications)$")


class RateLimitsMiddleware(ASGIMiddleware):
    """Several of Litestar's rate limits (RateLimitConfig) checked in one middleware layer.

    Each limit as its own RateLimitMiddleware is a layer of its own: its own Request, throttle check and
    call through the stack on every request. Here one Request serves them all, and the counting is still
    Litestar's: each limit's RateLimitMiddleware keys, reads and writes its history in the app's
    "rate_limit" store under a lock of its own (so the shared store of VH_REDIS_URL keeps one budget across
    instances), and a refusal is its TooManyRequestsException. Extending Litestar's limiter rather than
    writing one keeps its store format, keys and windows (counts survive a deploy) and its fixes. Limits
    are counted in order; a refused request is not counted by the limits after the one that refused it,
    as when they were layers.
    """

    scopes = (ScopeType.HTTP,)

    def __init__(self, configs: list[RateLimitConfig]) -> None:
        # The limiters count; they are never called as layers, so they have no app after them.
        self.limiters = [config.middleware_class(None, config) for config in configs]  # type: ignore[arg-type]
        # Each limiter's read-modify-write of a history one at a time, as its own lock does; a free lock
        # is taken without a trip through the event loop (anyio's default: one per acquisition).
        self._locks = [anyio.Lock(fast_acquire=True) for _ in configs]

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        app = scope["litestar_app"]
        request: Request[Any, Any, Any] = app.request_class(scope)
        checked = [(limiter, lock) for limiter, lock in zip(self.limiters, self._locks, strict=True)
                   if not should_bypass_middleware(scope=scope, scopes=limiter.scopes,
                                                   exclude_opt_key=limiter.exclude_opt_key,
                                                   exclude_path_pattern=limiter.exclude_pattern)
                   and await limiter.should_check_request(request)]
        for limiter, lock in checked:
            store = limiter.config.get_store_from_app(app)
            key = limiter.cache_key_from_request(request)
            async with lock:
                history = await limiter.retrieve_cached_history(key, store)
                if len(history.history) >= limiter.max_requests:
                    raise TooManyRequestsException(
                        headers=limiter.create_response_headers(history) if limiter.config.set_rate_limit_headers
                        else None)
                await limiter.set_cached_history(key, history, store)
            if limiter.config.set_rate_limit_headers:
                send = limiter.create_send_wrapper(send, history)
        await next_app(scope, receive, send)


def rate_limits(settings: Settings) -> RateLimitsMiddleware:
    """Per client address on public writes, and per QR token, so a leaked code cannot flood a dwelling.
    (Failed logins are limited by the auth domain, which alone knows which attempts failed.)

    The counts live in Redis when VH_REDIS_URL is set, shared by all instances (rate_limit_store);
    else in each instance's memory, where behind N instances the limits are N times as generous.
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
    return RateLimitsMiddleware([
        RateLimitConfig(rate_limit=("minute", settings.rate_limit_public_per_minute), set_rate_limit_headers=False,
                        identifier_for_request=address("public"),
                        check_throttle_handler=is_post(lambda path: path.startswith("/api/v1/public/"))),
        RateLimitConfig(rate_limit=("minute", settings.rate_limit_token_per_minute), set_rate_limit_headers=False,
                        identifier_for_request=token,
                        check_throttle_handler=is_post(lambda path: bool(_PUBLIC_REGISTRATION.match(path)))),
    ])


REDIS_TIMEOUT_SECONDS = 1.0
REDIS_RETRY_SECONDS = 5.0


class FastLockMemoryStore(MemoryStore):
    """Litestar's memory store, whose lock is taken without a trip through the event loop when it is free
    (anyio's default yields on every acquisition: two of them a limit and a request). Nothing is awaited
    while it is held, so it is never waited for: atomic as before."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = anyio.Lock(fast_acquire=True)


class SharedRateLimitStore(Store):
    """The rate limiters' counts in Redis, one budget for all instances; while Redis cannot be reached,
    in this instance's memory. Failing open would let a flood through with Redis down, failing closed
    would refuse every guest's registration: limiting per instance keeps both the guests and a limit.
    After a failure Redis is tried again only after REDIS_RETRY_SECONDS, so requests do not each wait
    for its timeout.
    """

    def __init__(self, url: str, key_prefix: str) -> None:
        client = Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS)
        self.shared = RedisStore(client, namespace=f"{key_prefix}:rate_limit", handle_client_shutdown=True)
        self.local = FastLockMemoryStore()
        self._retry_at: float | None = None  # set while Redis is unreachable

    async def _either(self, method: str, *args: Any) -> Any:
        if self._retry_at is None or time.monotonic() >= self._retry_at:
            try:
                result = await getattr(self.shared, method)(*args)
            except (RedisError, OSError) as exc:
                if self._retry_at is None:
                    log.warning("Redis unreachable: rate limits are counted by each instance alone until it is back",
                                extra={"error": repr(exc)})
                self._retry_at = time.monotonic() + REDIS_RETRY_SECONDS
            else:
                if self._retry_at is not None:
                    log.warning("Redis reachable again: rate limits are shared by all instances")
                    self._retry_at = None
                return result
        return await getattr(self.local, method)(*args)

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        await self._either("set", key, value, expires_in)

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        return await self._either("get", key, renew_for)

    async def delete(self, key: str) -> None:
        await self._either("delete", key)

    async def delete_all(self) -> None:
        await self._either("delete_all")

    async def exists(self, key: str) -> bool:
        return await self._either("exists", key)

    async def expires_in(self, key: str) -> int | None:
        return await self._either("expires_in", key)

    async def delete_expired(self) -> None:
        """Redis expires its keys itself; the fallback's memory is swept like the plain store's."""
        await self.local.delete_expired()

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.shared.__aexit__(*exc_info)


def rate_limit_store(settings: Settings) -> Store:
    """The store named "rate_limit", which Litestar's rate limiters use by default."""
    if settings.redis_url:
        return SharedRateLimitStore(settings.redis_url, settings.redis_key_prefix)
    return FastLockMemoryStore()


add_messages({"too_many_streams": (
    "Too many live views are open from here. Close some, or try again in {retry_after} seconds.",
    "此处打开的实时页面过多，请关闭一些，或 {retry_after} 秒后再试。")})
STREAM_RETRY_AFTER_SECONDS = 30


class OpenStreams:
    """Live streams open on this instance per client (an address, or an account), up to a cap, so
    one client cannot hold the instance's memory and connections with hundreds of streams.

    Counted per instance: behind N instances a client may hold N times the cap.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._open: Counter[str] = Counter()

    def count(self, key: str) -> int:
        return self._open[key]

    def hold(self, key: str, events: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
        """``events``, counted against ``key`` until it ends or the client leaves; 429 at the cap."""
        if self._open[key] >= self.cap:
            raise Problem(429, "too_many_streams", headers={"Retry-After": str(STREAM_RETRY_AFTER_SECONDS)},
                          retry_after=STREAM_RETRY_AFTER_SECONDS)
        self._open[key] += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._open[key] -= 1
                if not self._open[key]:
                    del self._open[key]

        async def counted() -> AsyncGenerator[T, None]:
            try:
                async with contextlib.aclosing(events):
                    async for event in events:
                        yield event
            finally:
                release()

        stream = counted()
        weakref.finalize(stream, release)  # a stream never started (the client left at once) ends uncounted too
        return stream


RATE_LIMIT_SWEEP_SECONDS = 60


@contextlib.asynccontextmanager
async def swept_rate_limits(app: Litestar) -> AsyncGenerator[None, None]:
    """The limiters' memory store (alone, or beside Redis) drops an entry only when its key comes again:
    sweep the expired ones, so addresses seen once (or an attacker's many) do not pile up."""

    async def sweep() -> None:
        while True:
            await asyncio.sleep(RATE_LIMIT_SWEEP_SECONDS)
            await app.stores.get("rate_limit").delete_expired()

    task = asyncio.create_task(sweep())
    try:
        yield
    finally:
        task.cancel()
