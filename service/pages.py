"""The web pages in static/: plain HTML and ES modules, served by the same application."""

from __future__ import annotations

from pathlib import Path

from litestar import Router, get
from litestar.response import File
from litestar.static_files import create_static_files_router

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def _page(name: str) -> File:
    return File(STATIC_DIR / name, content_disposition_type="inline", media_type="text/html; charset=utf-8")


@get("/", name="page:index", include_in_schema=False)
async def index() -> File:
    return _page("index.html")


@get("/login", name="page:login", include_in_schema=False)
async def login() -> File:
    return _page("login.html")


@get("/landlord", name="page:landlord", include_in_schema=False)
async def landlord() -> File:
    return _page("landlord.html")


@get("/r/{token:str}", name="page:guest", include_in_schema=False)
async def guest(token: str) -> File:
    """The guest's registration page; it reads its token from the address itself."""
    return _page("guest.html")


@get("/r/{token:str}/apply", name="page:apply", include_in_schema=False)
async def apply(token: str) -> File:
    """A guest without their document applies for remote verification."""
    return _page("apply.html")


@get("/verify", name="page:verify", include_in_schema=False)
async def verify() -> File:
    """Checks an electronic accommodation certificate; the certificate travels in the fragment."""
    return _page("verify.html")


@get("/verify-sw.js", name="page:verify-worker", include_in_schema=False)
async def verify_worker() -> File:
    """The service worker that keeps /verify for offline use; served from the root, so its scope may be /verify."""
    return File(STATIC_DIR / "verify-sw.js", content_disposition_type="inline",
                media_type="text/javascript; charset=utf-8", headers={"Cache-Control": "no-cache"})


@get("/police", name="page:police", include_in_schema=False)
async def police() -> File:
    return _page("police.html")


@get("/police/review", name="page:review", include_in_schema=False)
async def review() -> File:
    return _page("review.html")


pages = Router(path="/", route_handlers=[index, login, landlord, guest, apply, verify, verify_worker, police, review])
static_files = create_static_files_router(path="/static", directories=[STATIC_DIR], name="static")
