"""An administrator runs the village from /admin: areas, accounts, any owner's dwellings, the identity
registry, signing keys and the audit log, each through the API the page uses."""

from __future__ import annotations

import re

import httpx

from tests.support import StaffClient, resident_id, unique


async def test_the_admin_renames_an_area_and_sees_its_counts(admin, make_area, make_staff, make_dwelling):
    county = await make_area(name="county")
    village = await make_area(county, "old name")
    landlord = await make_staff("landlord", village)
    await make_dwelling(landlord, village)
    await make_dwelling(landlord, village)
    renamed = await admin.patch(f"/api/v1/areas/{village}", json={"name": "官林村"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json() == {"code": village, "name": "官林村", "parent_code": county}
    counts = {a["code"]: a for a in (await admin.get("/api/v1/areas/counts")).json()}
    assert (counts[village]["name"], counts[village]["dwellings"], counts[village]["accounts"],
            counts[village]["current_guests"]) == ("官林村", 2, 1, 0)
    assert counts[county]["dwellings"] == 0  # its own; the page sums the subtree


async def test_a_move_keeps_every_code_under_the_closest_area_its_code_extends(admin, db, make_area):
    county = await make_area(name="county")
    village = await make_area(county, "village")
    hamlet = await make_area(village, "hamlet")
    other = await make_area(county, "other village")
    # Under an area whose code is not the beginning of its own: refused, naming the rule.
    sideways = await admin.patch(f"/api/v1/areas/{hamlet}", json={"parent_code": other})
    assert sideways.status_code == 400
    assert sideways.json()["errors"][0]["code"] == "parent_must_prefix"
    # Under the county, skipping the village its code also extends: refused, naming the village.
    skipping = await admin.patch(f"/api/v1/areas/{hamlet}", json={"parent_code": county})
    assert skipping.status_code == 400 and village in skipping.json()["errors"][0]["message"]
    # A tree made by hand (the hamlet hung under the county) is put right by a move.
    await db.execute("UPDATE areas SET parent_code = $2 WHERE code = $1", hamlet, county)
    repaired = await admin.patch(f"/api/v1/areas/{hamlet}", json={"parent_code": village})
    assert repaired.status_code == 200, repaired.text
    assert await db.fetchval("SELECT parent_code FROM areas WHERE code = $1", hamlet) == village
    assert (await admin.patch("/api/v1/areas/999999999", json={"name": "x"})).status_code == 404


async def test_accounts_are_listed_by_role_and_area_with_their_last_login(admin, service, make_area):
    area = await make_area()
    username = unique("analyst")
    created = await admin.post("/api/v1/accounts", json={"username": username, "password": "analyst-password",
                                                         "role": "analyst", "area_code": area})
    assert created.status_code == 201, created.text
    listed = (await admin.get("/api/v1/accounts", params={"role": "analyst", "area": area})).json()
    assert [(a["username"], a["last_login_at"]) for a in listed] == [(username, None)]
    analyst = await StaffClient.log_in(service.base_url, username, "analyst-password")
    await analyst.aclose()
    listed = (await admin.get("/api/v1/accounts", params={"role": "analyst", "area": area})).json()
    assert listed[0]["last_login_at"] is not None and listed[0]["disabled"] is False
    assert (await admin.get("/api/v1/accounts", params={"role": "landlord", "area": area})).json() == []


async def test_a_password_reset_ends_every_session_and_the_new_password_works(admin, service, make_staff, db):
    landlord = await make_staff("landlord")
    username = landlord.account["username"]
    second = await StaffClient.log_in(service.base_url, username, f"{username}-password")
    reset = await admin.post(f"/api/v1/accounts/{landlord.account['id']}/password-reset")
    assert reset.status_code == 200 and reset.headers["cache-control"] == "no-store"
    password = reset.json()["password"]
    assert len(password) >= 16
    for session in (landlord, second):
        assert (await session.get("/api/v1/auth/me")).status_code == 401
    await second.aclose()
    async with httpx.AsyncClient(base_url=service.base_url) as client:
        old = await client.post("/api/v1/auth/login", json={"username": username, "password": f"{username}-password"})
        new = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert (old.status_code, new.status_code) == (401, 200)
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'account.password_reset' "
                             "AND details->>'account' = $1", username) == 1
    assert (await admin.post("/api/v1/accounts/999999999/password-reset")).status_code == 404


async def test_the_admin_finds_transfers_and_deactivates_any_owners_dwelling(admin, anonymous, make_staff, make_area,
                                                                          make_dwelling):
    area = await make_area()
    seller, buyer = await make_staff("landlord"), await make_staff("desk")
    name = unique("湖景房 ")
    dwelling = await make_dwelling(seller, area, name=name, address="官林村 8 号")
    found = (await admin.get("/api/v1/admin/dwellings", params={"q": "官林村 8", "area": area})).json()
    assert found["total"] == 1 and found["items"][0]["owner"] == seller.account["username"]
    assert "registration_url" not in found["items"][0] and "qr_token" not in found["items"][0]
    by_owner = (await admin.get("/api/v1/admin/dwellings", params={"owner": seller.account["username"]})).json()
    assert [d["name"] for d in by_owner["items"]] == [name]

    moved = await admin.post(f"/api/v1/admin/dwellings/{dwelling['id']}/transfer",
                             json={"owner": buyer.account["username"]})
    assert moved.status_code == 200, moved.text
    assert [d["name"] for d in (await buyer.get("/api/v1/dwellings")).json()] == [name]
    assert (await seller.get("/api/v1/dwellings")).json() == []
    nobody = await admin.post(f"/api/v1/admin/dwellings/{dwelling['id']}/transfer", json={"owner": "no-such-owner"})
    assert nobody.status_code == 400

    token = dwelling["registration_url"].rsplit("/", 1)[1]
    assert (await anonymous.get(f"/api/v1/public/dwellings/{token}")).status_code == 200  # the poster stays valid
    off = await admin.patch(f"/api/v1/admin/dwellings/{dwelling['id']}", json={"active": False})
    assert off.status_code == 200 and off.json()["active"] is False
    assert (await anonymous.get(f"/api/v1/public/dwellings/{token}")).status_code == 410


async def test_the_registry_import_previews_masked_and_refuses_a_file_with_a_bad_line(admin, db):
    good, other = resident_id(), resident_id()
    body = f"full_name,document_number\n钱五,{good}\n孙六,{other}\n"
    preview = await admin.post("/api/v1/registry/import", params={"dry_run": "true"}, content=body.encode("gb18030"),
                               headers={"Content-Type": "text/csv"})
    assert preview.status_code == 200, preview.text
    assert [(p["line"], p["full_name"], p["document_masked"]) for p in preview.json()["preview"]] == [
        (2, "钱五", good[:3] + "*" * 11 + good[-4:]), (3, "孙六", other[:3] + "*" * 11 + other[-4:])]
    assert good not in preview.text
    bad = body + "Bad Number,110105199003071230\n"
    refused = await admin.post("/api/v1/registry/import", files={"file": ("persons.csv", bad.encode(), "text/csv")})
    assert refused.status_code == 422
    assert [(e["line"], e["code"]) for e in refused.json()["errors"]] == [(4, "id_check_digit")]
    assert "110105199003071230" not in refused.text
    assert await db.fetchval("SELECT count(*) FROM registry_persons WHERE full_name = '钱五'") == 0
    done = await admin.post("/api/v1/registry/import", files={"file": ("persons.csv", body.encode(), "text/csv")})
    assert done.status_code == 201 and done.json()["imported"] == 2
    assert await db.fetchval("SELECT count(*) FROM registry_persons WHERE full_name IN ('钱五', '孙六')") == 2


async def test_a_key_rotation_keeps_the_old_key_listed_with_its_publication(admin, anonymous):
    before = (await admin.get("/api/v1/keys")).json()
    active = [k for k in before if k["active"]]
    assert len(active) == 1
    rotated = await admin.post("/api/v1/keys/rotate")
    assert rotated.status_code == 200, rotated.text
    after = {k["kid"]: k for k in rotated.json()}
    assert after[active[0]["kid"]]["active"] is False and after[active[0]["kid"]]["retired_at"] is not None
    new_active = [k for k in after.values() if k["active"]]
    assert len(new_active) == 1 and new_active[0]["kid"] != active[0]["kid"]
    published = {k["kid"] for k in (await anonymous.get("/.well-known/jwks.json")).json()["keys"]}
    assert new_active[0]["kid"] in published


async def test_the_audit_log_filters_by_actor_action_and_time_and_its_chain_verifies(admin, make_staff):
    landlord = await make_staff("landlord")
    await admin.post(f"/api/v1/accounts/{landlord.account['id']}/password-reset")
    mine = (await admin.get("/api/v1/audit", params={"actor": admin.login["username"], "action": "account."})).json()
    assert mine and all(e["action"].startswith("account.") for e in mine)  # the prefix filter
    assert mine[0]["action"] == "account.password_reset" and mine[0]["actor"] == admin.login["username"]
    assert mine[0]["details"]["account"] == landlord.account["username"]
    newest = mine[0]["at"]
    assert (await admin.get("/api/v1/audit", params={"action": "account.", "from": newest})).json()[0]["id"] == mine[0]["id"]
    assert (await admin.get("/api/v1/audit", params={"action": "account.", "to": newest})).json() == [
        e for e in mine if e["at"] < newest][:100]
    check = (await admin.get("/api/v1/audit/verify")).json()
    assert check["intact"] is True and check["broken_at"] is None and check["entries_checked"] >= 1


async def test_admin_page_sends_everyone_else_to_log_in(anonymous, make_staff, service):
    assert (await anonymous.get("/admin")).headers["location"] == "/login?next=%2Fadmin"
    assert (await anonymous.get("/landlord/import")).headers["location"] == "/login?next=%2Flandlord%2Fimport"
    landlord = await make_staff("landlord")
    answer = await landlord.get("/admin")
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=%2Fadmin"
    async with httpx.AsyncClient(base_url=service.base_url) as browser_like:
        await browser_like.post("/api/v1/auth/login", json={"username": "root-admin", "password": "root-admin-password"})
        page = await browser_like.get("/admin")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]


async def test_lax_json_types_in_the_admins_bodies_are_refused_and_change_nothing(admin, db, make_area, make_staff,
                                                                                make_dwelling):
    """`{"active": "no"}` deactivated a dwelling and `{"yellow": true}` set a threshold of 1.0: every body is
    taken as typed, as the others are."""
    area = await make_area()
    dwelling = await make_dwelling(await make_staff("landlord"), area)
    for active in ("no", 0, "false", None):
        refused = await admin.patch(f"/api/v1/admin/dwellings/{dwelling['id']}", json={"active": active})
        assert refused.status_code == 400 and refused.headers["content-type"].startswith("application/problem+json"), active
    assert await db.fetchval("SELECT active FROM dwellings WHERE id = $1", dwelling["id"]) is True
    for thresholds in ({"yellow": True, "red": True}, {"yellow": "0.5", "red": "0.9"}):
        refused = await admin.put(f"/api/v1/statistics/thresholds/{area}", json=thresholds)
        assert refused.status_code == 400, thresholds
    assert await db.fetchval("SELECT count(*) FROM stats_thresholds WHERE area_code = $1", area) == 0
    assert (await admin.put(f"/api/v1/statistics/thresholds/{area}", json={"yellow": 0.5, "red": 1})).status_code == 200
    assert (await admin.post(f"/api/v1/admin/dwellings/{dwelling['id']}/transfer", json={"owner": 5})).status_code == 400


def test_the_start_up_lines_give_each_page_as_an_address_of_its_own(service):
    for path in ("/admin", "/landlord", "/landlord/import", "/privacy"):
        assert re.search(rf"^  {re.escape(service.base_url)}{re.escape(path)} +\S", service.log(), re.MULTILINE), path
