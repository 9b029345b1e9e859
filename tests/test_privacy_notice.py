"""The guests' privacy notice: the configured operator, legal basis, who sees what, retention and rights, in
Chinese and English on /privacy and collapsed on the guest's forms; production refuses to start without it.

This module runs its own service, started with the operator's details (``service`` below replaces the
suite's for these tests only).
"""

from __future__ import annotations

import re

import httpx
import pytest
from litestar.datastructures import State
from playwright.async_api import expect

from service.privacy.notice import privacy_facts
from service.settings import Settings
from tests.browser import snap
from tests.support import ADMIN_PASSWORD, ADMIN_USERNAME, ServiceProcess, StaffClient, resident_id, unique
from tests.test_operations import run_cli
from tests.test_pages import LABELS, RECEIPT_CODE, fill_guest

OPERATOR = "官林村虚拟旅馆有限公司 Guanlin Virtual Hotel Ltd."
CONTACT = "privacy@guanlin.example, +86 576 8888 0000"
ONE_LINE_ERROR = re.compile(r"^error: setting VH_OPERATOR_NAME: must be set in production .*$")


@pytest.fixture(scope="module")
async def service(create_database, tmp_path_factory):
    process = ServiceProcess(dsn=await create_database(), data_dir=tmp_path_factory.mktemp("operated"),
                             extra_env={"VH_OPERATOR_NAME": OPERATOR, "VH_OPERATOR_CONTACT": CONTACT,
                                        "VH_RETENTION_DAYS": "730"}).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
async def dwelling(service) -> dict:
    admin = await StaffClient.log_in(service.base_url, ADMIN_USERNAME, ADMIN_PASSWORD)
    code, username = "9" + unique("")[-5:], unique("landlord")
    try:
        assert (await admin.post("/api/v1/areas", json={"code": code, "name": "Guanlin", "parent_code": None})).is_success
        assert (await admin.post("/api/v1/accounts", json={"username": username, "password": f"{username}-password",
                                                           "role": "landlord", "display_name": "Wang"})).is_success
    finally:
        await admin.aclose()
    landlord = await StaffClient.log_in(service.base_url, username, f"{username}-password")
    try:
        made = await landlord.post("/api/v1/dwellings", json={"name": "Lane 9 No. 2", "address": "Guanlin Lane 9",
                                                               "area_code": code, "kind": "homestay", "capacity": 2})
    finally:
        await landlord.aclose()
    assert made.status_code == 201, made.text
    return made.json()


async def test_the_privacy_page_names_the_operator_in_both_languages(service):
    async with httpx.AsyncClient(base_url=service.base_url) as client:
        page = await client.get("/privacy")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    chinese, english = html.split('id="en"', 1)
    for part in (chinese, english):
        assert OPERATOR in part and CONTACT in part
        assert "730" in part and "demo" not in part.lower() and "演示" not in part
    assert "个人信息保护法》第十三条第一款第三项" in chinese and "约 2 年" in chinese
    assert "打码" in chinese and "公安机关" in chinese and "汇总数字" in chinese and "删除" in chinese
    assert "article 13(1)(3)" in english and "GDPR article 6(1)(c)" in english and "about 2 years" in english
    assert "masked" in english and "police" in english and "totals only" in english and "correct" in english
    assert 'lang="en"' in english


async def test_the_notice_facts_come_from_settings_and_say_demo_when_unset(service):
    async with httpx.AsyncClient(base_url=service.base_url) as client:
        facts = (await client.get("/api/v1/public/privacy", params={"lang": "zh"})).json()
    assert facts == {"operator_name": OPERATOR, "operator_contact": CONTACT, "demo": False, "retention_days": 730}
    unset = privacy_facts(State({"settings": Settings(data_dir="/tmp/unused")}), "en")
    assert unset.demo is True and unset.operator_name.startswith("Demo operator")


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_the_guest_form_carries_the_notice_collapsed_and_the_receipt_links_to_it(new_context, dwelling, lang):
    token = dwelling["registration_url"].rsplit("/", 1)[1]
    summary = {"en": "Your data: who keeps it and why", "zh": "您的信息由谁保存、为何收集"}[lang]
    link_name = {"en": "Full privacy notice", "zh": "查看完整隐私声明"}[lang]
    context = await new_context(lang)
    for path in (f"/r/{token}", f"/r/{token}/apply"):
        page = await context.new_page()
        await page.goto(path)
        notice = page.locator("details.privacy-notice")
        await expect(notice).to_have_count(1)
        await expect(notice).not_to_have_attribute("open", "")
        await expect(notice.get_by_text(OPERATOR)).to_be_hidden()  # collapsed: the form stays short
        await notice.get_by_text(summary).click()
        await expect(notice).to_contain_text(OPERATOR)
        await expect(notice).to_contain_text("730")
        link = notice.get_by_role("link", name=link_name)
        await expect(link).to_have_attribute("href", f"/privacy#{lang}")
        await snap(page, f"privacy-notice-{lang}-{path.rsplit('/', 1)[1] if path.endswith('apply') else 'guest'}")
    # Registered: the receipt the guest keeps links to the whole notice.
    page = await context.new_page()
    await page.goto(f"/r/{token}")
    await fill_guest(page, lang, {"en": "Li Lei", "zh": "李雷"}[lang], resident_id())
    await page.get_by_role("button", name=LABELS[lang]["submit"]).click()
    receipt = page.locator("section.receipt")
    await expect(receipt.locator(".receipt-code")).to_have_text(RECEIPT_CODE)
    await expect(receipt.get_by_role("link", name=link_name)).to_have_attribute("href", f"/privacy#{lang}")
    await snap(page, f"privacy-link-on-receipt-{lang}")
    page = await context.new_page()
    await page.goto("/privacy")
    await expect(page.get_by_role("heading", name="How your registration is handled")).to_be_visible()
    await expect(page.get_by_role("heading", name="住宿登记个人信息处理说明")).to_be_visible()
    await snap(page, f"privacy-page-{lang}")


def test_production_refuses_to_start_without_the_operator(tmp_path):
    for env in ({"VH_ENV": "production"}, {"VH_PUBLIC_BASE_URL": "https://hotel.example.org"}):
        result = run_cli("serve", "--port", "9", env={**env, "VH_DATA_DIR": str(tmp_path)})
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1 and ONE_LINE_ERROR.match(result.stderr.strip()), result.stderr
    named_only = run_cli("serve", "--port", "9", env={"VH_ENV": "production", "VH_OPERATOR_NAME": OPERATOR,
                                                       "VH_DATA_DIR": str(tmp_path)})
    assert named_only.returncode == 2
    assert named_only.stderr.strip().startswith("error: setting VH_OPERATOR_CONTACT: must be set in production")


async def test_production_with_the_operator_set_starts(create_database, tmp_path):
    result = run_cli("migrate", env={"VH_ENV": "production", "VH_OPERATOR_NAME": OPERATOR, "VH_OPERATOR_CONTACT": CONTACT,
                                     "DATABASE_URL": await create_database(), "VH_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
