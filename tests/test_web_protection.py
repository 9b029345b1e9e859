"""Abuse resistance at the HTTP edge: rate limits, trusted proxies, allowed hosts, security headers."""

from __future__ import annotations

import httpx
import pytest

from service.net import client_address
from tests.support import ADMIN_PASSWORD, ADMIN_USERNAME, ServiceProcess, idempotency_key
from tests.test_stays import stay_body, token_of


@pytest.fixture(scope="module")
async def strict_service(create_database, tmp_path_factory):
    """A service with small limits, behind a trusted proxy at 127.0.0.1, answering to two host names."""
    process = ServiceProcess(dsn=await create_database(), data_dir=tmp_path_factory.mktemp("strict"))
    process.extra_env = {
        "VH_RATE_LIMIT_LOGIN_PER_MINUTE": "3",
        "VH_RATE_LIMIT_PUBLIC_PER_MINUTE": "4",
        "VH_RATE_LIMIT_TOKEN_PER_MINUTE": "3",
        "VH_TRUSTED_PROXIES": '["127.0.0.1"]',
        # as the Host header carries them: with the port unless it is 80 or 443
        "VH_ALLOWED_HOSTS": f'["127.0.0.1:{process.port}", "hotel.example.org"]',
    }
    process.start()
    yield process
    process.stop()


def from_address(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def test_logins_from_one_address_are_limited_with_retry_after(strict_service):
    async with httpx.AsyncClient(base_url=strict_service.base_url) as client:
        attempt = {"username": "someone", "password": "wrong"}
        statuses = [(await client.post("/api/v1/auth/login", json=attempt, headers=from_address("203.0.113.7"))).status_code
                    for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
        limited = await client.post("/api/v1/auth/login", json=attempt, headers=from_address("203.0.113.7"))
        assert limited.headers["content-type"].startswith("application/problem+json")
        assert 0 < int(limited.headers["retry-after"]) <= 60
        # another client behind the same proxy is not punished for it
        other = await client.post("/api/v1/auth/login", headers=from_address("198.51.100.9"),
                                  json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
        assert other.status_code == 200


async def test_a_leaked_qr_code_cannot_flood_its_dwelling(strict_service):
    async with httpx.AsyncClient(base_url=strict_service.base_url) as client:
        login = await client.post("/api/v1/auth/login", headers=from_address("198.51.100.1"),
                                  json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
        admin = {"Authorization": f"Bearer {login.json()['token']}"}
        await client.post("/api/v1/areas", json={"code": "331004", "name": "Luqiao"}, headers=admin)
        landlord = {"username": "flooded-landlord", "password": "long-enough-pw", "role": "landlord"}
        await client.post("/api/v1/accounts", json=landlord, headers=admin)
        token = (await client.post("/api/v1/auth/login", json=landlord | {"role": None},
                                   headers=from_address("198.51.100.2"))).json()["token"]
        owner = {"Authorization": f"Bearer {token}"}
        rooms = [(await client.post("/api/v1/dwellings", headers=owner, json={
            "name": f"Room {n}", "address": "Lane 1", "area_code": "331004", "kind": "homestay", "capacity": 9})).json()
            for n in (1, 2)]

        async def register(room: dict, address: str) -> httpx.Response:
            return await client.post(f"/api/v1/public/dwellings/{token_of(room)}/stays", json=stay_body(),
                                     headers={"Idempotency-Key": idempotency_key(), **from_address(address)})

        # four guests from four addresses: the third registration per minute on one code is the last
        statuses = [(await register(rooms[0], f"192.0.2.{n}")).status_code for n in range(1, 5)]
        assert statuses == [201, 201, 201, 429]
        assert (await register(rooms[1], "192.0.2.50")).status_code == 201
        # and one address cannot register endlessly across codes either
        spread = [(await register(rooms[1], "192.0.2.99")).status_code for _ in range(5)]
        assert spread[-1] == 429


async def test_unknown_host_names_are_refused(strict_service):
    async with httpx.AsyncClient(base_url=strict_service.base_url) as client:
        assert (await client.get("/", headers={"Host": "hotel.example.org"})).status_code == 200
        assert (await client.get("/", headers={"Host": "evil.example.com"})).status_code == 400
        # health checks come by address
        assert (await client.get("/healthz", headers={"Host": "10.0.0.5:8000"})).status_code == 200


class _Connection:
    def __init__(self, peer: str, forwarded: str | None) -> None:
        self.client = type("Client", (), {"host": peer})()
        self.headers = {"x-forwarded-for": forwarded} if forwarded else {}


def test_x_forwarded_for_is_believed_only_from_trusted_proxies():
    proxies = ["10.0.0.0/8"]
    assert client_address(_Connection("203.0.113.5", "1.2.3.4"), proxies) == "203.0.113.5"
    assert client_address(_Connection("10.1.2.3", "1.2.3.4"), proxies) == "1.2.3.4"
    # a client cannot hide behind a forged left-most entry: the right-most untrusted hop counts
    assert client_address(_Connection("10.1.2.3", "6.6.6.6, 1.2.3.4, 10.9.9.9"), proxies) == "1.2.3.4"
    assert client_address(_Connection("10.1.2.3", None), proxies) == "10.1.2.3"


async def test_security_headers_on_pages_and_api(anonymous, make_staff, make_area, make_dwelling):
    page = await anonymous.get("/")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    landlord = await make_staff("landlord")
    dwelling = await make_dwelling(landlord, await make_area())
    listed = await landlord.get(f"/api/v1/dwellings/{dwelling['id']}/stays")
    assert listed.headers["cache-control"] == "no-store" and listed.headers["x-content-type-options"] == "nosniff"
    qr = await landlord.get(f"/api/v1/dwellings/{dwelling['id']}/qr.png")
    assert qr.headers["cache-control"] == "private, no-cache"  # its own: the image is not personal data
