"""The pages in a real browser: a guest on a 360px phone registers by QR code; the landlord sees them.

Headless Debian Chromium through Playwright, against the real service and database.
Screenshots of the important steps go to test-artifacts/.
"""

from __future__ import annotations

import asyncio
import json
import re
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Page, Route, expect

from tests.browser import ARTIFACTS, DESK, assert_no_sideways_scroll, log_in, snap

pytestmark = pytest.mark.browser

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_serial = iter(range(100, 1000))

# The labels guests read; the tests find the fields by them.
LABELS = {
    "en": {"full_name": "Full name", "document_type": "Document type", "document_number": "Document number",
           "nationality": "Nationality", "phone": "Phone", "check_in": "Check-in date", "check_out": "Check-out date",
           "submit": "Register"},
    "zh": {"full_name": "姓名", "document_type": "证件类型", "document_number": "证件号码", "nationality": "国籍",
           "phone": "手机号码", "check_in": "入住日期", "check_out": "预计退房日期", "submit": "提交登记"},
}
RECEIPT_CODE = re.compile(r"^[0-9A-Z]{5}-[0-9A-Z]{5}$")


def resident_id(division: str = "110105", birth: str = "19880214") -> str:
    """A valid resident ID number: ISO 7064 MOD 11-2 check character over the first 17 digits."""
    first17 = f"{division}{birth}{next(_serial):03d}"
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def wrong_check_digit(number: str) -> str:
    return number[:17] + ("0" if number[17] != "0" else "1")


def masked(number: str) -> str:
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


def token_of(dwelling: dict) -> str:
    return dwelling["registration_url"].rsplit("/", 1)[1]


@pytest.fixture
async def landlord(make_staff):
    staff = await make_staff("landlord")
    staff.password = f"{staff.account['username']}-password"
    return staff


@pytest.fixture
async def dwelling(landlord, make_area, make_dwelling) -> dict:
    made = await make_dwelling(landlord, await make_area(), name="Lane 3 No. 5", address="Guanlin Village, Lane 3 No. 5",
                               capacity=2)
    made["token"] = token_of(made)
    return made


@pytest.fixture(scope="session")
async def local_county(admin) -> str:
    """Luqiao district (331004): a real county-level division, so guests born there are local."""
    response = await admin.post("/api/v1/areas", json={"code": "331004", "name": "路桥区 Luqiao", "parent_code": None})
    assert response.status_code in (201, 409), response.text
    return "331004"


async def stays_of(db, dwelling: dict) -> list:
    return await db.fetch("SELECT id, guest_count, registered_by, checked_out_at FROM stays WHERE dwelling_id = $1",
                          dwelling["id"])


async def fill_guest(page: Page, lang: str, name: str, number: str, phone: str = "13800138000") -> None:
    labels = LABELS[lang]
    await page.get_by_label(labels["full_name"], exact=True).first.fill(name)
    await page.get_by_label(labels["document_type"]).first.select_option("resident_id")
    await page.get_by_label(labels["document_number"]).first.fill(number)
    await page.get_by_label(labels["phone"]).fill(phone)


async def register_as_guest(new_context, dwelling: dict, name: str, number: str) -> str:
    """A guest registers on their phone; returns the receipt code shown."""
    page = await (await new_context("en")).new_page()
    await page.goto(f"/r/{dwelling['token']}")
    await fill_guest(page, "en", name, number)
    await page.get_by_role("button", name="Register").click()
    code = page.locator(".receipt-code")
    await expect(code).to_have_text(RECEIPT_CODE)
    return await code.inner_text()


# ---- the guest ----

async def test_a_guest_registers_on_a_phone_and_keeps_the_receipt(new_context, dwelling, db):
    context = await new_context("en")
    page = await context.new_page()
    await page.goto(f"/r/{dwelling['token']}")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.get_by_role("heading", name="Lane 3 No. 5")).to_be_visible()
    await expect(page.get_by_text("Guanlin Village, Lane 3 No. 5")).to_be_visible()
    # Dates default to today and tomorrow (the phone's calendar).
    today, tomorrow = await page.evaluate("""() => { const d = new Date(), t = new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1);
        const f = (x) => x.toLocaleDateString('en-CA'); return [f(d), f(t)]; }""")
    await expect(page.get_by_label("Check-in date")).to_have_value(today)
    await expect(page.get_by_label("Check-out date")).to_have_value(tomorrow)

    number = resident_id()
    await fill_guest(page, "en", "Zhang San", number)
    await page.get_by_role("button", name="Add companion").click()
    companion = page.get_by_role("group", name="Companion 1")
    await companion.get_by_label("Full name").fill("Zhang Xiaoming")
    await companion.get_by_label("Minor without document").check()
    await companion.get_by_label("Relationship to you").select_option("child")
    await snap(page, "guest-form-filled")
    await assert_no_sideways_scroll(page)

    await page.get_by_role("button", name="Register").click()
    await expect(page.get_by_text("Registration complete")).to_be_visible()
    code = (await page.locator(".receipt-code").inner_text()).strip()
    assert RECEIPT_CODE.match(code)
    receipt = page.locator(".receipt")
    await expect(receipt).to_contain_text("Lane 3 No. 5")
    await expect(receipt).to_contain_text(masked(number))
    await expect(receipt).to_contain_text("Zhang Xiaoming")
    assert number not in await page.content()
    await snap(page, "guest-receipt")
    await assert_no_sideways_scroll(page)

    rows = await stays_of(db, dwelling)
    assert len(rows) == 1 and rows[0]["guest_count"] == 2 and rows[0]["registered_by"] == "guest"
    assert await page.evaluate("(t) => localStorage.getItem('vh.draft.' + t)", dwelling["token"]) is None

    # Reopening the QR link shows the receipt again; the guest checks out from it.
    await page.goto(f"/r/{dwelling['token']}")
    await expect(page.locator(".receipt-code")).to_have_text(code)
    await expect(page.get_by_role("button", name="Register another guest")).to_be_visible()
    await page.get_by_role("button", name="Check out").click()
    await expect(page.get_by_text("Checked out", exact=True)).to_be_visible()
    assert context.dialogs and "Check out now?" in context.dialogs[-1]
    assert (await stays_of(db, dwelling))[0]["checked_out_at"] is not None

    # Another guest on the same phone gets an empty form.
    await page.get_by_role("button", name="Register another guest").click()
    await expect(page.get_by_label("Full name")).to_have_value("")


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_a_wrong_check_digit_is_shown_beside_the_document_number(new_context, dwelling, db, lang):
    page = await (await new_context(lang)).new_page()
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    await page.goto(f"/r/{dwelling['token']}")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN" if lang == "zh" else "en")
    labels = LABELS[lang]
    number_field = page.get_by_label(labels["document_number"])

    await fill_guest(page, lang, "张三", wrong_check_digit(resident_id()))
    # Shown on leaving the field (the phone field got the focus)...
    expected = await page.evaluate(f"async () => (await import('/static/documents.js')).MESSAGES.{lang}.id_check_digit")
    error = page.locator(".field-error")
    await expect(error).to_have_count(1)
    await expect(error).to_have_text(expected)
    if lang == "zh":
        assert re.search(r"[\u4e00-\u9fff]", expected)
    # ... right below the field, and tied to it for screen readers.
    await expect(number_field).to_have_attribute("aria-invalid", "true")
    error_id = await error.get_attribute("id")
    assert error_id in (await number_field.get_attribute("aria-describedby")).split()
    assert await number_field.evaluate("(input) => input.nextElementSibling.classList.contains('field-error')")
    field_box, error_box = await number_field.bounding_box(), await error.bounding_box()
    assert error_box["y"] >= field_box["y"] + field_box["height"] - 1

    # Submitting sends nothing; the error stays and the field gets the focus.
    await page.get_by_role("button", name=labels["submit"]).click()
    await expect(number_field).to_be_focused()
    await expect(error).to_have_text(expected)
    await snap(page, f"guest-error-{lang}")
    await assert_no_sideways_scroll(page)
    assert not [url for url in posts if url.endswith("/stays")]
    assert await stays_of(db, dwelling) == []

    # Correcting it removes the message.
    await number_field.fill(resident_id())
    await expect(page.locator(".field-error")).to_have_count(0)
    await expect(number_field).not_to_have_attribute("aria-invalid", "true")


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_the_correct_the_marked_fields_banner_goes_once_every_field_is_fixed(new_context, dwelling, lang):
    page = await (await new_context(lang)).new_page()
    await page.goto(f"/r/{dwelling['token']}")
    labels = LABELS[lang]
    await page.get_by_role("button", name=labels["submit"]).click()
    banner = page.locator(".stay-form .form-status")
    await expect(banner).to_have_text("Please correct the marked fields." if lang == "en" else "请修改标出的内容。")
    await expect(page.locator(".field-error")).to_have_count(3)  # name, number, phone
    await snap(page, f"guest-banner-shown-{lang}")

    await page.get_by_label(labels["full_name"], exact=True).fill("张三")
    await page.get_by_label(labels["document_number"]).fill(resident_id())
    await expect(page.locator(".field-error")).to_have_count(1)
    await expect(banner).to_be_visible()  # the phone is still marked
    await page.get_by_label(labels["phone"]).fill("13800138000")
    await expect(page.locator(".field-error")).to_have_count(0)
    await expect(banner).to_be_hidden()
    await snap(page, f"guest-banner-gone-{lang}")


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("device", [None, {"viewport": {"width": 1366, "height": 768}}], ids=["phone", "laptop"])
async def test_a_guest_without_id_sees_the_way_to_apply_without_scrolling(new_context, dwelling, lang, device):
    page = await (await new_context(lang, device=device)).new_page()
    await page.goto(f"/r/{dwelling['token']}")
    words = {"en": "No ID with you? Apply online →", "zh": "没带证件？在线申请 →"}
    link = page.get_by_role("link", name=words[lang])
    await expect(link).to_be_in_viewport(ratio=1)
    box = await link.bounding_box()
    line_height = await link.evaluate("(a) => parseFloat(getComputedStyle(a).lineHeight)")
    assert box["height"] <= line_height + 1, "the link wraps onto a second line"
    # Above the form: the first thing a guest without a card reads after the dwelling.
    form_top = (await page.locator("form.stay-form").bounding_box())["y"]
    assert box["y"] < form_top
    await snap(page, f"guest-no-id-link-{lang}-{'phone' if device is None else 'laptop'}")

    # It follows the language switch.
    other = "zh" if lang == "en" else "en"
    await page.get_by_role("button", name="中文" if other == "zh" else "English").click()
    await expect(page.get_by_role("link", name=words[other])).to_be_in_viewport(ratio=1)
    await page.get_by_role("link", name=words[other]).click()
    await expect(page).to_have_url(re.compile(rf"/r/{re.escape(dwelling['token'])}/apply$"))


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_a_phone_number_that_does_not_exist_is_refused_by_the_server_at_the_phone_field(
        new_context, dwelling, db, lang):
    page = await (await new_context(lang)).new_page()
    await page.goto(f"/r/{dwelling['token']}")
    # 141 is no operator's prefix: the page's light check lets it through, the server's phonenumbers does not.
    await fill_guest(page, lang, "张三", resident_id(), phone="141 1234 5678")
    await page.get_by_role("button", name=LABELS[lang]["submit"]).click()
    error = page.locator("#guest-phone-error")
    await expect(error).to_have_text("This phone number does not exist: please enter a mainland number, or + and "
                                     "the country code for another country." if lang == "en"
                                     else "该电话号码不存在，请填写中国大陆号码，或以“+国家代码”开头的其他国家号码。")
    await expect(page.get_by_label(LABELS[lang]["phone"])).to_be_focused()
    await snap(page, f"guest-phone-refused-{lang}")
    assert await stays_of(db, dwelling) == []
    await page.get_by_label(LABELS[lang]["phone"]).fill("+86 10 6552 9988")  # a Beijing landline
    await page.get_by_role("button", name=LABELS[lang]["submit"]).click()
    await expect(page.locator(".receipt-code")).to_have_text(RECEIPT_CODE)


@pytest.mark.parametrize("path", ["/login", "/r/some-token"])
async def test_without_javascript_a_page_says_what_to_do(browser, service, path):
    context = await browser.new_context(base_url=service.base_url, java_script_enabled=False, locale="zh-CN")
    page = await context.new_page()
    await page.goto(path)
    notice = page.locator("main .card.error")
    await expect(notice).to_contain_text("JavaScript")
    await expect(notice).to_contain_text(re.compile("请在浏览器设置中启用"))
    await expect(notice).to_contain_text("turn it on in your browser's settings")
    await snap(page, f"noscript-{path.strip('/').split('/')[0]}")
    await context.close()


async def test_nothing_scrolls_sideways_at_360px_with_the_longest_texts(new_context, dwelling):
    page = await (await new_context("zh")).new_page()
    await page.goto(f"/r/{dwelling['token']}")
    await page.get_by_label("证件类型").select_option("foreign_permanent_residence")
    await page.get_by_label("国籍").select_option("VCT")  # 圣文森特和格林纳丁斯 (VCT)
    await page.get_by_label("证件号码").fill("12345")
    # The message that appears when the field loses the focus does not make this press miss.
    await page.get_by_role("button", name="添加同住人").click()
    companion = page.get_by_role("group", name="同住人 1")
    await expect(companion).to_be_visible()
    await expect(page.locator("#guest-document_number-error")).to_be_visible()
    await companion.get_by_label("证件类型").select_option("hk_macao_permit")
    await companion.get_by_label("证件号码").fill("X" * 40)
    await page.get_by_label("手机号码").fill("12")
    await page.get_by_role("button", name="提交登记").click()
    await expect(page.locator(".field-error").first).to_be_visible()
    await snap(page, "guest-form-zh-errors")
    await assert_no_sideways_scroll(page)
    await page.get_by_role("button", name="English").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await assert_no_sideways_scroll(page)


async def test_a_draft_survives_a_reload_and_a_language_switch(new_context, dwelling):
    page = await (await new_context("en")).new_page()
    await page.goto(f"/r/{dwelling['token']}")
    await page.get_by_label("Full name").fill("John Smith")
    await page.get_by_label("Document type").select_option("passport")
    await expect(page.get_by_label("Nationality")).to_have_value("CHN")  # the default for passports
    await page.get_by_label("Nationality").select_option("USA")
    await page.get_by_label("Document number").fill("X12345678")
    await page.get_by_label("Phone").fill("+14155550123")
    check_out = await page.evaluate(
        "() => { const d = new Date(); d.setDate(d.getDate() + 5); return d.toLocaleDateString('en-CA'); }")
    await page.get_by_label("Check-out date").fill(check_out)
    await page.get_by_role("button", name="Add companion").click()
    await page.get_by_role("group", name="Companion 1").get_by_label("Full name").fill("Jane Smith")

    await page.reload()
    await expect(page.get_by_label("Full name", exact=True).first).to_have_value("John Smith")
    await expect(page.get_by_label("Document type").first).to_have_value("passport")
    await expect(page.get_by_label("Nationality").first).to_have_value("USA")
    await expect(page.get_by_label("Document number").first).to_have_value("X12345678")
    await expect(page.get_by_label("Phone")).to_have_value("+14155550123")
    await expect(page.get_by_label("Check-out date")).to_have_value(check_out)
    await expect(page.get_by_role("group", name="Companion 1").get_by_label("Full name")).to_have_value("Jane Smith")

    # The switch re-renders every text in Chinese and keeps what was typed.
    await page.get_by_role("button", name="中文").click()
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(page.get_by_label("姓名", exact=True).first).to_have_value("John Smith")
    await expect(page.get_by_label("预计退房日期")).to_have_value(check_out)
    await expect(page.get_by_role("group", name="同住人 1").get_by_label("姓名")).to_have_value("Jane Smith")
    await expect(page.get_by_role("heading", name="入住登记")).to_be_visible()
    await page.reload()  # the choice is remembered
    await expect(page.get_by_label("国籍").first).to_have_value("USA")


async def test_a_registration_through_a_failing_network_makes_one_stay(new_context, dwelling, db):
    page = await (await new_context("en")).new_page()
    keys: list[str] = []

    async def flaky(route: Route) -> None:
        keys.append(route.request.headers["idempotency-key"])
        if len(keys) == 1:
            await route.fetch()  # the server registers it, but the answer is lost on the way back
            await route.abort("connectionreset")
        elif len(keys) == 2:
            await route.abort("internetdisconnected")
        else:
            await route.continue_()

    await page.route("**/api/v1/public/dwellings/*/stays", flaky)
    await page.goto(f"/r/{dwelling['token']}")
    await fill_guest(page, "en", "Li Si", resident_id())
    await page.get_by_role("button", name="Register").click()
    await expect(page.get_by_text("Network problem, retrying…")).to_be_visible()
    await expect(page.locator(".receipt-code")).to_have_text(RECEIPT_CODE)
    assert len(keys) == 3 and len(set(keys)) == 1, keys
    assert len(await stays_of(db, dwelling)) == 1


async def test_a_retry_after_a_reload_reuses_the_key(new_context, dwelling, db):
    page = await (await new_context("en")).new_page()
    network = {"mode": "lost"}
    keys: list[str] = []

    async def route(route: Route) -> None:
        keys.append(route.request.headers["idempotency-key"])
        if network["mode"] == "lost":
            await route.fetch()  # registered, but the phone never hears of it
            await route.abort("connectionreset")
        elif network["mode"] == "down":
            await route.abort("internetdisconnected")
        else:
            await route.continue_()

    await page.route("**/api/v1/public/dwellings/*/stays", route)
    await page.goto(f"/r/{dwelling['token']}")
    await fill_guest(page, "en", "Wang Wu", resident_id())
    await page.get_by_role("button", name="Register").click()
    await expect(page.get_by_text("Network problem, retrying…")).to_be_visible()
    # The guest gives up waiting and reloads; then the network comes back.
    network["mode"] = "down"
    await page.reload()
    await expect(page.get_by_label("Full name")).to_have_value("Wang Wu")
    network["mode"] = "up"
    await page.get_by_role("button", name="Register").click()
    await expect(page.locator(".receipt-code")).to_have_text(RECEIPT_CODE)
    assert len(keys) >= 2 and len(set(keys)) == 1, keys
    assert len(await stays_of(db, dwelling)) == 1


async def test_server_errors_appear_beside_their_fields_and_are_not_retried(new_context, dwelling, db):
    page = await (await new_context("en")).new_page()
    calls = []
    problem = {"type": "/problems/invalid_input", "title": "Some fields need attention.", "status": 400,
               "code": "invalid_input", "errors": [
                   {"field": "phone", "code": "phone_invalid", "message": "Server: not a phone number."},
                   {"field": "companions.0.document_number", "code": "id_check_digit", "message": "Server: check digit."}]}

    async def refuse(route: Route) -> None:
        calls.append(json.loads(route.request.post_data))
        await route.fulfill(status=400, content_type="application/problem+json", body=json.dumps(problem))

    await page.route("**/api/v1/public/dwellings/*/stays", refuse)
    await page.goto(f"/r/{dwelling['token']}")
    await fill_guest(page, "en", "Zhao Liu", resident_id())
    await page.get_by_role("button", name="Add companion").click()
    companion = page.get_by_role("group", name="Companion 1")
    await companion.get_by_label("Full name").fill("Zhao Qi")
    await companion.get_by_label("Document number").fill(resident_id())
    await page.get_by_role("button", name="Register").click()
    phone = page.get_by_label("Phone")
    await expect(phone).to_have_attribute("aria-invalid", "true")
    await expect(page.locator(f"#{await phone.get_attribute('id')}-error")).to_have_text("Server: not a phone number.")
    companion_number = companion.get_by_label("Document number")
    await expect(companion_number).to_have_attribute("aria-invalid", "true")
    assert await companion_number.evaluate("(i) => i.nextElementSibling.textContent") == "Server: check digit."
    await expect(page.get_by_text("Some fields need attention.")).to_be_visible()
    await asyncio.sleep(1.5)  # a 4xx is an answer: no retry comes
    assert len(calls) == 1 and calls[0]["companions"][0]["full_name"] == "Zhao Qi"
    assert await stays_of(db, dwelling) == []


# ---- the landlord and the desk ----

async def test_the_landlord_sees_the_guest_masked_and_checks_them_out(new_context, dwelling, landlord, db):
    number = resident_id()
    await register_as_guest(new_context, dwelling, "Chen Yi", number)

    page = await (await new_context("en")).new_page()
    await log_in(page, landlord.account["username"], landlord.password)
    item = page.locator(f"[data-dwelling-id='{dwelling['id']}']")
    await expect(item.locator(".occupancy-count")).to_have_text("1 / 2")
    await expect(page.get_by_role("link", name="A6", exact=True)).to_have_attribute(
        "href", f"/api/v1/dwellings/posters?size=a6&id={dwelling['id']}")
    await snap(page, "landlord-list")
    await assert_no_sideways_scroll(page)

    await item.get_by_role("link", name="Lane 3 No. 5").click()
    await expect(page.get_by_role("link", name="Poster A4")).to_have_attribute(
        "href", f"/api/v1/dwellings/{dwelling['id']}/poster?size=a4")
    stay = page.locator(".stay")
    await expect(stay).to_have_count(1)
    await expect(stay.locator(".guest-name")).to_have_text("Chen Yi")
    await expect(stay).to_contain_text("Resident identity card")
    shown = await stay.locator(".masked").inner_text()
    assert re.fullmatch(r"\d{3}\*+[\dX]{4}", shown) and shown == masked(number)
    assert number not in await page.content()
    await snap(page, "landlord-guests")
    await assert_no_sideways_scroll(page)

    await stay.get_by_role("button", name="Check out").click()
    await expect(page.get_by_text("No guests at the moment.")).to_be_visible()
    await expect(item.locator(".occupancy-count")).to_have_text("0 / 2")
    rows = await stays_of(db, dwelling)
    assert len(rows) == 1 and rows[0]["checked_out_at"] is not None


async def test_the_desk_registers_a_walk_in_guest(new_context, make_staff, make_area, make_dwelling, local_county, db):
    desk = await make_staff("desk")
    room = await make_dwelling(desk, await make_area(parent=local_county), name="Guanlin Inn 201", kind="hotel_room")
    page = await (await new_context("en", device=DESK)).new_page()
    await log_in(page, desk.account["username"], f"{desk.account['username']}-password")
    await page.locator(f"[data-dwelling-id='{room['id']}']").get_by_role("link", name="Guanlin Inn 201").click()
    await expect(page.get_by_text("No guests at the moment.")).to_be_visible()

    await page.get_by_role("button", name="Register walk-in guest").click()
    number = resident_id("331004", "19750601")  # born in Luqiao: a local guest
    await fill_guest(page, "en", "Wang Fang", number, phone="+86 139 0000 0000")
    # The clerk fills it in for the guests: a minor's relationship is to the main guest, not to "you".
    await page.get_by_role("button", name="Add companion").click()
    companion = page.get_by_role("group", name="Companion 1")
    await companion.get_by_label("Minor without document").check()
    await expect(companion.get_by_label("Relationship to the main guest")).to_be_visible()
    await companion.get_by_role("button", name="Remove").click()
    await page.get_by_label("Check-out date").fill(await page.evaluate(
        "() => { const d = new Date(); d.setDate(d.getDate() + 3); return d.toLocaleDateString('en-CA'); }"))
    await snap(page, "desk-walk-in-form")
    await page.get_by_role("button", name="Register", exact=True).click()
    await expect(page.get_by_text(re.compile(r"Registered\. Receipt code [0-9A-Z]{5}-[0-9A-Z]{5}"))).to_be_visible()
    stay = page.locator(".stay")
    await expect(stay).to_have_count(1)
    await expect(stay.locator(".masked")).to_have_text(masked(number))
    await expect(stay).to_contain_text("registered at the desk")
    await snap(page, "desk-after-walk-in")
    rows = await stays_of(db, room)
    assert len(rows) == 1 and rows[0]["registered_by"] == "desk"
    assert await db.fetchval("SELECT origin_division FROM stay_guests WHERE stay_id = $1", rows[0]["id"]) == "331004"

    await page.get_by_role("button", name="Log out").click()
    await expect(page).to_have_url(re.compile(r"/login$"))
    await page.goto("/landlord")
    await expect(page).to_have_url(re.compile(r"/login\?next=%2Flandlord$"))


async def test_a_password_never_leaves_in_a_url_and_login_only_sends_on_within_the_site(new_context, landlord):
    page = await (await new_context("en", device=DESK)).new_page()
    script_held = asyncio.Event()
    release_script = asyncio.Event()

    async def slow_script(route: Route) -> None:
        script_held.set()
        await release_script.wait()
        await route.continue_()

    # A slow network: the form is on screen before the script that sends it has arrived (the page
    # names its script with its version).
    await page.route("**/static/login.js?v=*", slow_script)
    await page.goto("/login?next=//evil.example/phish", wait_until="commit")
    await script_held.wait()
    await page.get_by_label("Username").fill(landlord.account["username"])
    await page.get_by_label("Password").fill(landlord.password)
    await page.get_by_label("Password").press("Enter")
    await expect(page.get_by_role("button", name="Log in")).to_be_disabled()
    assert landlord.password not in page.url

    release_script.set()
    await expect(page.get_by_role("button", name="Log in")).to_be_enabled()
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/landlord$"))
    assert landlord.password not in page.url


# As they arrive in the address: percent-encoded or not.
EVIL_NEXT = ["//evil.example/x", "%2F%2Fevil.example%2Fx", "%2F.%2F%2Fevil.example%2Fx", "/%5Cevil.example/x",
             "/%09/evil.example/x", "https://evil.example/x", "javascript:alert(1)", "%2F%5C%5Cevil.example"]


async def test_an_open_redirect_after_login_is_refused_but_an_in_site_next_is_followed(new_context, landlord):
    page = await (await new_context("en", device=DESK)).new_page()
    leaving: list[str] = []
    page.on("request", lambda request: leaving.append(request.url) if urlsplit(request.url).hostname != "127.0.0.1" else None)
    for next_ in [*EVIL_NEXT, "%2Fverify%23from-login"]:
        await page.goto(f"/login?next={next_}")
        await page.get_by_label("Username").fill(landlord.account["username"])
        await page.get_by_label("Password").fill(landlord.password)
        await page.get_by_role("button", name="Log in").click()
        if next_.startswith("%2Fverify"):
            await expect(page).to_have_url(re.compile(r"^http://127\.0\.0\.1:\d+/verify#from-login$"))
        else:  # the role's home instead
            await expect(page).to_have_url(re.compile(r"^http://127\.0\.0\.1:\d+/landlord$"), timeout=10_000)
    assert not leaving


async def test_a_landlord_changes_their_password_on_the_account_page_and_other_sessions_end(db, new_context, landlord):
    username = landlord.account["username"]
    # someone guessing from another address (this suite's calls all come from 127.0.0.1, whose own failures
    # are forgiven on logging in)
    await db.execute("INSERT INTO login_failures (username, client) VALUES ($1, '203.0.113.9')", username)
    page = await (await new_context("en", device=DESK)).new_page()
    await log_in(page, username, landlord.password)
    await page.get_by_role("link", name="账号 Account").click()
    await expect(page).to_have_url(re.compile(r"/account$"))
    # (the page has two alerts, empty until needed: before its style sheet arrives both count as shown)
    await expect(page.get_by_role("alert").filter(has_text="failed login")).to_contain_text(
        "1 failed login(s) since your previous login")
    await page.get_by_label("Current password").fill(landlord.password)
    await page.get_by_label("New password (10 characters or more)").fill("a-brand-new-password")
    await page.get_by_label("New password again").fill("a-brand-new-password")
    await page.get_by_role("button", name="修改密码 Change password").click()
    await expect(page.get_by_role("status").filter(has_text="Password changed")).to_contain_text("1 other session(s) ended")
    await snap(page, "account-password-changed")
    assert (await landlord.get("/api/v1/auth/me")).status_code == 401  # the fixture's API session ended
    await page.get_by_role("button", name="退出 Log out").click()
    await expect(page).to_have_url(re.compile(r"/login$"))
    await log_in(page, username, "a-brand-new-password", start="/account")


async def test_a_rotated_qr_code_stops_the_old_link(new_context, dwelling, landlord):
    page = await (await new_context("en")).new_page()
    await log_in(page, landlord.account["username"], landlord.password)
    context = page.context
    await page.locator(f"[data-dwelling-id='{dwelling['id']}']").get_by_role("link", name="Lane 3 No. 5").click()
    await page.get_by_role("button", name="Rotate QR code").click()
    await expect(page.get_by_text("the old one no longer works")).to_be_visible()
    assert "old code stops working" in context.dialogs[-1]

    guest = await (await new_context("zh")).new_page()
    await guest.goto(f"/r/{dwelling['token']}")
    await expect(guest.get_by_role("alert")).to_contain_text("此二维码已停用")
    await expect(guest.locator("form")).to_have_count(0)
    await snap(guest, "guest-retired-qr")


async def test_the_api_documentation_comes_from_the_service_alone_under_the_pages_csp(new_context, service):
    """/schema with every other origin cut off: the viewer still shows the API, and breaks no CSP rule
    (new_context fails the test on any violation or script error)."""
    from urllib.parse import urlsplit

    import httpx

    from service.web import CONTENT_SECURITY_POLICY

    served = httpx.get(f"{service.base_url}/schema")
    assert served.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    context = await new_context("en", device=DESK)
    elsewhere: list[str] = []

    async def cut_off(route: Route) -> None:
        elsewhere.append(route.request.url)
        await route.abort()

    own = urlsplit(service.base_url).netloc
    await context.route(lambda url: urlsplit(url).netloc != own, cut_off)
    page = await context.new_page()
    await page.goto("/schema")
    await expect(page.locator(".information-container .title")).to_contain_text("Virtual hotel")
    registration = page.locator(".opblock-summary-path", has_text=re.compile(r"^/api/v1/public/dwellings/\{token\}/stays$"))
    await expect(registration).to_be_visible()
    await registration.click()
    await expect(page.locator(".opblock.is-open .parameters-col_name", has_text="token")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)  # not snap(): the documentation rightly says "null" where a field may be null
    await page.screenshot(path=ARTIFACTS / "schema.png")
    assert elsewhere == [], elsewhere
