"""Staff log in and out; accounts and jurisdictions are the admin's; every role stays in its lane."""

from __future__ import annotations

import httpx

from tests.support import StaffClient, unique


async def test_login_answers_a_token_and_sets_an_httponly_session_cookie(service, make_staff):
    landlord = await make_staff("landlord")
    async with httpx.AsyncClient(base_url=service.base_url) as browser:
        response = await browser.post("/api/v1/auth/login", json={
            "username": landlord.account["username"], "password": f"{landlord.account['username']}-password"})
        assert response.status_code == 200
        body = response.json()
        assert body["role"] == "landlord" and len(body["token"]) >= 40
        cookie = response.headers["set-cookie"].lower()
        assert "vh_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        assert response.headers["cache-control"] == "no-store"
        # the cookie alone authenticates a browser
        assert (await browser.get("/api/v1/auth/me")).json()["username"] == landlord.account["username"]


async def test_wrong_password_is_refused_in_the_callers_language(anonymous, make_staff):
    landlord = await make_staff("landlord")
    response = await anonymous.post("/api/v1/auth/login", json={"username": landlord.account["username"], "password": "nope"},
                                    headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["title"] == "用户名或密码错误。"
    unknown = await anonymous.post("/api/v1/auth/login", json={"username": "nobody-here", "password": "x"})
    assert unknown.status_code == 401 and unknown.json()["title"] == "Wrong username or password."


async def test_repeated_failed_logins_are_slowed_down(anonymous, make_staff):
    landlord = await make_staff("landlord")
    username = landlord.account["username"]
    statuses = [
        (await anonymous.post("/api/v1/auth/login", json={"username": username, "password": "wrong"})).status_code
        for _ in range(6)
    ]
    assert statuses == [401] * 5 + [429]
    # even the right password waits until the window has passed
    blocked = await anonymous.post("/api/v1/auth/login", json={"username": username, "password": f"{username}-password"})
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0


async def test_logout_ends_the_session(service, make_staff):
    landlord = await make_staff("landlord")
    fresh = await StaffClient.log_in(service.base_url, landlord.account["username"], f"{landlord.account['username']}-password")
    assert (await fresh.get("/api/v1/auth/me")).status_code == 200
    assert (await fresh.post("/api/v1/auth/logout")).status_code == 204
    assert (await fresh.get("/api/v1/auth/me")).status_code == 401
    await fresh.aclose()


async def test_sessions_expire(db, service, make_staff):
    landlord = await make_staff("landlord")
    await db.execute("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE account_id = $1",
                     landlord.account["id"])
    assert (await landlord.get("/api/v1/auth/me")).status_code == 401


async def test_cookie_authenticated_writes_need_the_csrf_token(service, make_staff, make_area):
    landlord = await make_staff("landlord")
    area = await make_area()
    username = landlord.account["username"]
    async with httpx.AsyncClient(base_url=service.base_url) as browser:
        await browser.post("/api/v1/auth/login", json={"username": username, "password": f"{username}-password"})
        body = {"name": "Room", "address": "Lane 1", "area_code": area, "kind": "homestay", "capacity": 2}
        forged = await browser.post("/api/v1/dwellings", json=body)
        assert forged.status_code == 403
        await browser.get("/api/v1/auth/me")  # a page load hands the browser its CSRF cookie
        token = browser.cookies["csrftoken"]
        assert (await browser.post("/api/v1/dwellings", json=body, headers={"X-CSRFToken": token})).status_code == 201


async def test_only_admins_create_accounts_and_areas(make_staff, make_area, anonymous):
    area = await make_area()
    for role in ("landlord", "desk", "police"):
        client = await make_staff(role, area_code=area if role == "police" else None)
        account = await client.post("/api/v1/accounts", json={"username": unique("x"), "password": "long-enough-pw", "role": "admin"})
        assert account.status_code == 403
        assert (await client.post("/api/v1/areas", json={"code": "999999", "name": "x"})).status_code == 403
    assert (await anonymous.post("/api/v1/accounts", json={})).status_code == 401


async def test_account_rules(admin, make_area):
    area = await make_area()
    police_without_area = await admin.post("/api/v1/accounts", json={"username": unique("p"), "password": "long-enough-pw", "role": "police"})
    assert police_without_area.status_code == 400
    assert police_without_area.json()["errors"][0]["field"] == "area_code"
    name = unique("dup")
    first = await admin.post("/api/v1/accounts", json={"username": name, "password": "long-enough-pw", "role": "police", "area_code": area})
    assert first.status_code == 201 and "password" not in first.text
    again = await admin.post("/api/v1/accounts", json={"username": name, "password": "long-enough-pw", "role": "landlord"})
    assert again.status_code == 409
    short = await admin.post("/api/v1/accounts", json={"username": unique("s"), "password": "short", "role": "landlord"})
    assert short.status_code == 400 and short.json()["errors"][0]["field"] == "password"


async def test_passwords_are_stored_as_argon2id_hashes(db, make_staff):
    landlord = await make_staff("landlord")
    stored = await db.fetchval("SELECT password_hash FROM accounts WHERE id = $1", landlord.account["id"])
    assert stored.startswith("$argon2id$") and landlord.account["username"] not in stored


async def test_area_tree_and_police_jurisdiction(admin, make_area, make_staff):
    county = await make_area()
    village = await make_area(parent=county)
    other = await make_area()
    bad_child = await admin.post("/api/v1/areas", json={"code": other + "01", "name": "x", "parent_code": county})
    assert bad_child.status_code == 400 and bad_child.json()["errors"][0]["field"] == "code"
    unknown_parent = await admin.post("/api/v1/areas", json={"code": "88888801", "name": "x", "parent_code": "888888"})
    assert unknown_parent.status_code == 400 and unknown_parent.json()["errors"][0]["field"] == "parent_code"
    not_a_division = await admin.post("/api/v1/areas", json={"code": "12ab", "name": "x"})
    assert not_a_division.status_code == 400

    police = await make_staff("police", area_code=county)
    seen = {a["code"] for a in (await police.get("/api/v1/areas")).json()}
    assert seen == {county, village}
