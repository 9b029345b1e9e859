"""The web pages in static/: plain HTML and ES modules, served by the same application.

Caching: a page names its stylesheets, its script and its icon with the file's content hash
(``/static/app.css?v=…``), and such versioned files are cached for a year; the pages themselves
and unversioned files (the modules a page's script imports) are revalidated on every load, so a
new release is picked up at once; an unchanged one is answered 304 without its body.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from litestar import MediaType, Request, Response, Router, get
from litestar.exceptions import NotFoundException
from litestar.response import File, Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.auth.schemas import Role
from service.i18n import add_messages, language_of, translate
from service.problems import from_http_exception
from service.web import CSP_HEADER, SECURITY_HEADERS


STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
IMMUTABLE = b"public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
_STATIC_REFERENCE = re.compile(r'(href|src)="/static/([^"?#]+)"')

add_messages({
    "page_not_found": ("Page not found", "页面不存在"),
    "page_not_found_explanation": (
        "There is no page at this address. If you followed a QR code, scan it again or ask your host for a new one.",
        "此地址没有页面。如果您是扫码进入的，请重新扫码，或向房东索取新的二维码。"),
    "go_home": ("Go to the start page", "返回首页"),
    "site_name": ("Virtual hotel", "虚拟旅馆"),
})


@cache
def asset_version(name: str) -> str:
    """The first hex digits of the file's SHA-256: a new content is a new URL."""
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]


def asset_url(name: str) -> str:
    return f"/static/{name}?v={asset_version(name)}"


@cache
def _versioned_page(name: str) -> bytes:
    html = (STATIC_DIR / name).read_text(encoding="utf-8")
    return _STATIC_REFERENCE.sub(lambda m: f'{m.group(1)}="{asset_url(m.group(2))}"', html).encode()


def _page(name: str) -> Response[bytes]:
    body = _versioned_page(name)
    return Response(body, media_type="text/html; charset=utf-8",
                    headers={"Cache-Control": REVALIDATE, "ETag": f'"{hashlib.sha256(body).hexdigest()[:16]}"'})


@get("/", name="page:index", include_in_schema=False)
async def index() -> Response[bytes]:
    return _page("index.html")


@get("/login", name="page:login", include_in_schema=False)
async def login() -> Response[bytes]:
    return _page("login.html")


@get("/landlord", name="page:landlord", include_in_schema=False)
async def landlord() -> Response[bytes]:
    return _page("landlord.html")


@get("/r/{token:str}", name="page:guest", include_in_schema=False)
async def guest(token: str) -> Response[bytes]:
    """The guest's registration page; it reads its token from the address itself."""
    return _page("guest.html")


@get("/r/{token:str}/apply", name="page:apply", include_in_schema=False)
async def apply(token: str) -> Response[bytes]:
    """A guest without their document applies for remote verification."""
    return _page("apply.html")


@get("/verify", name="page:verify", include_in_schema=False)
async def verify() -> Response[bytes]:
    """Checks an electronic accommodation certificate; the certificate travels in the fragment."""
    return _page("verify.html")


@get("/verify-sw.js", name="page:verify-worker", include_in_schema=False)
async def verify_worker() -> File:
    """The service worker that keeps /verify for offline use; served from the root, so its scope may be /verify."""
    return File(STATIC_DIR / "verify-sw.js", content_disposition_type="inline",
                media_type="text/javascript; charset=utf-8", headers={"Cache-Control": "no-cache"})


@get("/police", name="page:police", include_in_schema=False)
async def police() -> Response[bytes]:
    return _page("police.html")


@get("/police/review", name="page:review", include_in_schema=False)
async def review() -> Response[bytes]:
    return _page("review.html")


@get("/account", name="page:account", include_in_schema=False)
async def account() -> Response[bytes]:
    """One's own account: a new password, the failed logins since the last, ending other sessions."""
    return _page("account.html")


def _page_for(request: Request, roles: tuple[Role, ...], name: str) -> Response[bytes] | Redirect:
    """A page for some roles: anyone else is sent to log in as one of them, and comes back here."""
    staff = request.scope.get("user")
    if staff is None or staff.role not in roles:
        return Redirect(f"/login?next={quote(request.url.path, safe='')}", status_code=303)
    return _page(name)


@get("/admin", name="page:admin", include_in_schema=False)
async def admin(request: Request) -> Response[bytes] | Redirect:
    """The administration pages."""
    return _page_for(request, ("admin",), "admin.html")


@get("/landlord/import", name="page:import", include_in_schema=False)
async def own_import(request: Request) -> Response[bytes] | Redirect:
    """A landlord's or desk's bulk import of their own dwellings (an administrator's page sends them to /admin)."""
    return _page_for(request, ("landlord", "desk", "admin"), "import.html")



@get("/favicon.ico", name="page:favicon", include_in_schema=False)
async def favicon() -> File:
    """Browsers ask here when a page names no icon (posters, the API viewers): the same SVG icon."""
    return File(STATIC_DIR / "favicon.svg", content_disposition_type="inline", media_type="image/svg+xml",
                headers={"Cache-Control": "public, max-age=86400"})


def _etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    """RFC 9110's weak comparison: a tag the client holds (or ``*``) is the current one."""
    held = {tag.strip().removeprefix(b"W/") for tag in if_none_match.split(b",")}
    return b"*" in held or etag.strip().removeprefix(b"W/") in held


# A 304 carries the validators and caching headers of the 200 it stands for, not the body's.
_BODY_HEADERS = {b"content-length", b"content-type", b"content-encoding", b"content-disposition"}


def not_modified(app: ASGIApp) -> ASGIApp:
    """A revalidation (``If-None-Match``) whose ETag still matches is answered 304 without the body:
    what ``no-cache`` pages and unversioned modules rely on, so a warm load downloads nothing again."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if_none_match = next((v for k, v in scope["headers"] if k == b"if-none-match"), None)
        if if_none_match is None or scope["method"] not in ("GET", "HEAD"):
            await app(scope, receive, send)
            return
        unchanged = False

        async def send_or_304(message: Message) -> None:
            nonlocal unchanged
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                etag = next((v for k, v in headers if k.lower() == b"etag"), None)
                if message["status"] == 200 and etag is not None and _etag_matches(if_none_match, etag):
                    unchanged = True
                    message = {**message, "status": 304,
                               "headers": [(k, v) for k, v in headers if k.lower() not in _BODY_HEADERS]}
            elif unchanged:
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await app(scope, receive, send_or_304)

    return middleware


def versioned_assets_cache(app: ASGIApp) -> ASGIApp:
    """Static files: a year for a versioned URL (``?v=``), else revalidate each time."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        versioned = b"v=" in scope.get("query_string", b"")

        async def with_cache_control(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                headers.append((b"cache-control", IMMUTABLE if versioned else REVALIDATE.encode()))
                message["headers"] = headers
            await send(message)

        await app(scope, receive, with_cache_control)

    return middleware


# An address no route matches is answered before the middleware runs: the headers are set here.
_NOT_FOUND_HEADERS = {name.decode(): value.decode() for name, value in [*SECURITY_HEADERS, CSP_HEADER]}


def not_found(request: Request[Any, Any, Any], exc: NotFoundException) -> Response[Any]:
    """A person asking for a page that is not there gets a page in their language with a way home;
    the API (and any caller not asking for HTML) keeps problem details."""
    wants_page = "text/html" in request.headers.get("accept", "") and not request.url.path.startswith("/api/")
    if not wants_page:
        problem = from_http_exception(exc).to_response(request)
        problem.headers.update(_NOT_FOUND_HEADERS)
        return problem
    language = language_of(request)
    texts = {key: translate(code, language) for key, code in (
        ("title", "page_not_found"), ("explanation", "page_not_found_explanation"), ("home", "go_home"),
        ("site", "site_name"))}
    return Template("not_found.html", status_code=404, media_type=MediaType.HTML,
                    context={**texts, "html_lang": "zh-CN" if language == "zh" else "en", "asset": asset_url},
                    headers={**_NOT_FOUND_HEADERS, "Cache-Control": REVALIDATE})


pages = Router(path="/", route_handlers=[index, login, account, landlord, guest, apply, verify, verify_worker, police, review,
                                         favicon, admin, own_import], middleware=[not_modified])
# not_modified outside: its 304 keeps the Cache-Control that versioned_assets_cache gives the 200.
static_files = create_static_files_router(path="/static", directories=[STATIC_DIR], name="static",
                                          middleware=[not_modified, versioned_assets_cache])
