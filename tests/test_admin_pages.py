"""The administrator's pages in Chromium, at a laptop's 1366x768 and a phone's 360x740: an administrator
creates an area and a landlord account, then imports twenty dwellings from a file through the page; the new
landlord logs in, finds one by search, edits its beds and prints its poster. Every other admin action too.
Screenshots of each step go to test-artifacts/."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.browser import PHONE, assert_no_sideways_scroll, log_in, snap
from tests.support import ADMIN_PASSWORD, ADMIN_USERNAME, resident_id, unique

LAPTOP = {"viewport": {"width": 1366, "height": 768}}
SCREENS = {"laptop": LAPTOP, "phone": PHONE}


@pytest.mark.parametrize("screen", SCREENS)
async def test_an_admin_creates_an_area_a_landlord_and_imports_twenty_dwellings(new_context, admin, make_area, tmp_path,
                                                                              screen):
    county = await make_area(name="Luqiao test county")
    context = await new_context("en", device=SCREENS[screen])
    page = await context.new_page()
    await log_in(page, ADMIN_USERNAME, ADMIN_PASSWORD, start="/admin")

    # The area tree: a new village under the county.
    await page.get_by_role("link", name="Areas").click()
    areas = page.get_by_role("region", name="Areas")
    village = county + unique("")[-6:]
    await areas.get_by_label("Parent area").select_option(county)
    await areas.get_by_label("Code").fill(village)
    await areas.get_by_label("Name", exact=True).fill(f"Guanlin {screen}")
    await areas.get_by_role("button", name="Create area").click()
    await expect(areas.get_by_role("status")).to_have_text(f"Area Guanlin {screen} created.")
    node = page.locator(f'[data-area="{village}"] > .tree-node')
    await expect(node).to_contain_text("0 dwellings · 0 accounts · 0 guests now")
    await assert_no_sideways_scroll(page)
    await snap(page, f"admin-areas-{screen}")

    # A landlord account in that village, with a password the page generates and shows once.
    await page.get_by_role("link", name="Accounts").click()
    accounts = page.get_by_role("region", name="Accounts")
    new_account = accounts.locator("form").first
    username = unique("landlord-")
    await new_account.get_by_label("Username").fill(username)
    await new_account.get_by_label("Display name").fill("Wang Landlord")
    await new_account.get_by_label("Role").select_option("landlord")
    await new_account.get_by_label("Area").select_option(village)
    await new_account.get_by_role("button", name="Create account").click()
    shown = accounts.locator(".secret")
    await expect(shown).to_be_visible()
    password = (await shown.inner_text()).strip()
    assert len(password) == 16
    await expect(accounts.get_by_role("row").filter(has_text=username)).to_contain_text("never")
    await assert_no_sideways_scroll(page)
    await snap(page, f"admin-accounts-{screen}")

    # Twenty dwellings from a CSV file as Excel saves it in China (GB18030): checked, previewed, imported.
    csv_file = tmp_path / "guanlin.csv"
    lines = ["name,address,area_code,kind,capacity,latitude,longitude,owner"] + [
        f"官林{n:02d}号房,官林村 {n} 号,{village},rental_room,{1 + n % 4},28.58,121.38,{username}" for n in range(1, 21)]
    csv_file.write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
    await page.get_by_role("link", name="Import dwellings").click()
    importing = page.get_by_role("region", name="Import dwellings")
    await expect(importing.get_by_role("link", name="Download the template (CSV)")).to_have_attribute(
        "href", "/static/dwellings-template.csv")
    await importing.get_by_label("CSV file").set_input_files(csv_file)
    await importing.get_by_role("button", name="Check file").click()
    await expect(importing.get_by_role("status")).to_contain_text("All 20 lines are correct")
    await expect(importing.locator("tbody tr")).to_have_count(20)
    await expect(importing.locator("tbody")).to_contain_text("官林20号房")
    await assert_no_sideways_scroll(page)
    await snap(page, f"admin-import-preview-{screen}")
    await importing.get_by_role("button", name="Import 20 dwellings").click()
    await expect(importing.get_by_role("status")).to_contain_text("20 dwellings created")
    await snap(page, f"admin-import-done-{screen}")

    found = (await admin.get("/api/v1/admin/dwellings", params={"owner": username})).json()
    assert found["total"] == 20 and {d["area_code"] for d in found["items"]} == {village}

    # The dwellings panel finds them by owner; the area tree counts them.
    await page.get_by_role("link", name="Dwellings", exact=True).click()
    dwellings = page.get_by_role("region", name="Dwellings", exact=True)
    await dwellings.get_by_label("Owner (username)").fill(username)
    await dwellings.get_by_role("button", name="Search").click()
    await expect(dwellings).to_contain_text("20 dwellings")
    await assert_no_sideways_scroll(page)
    await snap(page, f"admin-dwellings-{screen}")
    await page.get_by_role("link", name="Areas").click()
    await page.reload()
    await expect(page.locator(f'[data-area="{village}"] > .tree-node')).to_contain_text("20 dwellings · 1 accounts")

    # The new landlord logs in with the password shown once, finds one of the twenty, edits its beds, prints its poster.
    landlord_page = await (await new_context("en", device=SCREENS[screen])).new_page()
    await log_in(landlord_page, username, password)
    await expect(landlord_page.locator("[data-summary='dwellings']")).to_have_text("20 dwellings")
    await landlord_page.get_by_label("Search name or address").fill("官林07")
    await expect(landlord_page.locator("tr.dwelling-row")).to_have_count(1)
    await landlord_page.get_by_role("link", name="官林07号房").click()
    selected = landlord_page.locator("#selected")
    await selected.get_by_role("button", name="Edit").click()
    await landlord_page.get_by_label("Beds").fill("6")
    await landlord_page.get_by_role("button", name="Save").click()
    await expect(selected).to_contain_text("Rental room · beds: 6")
    assert next(d["capacity"] for d in found["items"] if d["name"] == "官林07号房") != 6
    assert (await admin.get("/api/v1/admin/dwellings", params={"q": "官林07号房", "owner": username})).json()[
        "items"][0]["capacity"] == 6
    async with landlord_page.context.expect_page() as opened:
        await selected.get_by_role("link", name="Poster A6").click()
    poster = await opened.value
    await expect(poster.locator(".poster .name")).to_have_text("官林07号房")
    await expect(poster.locator(".poster svg")).to_be_visible()
    await assert_no_sideways_scroll(landlord_page)
    await snap(landlord_page, f"admin-made-landlord-edits-{screen}")
    await snap(poster, f"admin-made-landlord-poster-{screen}")


async def test_a_bad_file_is_answered_line_by_line_on_the_page(new_context, make_area, tmp_path):
    area = await make_area()
    context = await new_context("zh", device=PHONE)
    page = await context.new_page()
    await log_in(page, ADMIN_USERNAME, ADMIN_PASSWORD, start="/admin")
    await page.get_by_role("link", name="导入住所").click()
    importing = page.get_by_role("region", name="导入住所")
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text("name,address,area_code,kind,capacity,latitude,longitude,owner\n"
                        f"甲,1 号,{area},rental_room,two,,,nobody-here\n", encoding="utf-8")
    await importing.get_by_label("CSV 文件").set_input_files(csv_file)
    await importing.get_by_role("button", name="检查文件").click()
    alert = importing.get_by_role("alert")
    await expect(alert).to_contain_text("未创建任何记录")
    await expect(alert).to_contain_text(re.compile(r"第 2 行 · capacity: 床位数必须是"))
    await expect(importing.get_by_role("button", name=re.compile("导入"))).to_have_count(0)
    await snap(page, "admin-import-errors-phone-zh")


async def test_a_landlord_imports_their_own_dwellings_from_their_phone(new_context, make_staff, make_area, tmp_path):
    area = await make_area()
    landlord = await make_staff("landlord")
    username = landlord.account["username"]
    context = await new_context("zh", device=PHONE)
    page = await context.new_page()
    await log_in(page, username, f"{username}-password", start="/landlord/import")
    importing = page.get_by_role("region", name="导入住所")
    csv_file = tmp_path / "mine.csv"
    csv_file.write_bytes(("name,address,area_code,kind,capacity,latitude,longitude,owner\r\n"
                          f"东厢房,官林村 3 号,{area},homestay,3,,,\r\n"
                          f"西厢房,官林村 3 号,{area},homestay,2,,,{username}\r\n").encode("gb18030"))
    await importing.get_by_label("CSV 文件").set_input_files(csv_file)
    await importing.get_by_role("button", name="检查文件").click()
    await expect(importing.get_by_role("status")).to_contain_text("2 行全部正确")
    await importing.get_by_role("button", name="导入 2 处住所").click()
    await expect(importing.get_by_role("status")).to_contain_text("已创建 2 处住所")
    await assert_no_sideways_scroll(page)
    await snap(page, "landlord-import-phone-zh")
    assert {d["name"] for d in (await landlord.get("/api/v1/dwellings")).json()} == {"东厢房", "西厢房"}


async def test_an_admin_rotates_the_signing_key_after_a_confirmation_and_verifies_the_audit_chain(new_context, admin):
    before = {k["kid"] for k in (await admin.get("/api/v1/keys")).json()}
    context = await new_context("en", device=LAPTOP)
    page = await context.new_page()
    await log_in(page, ADMIN_USERNAME, ADMIN_PASSWORD, start="/admin")
    await page.get_by_role("link", name="Signing keys").click()
    keys = page.get_by_role("region", name="Signing keys")
    await keys.get_by_role("button", name="Rotate signing key").click()
    await expect(keys.get_by_role("status")).to_contain_text("is active")
    assert "certificates already issued keep verifying" in context.dialogs[-1]
    after = {k["kid"] for k in (await admin.get("/api/v1/keys")).json()}
    assert len(after - before) == 1
    await expect(keys.get_by_role("row").filter(has_text="retired").first).to_be_visible()
    await snap(page, "admin-keys-laptop")

    await page.get_by_role("link", name="Audit log").click()
    audit = page.get_by_role("region", name="Audit log")
    await audit.get_by_label("Action").fill("keys.")
    await audit.get_by_role("button", name="Filter").click()
    await expect(audit.get_by_role("row").filter(has_text="keys.rotate").first).to_be_visible()
    await audit.get_by_role("button", name="Verify the chain").click()
    await expect(audit.get_by_role("status")).to_contain_text("The chain is intact")
    await assert_no_sideways_scroll(page)
    await snap(page, "admin-audit-laptop")


async def test_every_admin_action_of_the_api_is_on_its_page(new_context, admin, anonymous, service, db, make_area,
                                                           make_staff, make_dwelling):
    """Rename and move an area, create an account with the role the form shows, reset a password, disable and
    enable an account, find, transfer and deactivate a dwelling, enter registry persons, set capacity
    thresholds, filter the audit log by actor and time: each by its labels on /admin, where login lands."""
    county = await make_area(name=unique("Luqiao "))
    old_name, hamlet_name = unique("Old Guanlin "), unique("Hamlet ")
    village = await make_area(county, old_name)
    hamlet = await make_area(village, hamlet_name)
    # A tree made by hand, against its codes: the hamlet hung under the county. The page offers the move back.
    await db.execute("UPDATE areas SET parent_code = $2 WHERE code = $1", hamlet, county)
    seller, buyer = await make_staff("landlord", village), await make_staff("desk", village)
    long_name = unique("官林村中心路 8 号 官林客栈 Guanlin Inn family room ")
    dwelling = await make_dwelling(seller, village, name=long_name, capacity=3,
                                   address="浙江省台州市路桥区路桥街道官林村中心路 8 号 Guanlin Inn, Central Road 8")
    context = await new_context("en", device=LAPTOP)
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_label("Username").fill(ADMIN_USERNAME)
    await page.get_by_label("Password").fill(ADMIN_PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/admin$"))

    areas = page.get_by_role("region", name="Areas")
    await areas.get_by_role("button", name=f"Rename {old_name}").click()
    await areas.get_by_label(re.compile("^New name for")).fill(f"Guanlin {village}")
    await areas.get_by_role("button", name="Save").click()
    await expect(areas.get_by_role("status")).to_have_text(f"Renamed to Guanlin {village}.")
    await expect(page.locator(f'[data-area="{village}"] > .tree-node .area-name')).to_have_text(f"Guanlin {village}")
    await areas.get_by_role("button", name=f"Move {hamlet_name}").click()
    await areas.get_by_role("button", name="Move", exact=True).click()  # the one place its code allows, as offered
    await expect(areas.get_by_role("status")).to_contain_text("moved.")
    assert await db.fetchval("SELECT parent_code FROM areas WHERE code = $1", hamlet) == village
    await expect(page.locator(f'[data-area="{village}"] [data-area="{hamlet}"]')).to_have_count(1)

    await page.get_by_role("link", name="Accounts").click()
    accounts = page.get_by_role("region", name="Accounts")
    newcomer = unique("newcomer-")
    await accounts.get_by_label("Username").fill(newcomer)
    await accounts.get_by_role("button", name="Create account").click()  # the role as the form shows it
    await expect(accounts.locator(".secret")).to_be_visible()
    assert newcomer in {a["username"] for a in (await admin.get("/api/v1/accounts", params={"role": "landlord"})).json()}
    username = seller.account["username"]
    await accounts.get_by_label("Role", exact=True).last.select_option("landlord")
    await accounts.get_by_label("Area", exact=True).last.select_option(village)
    await accounts.get_by_role("button", name="Show").click()
    await expect(accounts.get_by_role("row").filter(has_text=username)).to_contain_text("active")
    await accounts.get_by_role("button", name=f"Reset password {username}").click()
    assert "sessions end at once" in context.dialogs[-1]
    await expect(accounts.get_by_role("status")).to_contain_text(f"New password for {username}")
    password = (await accounts.locator(".secret").inner_text()).strip()
    assert (await anonymous.post("/api/v1/auth/login", json={"username": username, "password": password})).status_code == 200
    await accounts.get_by_role("button", name=f"Disable {username}").click()
    await expect(accounts.get_by_role("status")).to_have_text(f"{username} is disabled.")
    await expect(accounts.get_by_role("row").filter(has_text=username)).to_contain_text("disabled")
    assert (await anonymous.post("/api/v1/auth/login", json={"username": username, "password": password})).status_code != 200
    await accounts.get_by_role("button", name=f"Enable {username}").click()
    await expect(accounts.get_by_role("status")).to_have_text(f"{username} is enabled again.")
    assert (await anonymous.post("/api/v1/auth/login", json={"username": username, "password": password})).status_code == 200
    await snap(page, "admin-every-action-accounts")

    await page.get_by_role("link", name="Dwellings", exact=True).click()
    dwellings = page.get_by_role("region", name="Dwellings", exact=True)
    await dwellings.get_by_label("Name, address or owner").fill("Central Road 8")
    await dwellings.get_by_label("Area").select_option(village)
    await dwellings.get_by_role("button", name="Search").click()
    await expect(dwellings).to_contain_text("1 dwellings")
    await assert_no_sideways_scroll(page)  # eight columns and the actions, long names and all, on a laptop
    await dwellings.get_by_role("button", name=f"Transfer {long_name}").click()
    await dwellings.get_by_label(re.compile("^New owner of")).fill(buyer.account["username"])
    await dwellings.get_by_role("button", name="Transfer", exact=True).click()
    await expect(dwellings.get_by_role("status")).to_contain_text(f"now belongs to {buyer.account['username']}")
    assert [d["name"] for d in (await buyer.get("/api/v1/dwellings")).json()] == [long_name]
    await dwellings.get_by_role("button", name=f"Deactivate {long_name}").click()
    assert "stops taking registrations" in context.dialogs[-1]
    await expect(dwellings.get_by_role("status")).to_have_text(f"{long_name} is deactivated.")
    await expect(dwellings.get_by_role("row").filter(has_text=long_name)).to_contain_text("deactivated")
    token = dwelling["registration_url"].rsplit("/", 1)[1]
    assert (await anonymous.get(f"/api/v1/public/dwellings/{token}")).status_code == 410
    await snap(page, "admin-every-action-dwellings")

    await page.get_by_role("link", name="Identity registry").click()
    registry = page.get_by_role("region", name="Identity registry")
    first, second = resident_id(), resident_id()
    await registry.get_by_label("CSV file").set_input_files(files=[{
        "name": "persons.csv", "mimeType": "text/csv",
        "buffer": f"full_name,document_number\n欧阳明辉,{first}\n司马青云,{second}\n".encode("gb18030")}])
    await registry.get_by_role("button", name="Check file").click()
    await expect(registry.get_by_role("status")).to_contain_text("All 2 lines are correct")
    await expect(registry.locator("tbody")).to_contain_text(first[:3] + "*" * 11 + first[-4:])
    await expect(registry.locator("tbody")).not_to_contain_text(first)
    await registry.get_by_role("button", name="Enter 2 persons").click()
    await expect(registry.get_by_role("status")).to_have_text("2 persons entered in the registry.")
    assert await db.fetchval("SELECT count(*) FROM registry_persons WHERE full_name IN ('欧阳明辉', '司马青云')") == 2

    await page.get_by_role("link", name="Capacity thresholds").click()
    thresholds = page.get_by_role("region", name="Capacity thresholds")
    await thresholds.get_by_label(f"Yellow from · Guanlin {village}").fill("0.6")
    await thresholds.get_by_label(f"Red from · Guanlin {village}").fill("0.9")
    await thresholds.get_by_role("button", name=f"Save Guanlin {village}").click()
    await expect(thresholds.get_by_role("status")).to_have_text(f"Thresholds of Guanlin {village} saved.")
    saved = {t["area_code"]: t for t in (await admin.get("/api/v1/statistics/thresholds")).json()}[village]
    assert (saved["yellow"], saved["red"]) == (0.6, 0.9)

    await page.get_by_role("link", name="Audit log").click()
    audit = page.get_by_role("region", name="Audit log")
    await audit.get_by_label("Actor (username)").fill(ADMIN_USERNAME)
    await audit.get_by_label("Action").fill("account.")
    await audit.get_by_role("button", name="Filter").click()
    for action in ("account.password_reset", "account.disable", "account.enable"):
        await expect(audit.get_by_role("row").filter(has_text=action).filter(has_text=username).first).to_be_visible()
    await audit.get_by_label("From", exact=True).fill("2999-01-01T00:00")
    await audit.get_by_role("button", name="Filter").click()
    await expect(audit).to_contain_text("No entries match.")
    await snap(page, "admin-every-action-audit")
