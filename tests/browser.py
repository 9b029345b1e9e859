"""Browser test helpers: Debian's Chromium driven by Playwright, phone-sized contexts, screenshots.

Playwright's own browser download is never used: ``make browser`` installs Debian's chromium.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.support import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"
# A cheap phone: 360 CSS pixels wide, touch, a 2x screen.
PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
DESK = {"viewport": {"width": 1024, "height": 768}}
LOCALES = {"en": "en-US", "zh": "zh-CN"}
# The policy the pages are built for: no inline script or style, nothing from elsewhere. The
# tests add it to every page they load, so a page that breaks it fails them.
STRICT_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
              "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

expect.set_options(timeout=10_000)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: run `make browser` (Debian's chromium package)")
    if not subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout.strip():
        pytest.fail("No Chinese font: run `make browser` (Debian's fonts-wqy-microhei package)")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


NewContext = Callable[..., Awaitable[BrowserContext]]


@pytest.fixture
async def new_context(browser: Browser, service) -> AsyncIterator[NewContext]:
    """Open browser contexts on the service: ``await new_context("zh", device=PHONE)``.

    Pages get a strict Content-Security-Policy; every uncaught script error and every policy
    violation fails the test. A confirm() is accepted, its text kept in ``context.dialogs``.
    """
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    async def make(lang: str = "en", device: dict | None = None, timezone: str = "Asia/Shanghai") -> BrowserContext:
        context = await browser.new_context(
            base_url=service.base_url, locale=LOCALES[lang], timezone_id=timezone, **(device or PHONE))
        context.set_default_timeout(10_000)
        context.dialogs = []

        async def with_csp(route) -> None:
            # A redirect goes back to the browser, which follows it: fetched here, the page would show under
            # the address it was redirected from.
            response = await route.fetch(max_redirects=0)
            await route.fulfill(response=response, headers={**response.headers, "content-security-policy": STRICT_CSP})

        # Only the pages themselves go through the handler; the API calls and files are not touched.
        await context.route(lambda url: not urlsplit(url).path.startswith(("/api/", "/static/")), with_csp)

        async def on_dialog(dialog) -> None:
            context.dialogs.append(dialog.message)
            await dialog.accept()

        def on_page(page: Page) -> None:
            page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
            page.on("console", lambda msg: errors.append(f"{page.url}: {msg.text}")
                    if "Content Security Policy" in msg.text else None)
            page.on("dialog", on_dialog)

        context.on("page", on_page)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        # A request still in the CSP handler when the context closes (a service worker's script, fetched
        # late) would fail the test with "Request context disposed": such handlers' errors are ignored.
        await context.unroute_all(behavior="ignoreErrors")
        await context.close()
    assert not errors, f"script errors in the pages: {errors}"


async def snap(page: Page, name: str, full_page: bool = True) -> Path:
    """A screenshot in test-artifacts/ (the whole page, or what the screen shows), to look at; and no
    "null" or "undefined" on show."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=path, full_page=full_page)
    shown = await page.locator("body").inner_text()
    assert not re.search(r"\b(null|undefined|NaN)\b|\[object ", shown), f"stray value on the page {name}: {shown}"
    return path


async def assert_no_sideways_scroll(page: Page) -> None:
    """Nothing is wider than the screen: no horizontal scrolling, no zoomed-out layout."""
    scroll_width, inner_width = await page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth]")
    viewport = page.viewport_size["width"]
    assert scroll_width <= inner_width == viewport, f"page is {scroll_width}px wide on a {viewport}px screen"
    too_wide = await page.evaluate("""(limit) => [...document.querySelectorAll('body *')]
        .filter((e) => e.getClientRects().length && e.getBoundingClientRect().right > limit + 0.5)
        .map((e) => e.tagName + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''))""", viewport)
    assert not too_wide, f"elements reach past the right edge: {too_wide}"


async def log_in(page: Page, username: str, password: str, start: str = "/landlord") -> None:
    """Open a staff page unauthenticated, get sent to /login, log in there, come back."""
    await page.goto(start)
    await expect(page).to_have_url(re.compile(r"/login\?next="))
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(re.escape(start) + "$"))
