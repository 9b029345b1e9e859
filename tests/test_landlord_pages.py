"""The landlord's and desk's console in a real browser, on a laptop (1366x768) and a phone (360x740).

A landlord finds a dwelling by search, edits its beds and prints its poster; 500 dwellings stay usable;
over capacity is marked where the landlord looks, and a walk-in into a full room is warned about first;
a desk sees its rooms in room-number order. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.async_api import Page, expect

from tests.browser import ARTIFACTS, PHONE, assert_no_sideways_scroll, log_in, snap
from tests.support import idempotency_key, resident_id, unique
from tests.test_stays import stay_body

pytestmark = pytest.mark.browser

LAPTOP = {"viewport": {"width": 1366, "height": 768}}
SCREENS = {"laptop": LAPTOP, "phone": PHONE}


def password_of(staff) -> str:
    return f"{staff.account['username']}-password"


def row(page: Page, dwelling: dict):
    return page.locator(f"tr[data-dwelling-id='{dwelling['id']}']")


@pytest.mark.parametrize("screen", SCREENS)
async def test_a_landlord_finds_a_dwelling_edits_its_beds_and_prints_its_poster(
        screen, new_context, make_staff, make_area, make_dwelling):
    landlord = await make_staff("landlord")
    area = await make_area(name="Guanlin Village")
    for n in range(1, 13):
        await make_dwelling(landlord, area, name=f"Lane {n} No. {n}", address=f"Guanlin Village, Lane {n}")
    wanted = await make_dwelling(landlord, area, name="Orchard Homestay", address="Guanlin Village, Orchard Road 8",
                                 kind="homestay", capacity=2)
    context = await new_context("en", device=SCREENS[screen])
    page = await context.new_page()
    await log_in(page, landlord.account["username"], password_of(landlord))
    summary = page.locator("#summary")
    await expect(summary).to_contain_text("13 dwellings")
    await expect(page.locator("tr.dwelling-row")).to_have_count(13)
    await snap(page, f"landlord-console-{screen}")
    await assert_no_sideways_scroll(page)

    await page.get_by_label("Search name or address").fill("orchard road")
    await expect(page.locator("tr.dwelling-row")).to_have_count(1)
    await expect(page.get_by_text("1 of 13 shown")).to_be_visible()
    await row(page, wanted).get_by_role("link", name="Orchard Homestay").click()
    panel = page.locator("#selected")
    await expect(panel.get_by_role("heading", name="Orchard Homestay")).to_be_visible()
    await expect(panel).to_contain_text("Homestay · beds: 2")

    await panel.get_by_role("button", name="Edit").click()
    await expect(page.get_by_label("Area")).to_be_enabled()
    await expect(page.get_by_label("Area")).to_have_accessible_description(re.compile(
        r"^Moved to another area, its guests count there from now on; past stays stay counted where they happened\."))
    await page.get_by_label("Beds").fill("")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_label("Beds")).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_text("Please correct the marked fields.")).to_be_visible()
    await page.get_by_label("Beds").fill("5")
    await expect(page.get_by_label("Beds")).to_have_attribute("aria-invalid", "false")
    await expect(page.get_by_text("Please correct the marked fields.")).to_be_hidden()
    await snap(page, f"landlord-edit-{screen}")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_text("“Orchard Homestay” saved.")).to_be_visible()
    await expect(panel).to_contain_text("Homestay · beds: 5")
    await expect(row(page, wanted).locator(".occupancy-count")).to_have_text("0 / 5")
    assert (await landlord.get(f"/api/v1/dwellings/{wanted['id']}")).json()["capacity"] == 5

    async with context.expect_page() as opened:
        await panel.get_by_role("link", name="Poster A6").click()
    poster = await opened.value
    await expect(poster.locator(".poster")).to_have_count(1)
    await expect(poster.locator(".poster .name")).to_have_text("Orchard Homestay")
    await expect(poster.locator(".poster svg")).to_be_visible()
    await snap(poster, f"landlord-poster-{screen}")
    # The smallest size, for a door, is offered beside the paper sizes.
    await expect(panel.get_by_role("link", name="Door sticker")).to_have_attribute(
        "href", f"/api/v1/dwellings/{wanted['id']}/poster?size=sticker")

    # Printing a selection: two rows ticked, one poster page for both.
    await page.get_by_label("Search name or address").fill("")
    await page.get_by_label("Select Lane 1 No. 1", exact=True).check()
    await page.get_by_label("Select Lane 10 No. 10").check()
    await expect(page.get_by_text("Posters of the 2 selected:")).to_be_visible()
    async with context.expect_page() as opened:
        await page.locator(".print-selection").get_by_role("link", name="A4").click()
    posters = await opened.value
    await expect(posters.locator(".poster")).to_have_count(2)
    await expect(posters.locator(".poster .name")).to_have_text(["Lane 1 No. 1", "Lane 10 No. 10"])
    async with context.expect_page() as opened:
        await page.locator(".print-selection").get_by_role("link", name="door sticker").click()
    stickers = await opened.value
    await expect(stickers.locator(".poster")).to_have_count(2)
    await expect(stickers.locator("nav [aria-current=page]")).to_contain_text("Door sticker (74 × 105 mm)")


async def test_a_landlord_adds_a_dwelling_placed_on_the_map(new_context, make_staff, make_area, make_dwelling):
    landlord = await make_staff("landlord")
    area = await make_area(name="Guanlin Village")
    await make_dwelling(landlord, area, name="North house", latitude=28.5900, longitude=121.3800)
    await make_dwelling(landlord, area, name="South house", latitude=28.5800, longitude=121.3900)
    page = await (await new_context("zh", device=LAPTOP)).new_page()
    await log_in(page, landlord.account["username"], password_of(landlord))
    await page.get_by_role("link", name="添加住所").click()
    await page.get_by_label("名称", exact=True).fill("果园民宿 2 号")
    await page.get_by_label("地址", exact=True).fill("官林村果园路 2 号")
    await expect(page.get_by_label("所属区域")).to_have_value(area)
    await page.get_by_label("类型").select_option("homestay")
    await page.get_by_label("床位数").fill("4")
    # The middle of the map lies between the two houses.
    await page.get_by_role("img", name="您的住所分布图，点选以确定此住所的位置").click()
    latitude = float(await page.get_by_label("纬度").input_value())
    longitude = float(await page.get_by_label("经度").input_value())
    assert 28.58 < latitude < 28.59 and 121.38 < longitude < 121.39
    await snap(page, "landlord-add-on-map")
    await page.get_by_role("button", name="添加住所").click()
    await expect(page.get_by_text("已添加“果园民宿 2 号”")).to_be_visible()
    created = next(d for d in (await landlord.get("/api/v1/dwellings")).json() if d["name"] == "果园民宿 2 号")
    assert created["kind"] == "homestay" and created["capacity"] == 4 and created["area_code"] == area
    assert abs(created["latitude"] - latitude) < 1e-6
    await expect(page.locator("#selected").get_by_role("heading", name="果园民宿 2 号")).to_be_visible()


async def test_rotating_a_qr_code_says_the_old_posters_stop_working(new_context, make_staff, make_area, make_dwelling,
                                                                   anonymous):
    landlord = await make_staff("landlord")
    dwelling = await make_dwelling(landlord, await make_area(), name="Lane 7 No. 1")
    context = await new_context("en", device=PHONE)
    page = await context.new_page()
    await log_in(page, landlord.account["username"], password_of(landlord))
    await row(page, dwelling).get_by_role("link", name="Lane 7 No. 1").click()
    await page.get_by_role("button", name="Rotate QR code").click()
    await expect(page.get_by_text("the old one no longer works. Print the new poster")).to_be_visible()
    assert "every poster already printed for it stops taking registrations" in context.dialogs[-1]
    old_token = dwelling["registration_url"].rsplit("/", 1)[1]
    assert (await anonymous.get(f"/api/v1/public/dwellings/{old_token}")).status_code == 410

    await page.get_by_role("button", name="Stop registrations").click()
    assert "Its QR code stops taking guests" in context.dialogs[-1]
    await expect(row(page, dwelling)).to_contain_text("Not taking registrations")
    await expect(page.get_by_role("button", name="Register walk-in guest")).to_have_count(0)
    await page.get_by_role("button", name="Resume registrations").click()
    await expect(page.get_by_role("button", name="Register walk-in guest")).to_be_visible()


@pytest.mark.parametrize("screen", SCREENS)
async def test_over_capacity_is_marked_and_a_walk_in_into_a_full_room_is_warned(
        screen, new_context, make_staff, make_area, make_dwelling, anonymous):
    desk = await make_staff("desk")
    area = await make_area()
    room = await make_dwelling(desk, area, name="Room 101", kind="hotel_room", capacity=1)
    await make_dwelling(desk, area, name="Room 102", kind="hotel_room", capacity=2)
    token = room["registration_url"].rsplit("/", 1)[1]
    response = await anonymous.post(f"/api/v1/public/dwellings/{token}/stays", json=stay_body(full_name="Li Lei"),
                                     headers={"Idempotency-Key": idempotency_key()})
    assert response.status_code == 201, response.text

    context = await new_context("en", device=SCREENS[screen])
    page = await context.new_page()
    await log_in(page, desk.account["username"], password_of(desk))
    await expect(row(page, room).locator(".occupancy-count")).to_have_text("1 / 1")
    await expect(page.locator("[data-summary='over_capacity']")).to_have_text("0 over capacity")
    await row(page, room).get_by_role("link", name="Room 101").click()
    await page.get_by_role("button", name="Register walk-in guest").click()
    await page.get_by_label("Full name", exact=True).first.fill("Han Meimei")
    await page.get_by_label("Document type").first.select_option("resident_id")
    await page.get_by_label("Document number").first.fill(resident_id())
    await page.get_by_label("Phone").fill("13900139000")

    # The first time the clerk says no: nothing is registered.
    await page.evaluate("() => { window.confirm = (message) => { window.__asked = message; return false; }; }")
    await page.get_by_role("button", name="Register", exact=True).click()
    asked = await page.evaluate("() => window.__asked")
    assert "“Room 101” sleeps 1 and has 1 guests now: registering 1 more puts it over capacity" in asked
    assert len((await desk.get(f"/api/v1/dwellings/{room['id']}/stays?current=true")).json()) == 1

    # Then yes: still allowed, and marked.
    await page.evaluate("() => { window.confirm = (message) => { window.__asked = message; return true; }; }")
    await page.get_by_role("button", name="Register", exact=True).click()
    await expect(page.get_by_text(re.compile(r"Registered\. Receipt code"))).to_be_visible()
    await expect(row(page, room).locator(".occupancy-count")).to_have_text("2 / 1")
    await expect(row(page, room)).to_have_class(re.compile(r"\bover-capacity\b"))
    await expect(row(page, room).get_by_text("Over capacity")).to_be_visible()
    await expect(page.locator("[data-summary='over_capacity']")).to_have_text("1 over capacity")
    await expect(page.locator(".over-capacity-note")).to_have_text("Over capacity: 2 guests, beds: 1.")
    await expect(page.locator(".stay .anomaly")).to_have_count(1)
    await page.get_by_role("button", name="1 over capacity").click()
    await expect(page.get_by_label("Show", exact=True)).to_have_value("over_capacity")
    await expect(page.locator("tr.dwelling-row")).to_have_count(1)
    await snap(page, f"desk-over-capacity-{screen}")
    await assert_no_sideways_scroll(page)


async def test_a_desk_is_told_when_a_walk_in_is_already_registered_as_staying_elsewhere(
        new_context, make_staff, make_area, make_dwelling, anonymous):
    area = await make_area()
    desk = await make_staff("desk")
    room = await make_dwelling(desk, area, name="Room 301", kind="hotel_room", capacity=2)
    elsewhere = await make_dwelling(await make_staff("landlord"), area, name="Lane 9 No. 1")
    number = resident_id(birth="19760215")
    token = elsewhere["registration_url"].rsplit("/", 1)[1]
    response = await anonymous.post(f"/api/v1/public/dwellings/{token}/stays", json=stay_body(document_number=number),
                                     headers={"Idempotency-Key": idempotency_key()})
    assert response.status_code == 201, response.text

    page = await (await new_context("zh", device=PHONE)).new_page()
    await log_in(page, desk.account["username"], password_of(desk))
    await row(page, room).get_by_role("link", name="Room 301").click()
    await page.get_by_role("button", name="登记到店住客").click()
    await page.get_by_label("姓名", exact=True).first.fill("孙七")
    await page.get_by_label("证件号码").first.fill(number)
    await page.get_by_label("手机号码").fill("13900139000")
    await page.get_by_role("button", name="提交登记", exact=True).click()
    told = page.get_by_role("status").filter(has_text="回执码")
    await expect(told).to_contain_text("该证件号码目前已登记在其他住处入住")  # registered all the same, and told
    await expect(told).not_to_contain_text("Lane 9")  # not where
    await expect(page.locator(".stay")).to_have_count(1)
    await snap(page, "desk-walk-in-already-present-zh-phone")
    await assert_no_sideways_scroll(page)


async def test_a_desk_sees_its_rooms_in_room_number_order(new_context, make_staff, make_area, make_dwelling):
    desk = await make_staff("desk")
    area = await make_area()
    for number in ("201", "1001", "102", "101", "B2", "B10"):
        await make_dwelling(desk, area, name=f"Room {number}", kind="hotel_room")
    page = await (await new_context("en", device=PHONE)).new_page()
    await log_in(page, desk.account["username"], password_of(desk))
    await expect(page.get_by_role("heading", name="Rooms")).to_be_visible()
    await expect(page.locator("[data-summary='dwellings']")).to_have_text("6 rooms")
    await expect(page.locator("tr.dwelling-row th.name")).to_have_text(
        ["Room 101", "Room 102", "Room 201", "Room 1001", "Room B2", "Room B10"])
    await snap(page, "desk-rooms-phone")
    await assert_no_sideways_scroll(page)


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_long_room_names_wrap_on_a_phone_instead_of_widening_the_page(new_context, make_staff, make_area,
                                                                             make_dwelling, lang):
    """Names as a guesthouse gives them (the demo's): a table's row headers keep to one line on a laptop,
    not on a 360px phone, where the dwelling list is a column of cards."""
    desk = await make_staff("desk")
    area = await make_area(name="官林村 Guanlin Village")
    for number in ("201", "202"):
        await make_dwelling(desk, area, name=f"官林客栈 {number} 房 Guanlin Inn room {number}", kind="hotel_room",
                            address="浙江省台州市路桥区路桥街道官林村中心路1号官林客栈二楼前台")
    page = await (await new_context(lang, device=PHONE)).new_page()
    await log_in(page, desk.account["username"], password_of(desk))
    await expect(page.locator("tr.dwelling-row")).to_have_count(2)
    await snap(page, f"desk-long-room-names-{lang}-phone")
    await assert_no_sideways_scroll(page)


async def test_five_hundred_dwellings_stay_usable(new_context, make_staff, make_area, db):
    landlord = await make_staff("landlord")
    area = await make_area()
    await db.execute(
        """INSERT INTO dwellings (owner_id, name, address, area_code, kind, capacity, qr_token)
           SELECT $1, 'House ' || n, 'Village road ' || n, $2, 'rental_room', 1 + n % 4, $3 || n
             FROM generate_series(1, 500) n""",
        landlord.account["id"], area, unique("bulk-token-"))
    figures = {}
    for screen, device in SCREENS.items():
        page = await (await new_context("en", device=device)).new_page()
        started = time.monotonic()
        await log_in(page, landlord.account["username"], password_of(landlord))
        await expect(page.locator("tr.dwelling-row")).to_have_count(500)
        figures[f"{screen}_first_table_s"] = round(time.monotonic() - started, 3)
        await expect(page.locator("[data-summary='dwellings']")).to_have_text("500 dwellings")
        await expect(page.locator("tr.dwelling-row th.name").nth(2)).to_have_text("House 3")  # natural order
        started = time.monotonic()
        await page.get_by_label("Search name or address").fill("road 500")
        await expect(page.locator("tr.dwelling-row")).to_have_count(1)
        figures[f"{screen}_search_s"] = round(time.monotonic() - started, 3)
        figures[f"{screen}_search_in_page_ms"] = await page.evaluate("""() => {
            const box = document.getElementById('dwelling-search');
            const t0 = performance.now();
            box.value = 'road 7'; box.dispatchEvent(new Event('input'));
            document.body.offsetHeight;  // reading a size makes the browser lay the new table out
            return Math.round((performance.now() - t0) * 10) / 10; }""")
        await expect(page.get_by_text("95 of 500 shown")).to_be_visible()
        await snap(page, f"landlord-500-{screen}")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "landlord-500-dwellings.json").write_text(json.dumps(figures, indent=2))
    print("landlord page with 500 dwellings:", figures)


async def test_a_landlord_on_a_phone_filters_by_occupancy_overdue_and_area_and_sorts_by_guests(
        new_context, make_staff, make_area, make_dwelling, anonymous, db):
    landlord = await make_staff("landlord")
    north, south = await make_area(name=unique("北村 ")), await make_area(name=unique("南村 "))
    apple = await make_dwelling(landlord, north, name="Apple house", capacity=2)
    birch = await make_dwelling(landlord, south, name="Birch house", capacity=2)
    cedar = await make_dwelling(landlord, north, name="Cedar house", capacity=3)
    for dwelling, guests in ((birch, 1), (cedar, 2)):
        token = dwelling["registration_url"].rsplit("/", 1)[1]
        for _ in range(guests):
            response = await anonymous.post(f"/api/v1/public/dwellings/{token}/stays", json=stay_body(),
                                             headers={"Idempotency-Key": idempotency_key()})
            assert response.status_code == 201, response.text
    # Birch's guest should have left the day before yesterday.
    await db.execute("""UPDATE stays SET created_at = now() - interval '3 days', expected_departure = now() - interval '2 days'
                         WHERE dwelling_id = $1""", birch["id"])
    page = await (await new_context("zh", device=PHONE)).new_page()
    await log_in(page, landlord.account["username"], password_of(landlord))
    names = page.locator("tr.dwelling-row th.name")
    await expect(names).to_have_text(["Apple house", "Birch house", "Cedar house"])
    await expect(page.locator("[data-summary='occupied']")).to_have_text("2 处有人住")
    await expect(page.locator("[data-summary='guests']")).to_have_text("3 位在住")
    await expect(page.locator("[data-summary='overdue']")).to_have_text("1 个逾期未退房")
    await expect(row(page, birch)).to_have_class(re.compile(r"\boverdue\b"))
    await expect(row(page, birch).locator(".overdue-mark")).to_have_text("1 个逾期")
    await expect(row(page, apple).locator(".overdue-mark")).to_have_count(0)

    await page.get_by_label("排序", exact=True).select_option("guests")
    await expect(names).to_have_text(["Cedar house", "Birch house", "Apple house"])
    await page.get_by_label("显示", exact=True).select_option("occupied")
    await expect(names).to_have_text(["Cedar house", "Birch house"])
    await page.get_by_label("显示", exact=True).select_option("overdue")
    await expect(names).to_have_text(["Birch house"])
    await page.get_by_label("显示", exact=True).select_option("vacant")
    await expect(names).to_have_text(["Apple house"])
    await page.get_by_label("显示", exact=True).select_option("all")
    await page.get_by_label("区域", exact=True).select_option(north)
    await expect(names).to_have_text(["Cedar house", "Apple house"])
    await expect(page.get_by_text("显示 2 / 共 3")).to_be_visible()
    await snap(page, "landlord-filters-phone-zh")
    await assert_no_sideways_scroll(page)


async def register_guest(anonymous, dwelling: dict) -> None:
    token = dwelling["registration_url"].rsplit("/", 1)[1]
    response = await anonymous.post(f"/api/v1/public/dwellings/{token}/stays", json=stay_body(),
                                    headers={"Idempotency-Key": idempotency_key()})
    assert response.status_code == 201, response.text


async def test_a_landlord_moves_an_empty_dwelling_to_another_area_but_not_an_occupied_one(
        anonymous, new_context, make_staff, make_area, make_dwelling):
    landlord = await make_staff("landlord")
    county = await make_area(name="Linhai")
    guanlin = await make_area(parent=county, name="Guanlin Village")
    dongcheng = await make_area(parent=county, name="Dongcheng Village")
    empty = await make_dwelling(landlord, guanlin, name="Orchard Homestay", address="Orchard Road 8")
    occupied = await make_dwelling(landlord, guanlin, name="Lane 3 No. 5", address="Lane 3 No. 5")
    late = await make_dwelling(landlord, guanlin, name="Lane 4 No. 1", address="Lane 4 No. 1")
    await register_guest(anonymous, occupied)
    page = await (await new_context("en", device=PHONE)).new_page()
    await log_in(page, landlord.account["username"], password_of(landlord))
    panel = page.locator("#selected")
    area_choice = f"Dongcheng Village ({dongcheng})"

    await row(page, empty).get_by_role("link", name="Orchard Homestay").click()
    await panel.get_by_role("button", name="Edit").click()
    await page.get_by_label("Area").select_option(label=area_choice)
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_text("“Orchard Homestay” saved.")).to_be_visible()
    await expect(row(page, empty).locator("td.area")).to_have_text("Dongcheng Village")
    assert (await landlord.get(f"/api/v1/dwellings/{empty['id']}")).json()["area_code"] == dongcheng

    # With guests in it, the form says why the area cannot change.
    await row(page, occupied).get_by_role("link", name="Lane 3 No. 5").click()
    await panel.get_by_role("button", name="Edit").click()
    await expect(page.get_by_label("Area")).to_be_disabled()
    await expect(page.get_by_label("Area")).to_have_accessible_description(re.compile(
        r"^Guests are staying here: the area can be changed once all of them have checked out\."))
    await snap(page, "landlord-area-occupied-phone")

    # A guest arrives while the form is open: the service refuses, and the page says why by the field.
    await row(page, late).get_by_role("link", name="Lane 4 No. 1").click()
    await panel.get_by_role("button", name="Edit").click()
    await register_guest(anonymous, late)
    await page.get_by_label("Area").select_option(label=area_choice)
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_label("Area")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#dwelling-area_code-error")).to_have_text(
        "Guests are staying in this dwelling: its area can be changed once all of them have checked out.")
    await snap(page, "landlord-area-refused-phone")
    assert (await landlord.get(f"/api/v1/dwellings/{late['id']}")).json()["area_code"] == guanlin


async def test_the_phone_list_of_44_rentals_is_compact(anonymous, new_context, make_staff, make_area, make_dwelling):
    """The demo's 44 rentals made a page of 7,166 px on a 360 px phone (a card of five lines each, 141 px a
    dwelling); two lines a dwelling take at most half of that, with every row still a tap target."""
    landlord = await make_staff("landlord")
    area = await make_area(name="Guanlin Village")
    dwellings = [await make_dwelling(landlord, area, name=f"官林村 {n // 10 + 1} 巷 {n} 号出租屋",
                                     address=f"浙江省台州市临海市东塍镇官林村 {n // 10 + 1} 巷 {n} 号", capacity=2 + n % 3)
                 for n in range(1, 45)]
    for dwelling in dwellings[:3]:
        await register_guest(anonymous, dwelling)
    page = await (await new_context("zh", device=PHONE)).new_page()
    await log_in(page, landlord.account["username"], password_of(landlord))
    await expect(page.locator("tr.dwelling-row")).to_have_count(44)
    await expect(row(page, dwellings[0]).locator(".occupancy-count")).to_have_text("1 / 3")
    height = await page.evaluate("() => document.documentElement.scrollHeight")
    per_dwelling = await page.evaluate(
        "() => [...document.querySelectorAll('tr.dwelling-row')].reduce((sum, r) => sum + r.offsetHeight, 0) / 44")
    shot = await snap(page, "landlord-44-rentals-phone")
    print(f"landlord page with 44 rentals at 360x740: {height} px tall, {per_dwelling:.0f} px a dwelling ({shot})")
    assert per_dwelling <= 141 / 2, f"a dwelling takes {per_dwelling} px"
    await assert_no_sideways_scroll(page)
    rows = page.locator("tr.dwelling-row")
    for n in (0, 43):  # each row's name is a link big enough to tap, and opens the dwelling's details
        box = await rows.nth(n).get_by_role("link").bounding_box()
        assert box["height"] >= 44
    await rows.nth(43).get_by_role("link").click()
    await expect(page.locator("#selected")).to_contain_text(dwellings[43]["address"])
