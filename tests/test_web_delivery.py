"""How the pages reach a browser: compressed, cached by version, a real page for a wrong address, an icon."""

from __future__ import annotations

import hashlib
import re

import pytest
from playwright.async_api import expect

from tests.browser import DESK, log_in
from tests.support import ROOT
from tests.test_police import police_stream, next_event
from tests.test_stays import token_of

SCRIPT = (ROOT / "static" / "police.js").read_bytes()
IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.mark.parametrize("encoding", ["br", "gzip"])
async def test_a_page_script_is_sent_compressed(anonymous, encoding):
    response = await anonymous.get("/static/police.js", headers={"Accept-Encoding": encoding})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == encoding
    assert int(response.headers["content-length"]) < len(SCRIPT) / 2
    assert response.content == SCRIPT  # decoded by the client: the same file
    assert "accept-encoding" in response.headers["vary"].lower()
    plain = await anonymous.get("/static/police.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == SCRIPT


async def test_versioned_assets_are_cached_for_a_year_and_pages_revalidate(anonymous):
    page = await anonymous.get("/police")
    assert page.headers["cache-control"] == "no-cache"  # a new release is picked up at the next load
    assert "script-src 'self'" in page.headers["content-security-policy"]
    version = hashlib.sha256(SCRIPT).hexdigest()[:12]
    assert f'src="/static/police.js?v={version}"' in page.text
    assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)
    assert assets and all("?v=" in url for url in assets), assets
    for url in assets:
        asset = await anonymous.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["cache-control"] == IMMUTABLE, url
        assert asset.headers["x-content-type-options"] == "nosniff"
    # Modules a page's script imports are named without a version: revalidated, never stale.
    assert (await anonymous.get("/static/api.js")).headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/static/api.js", "/login"])
async def test_a_revalidation_of_an_unchanged_file_or_page_downloads_nothing_again(anonymous, path):
    """A warm load asks again for each page and imported module (no-cache): unchanged, it gets 304 and no body."""
    first = await anonymous.get(path, headers={"Accept-Encoding": "gzip"})
    etag = first.headers["etag"]
    again = await anonymous.get(path, headers={"If-None-Match": etag, "Accept-Encoding": "gzip"})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag and again.headers["cache-control"] == "no-cache"
    assert "content-encoding" not in again.headers
    changed = await anonymous.get(path, headers={"If-None-Match": '"an-older-version"'})
    assert changed.status_code == 200 and changed.content == first.content


async def test_a_police_stream_is_not_held_back_by_compression(make_staff, make_area):
    police = await make_staff("police", area_code=await make_area())
    police.headers["Accept-Encoding"] = "gzip"  # gzip holds small writes back unless flushed
    async with police_stream(police, police.account["area_code"]) as events:
        counts = await next_event(events, "counts")
    assert '"current_guests"' in counts["data"]


async def test_the_live_stream_answer_has_no_content_encoding(make_staff, make_area):
    police = await make_staff("police", area_code=await make_area())
    async with police.stream("GET", "/api/v1/police/stream", headers={"Accept-Encoding": "br, gzip"}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in response.headers


@pytest.mark.parametrize(("language", "title", "home"), [("zh-CN,zh;q=0.9", "页面不存在", "返回首页"),
                                                           ("en-GB,en;q=0.8", "Page not found", "Go to the start page")])
async def test_a_person_at_a_wrong_address_gets_a_page_in_their_language(anonymous, language, title, home):
    response = await anonymous.get("/r/no/such/page", headers={"Accept": "text/html,application/xhtml+xml",
                                                               "Accept-Language": language})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert title in response.text and f'<a class="button" href="/">{home}</a>' in response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]


async def test_the_api_keeps_problem_details_for_a_wrong_address(anonymous):
    for path, accept in (("/api/v1/no-such-thing", "text/html"), ("/no-such-page", "application/json")):
        response = await anonymous.get(path, headers={"Accept": accept, "Accept-Language": "zh-CN"})
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["title"] == "未找到。"
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_the_icon_is_served_where_browsers_look(anonymous):
    icon = (ROOT / "static" / "favicon.svg").read_bytes()
    for path in ("/favicon.ico", "/static/favicon.svg"):
        response = await anonymous.get(path)
        assert response.status_code == 200 and response.content == icon
        assert response.headers["content-type"].startswith("image/svg+xml")


@pytest.mark.browser
async def test_no_page_asks_for_anything_that_is_not_there(new_context, make_staff, make_area, make_dwelling):
    landlord = await make_staff("landlord")
    dwelling = await make_dwelling(landlord, await make_area())
    police = await make_staff("police", area_code=await make_area())
    context = await new_context("en", device=DESK)
    missing: list[str] = []
    context.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page = await context.new_page()
    for path in ("/", "/login", "/verify", f"/r/{token_of(dwelling)}", f"/r/{token_of(dwelling)}/apply"):
        await page.goto(path)
        await page.wait_for_load_state("networkidle")
    username = police.account["username"]
    await log_in(page, username, f"{username}-password", start="/police")
    await expect(page.locator("#live")).to_contain_text("Live")
    await page.goto("/police/review")
    await page.wait_for_load_state("networkidle")
    icons = await page.evaluate("() => [...document.querySelectorAll('link[rel=icon]')].map((l) => l.href)")
    assert len(icons) == 1 and "/static/favicon.svg?v=" in icons[0]
    assert missing == []
