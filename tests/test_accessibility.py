"""Accessibility and weight of the pages, in a real browser.

Every page in PAGES is checked with axe-core (vendored in tests/vendor/axe-core, never served by the
product) on a laptop (1366x768) and a phone (360x740): no serious or critical violation. All findings,
also the minor ones, are written to test-artifacts/axe-<page>-<screen>.json. A new page: add a line to PAGES.

The guest page, opened on a throttled phone, must stay under 100 kB uncompressed (fonts excluded); its
bytes and the time to a usable form are logged in test-artifacts/guest-page-weight.json (time is not asserted).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import httpx
import pytest
from playwright.async_api import expect

from tests.browser import ARTIFACTS, PHONE, snap
from tests.support import ROOT, idempotency_key
from tests.test_stays import stay_body

pytestmark = pytest.mark.browser

AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"
SCREENS = {"laptop": {"viewport": {"width": 1366, "height": 768}}, "phone": PHONE}
FAILING_IMPACTS = ("serious", "critical")
GUEST_PAGE_BUDGET_BYTES = 100_000


@dataclass(frozen=True)
class Shown:
    """A page to check: its path ({token}, {dwelling_id}: the test dwelling's), a CSS selector present once
    the page has drawn itself, and the staff role logged in first (None: anonymous)."""

    name: str
    path: str
    ready: str
    staff: str | None = None


PAGES = [
    Shown("index", "/", "main .card"),
    Shown("login", "/login", "button[type=submit]:enabled"),
    Shown("landlord", "/landlord", "tr.dwelling-row", staff="landlord"),
    Shown("landlord-dwelling", "/landlord#d{dwelling_id}", "#selected .stay", staff="landlord"),
    Shown("landlord-add", "/landlord#new", "#selected form.dwelling-editor", staff="landlord"),
    Shown("guest", "/r/{token}", "form button.submit"),
    Shown("apply", "/r/{token}/apply", "form button[type=submit]"),
    Shown("verify", "/verify", "#input :is(textarea, input, button)"),
    Shown("police", "/police", "#logout:not(.hidden)", staff="police"),
    Shown("review", "/police/review", "#logout:not(.hidden)", staff="police"),
    Shown("privacy", "/privacy", "#en"),
    Shown("admin", "/admin", "#panels :is(table, form)", staff="admin"),
    # The administration's other panels: each shows alone, under its own address.
    *(Shown(f"admin-{panel}", f"/admin#{panel}", f"#{panel}-panel:not(.hidden) {ready}", staff="admin") for panel, ready in (
        ("accounts", "table"), ("dwellings", "table"), ("import", "input[type=file]"), ("registry", "input[type=file]"),
        ("keys", "table"), ("audit", "table"), ("thresholds", "table"))),
    Shown("account", "/account", "#logout:not(.hidden)", staff="landlord"),
    Shown("import", "/landlord/import", "input[type=file]", staff="landlord"),
    Shown("poster", "/api/v1/dwellings/{dwelling_id}/poster", ".poster svg", staff="landlord"),
]


@pytest.fixture(scope="module")
async def world(make_staff, make_area, make_dwelling, anonymous_module):
    county = await make_area(name="county")
    village = await make_area(county, "village")
    landlord = await make_staff("landlord")
    police = await make_staff("police", county)
    admin = await make_staff("admin")
    dwelling = await make_dwelling(landlord, village, name="Lane 3 No. 5", address="Guanlin Village, Lane 3 No. 5",
                                   latitude=28.58, longitude=121.38)
    token = dwelling["registration_url"].rsplit("/", 1)[1]
    registered = await anonymous_module.post(f"/api/v1/public/dwellings/{token}/stays", json=stay_body(),
                                             headers={"Idempotency-Key": idempotency_key()})
    assert registered.status_code == 201, registered.text
    # The audit log's widest value: a signing key's id (43 characters without a break), shown on a phone.
    assert (await admin.post("/api/v1/keys/rotate")).status_code == 200
    return {"landlord": landlord, "police": police, "admin": admin, "token": token, "dwelling_id": dwelling["id"]}


@pytest.fixture(scope="module")
async def anonymous_module(service):
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
        yield client


def password_of(staff) -> str:
    return f"{staff.account['username']}-password"


async def axe_violations(page) -> list[dict]:
    return await page.evaluate("""async () => {
        const result = await axe.run(document, { resultTypes: ["violations"] });
        return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                                               nodes: v.nodes.map((n) => n.target.join(" ")) }));
    }""")


async def test_the_checker_finds_what_it_should(new_context):
    """A page spoiled on purpose fails: the check above can fail."""
    context = await new_context("en", device=SCREENS["laptop"])
    await context.add_init_script(path=AXE)
    page = await context.new_page()
    await page.goto("/privacy")
    await page.evaluate("""() => {
        const image = document.createElement("img");
        image.src = "data:image/gif;base64,R0lGODlhAQABAAAAACw=";
        const button = document.createElement("button");
        document.querySelector("main").append(image, button);
    }""")
    found = {v["id"]: v["impact"] for v in await axe_violations(page)}
    assert found.get("image-alt") == "critical" and found.get("button-name") == "critical", found


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("shown", PAGES, ids=lambda shown: shown.name)
async def test_no_serious_accessibility_violation(shown: Shown, screen: str, new_context, world):
    context = await new_context("en", device=SCREENS[screen])
    await context.add_init_script(path=AXE)  # through the browser's debugger: the page's CSP does not apply
    if shown.staff:
        staff = world[shown.staff]
        login = await context.request.post("/api/v1/auth/login", data={
            "username": staff.account["username"], "password": password_of(staff)})
        assert login.ok, await login.text()
    page = await context.new_page()
    await page.goto(shown.path.format(**world))
    await expect(page.locator(shown.ready).first).to_be_attached()
    violations = await axe_violations(page)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"axe-{shown.name}-{screen}.json").write_text(json.dumps(violations, indent=2, ensure_ascii=False))
    await snap(page, f"axe-{shown.name}-{screen}")
    failing = [v for v in violations if v["impact"] in FAILING_IMPACTS]
    assert not failing, json.dumps(failing, indent=2, ensure_ascii=False)


async def test_the_guest_page_stays_small_on_a_slow_phone(new_context, world):
    """First load on an empty cache, on a slow 3G-like network with a 4x slower CPU: bytes are asserted,
    the time to a usable form only logged."""
    context = await new_context("en", device=PHONE)
    page = await context.new_page()
    cdp = await context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    await cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 400, "downloadThroughput": 400 * 1024 / 8 * 1.6, "uploadThroughput": 400 * 1024 / 8})
    await cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
    kinds: dict[str, str] = {}
    decoded: dict[str, int] = {}
    transferred: dict[str, int] = {}
    urls: dict[str, str] = {}

    def on_response(event) -> None:
        kinds[event["requestId"]] = event.get("type", "")
        urls[event["requestId"]] = event["response"]["url"]

    def on_data(event) -> None:
        decoded[event["requestId"]] = decoded.get(event["requestId"], 0) + event["dataLength"]

    def on_finished(event) -> None:
        transferred[event["requestId"]] = int(event["encodedDataLength"])

    cdp.on("Network.responseReceived", on_response)
    cdp.on("Network.dataReceived", on_data)
    cdp.on("Network.loadingFinished", on_finished)

    started = time.monotonic()
    await page.goto(f"/r/{world['token']}", wait_until="commit")
    await expect(page.get_by_role("button", name="Register")).to_be_enabled(timeout=60_000)
    await expect(page.get_by_role("heading", name="Lane 3 No. 5")).to_be_visible(timeout=60_000)
    usable_after = time.monotonic() - started
    # The last request: the privacy notice's facts, fetched once the form is drawn.
    await expect(page.locator("details.privacy-notice")).to_contain_text("Kept by", timeout=60_000)
    await page.wait_for_timeout(500)
    counted = [rid for rid in decoded if kinds.get(rid) != "Font" and not urls.get(rid, "").startswith("data:")]
    figures = {
        "uncompressed_bytes_without_fonts": sum(decoded[rid] for rid in counted),
        "transferred_bytes_without_fonts": sum(transferred.get(rid, 0) for rid in counted),
        "requests": len(counted),
        "seconds_to_usable_form": round(usable_after, 2),
        "profile": "400 ms latency, 640 kbit/s down, CPU 4x slower, empty cache",
        "files": {urls[rid].split("/", 3)[-1]: decoded[rid] for rid in counted if rid in urls},
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "guest-page-weight.json").write_text(json.dumps(figures, indent=2))
    print("guest page, first load:", json.dumps(figures))
    await snap(page, "guest-page-throttled")
    assert figures["uncompressed_bytes_without_fonts"] < GUEST_PAGE_BUDGET_BYTES, figures
