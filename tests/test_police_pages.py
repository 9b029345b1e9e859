"""The police page in a real browser: live counts that rise as guests register elsewhere, the alert
inbox, tables that keep words whole, the language switch."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, expect

from tests.browser import ARTIFACTS, DESK, PHONE, log_in, snap
from tests.support import resident_id
from tests.test_pages import fill_guest, register_as_guest, token_of
from tests.test_police import register

pytestmark = pytest.mark.browser

LAPTOP = {"viewport": {"width": 1366, "height": 768}}
SCREENS = {"laptop": LAPTOP, "phone": PHONE}


async def test_the_police_page_shows_the_count_rise_within_two_seconds(new_context, make_staff, make_area, make_dwelling):
    county = await make_area(name="测试县 Test county")
    village = await make_area(parent=county, name="测试村 Test village")
    dwelling = await make_dwelling(await make_staff("landlord"), village, latitude=28.58, longitude=121.38)
    dwelling["token"] = token_of(dwelling)
    police = await make_staff("police", area_code=county)
    username = police.account["username"]

    page = await (await new_context("zh", device=DESK)).new_page()
    await log_in(page, username, f"{username}-password", start="/police")
    guests_now = page.locator('[data-count="current_guests"] dd')
    await expect(guests_now).to_have_text("0")
    await expect(page.get_by_role("button", name="测试村 Test village")).to_be_visible()
    await page.get_by_role("button", name="在住流动人口").click()
    await expect(page.locator("#origins-caption")).to_contain_text("暂无")

    await register_as_guest(new_context, dwelling, "Wang Wu", resident_id())
    # Live, not on reload: the count arrives within about half a second (changes are published twice a
    # second); the generous deadline only keeps a busy CI machine from failing a test about liveness.
    await expect(guests_now).to_have_text("1", timeout=5_000)
    await expect(page.locator(".area-tile", has_text="测试村")).to_contain_text("1 / 2 床")

    await page.get_by_role("button", name="测试村 Test village").click()
    await expect(page.locator("#area-name")).to_contain_text(village)
    await expect(page.get_by_role("img", name=re.compile("在住 1 人，1 处住所有人$"))).to_be_visible()
    await expect(page.locator("#area-tiles")).to_contain_text("无下级区域")
    # A Beijing resident card: floating here.
    await expect(page.get_by_role("img", name=re.compile("在住流动人口来源省份: 北京市 1"))).to_be_visible()
    await snap(page, "police-view")


async def police_page(new_context, police, device: dict, lang: str = "en") -> Page:
    username = police.account["username"]
    page = await (await new_context(lang, device=device)).new_page()
    await log_in(page, username, f"{username}-password", start="/police")
    await expect(page.locator("#live")).to_contain_text("Live" if lang == "en" else "实时")
    return page


async def no_sideways_scroll(page: Page) -> None:
    """The page itself never scrolls sideways; a wide table scrolls inside its card."""
    width, inner = await page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"the page is {width}px wide on a {inner}px screen"


@pytest.mark.parametrize("screen", SCREENS)
async def test_an_officer_logging_in_after_a_watchlist_hit_sees_it_and_acknowledges_it(
        screen, new_context, anonymous, make_staff, make_area, make_dwelling):
    area = await make_area(name="Guanlin")
    police = await make_staff("police", area_code=area)
    dwelling = await make_dwelling(await make_staff("landlord"), area, name="Lane 7 No. 2")
    wanted = resident_id(birth="19700809")
    await police.post("/api/v1/police/watchlist", json={"document_number": wanted, "note": "case 2026-77"})
    # While nobody has the police page open.
    await register(anonymous, dwelling, document_number=wanted, full_name="Wang Wu")

    page = await police_page(new_context, police, SCREENS[screen])
    # The inbox lies below the charts: the first screen says an alert is waiting, and leads to it.
    waiting = page.get_by_role("link", name="⚠ 1 unacknowledged alert(s)")
    await expect(waiting).to_be_in_viewport()
    await snap(page, f"police-alert-waiting-{screen}", full_page=False)
    await waiting.click()
    alert = page.locator("#alerts li.alert")
    await expect(alert).to_have_count(1)
    await expect(alert).to_be_in_viewport()
    await expect(alert).to_contain_text("Watchlist hit")
    await expect(alert).to_contain_text("Lane 7 No. 2")
    await expect(alert).to_contain_text("case 2026-77")
    await expect(page.locator("#alerts-count")).to_have_text("1")
    await alert.get_by_role("button", name="Current guests").click()
    await expect(alert.locator(".this-stay")).to_contain_text("Wang Wu")
    await expect(alert.locator(".this-stay")).to_contain_text("the stay of this alert")
    await no_sideways_scroll(page)
    await snap(page, f"police-alert-inbox-{screen}")

    await alert.get_by_role("button", name="Acknowledge").click()
    await expect(page.locator("#alerts")).to_have_text("No unacknowledged alerts")
    await expect(waiting).to_be_hidden()
    inbox = (await police.get("/api/v1/police/alerts")).json()["items"]
    assert inbox[0]["acknowledged_by"] == police.account["display_name"]
    await page.reload()  # acknowledged for good, not only on this screen
    await expect(page.locator("#alerts")).to_have_text("No unacknowledged alerts")


async def test_the_same_number_in_two_dwellings_raises_the_alert_live_and_the_guest_sees_the_notice(
        new_context, make_staff, make_area, make_dwelling):
    area = await make_area(name="Guanlin")
    police = await make_staff("police", area_code=area)
    landlord = await make_staff("landlord")
    room_1 = await make_dwelling(landlord, area, name="Room 1")
    room_5 = await make_dwelling(landlord, area, name="Room 5")
    context = await new_context("en", device=LAPTOP)
    await context.grant_permissions(["notifications"])
    # The desktop notifications the page shows, recorded (headless Chromium displays none).
    await context.add_init_script("""window.shownNotifications = [];
        window.Notification = class extends Notification {
          constructor(title, options) { super(title, options); window.shownNotifications.push(title); } };""")
    officer = await context.new_page()
    username = police.account["username"]
    await log_in(officer, username, f"{username}-password", start="/police")
    await expect(officer.get_by_role("button", name="Desktop notifications on")).to_be_disabled()
    await expect(officer.locator("#alerts")).to_have_text("No unacknowledged alerts")

    number = resident_id(birth="19710910")
    for room, name, shot in ((room_1, "Li Lei", None), (room_5, "Li Leilei", "guest-already-present-notice")):
        guest = await (await new_context("en")).new_page()
        await guest.goto(f"/r/{token_of(room)}")
        await fill_guest(guest, "en", name, number)
        await guest.get_by_role("button", name="Register").click()
        await expect(guest.locator(".receipt-code")).to_be_visible()
        notice = guest.locator('[data-notice="already_present"]')
        if shot is None:
            await expect(notice).to_have_count(0)
        else:
            await expect(notice).to_contain_text("already registered as staying somewhere else")
            await expect(notice).not_to_contain_text("Room 1")  # not where
            await snap(guest, shot)

    alert = officer.locator("#alerts li.alert")
    await expect(alert).to_have_count(1)
    await expect(alert).to_contain_text("One person in two places")
    await expect(alert).to_contain_text("Room 5")
    await expect(alert).to_contain_text("also registered as present in: Room 1")
    assert await officer.evaluate("window.shownNotifications") == ["New alert: One person in two places"]
    await expect(officer.locator('[data-count="duplicate_presences"] dd')).to_have_text("1")
    await snap(officer, "police-duplicate-presence")


async def header_and_number_lines(page: Page, number: str) -> dict[str, int]:
    """How many lines each table header cell and the cell holding ``number`` take."""
    return await page.evaluate("""(number) => {
        // The lines the text itself takes (a cell is as tall as its row, whatever its own text).
        const lines = (cell) => {
            const range = document.createRange();
            range.selectNodeContents(cell);
            return new Set([...range.getClientRects()].map((box) => Math.round(box.bottom))).size;
        };
        const cells = [...document.querySelectorAll('main table th')].filter((c) => c.getClientRects().length);
        const found = [...document.querySelectorAll('main table td')].filter((c) => c.textContent === number);
        return Object.fromEntries([...cells.map((c) => [c.textContent, lines(c)]), ...found.map((c) => [number, lines(c)])]);
    }""", number)


@pytest.mark.parametrize("screen", SCREENS)
async def test_police_tables_keep_words_and_numbers_on_one_line(screen, new_context, anonymous, make_staff, make_area,
                                                                make_dwelling):
    county = await make_area(name="Luqiao District")
    for name in ("Guanlin Subdistrict", "Xinqiao Village"):
        await make_area(parent=county, name=name)
    police = await make_staff("police", area_code=county)
    dwelling = await make_dwelling(await make_staff("landlord"), county, name="Guanlin Inn, Lane 3 No. 5")
    number = resident_id(birth="19721011")
    await register(anonymous, dwelling, document_number=number)

    page = await police_page(new_context, police, SCREENS[screen])
    await expect(page.locator(".area-tile")).to_have_count(2)
    await page.get_by_label("Search for").fill(number)
    await page.get_by_label("Reason (audited)").fill("table layout check")
    await page.get_by_role("button", name="Search", exact=True).click()
    await expect(page.locator(".results td", has_text=number)).to_be_visible()

    lines = await header_and_number_lines(page, number)
    assert {"Name", "Document", "Phone", "Dwelling", number} <= lines.keys()
    assert {cell: count for cell, count in lines.items() if count != 1} == {}
    await no_sideways_scroll(page)
    await page.locator("#search-card").scroll_into_view_if_needed()
    await snap(page, f"police-tables-{screen}")


async def test_the_search_says_a_missing_reason_once(new_context, make_staff, make_area):
    police = await make_staff("police", area_code=await make_area())
    page = await police_page(new_context, police, LAPTOP)
    await page.get_by_label("Search for").fill("Zhang Wei")
    await page.get_by_role("button", name="Search", exact=True).click()
    error = page.locator("#search-error")
    await expect(error).to_be_visible()
    text = await error.inner_text()
    assert text.count("State the reason for this search") == 1, text


async def test_the_police_view_switches_language(new_context, make_staff, make_area):
    police = await make_staff("police", area_code=await make_area(name="测试区"))
    page = await police_page(new_context, police, PHONE, lang="zh")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(page.get_by_role("heading", name="警务指挥中心")).to_be_visible()
    await expect(page.locator('[data-count="current_guests"] dt')).to_have_text("在住人数")
    await page.get_by_role("button", name="English").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.get_by_role("heading", name="Command centre")).to_be_visible()
    await expect(page.locator('[data-count="current_guests"] dt')).to_have_text("Guests now")
    await expect(page.get_by_label("Reason (audited)")).to_be_visible()
    await expect(page.locator("#alerts")).to_have_text("No unacknowledged alerts")
    # The command centre's own panels follow the switch too.
    await expect(page.get_by_role("heading", name="Capacity warnings")).to_be_visible()
    await expect(page.locator("#warnings")).to_have_text("No warnings")
    await expect(page.locator("#area-tiles")).to_contain_text("No areas below")
    await expect(page.get_by_role("link", name="Statistics", exact=True)).to_be_visible()
    await snap(page, "police-view-english-phone")
    await page.reload()  # the choice is remembered
    await expect(page.get_by_role("heading", name="Command centre")).to_be_visible()


@pytest.mark.parametrize("screen", SCREENS)
async def test_an_officer_watches_a_number_until_a_date_sees_who_added_it_and_removes_it(
        screen, new_context, db, make_staff, make_area):
    police = await make_staff("police", area_code=await make_area(name="管林村"))
    page = await police_page(new_context, police, SCREENS[screen], lang="zh")
    watch = page.locator("#watch-card")
    number = resident_id(birth="19731112")
    await watch.get_by_label("证件号码").fill(number)
    note = f"案件 2026-88 {screen}"
    await watch.get_by_label("备注").fill(note)
    await watch.get_by_label("到期日期（可空）").fill("2036-12-05")
    await watch.get_by_role("button", name="加入布控").click()

    entry = page.locator("#watchlist li")
    await expect(entry).to_have_count(1)
    await expect(entry).to_contain_text(f"{number[:3]}***********{number[-4:]} — {note}")
    await expect(entry).to_contain_text(f"{police.account['display_name']} 添加于")
    await expect(entry).to_contain_text("到期 2036/12/5")
    assert number not in await page.content()
    await no_sideways_scroll(page)
    await entry.scroll_into_view_if_needed()
    await snap(page, f"police-watchlist-{screen}")

    await entry.get_by_role("button", name="撤销").click()
    await expect(entry).to_have_text("暂无布控")
    assert page.context.dialogs == ["撤销这条布控？记录将保留。"]
    removed = await db.fetchrow("SELECT removed_by, expires_at FROM watchlist WHERE note = $1", note)
    assert removed["removed_by"] == police.account["id"]
    assert removed["expires_at"].astimezone(ZoneInfo("Asia/Shanghai")).isoformat().startswith("2036-12-05T23:59:59")


# Every text the 24-hour chart draws on its canvas: [text, left, right, top, bottom, font size in px].
CHART_LABELS = """async () => {
  const { echarts } = await import('/static/command/charts.js');
  const box = document.getElementById('chart');
  const drawn = echarts.getInstanceByDom(box).getZr().storage.getDisplayList()
    .filter((e) => (e.type === 'text' || e.type === 'tspan') && !e.ignore && !e.invisible);
  return { width: box.clientWidth, height: box.clientHeight, labels: drawn.map((e) => {
    const r = e.getBoundingRect().clone();
    r.applyTransform(e.getComputedTransform());
    return [e.style.text, r.x, r.x + r.width, r.y, r.y + r.height, e.style.fontSize]; }) };
}"""


@pytest.mark.parametrize("screen", SCREENS)
async def test_the_24_hour_chart_labels_its_hours_and_counts_readably_and_whole(
        screen, new_context, anonymous, make_staff, make_area, make_dwelling):
    area = await make_area(name="Guanlin")
    police = await make_staff("police", area_code=area)
    dwelling = await make_dwelling(await make_staff("landlord"), area, capacity=4)
    for _ in range(3):
        await register(anonymous, dwelling, document_number=resident_id(birth="19741213"))
    page = await police_page(new_context, police, SCREENS[screen])
    await expect(page.get_by_role("img", name=re.compile("3 arrivals and 0 departures in the last 24 hours"))).to_be_visible()

    chart = await page.evaluate(CHART_LABELS)
    texts = [label[0] for label in chart["labels"]]
    assert "0" in texts and "3" in texts, texts  # counts on the y axis, up to the hour's three arrivals
    assert len([t for t in texts if re.fullmatch(r"\d\d:00", t)]) >= 4, texts  # hours along the x axis
    for text, left, right, top, bottom, size in chart["labels"]:
        assert size >= 11, (text, size)
        assert left >= 0 and right <= chart["width"] and top >= 0 and bottom <= chart["height"], (text, chart)
    # Its heading keeps "24 hours" on one line (it once left a lone "h" on a line of its own).
    heading = page.locator("#chart-card h2")
    lines_of_24_hours = await heading.evaluate("""(h) => {
        const text = h.firstChild, range = document.createRange();
        range.setStart(text, text.data.indexOf('24'));
        range.setEnd(text, text.data.length);
        return new Set([...range.getClientRects()].map((box) => Math.round(box.bottom))).size; }""")
    assert lines_of_24_hours == 1
    await page.locator("#chart-card").scroll_into_view_if_needed()
    await page.locator("#chart-card").screenshot(path=ARTIFACTS / f"police-24h-chart-{screen}.png")


async def test_one_person_registered_twice_in_one_room_is_said_to_be_so(new_context, anonymous, make_staff, make_area,
                                                                        make_dwelling):
    area = await make_area(name="Guanlin")
    police = await make_staff("police", area_code=area)
    room = await make_dwelling(await make_staff("landlord"), area, name="Room 3", capacity=4)
    number = resident_id(birth="19750114")
    await register(anonymous, room, document_number=number, full_name="Zhao Liu")
    await register(anonymous, room, document_number=number, full_name="Zhao Liuliu")
    page = await police_page(new_context, police, PHONE)
    alert = page.locator("#alerts li.alert.duplicate_presence")
    await expect(alert).to_have_count(1)
    await expect(alert).to_contain_text("The same number has another current stay in this same dwelling")
    await expect(alert).not_to_contain_text("also registered as present in")
