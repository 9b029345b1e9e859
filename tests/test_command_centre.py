"""The police command centre in a real browser: a county's wall screen and desk, a phone, and an analyst
of another department who sees the statistics tab only."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from service.db.pool import create_pool
from service.statistics.warnings import evaluate
from tests.browser import ARTIFACTS, DESK, PHONE, assert_no_sideways_scroll, log_in, snap
from tests.support import ServiceProcess, idempotency_key, resident_id
from tests.test_stays import stay_body, token_of
from tests.test_statistics import ZONE

pytestmark = pytest.mark.browser

WALL = {"viewport": {"width": 1920, "height": 1080}}
LAPTOP = {"viewport": {"width": 1366, "height": 768}}

# Pixels a chart has drawn on its canvases (every 7th sampled): 0 for an empty chart.
PAINTED = """(selector) => [...document.querySelectorAll(selector + ' canvas')].reduce((count, canvas) => {
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < pixels.length; i += 28) if (pixels[i] > 0) count += 1;
    return count; }, 0)"""
# Pixels of the heat map's hottest red (the density where most guests are).
HOT = """(selector) => [...document.querySelectorAll(selector + ' canvas')].reduce((count, canvas) => {
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < pixels.length; i += 4) if (pixels[i + 3] > 200 && pixels[i] > 170 && pixels[i + 1] < 90) count += 1;
    return count; }, 0)"""

# Pixels of the map's label text (near-black, drawn opaque) in the outermost 3 pixels of its canvas: a
# name cut off at the panel's edge.
CLIPPED_TEXT = """(selector) => [...document.querySelectorAll(selector + ' canvas')].reduce((count, canvas) => {
    const { width, height } = canvas;
    const pixels = canvas.getContext('2d').getImageData(0, 0, width, height).data;
    for (let y = 0; y < height; y += 1) for (let x = 0; x < width; x += 1) {
        if (x >= 3 && x < width - 3 && y >= 3 && y < height - 3) continue;
        const i = 4 * (y * width + x);
        if (pixels[i + 3] > 200 && pixels[i] < 90 && pixels[i + 1] < 90 && pixels[i + 2] < 90) count += 1;
    }
    return count; }, 0)"""


async def register(anonymous, dwelling: dict, guests: int) -> None:
    """A registration of ``guests`` people (the first and companions), through the guest API."""
    companions = [{"full_name": f"同行{i}", "document_type": "resident_id", "document_number": resident_id()}
                  for i in range(guests - 1)]
    response = await anonymous.post(f"/api/v1/public/dwellings/{token_of(dwelling)}/stays",
                                    json=stay_body(companions=companions), headers={"Idempotency-Key": idempotency_key()})
    assert response.status_code == 201, response.text


async def painted(page: Page, selector: str) -> int:
    return await page.evaluate(PAINTED, selector)


async def raise_warnings(database_url: str, area_code: str) -> None:
    """What the service's statistics loop does every VH_STATS_EVALUATE_SECONDS, on a pool made as the
    service makes its own, until ``area_code`` has a warning (a round the service itself is running at
    that moment holds the lock; the next one goes)."""
    pool = await create_pool(database_url, 1, str(ZONE))
    try:
        async with pool.acquire() as conn:
            while not await conn.fetchval("SELECT 1 FROM stats_warnings WHERE area_code = $1", area_code):
                await evaluate(conn, datetime.now(ZONE))
    finally:
        await pool.close()


@pytest.fixture
async def county(make_staff, make_area, make_dwelling, anonymous, database_url) -> dict:
    """A county with a full village (2 beds, 2 guests: past the 80% warning) and a quiet one (6 beds, 1 guest)."""
    code = await make_area(name="测试县 Test county")
    full = await make_area(parent=code, name="满村 Full village")
    quiet = await make_area(parent=code, name="静村 Quiet village")
    landlord = await make_staff("landlord")
    crowded = await make_dwelling(landlord, full, capacity=2, latitude=28.581, longitude=121.381)
    roomy = await make_dwelling(landlord, quiet, capacity=6, latitude=28.589, longitude=121.392)
    await register(anonymous, crowded, 2)
    await register(anonymous, roomy, 1)
    await raise_warnings(database_url, full)
    return {"code": code, "full": full, "quiet": quiet}


async def test_the_wall_screen_shows_the_heat_map_trends_and_a_capacity_warning(new_context, make_staff, county):
    police = await make_staff("police", area_code=county["code"])
    username = police.account["username"]
    page = await (await new_context("zh", device=WALL)).new_page()
    await log_in(page, username, f"{username}-password", start="/police")

    await expect(page.locator('[data-count="current_guests"] dd')).to_have_text("3")
    # The heat map: density drawn where the guests are, the hottest red at the crowded dwelling.
    heat_map = page.get_by_role("img", name=re.compile("在住 3 人，2 处住所有人"))
    await expect(heat_map).to_be_visible()
    assert await page.evaluate(HOT, "#map") > 0
    # Occupancy now per village, as coloured tiles.
    await expect(page.locator(".area-tile.occ-over", has_text="满村 Full village")).to_contain_text("100%")
    await expect(page.locator(".area-tile.occ-low", has_text="静村 Quiet village")).to_contain_text("17%")
    # Trends from the statistics: today's three arrivals, beside a year ago.
    await expect(page.locator("#trend-days-sum")).to_contain_text("到达 3（")
    await expect(page.get_by_role("img", name=re.compile("近 30 天.*到达 3（"))).to_be_visible()
    await expect(page.get_by_role("img", name=re.compile("近 12 个月.*到达 3（"))).to_be_visible()
    assert await painted(page, "#trend-days") > 0 and await painted(page, "#trend-months") > 0
    # The capacity warning of the full village.
    warning = page.locator("#warnings li.warning", has_text="满村 Full village")
    await expect(warning).to_contain_text("床位占用率")
    # It is an alert too: in the inbox until acknowledged, without a dwelling to open.
    inbox_warning = page.locator("#alerts li.alert.capacity", has_text="满村 Full village")
    await expect(inbox_warning).to_contain_text("超出承载量")
    await expect(inbox_warning.get_by_role("button", name="确认已阅")).to_be_visible()
    await expect(inbox_warning.get_by_role("button", name="当前住客")).to_have_count(0)
    # The 24-hour chart and the origins, as charts with their figures in words.
    await expect(page.get_by_role("img", name=re.compile("过去 24 小时入住 3 人、退房 0 人"))).to_be_visible()
    await expect(page.get_by_role("img", name=re.compile("近 30 天到达人员来源: 北京市 3"))).to_be_visible()
    await snap(page, "command-centre-1920x1080")
    await assert_no_sideways_scroll(page)

    # The same dwellings as risk-coloured dots: nothing red, two green.
    await page.get_by_role("button", name="风险点").click()
    await expect(page.locator("#map-legend")).to_contain_text("绿 正常: 2")
    assert await page.evaluate(HOT, "#map") == 0

    await page.set_viewport_size(LAPTOP["viewport"])
    await snap(page, "command-centre-1366x768")
    await assert_no_sideways_scroll(page)

    # A tile opens its village.
    await page.locator(".area-tile", has_text="满村 Full village").click()
    await expect(page.locator("#area-name")).to_contain_text(county["full"])
    await expect(page.locator("#area-tiles")).to_contain_text("无下级区域")



async def test_the_demo_on_a_wall_screen_shows_a_year_of_trends_the_heat_map_and_a_warning(
        new_context, create_database, tmp_path):
    """A newcomer's first look: ``serve --demo`` (two years of Guanlin's history, a tour group filling Xin'an),
    the district's police at 1920x1080, in English."""
    demo = ServiceProcess(dsn=await create_database(), data_dir=tmp_path, extra_args=["--demo"],
                          extra_env={"VH_STATS_EVALUATE_SECONDS": "0.5"}).start(timeout=180)
    try:
        page = await (await new_context("en", device=WALL)).new_page()
        await log_in(page, "police", "guanlin-police", start=f"{demo.base_url}/police")
        await expect(page.locator("#area-name")).to_contain_text("331004")
        # The heat map of the guests now, drawn hottest where the tour group is.
        await expect(page.get_by_role("img", name=re.compile(r"\d+ guests in \d+ dwellings"))).to_be_visible()
        assert await page.evaluate(HOT, "#map") > 0
        # Trends from the history: arrivals every month, beside as many as the same period a year before.
        for trend in ("#trend-months-sum", "#trend-days-sum"):
            await expect(page.locator(trend)).to_contain_text(re.compile(r"Arrivals [1-9][\d,]* \(a year ago [1-9]"))
            assert int(re.search(r"a year ago ([\d,]+)", await page.locator(trend).inner_text())[1].replace(",", "")) > 100
        assert await painted(page, "#trend-days") > 0 and await painted(page, "#trend-months") > 0
        # Origins weighted toward Zhejiang and its neighbours, named in English.
        await expect(page.get_by_role("img", name=re.compile(
            "Arrivals of the last 30 days, by origin: Zhejiang \\d+, .*Jiangsu"))).to_be_visible()
        # The tour group's capacity warning on Xin'an (its 16 beds past 80%: yellow), and its unusual arrivals.
        warnings = page.locator("#warnings li.warning", has_text="Xin'an Village")
        await expect(warnings.filter(has_text="Yellow bed occupancy")).to_contain_text(" / 16 beds", timeout=20_000)
        await expect(warnings.filter(has_text="Unusual arrivals")).to_be_visible()
        await snap(page, "command-centre-demo-1920x1080")
        await assert_no_sideways_scroll(page)
    finally:
        demo.stop()


async def test_a_capacity_warning_raised_while_the_screen_is_open_arrives_live(
        new_context, make_staff, make_area, make_dwelling, anonymous, database_url, tmp_path):
    # A second instance whose statistics loop runs often: it raises the warning and announces it on the stream.
    fast = ServiceProcess(dsn=database_url, data_dir=tmp_path, extra_env={"VH_STATS_EVALUATE_SECONDS": "0.3"}).start()
    try:
        county = await make_area(name="测试县 Test county")
        village = await make_area(parent=county, name="满村 Full village")
        police = await make_staff("police", area_code=county)
        username = police.account["username"]
        page = await (await new_context("en", device=LAPTOP)).new_page()
        await log_in(page, username, f"{username}-password", start="/police")
        await page.goto(f"{fast.base_url}/police")  # the same session: cookies do not tell ports apart
        await expect(page.locator("#warnings")).to_have_text("No warnings")
        await expect(page.locator("#alerts")).to_have_text("No unacknowledged alerts")

        crowded = await make_dwelling(await make_staff("landlord"), village, capacity=2)
        await register(anonymous, crowded, 2)

        warning = page.locator("#warnings li.warning", has_text="满村 Full village")
        await expect(warning).to_contain_text("bed occupancy", timeout=20_000)
        await expect(warning).to_contain_text("2 guests / 2 beds")
        # The village and the county it fills are both full: one alert each, in the inbox until acknowledged.
        alert = page.locator("#alerts li.alert.capacity", has_text="满村 Full village")
        await expect(alert).to_contain_text("Over carrying capacity")
        await expect(alert).to_contain_text("Red")
        await expect(page.locator("#alerts-count")).to_have_text("2")
        await alert.get_by_role("button", name="Acknowledge").click()
        await expect(page.locator("#alerts li.alert")).to_have_count(1)
        await expect(page.locator("#alerts-count")).to_have_text("1")
        await expect(warning).to_be_visible()  # acknowledged, the reading still holds
    finally:
        fast.stop()


async def test_the_statistics_tab_answers_a_period_and_its_breakdown(new_context, make_staff, county):
    police = await make_staff("police", area_code=county["code"])
    username = police.account["username"]
    page = await (await new_context("zh", device=DESK)).new_page()
    await log_in(page, username, f"{username}-password", start="/police")
    await page.get_by_role("link", name="统计", exact=True).click()
    await expect(page).to_have_url(re.compile("#statistics$"))
    await expect(page.locator('[data-total="arrivals"] dd')).to_have_text("3")
    await page.get_by_label("分组", exact=True).select_option("area")
    await page.get_by_label("周期", exact=True).select_option("day")
    await page.get_by_role("button", name="查询", exact=True).click()
    table = page.locator("#statistics-table tbody")
    await expect(table.locator("tr", has_text="满村 Full village")).to_contain_text("2")
    await expect(table.locator("tr", has_text="静村 Quiet village")).to_contain_text("1")
    assert await painted(page, "#statistics-chart") > 0
    await expect(page.get_by_role("link", name="下载 CSV")).to_have_attribute("href", re.compile("by=area.*format=csv"))


async def test_an_english_reader_sees_origins_countries_and_kinds_in_english(
        new_context, make_staff, make_dwelling, anonymous, county, tmp_path):
    homestay = await make_dwelling(await make_staff("landlord"), county["quiet"], kind="homestay", capacity=4,
                                   latitude=28.585, longitude=121.387)
    american = stay_body(document_type="passport", document_number="X12345678", nationality="USA")
    response = await anonymous.post(f"/api/v1/public/dwellings/{token_of(homestay)}/stays", json=american,
                                    headers={"Idempotency-Key": idempotency_key()})
    assert response.status_code == 201, response.text
    police = await make_staff("police", area_code=county["code"])
    username = police.account["username"]
    page = await (await new_context("en", device=WALL)).new_page()
    await log_in(page, username, f"{username}-password", start="/police")

    # The origins chart: arrivals by province and region, then the floating population now by province.
    await expect(page.get_by_role("img", name=re.compile(
        "Arrivals of the last 30 days, by origin: Beijing 3, Foreign countries 1"))).to_be_visible()
    await page.get_by_role("button", name="Floating now").click()
    await expect(page.get_by_role("img", name=re.compile("Floating population now, by province: Beijing 3"))).to_be_visible()
    await snap(page, "command-centre-en-1920x1080")

    # The statistics tab: countries and dwelling kinds by their English names, and in Chinese after the switch.
    await page.get_by_role("link", name="Statistics", exact=True).click()
    table = page.locator("#statistics-table tbody")
    await page.get_by_label("Breakdown", exact=True).select_option("nationality")
    await page.get_by_role("button", name="Show", exact=True).click()
    await expect(table.locator("tr", has_text="United States")).to_contain_text("1")
    await expect(table.locator("tr", has_text="China")).to_contain_text("3")
    await page.get_by_label("Breakdown", exact=True).select_option("kind")
    await page.get_by_role("button", name="Show", exact=True).click()
    await expect(table.locator("tr", has_text="Homestay")).to_contain_text("1")
    await expect(table.locator("tr", has_text="Rental room")).to_contain_text("3")
    await snap(page, "command-centre-statistics-en")

    # The download in English too: the same names in the file.
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Download CSV").click()
    saved = tmp_path / "statistics.csv"
    await (await download_info.value).save_as(saved)
    content = saved.read_bytes().decode("utf-8-sig")
    assert "Homestay" in content and "Rental room" in content and "民宿" not in content

    await page.get_by_role("button", name="中文").click()
    await expect(table.locator("tr", has_text="民宿")).to_contain_text("1")
    await expect(table.locator("tr", has_text="出租房")).to_contain_text("3")


async def test_a_phone_stacks_the_panels(new_context, make_staff, county):
    police = await make_staff("police", area_code=county["code"])
    username = police.account["username"]
    page = await (await new_context("zh", device=PHONE)).new_page()
    await log_in(page, username, f"{username}-password", start="/police")
    await expect(page.get_by_role("img", name=re.compile("在住 3 人，2 处住所有人"))).to_be_visible()
    await expect(page.locator("#trend-days-sum")).to_contain_text("到达 3（")
    await assert_no_sideways_scroll(page)
    await snap(page, "command-centre-360x740")
    # The heat map's village names whole on a narrow panel, not cut at its edges, in either mode.
    for mode in ("风险点", "热力"):
        await page.get_by_role("button", name=mode).click()
        assert await page.evaluate(CLIPPED_TEXT, "#map") == 0, f"a name is cut off at the map's edge ({mode})"
    await page.locator("#map").screenshot(path=ARTIFACTS / "command-centre-heat-map-360x740.png")


async def test_an_analyst_sees_the_statistics_tab_only_and_downloads_csv(new_context, make_staff, county, tmp_path):
    analyst = await make_staff("analyst", area_code=county["code"])
    username = analyst.account["username"]
    page = await (await new_context("zh", device=LAPTOP)).new_page()
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    await log_in(page, username, f"{username}-password", start="/police#statistics")

    await expect(page.get_by_role("heading", name=re.compile("^统计 — "))).to_be_visible()
    await expect(page.locator('[data-total="arrivals"] dd')).not_to_have_text("")
    for hidden in ("实时", "核验审核"):
        await expect(page.get_by_role("link", name=hidden)).to_be_hidden()
    for heading in ("查询", "布控", "在住分布"):
        await expect(page.get_by_role("heading", name=heading)).to_be_hidden()
    await snap(page, "command-centre-analyst-1366x768")

    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="下载 CSV").click()
    download = await download_info.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    content = Path(saved).read_bytes()
    assert content.startswith(b"\xef\xbb\xbf"), "a CSV Excel opens in Chinese starts with a BOM"
    assert county["code"] in content.decode("utf-8-sig")
    assert not [url for url in asked if "/api/v1/police/" in url], "an analyst's page called a police endpoint"
