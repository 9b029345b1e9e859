"""The police page in a real browser: live counts that rise as guests register elsewhere."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser import DESK, log_in, snap
from tests.support import resident_id
from tests.test_pages import register_as_guest, token_of

pytestmark = pytest.mark.browser


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
    await expect(page.locator("#origins")).to_have_text("暂无流动人口 No floating population now")

    await register_as_guest(new_context, dwelling, "Wang Wu", resident_id())
    # Live, not on reload: the count arrives within about half a second (changes are published twice a
    # second); the generous deadline only keeps a busy CI machine from failing a test about liveness.
    await expect(guests_now).to_have_text("1", timeout=5_000)
    await expect(page.locator('#children tbody tr', has_text="测试村")).to_contain_text("1")

    await page.get_by_role("button", name="测试村 Test village").click()
    await expect(page.locator("#area-name")).to_contain_text(village)
    await expect(page.locator("#map circle")).to_have_count(1)
    await expect(page.locator("#children tbody")).to_contain_text("No areas below")
    await expect(page.locator("#origins")).to_have_text("北京市: 1")  # a Beijing resident card: floating here
    await snap(page, "police-view")
