"""Staff log in and out; accounts and jurisdictions are the admin's; every role stays in its lane."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support import ADMIN_PASSWORD, ADMIN_USERNAME, ServiceProcess, StaffClient, unique


@pytest.fixture(scope="module")
async def proxied_service(create_database, tmp_path_factory):
    """A service behind a trusted proxy at 127.0.0.1, so tests can log in "from" many addresses,
    allowing 8 failed logins a minute per address."""
    process = ServiceProcess(dsn=await create_database(), data_dir=tmp_path_factory.mktemp("proxied"))
    process.extra_env = {"VH_TRUSTED_PROXIES": '["127.0.0.1"]', "VH_RATE_LIMIT_LOGIN_PER_MINUTE": "8"}
    process.start()
    yield process
    process.stop()


async def _account_on(service: ServiceProcess, role: str = "landlord") -> tuple[str, str, dict]:
    """A new account on ``service``: its username, password and the admin's headers there."""
    async with httpx.AsyncClient(base_url=service.base_url) as client:
        login = await client.post("/api/v1/auth/login", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD},
                                  headers={"X-Forwarded-For": "198.18.0.1"})
        admin = {"Authorization": f"Bearer {login.json()['token']}", "X-Forwarded-For": "198.18.0.1"}
        username = unique(role)
        created = await client.post("/api/v1/accounts", headers=admin,
                                    json={"username": username, "password": f"{username}-password", "role": role})
        assert created.status_code == 201
        return username, f"{username}-password", admin


async def _login(client: httpx.AsyncClient, username: str, password: str, address: str, lang: str = "en") -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"username": username, "password": password},
                             headers={"X-Forwarded-For": address, "Accept-Language": lang})


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


async def test_repeated_failed_logins_lock_out_only_the_address_that_failed(proxied_service):
    username, password, admin = await _account_on(proxied_service)
    async with httpx.AsyncClient(base_url=proxied_service.base_url) as client:
        statuses = [(await _login(client, username, "wrong", "203.0.113.66")).status_code for _ in range(6)]
        assert statuses == [401] * 5 + [429]
        # from that address even the right password waits, and the message says how long in words
        blocked = await _login(client, username, password, "203.0.113.66", lang="zh-CN")
        assert blocked.status_code == 429 and blocked.headers["retry-after"] == "900"
        assert "15 分钟" in blocked.json()["title"] and "900" not in blocked.json()["title"]
        english = await _login(client, username, password, "203.0.113.66")
        assert "15 minutes" in english.json()["title"]
        # the owner, at another address, is let in: strangers' failures never refuse the right password
        owner = await _login(client, username, password, "198.51.100.20")
        assert owner.status_code == 200
        # and is told: five failed attempts since the previous login (there was none)
        me = (await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {owner.json()['token']}"})).json()
        assert me["failed_logins_since_previous_login"] == 5 and me["previous_login_at"] is None
        # the admins see the account under attack in the audit log
        audit = (await client.get("/api/v1/audit", headers=admin)).json()
        attack = next(e for e in audit if e["action"] == "login.failures" and e["details"]["username"] == username)
        assert attack["actor"] == "anonymous" and attack["details"]["failures"] == 5


async def test_many_addresses_failing_on_one_account_never_refuse_its_owner(proxied_service):
    username, password, _ = await _account_on(proxied_service)
    async with httpx.AsyncClient(base_url=proxied_service.base_url) as client:
        for n in range(1, 13):  # a botnet: a few guesses from each of twelve addresses
            assert (await _login(client, username, f"guess-{n}", f"203.0.114.{n}")).status_code == 401
        assert (await _login(client, username, password, "198.51.100.21")).status_code == 200


async def test_strangers_behind_the_owners_address_do_not_lock_out_the_owners_own_browser(proxied_service):
    """A police station behind one address: a stranger there failing on the owner's username waits, the
    browser the owner logged in from before (its device cookie) does not; a desk computer shared by two
    accounts is known to both."""
    username, password, _ = await _account_on(proxied_service)
    colleague, colleague_password, _ = await _account_on(proxied_service)
    station = "192.0.2.150"
    async with (httpx.AsyncClient(base_url=proxied_service.base_url) as owner,
                httpx.AsyncClient(base_url=proxied_service.base_url) as stranger):
        assert (await _login(owner, username, password, station)).status_code == 200
        device = owner.cookies["vh_device"]
        assert (await _login(owner, colleague, colleague_password, station)).status_code == 200
        assert owner.cookies["vh_device"] == device
        statuses = [(await _login(stranger, username, "wrong", station)).status_code for _ in range(6)]
        assert statuses == [401] * 5 + [429]
        assert (await _login(stranger, username, password, station)).status_code == 429
        assert (await _login(owner, username, password, station)).status_code == 200
        # without its device cookie, the owner's browser is any browser at that address
        owner.cookies.delete("vh_device")
        assert (await _login(owner, username, password, station)).status_code == 429


async def test_a_burst_of_concurrent_guesses_gets_no_more_passwords_checked_than_the_limit(proxied_service):
    """Forty guesses at once from one address: five reach the password check, the rest wait (429);
    counted after their passwords were checked, such a burst had nine to eleven checked."""
    username, password, _ = await _account_on(proxied_service)
    async with httpx.AsyncClient(base_url=proxied_service.base_url, timeout=60) as client:
        burst = await asyncio.gather(*(_login(client, username, f"guess-{n}", "203.0.113.77") for n in range(40)))
        statuses = sorted(r.status_code for r in burst)
        assert statuses.count(401) <= 5 and set(statuses) <= {401, 429}, statuses
        assert (await _login(client, username, password, "198.51.100.22")).status_code == 200


async def test_a_shared_address_is_slowed_down_by_failures_but_not_by_successful_logins(proxied_service):
    colleagues = [await _account_on(proxied_service) for _ in range(3)]
    station = "192.0.2.200"
    async with httpx.AsyncClient(base_url=proxied_service.base_url) as client:
        # a police station's shift logging in behind one address: far more than 8 logins a minute
        for _ in range(4):
            for username, password, _ in colleagues:
                assert (await _login(client, username, password, station)).status_code == 200
        # eight failed logins a minute (by anyone there) slow the address down for less than a minute, for a
        # browser not known there; the shift's own browsers (their device cookie) go on logging in
        async with httpx.AsyncClient(base_url=proxied_service.base_url) as newcomer:
            for n in range(8):
                assert (await _login(newcomer, f"nobody-{n}", "wrong", station)).status_code == 401
            slowed = await _login(newcomer, colleagues[0][0], colleagues[0][1], station)
            assert slowed.status_code == 429 and 0 < int(slowed.headers["retry-after"]) <= 60
            assert (await _login(newcomer, colleagues[0][0], colleagues[0][1], "192.0.2.201")).status_code == 200
        assert (await _login(client, colleagues[0][0], colleagues[0][1], station)).status_code == 200


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


@contextlib.asynccontextmanager
async def _browser_session(base_url: str, username: str, password: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser: the session cookie, and the CSRF cookie a page load hands out."""
    async with httpx.AsyncClient(base_url=base_url) as browser:
        assert (await browser.post("/api/v1/auth/login", json={"username": username, "password": password})).status_code == 200
        await browser.get("/api/v1/auth/me")
        yield browser


async def test_csrf_is_not_skipped_for_a_cookie_session_carrying_another_authorization_header(service, make_staff, make_area):
    landlord = await make_staff("landlord")
    area = await make_area()
    username = landlord.account["username"]
    body = {"name": "Room", "address": "Lane 1", "area_code": area, "kind": "homestay", "capacity": 2}
    async with _browser_session(service.base_url, username, f"{username}-password") as browser:
        for authorization in ("Basic Zm9vOmJhcg==", "Bearer", "Bearer not-a-session-token"):
            forged = await browser.post("/api/v1/dwellings", json=body, headers={"Authorization": authorization})
            assert forged.status_code in (401, 403), authorization
        assert (await browser.post("/api/v1/dwellings", json=body)).status_code == 403
        # a valid bearer token is not something another site can make the browser send
        bearer = {"Authorization": f"Bearer {landlord.login['token']}"}
        assert (await browser.post("/api/v1/dwellings", json=body, headers=bearer)).status_code == 201


async def test_a_csrf_token_issued_to_one_session_fails_with_another(service, make_staff, make_area):
    landlord = await make_staff("landlord")
    area = await make_area()
    username, password = landlord.account["username"], f"{landlord.account['username']}-password"
    body = {"name": "Room", "address": "Lane 1", "area_code": area, "kind": "homestay", "capacity": 2}
    async with _browser_session(service.base_url, username, password) as first, \
            _browser_session(service.base_url, username, password) as second:
        foreign = first.cookies["csrftoken"]
        second_session = second.cookies["vh_session"]
        async with httpx.AsyncClient(base_url=service.base_url) as raw:
            crossed = {"Cookie": f"vh_session={second_session}; csrftoken={foreign}", "X-CSRFToken": foreign}
            assert (await raw.post("/api/v1/dwellings", json=body, headers=crossed)).status_code == 403
            # a page load replaces the other session's token with one of this session's own
            reloaded = await raw.get("/api/v1/auth/me", headers={"Cookie": f"vh_session={second_session}; csrftoken={foreign}"})
            own = reloaded.cookies["csrftoken"]
        assert own != foreign
        assert (await second.post("/api/v1/dwellings", json=body, headers={"X-CSRFToken": second.cookies["csrftoken"]})).status_code == 201
        assert (await first.post("/api/v1/dwellings", json=body, headers={"X-CSRFToken": foreign})).status_code == 201


async def test_a_planted_second_session_cookie_does_not_lend_its_csrf_token_to_the_victims_session(
        service, make_staff, make_area):
    """Cookie tossing: a cookie set for the site by a sibling host (or a more specific path) comes first in the
    Cookie header. The CSRF token is checked against the session that authenticates the request, not against
    whichever session cookie comes first."""
    victim, attacker = await make_staff("landlord"), await make_staff("landlord")
    area = await make_area()
    body = {"name": "Planted", "address": "Lane 1", "area_code": area, "kind": "homestay", "capacity": 2}
    logins = [(staff.account["username"], f"{staff.account['username']}-password") for staff in (victim, attacker)]
    async with _browser_session(service.base_url, *logins[0]) as victims_browser, \
            _browser_session(service.base_url, *logins[1]) as attackers_browser:
        planted_session, planted_token = attackers_browser.cookies["vh_session"], attackers_browser.cookies["csrftoken"]
        cookie = f"vh_session={planted_session}; csrftoken={planted_token}; vh_session={victims_browser.cookies['vh_session']}"
        async with httpx.AsyncClient(base_url=service.base_url) as raw:
            acting_as = (await raw.get("/api/v1/auth/me", headers={"Cookie": cookie})).json()["username"]
            forged = await raw.post("/api/v1/dwellings", json=body, headers={"Cookie": cookie, "X-CSRFToken": planted_token})
        assert forged.status_code == 403, (acting_as, forged.json())
        assert not [d for d in (await victim.get("/api/v1/dwellings")).json() if d["name"] == "Planted"]


def test_csrf_exemptions_match_only_at_the_start_of_the_path():
    from service.web import SessionCSRFMiddleware, csrf_config

    exclude = SessionCSRFMiddleware(app=None, config=csrf_config("s" * 64, secure=False)).exclude
    assert exclude.search("/api/v1/auth/login") and exclude.search("/api/v1/public/dwellings/abc/stays")
    for path in ("/api/v1/dwellings/api/v1/public/x", "/api/v1/accounts/api/v1/auth/login", "/api/v1/auth/login/x"):
        assert not exclude.search(path), path


async def test_changing_ones_password_ends_every_other_session(db, service, make_staff):
    landlord = await make_staff("landlord")
    username, password = landlord.account["username"], f"{landlord.account['username']}-password"
    other = await StaffClient.log_in(service.base_url, username, password)
    wrong = await landlord.post("/api/v1/auth/password", json={"current_password": "nope", "new_password": "a-new-long-password"})
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["field"] == "current_password"
    short = await landlord.post("/api/v1/auth/password", json={"current_password": password, "new_password": "short"})
    assert short.status_code == 400 and short.json()["errors"][0]["field"] == "new_password"
    changed = await landlord.post("/api/v1/auth/password", json={"current_password": password, "new_password": "a-new-long-password"})
    assert changed.status_code == 200 and changed.json() == {"sessions_ended": 1}
    assert (await other.get("/api/v1/auth/me")).status_code == 401
    assert (await landlord.get("/api/v1/auth/me")).status_code == 200
    async with httpx.AsyncClient(base_url=service.base_url) as client:
        assert (await client.post("/api/v1/auth/login", json={"username": username, "password": password})).status_code == 401
        assert (await client.post("/api/v1/auth/login", json={"username": username, "password": "a-new-long-password"})).status_code == 200
    audited = await db.fetchrow("SELECT * FROM audit_log WHERE action = 'password.change' AND actor_id = $1", landlord.account["id"])
    assert json.loads(audited["details"])["sessions_ended"] == 1 and "a-new-long-password" not in audited["details"]
    await other.aclose()


async def test_ending_my_other_sessions_keeps_this_one(service, make_staff):
    desk = await make_staff("desk")
    username = desk.account["username"]
    laptop = await StaffClient.log_in(service.base_url, username, f"{username}-password")
    phone = await StaffClient.log_in(service.base_url, username, f"{username}-password")
    ended = await laptop.post("/api/v1/auth/sessions/revoke")
    assert ended.status_code == 200 and ended.json() == {"sessions_ended": 2}
    assert (await phone.get("/api/v1/auth/me")).status_code == 401
    assert (await desk.get("/api/v1/auth/me")).status_code == 401
    assert (await laptop.get("/api/v1/auth/me")).status_code == 200
    await laptop.aclose()
    await phone.aclose()


async def test_a_disabled_account_cannot_log_in_and_its_tokens_stop_at_once(db, service, admin, make_staff):
    landlord = await make_staff("landlord")
    username, account_id = landlord.account["username"], landlord.account["id"]
    assert (await admin.post(f"/api/v1/accounts/{account_id}/disable")).status_code == 204
    assert (await landlord.get("/api/v1/auth/me")).status_code == 401
    async with httpx.AsyncClient(base_url=service.base_url) as client:
        refused = await client.post("/api/v1/auth/login", json={"username": username, "password": f"{username}-password"})
        assert refused.status_code == 401 and refused.json()["code"] == "login_failed"
        assert (await admin.post(f"/api/v1/accounts/{account_id}/enable")).status_code == 204
        assert (await client.post("/api/v1/auth/login", json={"username": username, "password": f"{username}-password"})).status_code == 200
    own_id = (await admin.get("/api/v1/auth/me")).json()["id"]
    assert (await admin.post(f"/api/v1/accounts/{own_id}/disable")).status_code == 400
    assert (await admin.post("/api/v1/accounts/999999999/disable")).status_code == 404
    actions = [r["action"] for r in await db.fetch(
        "SELECT action FROM audit_log WHERE details->>'account_id' = $1 ORDER BY id", str(account_id))]
    assert actions[:1] == ["account.create"] and actions[-2:] == ["account.disable", "account.enable"]


async def test_a_disabled_accounts_open_live_stream_ends_at_its_next_heartbeat(service, admin, make_staff, make_area):
    """Disabling ends every session, and the police view an officer left open on a wall screen with it: the
    stream checks its session at each heartbeat instead of delivering alerts to a disabled account for hours."""
    officer = await make_staff("police", area_code=await make_area())
    async with httpx.AsyncClient(base_url=service.base_url, timeout=60) as screen:
        async with screen.stream("GET", "/api/v1/police/stream",
                                 headers={"Authorization": f"Bearer {officer.login['token']}"}) as stream:
            assert stream.status_code == 200
            lines = stream.aiter_lines()
            assert (await anext(lines)).startswith(("event:", "id:", "data:"))
            assert (await admin.post(f"/api/v1/accounts/{officer.account['id']}/disable")).status_code == 204
            async with asyncio.timeout(60):  # a bound for a busy machine, not a measurement
                async for _ in lines:
                    pass  # the events up to the heartbeat, then the end of the stream


async def test_logging_in_and_out_is_audited_with_last_login_time(db, service, make_staff):
    landlord = await make_staff("landlord")
    username, account_id = landlord.account["username"], landlord.account["id"]
    assert await db.fetchval("SELECT last_login_at FROM accounts WHERE id = $1", account_id) is not None
    again = await StaffClient.log_in(service.base_url, username, f"{username}-password")
    me = (await again.get("/api/v1/auth/me")).json()
    assert me["previous_login_at"] is not None and me["failed_logins_since_previous_login"] == 0
    assert (await again.post("/api/v1/auth/logout")).status_code == 204
    actions = [r["action"] for r in await db.fetch("SELECT action FROM audit_log WHERE actor_id = $1 ORDER BY id", account_id)]
    assert actions == ["login", "login", "logout"]
    await again.aclose()


async def test_police_and_analyst_accounts_need_the_area_they_see(admin):
    for role in ("police", "analyst"):
        response = await admin.post("/api/v1/accounts", json={
            "username": unique(role), "password": "long-enough-password", "role": role, "display_name": role})
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == ["area_code"]


async def test_lax_json_types_in_accounts_and_logins_are_refused(db, admin, anonymous):
    username = unique("typed")
    for wrong in ({"display_name": 5}, {"password": 12345678901}, {"role": ["admin"]}):
        body = {"username": username, "password": "long-enough-pw", "role": "landlord", **wrong}
        refused = await admin.post("/api/v1/accounts", json=body)
        assert refused.status_code == 400 and refused.headers["content-type"].startswith("application/problem+json")
    assert await db.fetchval("SELECT count(*) FROM accounts WHERE username = $1", username) == 0
    assert (await anonymous.post("/api/v1/auth/login", json={"username": ADMIN_USERNAME, "password": 1234})).status_code == 400
