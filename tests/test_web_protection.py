"""Abuse resistance at the HTTP edge: rate limits, trusted proxies, allowed hosts, security headers."""

from __future__ import annotations

import contextlib
import re
import secrets
import socket
import time
from pathlib import Path

import httpx
import pytest

from service.net import client_address
from tests.support import (ADMIN_PASSWORD, ADMIN_USERNAME, ServiceProcess, free_port, idempotency_key, resident_id,
                           unique)
from tests.test_stays import stay_body, token_of
from tests.test_verification import apply, form, jpeg


@pytest.fixture(scope="module")
async def strict_service(create_database, tmp_path_factory):
    """A service with small limits, behind a trusted proxy at 127.0.0.1, answering to two host names."""
    process = ServiceProcess(dsn=await create_database(), data_dir=tmp_path_factory.mktemp("strict"))
    process.extra_env = {
        "VH_RATE_LIMIT_LOGIN_PER_MINUTE": "3",
        "VH_RATE_LIMIT_PUBLIC_PER_MINUTE": "4",
        "VH_RATE_LIMIT_TOKEN_PER_MINUTE": "3",
        "VH_TRUSTED_PROXIES": '["127.0.0.1"]',
        "VH_MAX_STREAMS_PER_ADDRESS": "2",
        "VH_MAX_STREAMS_PER_ACCOUNT": "2",
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


async def test_live_streams_are_capped_per_client_address_and_per_account(strict_service):
    async with httpx.AsyncClient(base_url=strict_service.base_url, timeout=30) as client, contextlib.AsyncExitStack() as held:
        login = await client.post("/api/v1/auth/login", headers=from_address("198.51.100.30"),
                                  json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
        admin = {"Authorization": f"Bearer {login.json()['token']}"}
        area = "440103"
        await client.post("/api/v1/areas", json={"code": area, "name": "Streams"}, headers=admin)
        accounts = {}
        for role in ("landlord", "police", "police"):
            username = unique(role)
            await client.post("/api/v1/accounts", headers=admin, json={
                "username": username, "password": "long-enough-pw", "role": role, "area_code": area})
            token = (await client.post("/api/v1/auth/login", headers=from_address("198.51.100.31"), json={
                "username": username, "password": "long-enough-pw"})).json()["token"]
            accounts.setdefault(role, []).append({"Authorization": f"Bearer {token}"})
        room = (await client.post("/api/v1/dwellings", headers=accounts["landlord"][0], json={
            "name": "Room", "address": "Lane 1", "area_code": area, "kind": "homestay", "capacity": 9})).json()
        accepted = (await apply(client, {"token": token_of(room)}, form("周末", resident_id()), jpeg(),
                                **from_address("192.0.2.77"))).json()

        async def open_stream(url: str, headers: dict, **params) -> httpx.Response:
            return await held.enter_async_context(client.stream("GET", url, headers=headers, params=params))

        status_url = f"/api/v1/public/verifications/{accepted['id']}/events"
        guest = from_address("192.0.2.77")
        opened = [await open_stream(status_url, guest, secret=accepted["secret"]) for _ in range(2)]
        assert [r.status_code for r in opened] == [200, 200]
        refused = await open_stream(status_url, guest, secret=accepted["secret"])
        assert refused.status_code == 429 and refused.headers["retry-after"] == "30"
        await refused.aread()
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "too_many_streams"
        # another address is not affected
        assert (await open_stream(status_url, from_address("192.0.2.78"), secret=accepted["secret"])).status_code == 200

        officer, colleague = accounts["police"]
        assert [(await open_stream("/api/v1/police/stream", officer)).status_code for _ in range(3)] == [200, 200, 429]
        assert (await open_stream("/api/v1/police/stream", colleague)).status_code == 200


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


# ---- request heads: bounded in size and in time at the server ----

HEAD_TIMEOUT_SECONDS = 2


@pytest.fixture(scope="module")
def head_bounded_service(database_url, service, tmp_path_factory):
    process = ServiceProcess(dsn=database_url, data_dir=tmp_path_factory.mktemp("heads"),
                             extra_env={"VH_REQUEST_HEAD_TIMEOUT_SECONDS": str(HEAD_TIMEOUT_SECONDS)}).start()
    yield process
    process.stop()


def resident_kib(process: ServiceProcess) -> int:
    status = Path(f"/proc/{process.process.pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status)[1])


def answer_of(sock: socket.socket) -> bytes:
    """What the server sent before closing (b"" when it closed without a word)."""
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            received += chunk
    return received


def open_head(process: ServiceProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", process.port), timeout=HEAD_TIMEOUT_SECONDS * 5)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    return sock


def test_unbounded_request_headers_are_cut_off_without_the_server_holding_them(head_bounded_service):
    """Four connections each try to send 50 MB of one unfinished header: each is refused long before (what
    the client got to send includes the kernels' socket buffers), and the server's memory does not grow."""
    before = resident_kib(head_bounded_service)
    chunk = b"X-Padding: " + b"a" * 65536
    for _ in range(4):
        with open_head(head_bounded_service) as sock:
            sent = 0
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                while sent < 50 * 1024 * 1024:
                    sock.sendall(chunk)
                    sent += len(chunk)
            assert sent < 10 * 1024 * 1024, sent
            answer = answer_of(sock)
            assert answer == b"" or answer.startswith((b"HTTP/1.1 431", b"HTTP/1.1 400")), answer[:80]
    assert resident_kib(head_bounded_service) - before < 20 * 1024
    assert httpx.get(f"{head_bounded_service.base_url}/healthz").status_code == 200  # and it still serves


def test_an_8_mb_header_is_not_answered(head_bounded_service):
    with open_head(head_bounded_service) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"X-Big: " + b"b" * (8 * 1024 * 1024) + b"\r\n\r\n")
        answer = answer_of(sock)
    assert answer == b"" or answer.startswith((b"HTTP/1.1 431", b"HTTP/1.1 400")), answer[:80]


def test_a_client_trickling_header_lines_is_disconnected_within_the_bound(head_bounded_service):
    with open_head(head_bounded_service) as sock:
        sock.settimeout(0.5)
        closed_after = None
        started = time.monotonic()
        while time.monotonic() - started < HEAD_TIMEOUT_SECONDS * 4:
            try:
                sock.sendall(b"X-Slow: 1\r\n")
                if (data := sock.recv(65536)) is not None:
                    closed_after = time.monotonic() - started
                    assert data == b"" or data.startswith(b"HTTP/1.1 408"), data[:80]
                    break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.monotonic() - started
                break
        assert closed_after is not None, "still open after four times the bound"


def test_a_connection_that_sends_nothing_is_closed_too(head_bounded_service):
    with socket.create_connection(("127.0.0.1", head_bounded_service.port),
                                  timeout=HEAD_TIMEOUT_SECONDS * 4) as sock:
        assert answer_of(sock).startswith(b"HTTP/1.1 408")


REDIS_URL = "redis://127.0.0.1:6379/0"  # the machine's Redis (and CI's)


@pytest.fixture
def redis_prefix():
    """A key prefix in the machine's Redis for one test; its keys are removed afterwards."""
    import redis

    prefix = f"vh-test-{secrets.token_hex(6)}"
    yield prefix
    with redis.Redis.from_url(REDIS_URL) as client:
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)


@contextlib.contextmanager
def instances(dsn: str, data_dir: Path, count: int, env: dict[str, str]):
    """``count`` service processes on one database, with a public limit of 4 writes a minute per address."""
    processes = [ServiceProcess(dsn=dsn, data_dir=data_dir / str(n),
                                extra_env={"VH_RATE_LIMIT_PUBLIC_PER_MINUTE": "4", **env}) for n in range(count)]
    try:
        for process in processes:
            process.start()
        yield processes
    finally:
        for process in processes:
            if process.process:
                process.stop()


async def public_write(process: ServiceProcess) -> int:
    """A guest's registration on a code of no dwelling (404): counted by the per-address limit only, as each
    goes to another code."""
    async with httpx.AsyncClient(base_url=process.base_url) as client:
        return (await client.post(f"/api/v1/public/dwellings/{secrets.token_urlsafe(12)}/stays", json=stay_body(),
                                  headers={"Idempotency-Key": idempotency_key()})).status_code


async def test_instances_sharing_redis_enforce_one_rate_limit_and_without_it_each_its_own(create_database, tmp_path,
                                                                                        redis_prefix):
    dsn = await create_database()
    shared = {"VH_REDIS_URL": REDIS_URL, "VH_REDIS_KEY_PREFIX": redis_prefix}
    with instances(dsn, tmp_path / "shared", 2, shared) as (first, second):
        # four writes spread over both instances spend the one budget of four
        assert [await public_write(p) for p in (first, second, first, second)] == [404] * 4
        assert [await public_write(p) for p in (first, second)] == [429, 429]
    with instances(dsn, tmp_path / "apart", 2, {}) as (first, second):
        # without Redis each instance counts alone: twice four pass
        assert [await public_write(p) for p in (first, second) * 4] == [404] * 8
        assert [await public_write(p) for p in (first, second)] == [429, 429]


async def test_with_redis_down_each_instance_limits_alone_and_guests_still_register(create_database, tmp_path):
    unreachable = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with instances(await create_database(), tmp_path, 1, {"VH_REDIS_URL": unreachable}) as (process,):
        assert [await public_write(process) for _ in range(5)] == [404] * 4 + [429]
        assert "Redis unreachable: rate limits are counted by each instance alone" in process.log()
