"""The access-control matrix: every route of the app, called by every kind of caller, against a policy table.

The policy is data (POLICY below): for each route, the answer each caller must get. The routes come
from the running service's OpenAPI document, and the routes hidden from it (pages, static files, the
OpenAPI viewers) from the application's own route table; a route without a policy entry fails the
suite, so a new route cannot ship without someone deciding who may call it.

Callers:
  anon        no credentials at all; where a route takes a capability (QR token, receipt code,
              verification secret) it sends a wrong one of the right shape
  guest       no credentials, but holds the real capabilities: the dwelling's QR token, a receipt code,
              an application's secret
  landlord_a  owns the dwelling every owner route targets
  landlord_b  another landlord, with a dwelling of their own in the same area
  desk        a hotel desk account with a dwelling of its own
  police_in   police whose jurisdiction (a county) contains the targeted area (a village below it)
  police_out  police of a sibling village in the same county
  admin

Staff send only their bearer token; on capability routes they, like anon, send a wrong capability:
the matrix shows that no role stands in for the capability.

Expected answers: "2xx" (any success), or an exact 401 / 403 / 404. 404 is the policy for objects
outside one's reach (another owner's dwelling, another jurisdiction's application): they answer as if
absent, so ids cannot be probed. Every 4xx must be RFC 9457 problem details. For lists, a 2xx is not
the whole policy: VISIBILITY names what each caller must and must not find in them.

State-changing calls get fresh objects (a new pending application to approve, a new stay to check out,
a second session to log out), so the matrix answers the same whatever order its calls run in.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.support import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    ROOT,
    TEST_MASTER_KEY,
    StaffClient,
    idempotency_key,
    resident_id,
    unique,
)
from tests.test_stays import TODAY, stay_body, token_of

CALLERS = ("anon", "guest", "landlord_a", "landlord_b", "desk", "police_in", "police_out", "admin")
STAFF = CALLERS[2:]

# ---- the policy -------------------------------------------------------------------------------------

OK, E401, E403, E404 = "2xx", "401", "403", "404"
TO_LOGIN = "303"  # a page for one role sends everyone else to log in as that role
EVERYONE = (OK,) * 8
ANY_STAFF = (E401, E401, OK, OK, OK, OK, OK, OK)
ADMIN_ONLY = (E401, E401, E403, E403, E403, E403, E403, OK)
OWNERS = (E401, E401, OK, OK, OK, E403, E403, E403)  # any landlord or desk, on their own things
OWNER_OF_A = (E401, E401, OK, E404, E404, E403, E403, E403)  # landlord_a's dwelling: others' is absent
POLICE = (E401, E401, E403, E403, E403, OK, OK, E403)  # each officer within their own jurisdiction
POLICE_OF_A = (E401, E401, E403, E403, E403, OK, E404, E403)  # an object in the area of police_in only
CAPABILITY = (E404, OK, E404, E404, E404, E404, E404, E404)  # only the holder of the token/code/secret

POLICY: dict[str, tuple[str, ...]] = {
    #                                                     anon  guest  la   lb  desk  p_in p_out admin
    "POST /api/v1/auth/login": EVERYONE,
    "POST /api/v1/auth/logout": EVERYONE,  # 204 also without a session: nothing to end
    "GET /api/v1/auth/me": ANY_STAFF,
    "POST /api/v1/auth/password": ANY_STAFF,  # one's own password (a throwaway account of the caller's role)
    "POST /api/v1/auth/sessions/revoke": ANY_STAFF,  # one's own other sessions (likewise)
    "GET /api/v1/accounts": ADMIN_ONLY,
    "POST /api/v1/accounts": ADMIN_ONLY,
    "POST /api/v1/accounts/{account_id}/disable": ADMIN_ONLY,
    "POST /api/v1/accounts/{account_id}/enable": ADMIN_ONLY,
    "GET /api/v1/areas": ANY_STAFF,  # landlords pick an area for a dwelling; police see their subtree
    "POST /api/v1/areas": ADMIN_ONLY,
    "GET /api/v1/dwellings": ANY_STAFF,  # each sees only their own / their jurisdiction's (VISIBILITY)
    "POST /api/v1/dwellings": OWNERS,
    "GET /api/v1/dwellings/posters": OWNERS,
    "GET /api/v1/dwellings/{dwelling_id}": (E401, E401, OK, E404, E404, OK, E404, OK),
    "PATCH /api/v1/dwellings/{dwelling_id}": OWNER_OF_A,
    "GET /api/v1/dwellings/{dwelling_id}/poster": OWNER_OF_A,
    "GET /api/v1/dwellings/{dwelling_id}/qr.png": OWNER_OF_A,
    "GET /api/v1/dwellings/{dwelling_id}/qr.svg": OWNER_OF_A,
    "POST /api/v1/dwellings/{dwelling_id}/qr/rotate": OWNER_OF_A,
    # The guests of a dwelling: its owner and the police of its area (DESIGN §5), not the admin.
    "GET /api/v1/dwellings/{dwelling_id}/stays": (E401, E401, OK, E404, E404, OK, E404, E403),
    "POST /api/v1/dwellings/{dwelling_id}/stays": OWNER_OF_A,  # a walk-in guest registered by the owner
    "POST /api/v1/stays/{stay_id}/checkout": OWNER_OF_A,
    "GET /api/v1/public/dwellings/{token}": CAPABILITY,
    "POST /api/v1/public/dwellings/{token}/stays": CAPABILITY,
    "POST /api/v1/public/dwellings/{token}/verifications": CAPABILITY,
    "GET /api/v1/public/receipts/{code}": CAPABILITY,
    "POST /api/v1/public/receipts/{code}/checkout": CAPABILITY,
    "GET /api/v1/public/verifications/{verification_id}": CAPABILITY,
    "GET /api/v1/public/verifications/{verification_id}/events": CAPABILITY,
    "GET /api/v1/public/certificates/{number}": CAPABILITY,
    "GET /api/v1/public/certificates/{number}/qr.png": CAPABILITY,
    "GET /api/v1/public/certificates/{number}/qr.svg": CAPABILITY,
    "GET /api/v1/public/privacy": EVERYONE,  # the privacy notice's facts: operator, contact, retention
    "POST /api/v1/certificates/verify": EVERYONE,  # anyone shown a certificate may check it
    "POST /api/v1/certificates/{number}/revoke": POLICE_OF_A,
    "GET /api/v1/verifications": POLICE,  # each officer's own queue (VISIBILITY)
    "GET /api/v1/verifications/{verification_id}/photo": POLICE_OF_A,
    "POST /api/v1/verifications/{verification_id}/approve": POLICE_OF_A,
    "POST /api/v1/verifications/{verification_id}/reject": POLICE_OF_A,
    "POST /api/v1/registry/persons": ADMIN_ONLY,
    "GET /api/v1/police/occupancy": POLICE_OF_A,  # ?area= the village of the dwellings
    "GET /api/v1/police/dwellings": POLICE_OF_A,
    "GET /api/v1/police/timeline": POLICE_OF_A,
    "GET /api/v1/police/stream": POLICE_OF_A,
    "GET /api/v1/police/search": POLICE,  # outside officers get 200 with nothing in it (VISIBILITY)
    "GET /api/v1/police/watchlist": POLICE,
    "POST /api/v1/police/watchlist": POLICE,
    "DELETE /api/v1/police/watchlist/{entry_id}": POLICE_OF_A,  # an entry of police_in's county
    "GET /api/v1/police/alerts": POLICE_OF_A,
    "POST /api/v1/police/alerts/{alert_id}/acknowledge": POLICE_OF_A,
    "GET /api/v1/audit": ADMIN_ONLY,
    # Aggregates: police of the area, admins (and analysts of the area: tests/test_statistics.py).
    "GET /api/v1/statistics": (E401, E401, E403, E403, E403, OK, E404, OK),
    "GET /api/v1/statistics/thresholds": ADMIN_ONLY,
    "PUT /api/v1/statistics/thresholds/{area_code}": ADMIN_ONLY,
    "GET /api/v1/statistics/warnings": POLICE_OF_A,
    "GET /api/v1/statistics/access-log": ADMIN_ONLY,
    "GET /api/v1/audit/verify": ADMIN_ONLY,
    # The staff console's API: areas, accounts, any owner's dwellings, registry import, signing keys.
    "GET /api/v1/areas/counts": ADMIN_ONLY,
    "PATCH /api/v1/areas/{code}": ADMIN_ONLY,
    "POST /api/v1/accounts/{account_id}/password-reset": ADMIN_ONLY,
    "POST /api/v1/dwellings/import": (E401, E401, OK, OK, OK, E403, E403, OK),  # owners their own; admins any
    "GET /api/v1/admin/dwellings": ADMIN_ONLY,
    "PATCH /api/v1/admin/dwellings/{dwelling_id}": ADMIN_ONLY,
    "POST /api/v1/admin/dwellings/{dwelling_id}/transfer": ADMIN_ONLY,
    "POST /api/v1/registry/import": ADMIN_ONLY,
    "GET /api/v1/keys": ADMIN_ONLY,
    "POST /api/v1/keys/rotate": ADMIN_ONLY,
    # Public by design: the keys that verify certificates, and the operator's probes and metrics
    # (in production /metrics is reachable from the internal network only; see README).
    "GET /.well-known/jwks.json": EVERYONE,
    "GET /healthz": EVERYONE,
    "GET /readyz": EVERYONE,
    "GET /metrics": EVERYONE,
    # Not in the OpenAPI document: page shells (their data comes from the API above), static files,
    # and the OpenAPI document and its viewers.
    "GET /": EVERYONE,
    "GET /login": EVERYONE,
    "GET /account": EVERYONE,
    "GET /landlord": EVERYONE,
    "GET /police": EVERYONE,
    "GET /police/review": EVERYONE,
    "GET /admin": (TO_LOGIN,) * 7 + (OK,),
    "GET /landlord/import": (TO_LOGIN, TO_LOGIN, OK, OK, OK, TO_LOGIN, TO_LOGIN, OK),
    "GET /r/{token}": EVERYONE,
    "GET /r/{token}/apply": EVERYONE,
    "GET /verify": EVERYONE,
    "GET /verify-sw.js": EVERYONE,
    "GET /favicon.ico": EVERYONE,
    "GET /privacy": EVERYONE,
    "GET /static/{file_path}": EVERYONE,
    "HEAD /static/{file_path}": EVERYONE,
    "GET /schema": EVERYONE,
    "GET /schema/openapi.json": EVERYONE,
    "GET /schema/openapi.yaml": EVERYONE,
    "GET /schema/openapi.yml": EVERYONE,
    "GET /schema/swagger": EVERYONE,
    "GET /schema/{path}": (E404,) * 8,  # the viewers' catch-all: an unknown viewer is absent for all
}

# A 2xx on a list is not the whole policy: what is in it is. route -> (callers who must find the marker,
# callers who must not, the marker as a function of the world). The first group keeps the check honest:
# a marker nobody finds would prove nothing.
VISIBILITY: dict[str, tuple[tuple[str, ...], tuple[str, ...], Callable[[World], str]]] = {
    # By name: the QR token is the owner's alone (tests/test_dwellings.py).
    "GET /api/v1/dwellings": (("landlord_a", "police_in", "admin"), ("landlord_b", "desk", "police_out"),
                              lambda w: w.dwelling_a["name"]),
    "GET /api/v1/dwellings/posters": (("landlord_a",), ("landlord_b", "desk"), lambda w: w.dwelling_a["name"]),
    "GET /api/v1/areas": (("police_in", "landlord_a"), ("police_out",), lambda w: w.area_a),
    "GET /api/v1/verifications": (("police_in",), ("police_out",), lambda w: w.pending_id),
    "GET /api/v1/police/search": (("police_in",), ("police_out",), lambda w: w.receipt["id"]),
    "GET /api/v1/police/watchlist": (("police_in",), ("police_out",), lambda w: w.watch_note),
    "GET /api/v1/dwellings/{dwelling_id}/stays": (("landlord_a", "police_in"), (), lambda w: w.receipt["id"]),
}

# ---- the world the matrix runs in --------------------------------------------------------------------


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 170, 140)).save(out, "JPEG", quality=80)
    return out.getvalue()


@dataclass
class World:
    base_url: str
    clients: dict[str, httpx.AsyncClient]
    passwords: dict[str, tuple[str, str]]  # staff caller -> (username, password)
    county: str
    area_a: str
    area_b: str
    dwelling_a: dict
    dwelling_rotate: dict
    receipt: dict
    receipt_checkout: dict
    certificate: dict  # an approved application: id, secret, certificate_number, token
    certificate_revoke: str
    pending_id: str
    watch_note: str
    photo: bytes = field(default_factory=jpeg)

    @property
    def token_a(self) -> str:
        return token_of(self.dwelling_a)

    # ---- helpers that make fresh objects, so state-changing calls keep the matrix deterministic ----

    async def register(self, **fields) -> dict:
        response = await self.clients["guest"].post(f"/api/v1/public/dwellings/{self.token_a}/stays",
                                                    json=stay_body(**fields), headers=key())
        assert response.status_code == 201, response.text
        return response.json()

    async def apply(self, name: str, number: str) -> dict:
        response = await self.clients["guest"].post(
            f"/api/v1/public/dwellings/{self.token_a}/verifications",
            data=application_form(name, number), files={"photo": ("face.jpg", self.photo, "image/jpeg")},
            headers={"Idempotency-Key": idempotency_key()})
        assert response.status_code == 202, response.text
        return response.json()

    async def pending(self) -> str:
        return (await self.apply("周末", resident_id()))["id"]

    async def approved(self) -> dict:
        """An application the police of the area approved (the default registry never approves on its own)."""
        accepted = await self.apply("王小红", resident_id())
        decided = await self.clients["police_in"].post(f"/api/v1/verifications/{accepted['id']}/approve")
        assert decided.status_code == 200, decided.text
        accepted["certificate_number"] = decided.json()["certificate_number"]
        certificate = await self.clients["guest"].get(f"/api/v1/public/certificates/{accepted['certificate_number']}",
                                                      params={"secret": accepted["secret"]})
        return {**accepted, "token": certificate.json()["token"]}

    def cap(self, caller: str, real: str, fake: str) -> str:
        """A capability: the real one for the guest, a wrong one of the same shape for everyone else."""
        return real if caller == "guest" else fake


def application_form(name: str, number: str) -> dict:
    return {"full_name": name, "document_number": number, "phone": "13800138000",
            "check_out": (TODAY + timedelta(days=2)).isoformat(), "consent": "true"}


FAKE_TOKEN = "x" * 22
FAKE_SECRET = secrets.token_urlsafe(24)


def cookieless(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Callers present only what the matrix gives them: a login or logout answered to one call must not turn
    the next call of that client into a browser session (which the CSRF check would then refuse)."""
    client.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return client


@pytest.fixture(scope="module")
async def world(service, make_staff, make_area, make_dwelling) -> AsyncIterator[World]:
    county = await make_area(name="county")
    area_a, area_b = await make_area(county, "village A"), await make_area(county, "village B")
    callers: dict[str, StaffClient] = {
        "landlord_a": await make_staff("landlord"),
        "landlord_b": await make_staff("landlord"),
        "desk": await make_staff("desk"),
        "police_in": await make_staff("police", county),
        "police_out": await make_staff("police", area_b),
    }
    passwords = {name: (c.account["username"], f"{c.account['username']}-password") for name, c in callers.items()}
    callers["admin"] = await StaffClient.log_in(service.base_url, ADMIN_USERNAME, ADMIN_PASSWORD)
    passwords["admin"] = (ADMIN_USERNAME, ADMIN_PASSWORD)
    clients: dict[str, httpx.AsyncClient] = {
        "anon": httpx.AsyncClient(base_url=service.base_url, timeout=30),
        "guest": httpx.AsyncClient(base_url=service.base_url, timeout=30),
        **callers,
    }
    for client in clients.values():
        cookieless(client)

    dwelling_a = await make_dwelling(callers["landlord_a"], area_a, capacity=50)
    dwelling_rotate = await make_dwelling(callers["landlord_a"], area_a)
    await make_dwelling(callers["landlord_b"], area_a)
    await make_dwelling(callers["desk"], area_a, kind="hotel_room")
    watch_note = unique("watch-note-")
    added = await callers["police_in"].post("/api/v1/police/watchlist",
                                            json={"document_number": resident_id(), "note": watch_note})
    assert added.status_code == 201, added.text

    w = World(service.base_url, clients, passwords, county, area_a, area_b, dwelling_a, dwelling_rotate,
              receipt={}, receipt_checkout={}, certificate={}, certificate_revoke="", pending_id="",
              watch_note=watch_note)
    w.receipt = await w.register(document_number=SEARCHED)
    w.receipt_checkout = await w.register()
    w.certificate = await w.approved()
    w.certificate_revoke = (await w.approved())["certificate_number"]
    w.pending_id = await w.pending()
    yield w
    for name in ("anon", "guest", "admin"):
        await clients[name].aclose()


SEARCHED = resident_id()

# ---- what each route is called with ------------------------------------------------------------------


@dataclass
class Call:
    method: str
    url: str
    params: dict[str, Any] | None = None
    json: Any = None
    data: dict[str, str] | None = None
    files: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    stream: bool = False


Build = Callable[[World, str], Awaitable[Call]]


async def fresh_session(w: World, caller: str) -> dict[str, str]:
    """Logout ends the session it is sent with: send it a second session of the caller, not the matrix's."""
    if caller not in STAFF:
        return {}
    username, password = w.passwords[caller]
    response = await w.clients["anon"].post("/api/v1/auth/login", json={"username": username, "password": password})
    return {"Authorization": f"Bearer {response.json()['token']}"}


def new_area_code(w: World) -> str:
    return w.county + unique("")[-6:]


def key() -> dict[str, str]:
    return {"Idempotency-Key": idempotency_key()}


async def walk_in_stay(w: World) -> str:
    response = await w.clients["landlord_a"].post(f"/api/v1/dwellings/{w.dwelling_a['id']}/stays", json=stay_body(),
                                                  headers=key())
    assert response.status_code == 201, response.text
    return response.json()["id"]


def receipt_code(w: World, caller: str, receipt: dict) -> str:
    return w.cap(caller, receipt["receipt_code"], "ZZZZZ-ZZZZZ")


def verification_secret(w: World, caller: str) -> dict[str, str]:
    return {"secret": w.cap(caller, w.certificate["secret"], FAKE_SECRET)}


A = "/api/v1"
BUILD: dict[str, Build] = {}


def build(route: str):
    def register(fn: Build) -> Build:
        BUILD[route] = fn
        return fn
    return register


def simple(route: str, url: Callable[[World], str] | str | None = None, **kw) -> None:
    """A call that needs nothing from the caller: the route's own path, or ``url``."""
    method, path = route.split(" ", 1)

    async def make(w: World, caller: str) -> Call:
        target = url(w) if callable(url) else (url or path)
        return Call(method, target, **kw)

    BUILD[route] = make


simple("GET /api/v1/auth/me")
simple("GET /api/v1/accounts")
simple("GET /api/v1/areas")
simple("GET /api/v1/dwellings")
simple("GET /api/v1/dwellings/posters")
simple("GET /api/v1/dwellings/{dwelling_id}", lambda w: f"{A}/dwellings/{w.dwelling_a['id']}")
simple("GET /api/v1/dwellings/{dwelling_id}/poster", lambda w: f"{A}/dwellings/{w.dwelling_a['id']}/poster")
simple("GET /api/v1/dwellings/{dwelling_id}/qr.png", lambda w: f"{A}/dwellings/{w.dwelling_a['id']}/qr.png")
simple("GET /api/v1/dwellings/{dwelling_id}/qr.svg", lambda w: f"{A}/dwellings/{w.dwelling_a['id']}/qr.svg")
simple("POST /api/v1/dwellings/{dwelling_id}/qr/rotate", lambda w: f"{A}/dwellings/{w.dwelling_rotate['id']}/qr/rotate")
simple("PATCH /api/v1/dwellings/{dwelling_id}", lambda w: f"{A}/dwellings/{w.dwelling_a['id']}",
       json={"capacity": 50})
simple("GET /api/v1/dwellings/{dwelling_id}/stays", lambda w: f"{A}/dwellings/{w.dwelling_a['id']}/stays",
       params={"current": "true"})
simple("GET /api/v1/verifications", params={"status": "pending"})
simple("GET /api/v1/verifications/{verification_id}/photo", lambda w: f"{A}/verifications/{w.pending_id}/photo")
simple("GET /api/v1/police/watchlist")
simple("GET /api/v1/audit", params={"limit": 5})
simple("GET /api/v1/audit/verify")
simple("GET /api/v1/areas/counts")
simple("PATCH /api/v1/areas/{code}", lambda w: f"{A}/areas/{w.area_b}", json={"name": "village B"})
simple("GET /api/v1/admin/dwellings", params={"q": "Room"})
simple("PATCH /api/v1/admin/dwellings/{dwelling_id}", lambda w: f"{A}/admin/dwellings/{w.dwelling_a['id']}",
       json={"active": True})
simple("GET /api/v1/keys")
simple("POST /api/v1/keys/rotate")

simple("GET /api/v1/statistics/thresholds")
simple("GET /api/v1/statistics/access-log")
simple("PUT /api/v1/statistics/thresholds/{area_code}", lambda w: f"{A}/statistics/thresholds/{w.area_a}",
       json={"yellow": 0.8, "red": 1.0})


for _route in ("GET /api/v1/statistics", "GET /api/v1/statistics/warnings"):
    async def _statistics_call(w: World, caller: str, _route: str = _route) -> Call:
        return Call("GET", _route.split(" ", 1)[1], params={"area": w.area_a})
    BUILD[_route] = _statistics_call


for _name in ("occupancy", "dwellings", "timeline", "stream"):
    async def _area_call(w: World, caller: str, _name: str = _name) -> Call:
        return Call("GET", f"{A}/police/{_name}", params={"area": w.area_a}, stream=_name == "stream")
    BUILD[f"GET /api/v1/police/{_name}"] = _area_call


@build("POST /api/v1/auth/login")
async def _login(w: World, caller: str) -> Call:
    username, password = w.passwords["landlord_a"]
    return Call("POST", f"{A}/auth/login", json={"username": username, "password": password})


@build("POST /api/v1/auth/logout")
async def _logout(w: World, caller: str) -> Call:
    return Call("POST", f"{A}/auth/logout", headers=await fresh_session(w, caller))


ROLE_OF = {"landlord_a": "landlord", "landlord_b": "landlord", "desk": "desk", "police_in": "police",
           "police_out": "police", "admin": "admin"}


async def throwaway_account(w: World, role: str) -> tuple[int, str, str]:
    """A new account (id, username, password): self-service calls that end sessions must not end the matrix's."""
    username, password = unique("throwaway"), "throwaway-password"
    created = await w.clients["admin"].post(f"{A}/accounts", json={
        "username": username, "password": password, "role": role,
        "area_code": w.county if role == "police" else None})
    assert created.status_code == 201, created.text
    return created.json()["id"], username, password


async def throwaway_session(w: World, caller: str) -> tuple[dict[str, str], str]:
    """A session of a new account of the caller's role (nothing for callers without a role), and its password."""
    if caller not in STAFF:
        return {}, "throwaway-password"
    _, username, password = await throwaway_account(w, ROLE_OF[caller])
    response = await w.clients["anon"].post(f"{A}/auth/login", json={"username": username, "password": password})
    return {"Authorization": f"Bearer {response.json()['token']}"}, password


@build("POST /api/v1/auth/password")
async def _password(w: World, caller: str) -> Call:
    headers, password = await throwaway_session(w, caller)
    return Call("POST", f"{A}/auth/password", headers=headers,
                json={"current_password": password, "new_password": "another-long-password"})


@build("POST /api/v1/auth/sessions/revoke")
async def _revoke_sessions(w: World, caller: str) -> Call:
    headers, _ = await throwaway_session(w, caller)
    return Call("POST", f"{A}/auth/sessions/revoke", headers=headers)


for _action in ("disable", "enable"):
    async def _account_switch(w: World, caller: str, _action: str = _action) -> Call:
        account_id, _, _ = await throwaway_account(w, "landlord")
        return Call("POST", f"{A}/accounts/{account_id}/{_action}")
    BUILD[f"POST /api/v1/accounts/{{account_id}}/{_action}"] = _account_switch


@build("POST /api/v1/accounts")
async def _account(w: World, caller: str) -> Call:
    return Call("POST", f"{A}/accounts", json={"username": unique("matrix"), "password": "matrix-password-1",
                                               "role": "landlord", "display_name": "matrix"})


@build("POST /api/v1/accounts/{account_id}/password-reset")
async def _password_reset(w: World, caller: str) -> Call:
    made = await w.clients["admin"].post(f"{A}/accounts", json={"username": unique("reset"), "password": "reset-password-1",
                                                                "role": "landlord"})
    return Call("POST", f"{A}/accounts/{made.json()['id']}/password-reset")


@build("POST /api/v1/dwellings/import")
async def _import(w: World, caller: str) -> Call:
    owner = w.passwords["landlord_a"][0] if caller == "admin" else ""
    body = f"name,address,area_code,kind,capacity,latitude,longitude,owner\n{unique('Imported ')},1 Lane,{w.area_a},homestay,2,,,{owner}\n"
    return Call("POST", f"{A}/dwellings/import", params={"dry_run": "true"},
                files={"file": ("dwellings.csv", body.encode(), "text/csv")})


@build("POST /api/v1/admin/dwellings/{dwelling_id}/transfer")
async def _transfer(w: World, caller: str) -> Call:
    """To the owner it has: the matrix's dwellings stay where they are."""
    return Call("POST", f"{A}/admin/dwellings/{w.dwelling_rotate['id']}/transfer",
                json={"owner": w.passwords["landlord_a"][0]})


@build("POST /api/v1/registry/import")
async def _registry_import(w: World, caller: str) -> Call:
    body = f"full_name,document_number\n李雷,{resident_id()}\n"
    return Call("POST", f"{A}/registry/import", files={"file": ("persons.csv", body.encode(), "text/csv")})


@build("POST /api/v1/areas")
async def _area(w: World, caller: str) -> Call:
    return Call("POST", f"{A}/areas", json={"code": new_area_code(w), "name": "matrix", "parent_code": w.county})


@build("POST /api/v1/dwellings")
async def _dwelling(w: World, caller: str) -> Call:
    return Call("POST", f"{A}/dwellings", json={"name": unique("Matrix "), "address": "1 Matrix Lane",
                                                "area_code": w.area_a, "kind": "homestay", "capacity": 2})


@build("POST /api/v1/dwellings/{dwelling_id}/stays")
async def _walk_in(w: World, caller: str) -> Call:
    return Call("POST", f"{A}/dwellings/{w.dwelling_a['id']}/stays", json=stay_body(), headers=key())


@build("POST /api/v1/stays/{stay_id}/checkout")
async def _owner_checkout(w: World, caller: str) -> Call:
    return Call("POST", f"{A}/stays/{await walk_in_stay(w)}/checkout")


@build("GET /api/v1/public/dwellings/{token}")
async def _public_dwelling(w: World, caller: str) -> Call:
    return Call("GET", f"{A}/public/dwellings/{w.cap(caller, w.token_a, FAKE_TOKEN)}")


@build("POST /api/v1/public/dwellings/{token}/stays")
async def _register(w: World, caller: str) -> Call:
    return Call("POST", f"{A}/public/dwellings/{w.cap(caller, w.token_a, FAKE_TOKEN)}/stays", json=stay_body(),
                headers=key())


@build("POST /api/v1/public/dwellings/{token}/verifications")
async def _apply(w: World, caller: str) -> Call:
    return Call("POST", f"{A}/public/dwellings/{w.cap(caller, w.token_a, FAKE_TOKEN)}/verifications",
                data=application_form("吴一", resident_id()), files={"photo": ("face.jpg", w.photo, "image/jpeg")},
                headers=key())


@build("GET /api/v1/public/receipts/{code}")
async def _receipt(w: World, caller: str) -> Call:
    return Call("GET", f"{A}/public/receipts/{receipt_code(w, caller, w.receipt)}")


@build("POST /api/v1/public/receipts/{code}/checkout")
async def _guest_checkout(w: World, caller: str) -> Call:
    return Call("POST", f"{A}/public/receipts/{receipt_code(w, caller, w.receipt_checkout)}/checkout")


@build("GET /api/v1/public/verifications/{verification_id}")
async def _status(w: World, caller: str) -> Call:
    return Call("GET", f"{A}/public/verifications/{w.certificate['id']}", params=verification_secret(w, caller))


@build("GET /api/v1/public/verifications/{verification_id}/events")
async def _status_events(w: World, caller: str) -> Call:
    return Call("GET", f"{A}/public/verifications/{w.certificate['id']}/events",
                params=verification_secret(w, caller), stream=True)


for _suffix in ("", "/qr.png", "/qr.svg"):
    async def _certificate(w: World, caller: str, _suffix: str = _suffix) -> Call:
        return Call("GET", f"{A}/public/certificates/{w.certificate['certificate_number']}{_suffix}",
                    params=verification_secret(w, caller))
    BUILD[f"GET /api/v1/public/certificates/{{number}}{_suffix}"] = _certificate


@build("POST /api/v1/certificates/verify")
async def _verify(w: World, caller: str) -> Call:
    return Call("POST", f"{A}/certificates/verify", json={"token": w.certificate["token"]})


@build("POST /api/v1/certificates/{number}/revoke")
async def _revoke(w: World, caller: str) -> Call:
    return Call("POST", f"{A}/certificates/{w.certificate_revoke}/revoke", json={"reason": "matrix"})


@build("POST /api/v1/verifications/{verification_id}/approve")
async def _approve(w: World, caller: str) -> Call:
    return Call("POST", f"{A}/verifications/{await w.pending()}/approve")


@build("POST /api/v1/verifications/{verification_id}/reject")
async def _reject(w: World, caller: str) -> Call:
    return Call("POST", f"{A}/verifications/{await w.pending()}/reject", json={"reason": "matrix"})


@build("POST /api/v1/registry/persons")
async def _person(w: World, caller: str) -> Call:
    return Call("POST", f"{A}/registry/persons", json={"full_name": "李雷", "document_number": resident_id()})


@build("GET /api/v1/police/search")
async def _search(w: World, caller: str) -> Call:
    return Call("GET", f"{A}/police/search", params={"document_number": SEARCHED, "reason": "access matrix"})


@build("DELETE /api/v1/police/watchlist/{entry_id}")
async def _unwatch(w: World, caller: str) -> Call:
    added = await w.clients["police_in"].post(f"{A}/police/watchlist", json={"document_number": resident_id(),
                                                                              "note": "matrix"})
    return Call("DELETE", f"{A}/police/watchlist/{added.json()['id']}")


@build("GET /api/v1/police/alerts")
async def _alerts(w: World, caller: str) -> Call:
    return Call("GET", f"{A}/police/alerts", params={"area": w.area_a})


@build("POST /api/v1/police/alerts/{alert_id}/acknowledge")
async def _acknowledge(w: World, caller: str) -> Call:
    """A fresh watchlist hit in area A, so every caller meets an unacknowledged alert."""
    number = resident_id()
    await w.clients["police_in"].post(f"{A}/police/watchlist", json={"document_number": number, "note": "matrix"})
    stay = await w.register(document_number=number)
    inbox = (await w.clients["police_in"].get(f"{A}/police/alerts", params={"area": w.area_a})).json()
    [alert] = [a for a in inbox["items"] if a["stay_id"] == stay["id"] and a["kind"] == "watchlist"]
    return Call("POST", f"{A}/police/alerts/{alert['id']}/acknowledge")


@build("POST /api/v1/police/watchlist")
async def _watch(w: World, caller: str) -> Call:
    return Call("POST", f"{A}/police/watchlist", json={"document_number": resident_id(), "note": "matrix"})


for _route, _url in {
    "GET /.well-known/jwks.json": None, "GET /healthz": None, "GET /readyz": None, "GET /metrics": None,
    "GET /": None, "GET /login": None, "GET /account": None, "GET /landlord": None, "GET /police": None, "GET /police/review": None,
    "GET /admin": None, "GET /landlord/import": None,
    "GET /r/{token}": "/r/any-token", "GET /r/{token}/apply": "/r/any-token/apply", "GET /verify": None,
    "GET /verify-sw.js": None, "GET /favicon.ico": None, "GET /static/{file_path}": "/static/app.css", "HEAD /static/{file_path}": "/static/app.css",
    "GET /schema": None, "GET /schema/openapi.json": None, "GET /schema/openapi.yaml": None,
    "GET /schema/openapi.yml": None, "GET /schema/swagger": None,
    "GET /schema/{path}": "/schema/no-such-viewer",
    "GET /api/v1/public/privacy": None, "GET /privacy": None,
}.items():
    simple(_route, _url)

# ---- the routes of the app ---------------------------------------------------------------------------

HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head")


def openapi_routes(document: dict) -> set[str]:
    return {f"{method.upper()} {path}" for path, item in document["paths"].items()
            for method in item if method in HTTP_METHODS}


DESCRIBE_APP = r"""
import json, re, sys, warnings
warnings.simplefilter("ignore")  # Litestar's deprecation notes on handler signatures
from service.app import create_app
from service.settings import Settings
app = create_app(Settings(data_dir=sys.argv[1], master_key=sys.argv[2]), "postgresql://unused.invalid/none")
for hook in app.on_startup:  # what the service does to its OpenAPI document at start-up
    hook(app)
routes = set()
for route in app.routes:
    path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.path)  # {dwelling_id:int} -> {dwelling_id}
    for handler in getattr(route, "route_handlers", []):
        routes |= {method + " " + path for method in handler.http_methods if method != "OPTIONS"}
with open(sys.argv[3], "w") as out:
    json.dump({"routes": sorted(routes), "openapi": app.openapi_schema.to_schema()}, out)
"""


def describe_app(tmp_path: Path) -> dict:
    """The application's own route table and OpenAPI document, from service.app, built (never started) in a
    child process so that its logging set-up stays out of this one.

    ``routes`` holds every route the application serves, also those hidden from the OpenAPI document.
    OPTIONS answers are made by Litestar for every path and carry no data, so they are left out.
    """
    out = tmp_path / "app.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VH_")}
    subprocess.run([sys.executable, "-c", DESCRIBE_APP, str(tmp_path / "data"), TEST_MASTER_KEY, str(out)],
                   cwd=ROOT, env=env, check=True, timeout=60)
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def app_routes(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    return set(describe_app(tmp_path_factory.mktemp("app"))["routes"])


async def test_every_route_has_a_policy(world: World, app_routes: set[str]):
    """A route without an entry in POLICY (or without a way to call it) is a route nobody decided about."""
    document = (await world.clients["anon"].get("/schema/openapi.json")).json()
    served = openapi_routes(document) | app_routes
    assert sorted(served - POLICY.keys()) == [], "routes without an access policy: add them to POLICY"
    assert sorted(POLICY.keys() - served) == [], "POLICY names routes the app no longer has"
    assert sorted(served - BUILD.keys()) == [], "routes the matrix does not know how to call"
    assert all(len(row) == len(CALLERS) for row in POLICY.values())


# ---- the matrix --------------------------------------------------------------------------------------


def verdict(status: int) -> str:
    return OK if 200 <= status < 300 else str(status)


async def send(w: World, caller: str, call: Call) -> tuple[int, str, str]:
    client = w.clients[caller]
    request = client.build_request(call.method, call.url, params=call.params, json=call.json, data=call.data,
                                   files=call.files, headers=call.headers)  # call.headers win over the client's
    response = await client.send(request, stream=call.stream)
    try:
        if call.stream and response.status_code == 200:
            return response.status_code, response.headers.get("content-type", ""), ""  # do not wait for events
        await response.aread()
        return response.status_code, response.headers.get("content-type", ""), response.text
    finally:
        await response.aclose()


async def test_every_route_answers_every_caller_as_the_policy_says(world: World, app_routes: set[str]):
    document = (await world.clients["anon"].get("/schema/openapi.json")).json()
    routes = sorted(openapi_routes(document) | app_routes)
    mismatches: list[str] = []

    async def check(route: str, caller: str, expected: str) -> None:
        if route not in BUILD:
            mismatches.append(f"{route:55} {caller:10} no way to call it")
            return
        call = await BUILD[route](world, caller)
        status, content_type, body = await send(world, caller, call)
        got = verdict(status)
        if got != expected:
            mismatches.append(f"{route:55} {caller:10} expected {expected}, got {status}: {body[:160]}")
        elif 400 <= status < 500 and not content_type.startswith("application/problem+json") \
                and not route.startswith("GET /schema/"):
            mismatches.append(f"{route:55} {caller:10} {status} is not problem details: {content_type}")
        elif route in VISIBILITY:
            shown_to, hidden_from, marker = VISIBILITY[route]
            if caller in hidden_from and marker(world) in body:
                mismatches.append(f"{route:55} {caller:10} sees what is not theirs: {body[:160]}")
            if caller in shown_to and marker(world) not in body:
                mismatches.append(f"{route:55} {caller:10} misses what is theirs: {body[:160]}")

    for route in routes:
        expected = POLICY.get(route)
        if expected is None:
            mismatches.append(f"{route:55} (all)      no policy")
            continue
        # The callers of one route run concurrently; state-changing calls each get fresh objects.
        await asyncio.gather(*(check(route, caller, want) for caller, want in zip(CALLERS, expected)))
    calls = sum(len(POLICY.get(r, ())) for r in routes)
    assert not mismatches, f"{len(mismatches)} of {calls} calls broke the policy:\n" + "\n".join(mismatches)


async def test_a_code_nesting_by_prefix_only_is_refused_so_jurisdictions_stay_trees(world: World):
    """Jurisdiction checks compare code prefixes; that is sound only while every prefix is an ancestor.

    A village whose code extends a sibling village's code (county+"001" and county+"0011", both under the
    county) would put the second inside the first one's jurisdiction. Such a code must be created under
    the closest area its code extends, or not at all; and no root may extend another area's code.
    """
    admin = world.clients["admin"]
    village = world.area_b  # county + 6 digits
    for code, parent in ((village + "1", world.county), (village + "1", None), (world.area_a + "9", None)):
        refused = await admin.post(f"{A}/areas", json={"code": code, "name": "trap", "parent_code": parent})
        assert refused.status_code == 400, (code, parent, refused.text)
        error = refused.json()["errors"][0]
        assert (error["field"], error["code"]) == ("code", "code_under_closest_area")
        assert code[:len(world.county) + 6] in error["message"]  # names the area to create it under
    # Under its closest enclosing area the same code is a proper child; and no wider code can be slipped in
    # between afterwards, as it would take the village's hamlets without the village.
    child = await admin.post(f"{A}/areas", json={"code": village + "1", "name": "hamlet", "parent_code": village})
    assert child.status_code == 201, child.text
    wedge = await admin.post(f"{A}/areas", json={"code": village[:-1], "name": "wedge", "parent_code": world.county})
    assert wedge.status_code == 400, wedge.text
    assert wedge.json()["errors"][0]["code"] == "code_begins_other_area"
    police = world.clients["police_out"]  # of village B: sees the hamlet, and nothing of village A
    seen = {a["code"] for a in (await police.get(f"{A}/areas")).json()}
    assert seen == {village, village + "1"}
