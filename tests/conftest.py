"""Shared fixtures: one real PostgreSQL database and one real service process for the run."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import httpx
import pytest

from tests.support import (ADMIN_PASSWORD, ADMIN_USERNAME, ServiceProcess, StaffClient, pgdata_folder, unique,
                           with_database)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory):
    """DATABASE_URL's server when it is set, else an embedded one made for this run."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    import pgserver

    with pgdata_folder("test-pg") as pgdata:
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        yield server.get_uri()
        server.cleanup()


@pytest.fixture(scope="session")
async def create_database(postgres_server: str) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Make fresh, empty databases on the server; all are dropped at the end of the run."""
    made: list[str] = []

    async def create() -> str:
        name = f"vh_test_{secrets.token_hex(4)}"
        conn = await asyncpg.connect(postgres_server)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        made.append(name)
        return with_database(postgres_server, name)

    yield create
    conn = await asyncpg.connect(postgres_server)
    try:
        for name in made:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def database_url(create_database) -> str:
    return await create_database()


@pytest.fixture(scope="session")
def service(database_url: str, tmp_path_factory: pytest.TempPathFactory):
    """The service under test, started once, as ``python -m service serve``, with two worker processes on
    its port: every test through it, the live view's among them, meets whichever worker the kernel hands
    its connection to, as in production (VH_WORKERS defaults to the number of cores)."""
    process = ServiceProcess(dsn=database_url, data_dir=tmp_path_factory.mktemp("service"), workers=2).start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
async def db(database_url: str, service: ServiceProcess) -> AsyncIterator[asyncpg.Pool]:
    """Direct access to the service's database, to check what it stored."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def anonymous(service: ServiceProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
async def admin(service: ServiceProcess) -> AsyncIterator[StaffClient]:
    client = await StaffClient.log_in(service.base_url, ADMIN_USERNAME, ADMIN_PASSWORD)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
async def make_area(admin: StaffClient) -> Callable[..., Awaitable[str]]:
    """Create an area (a new county-level root unless a parent is given) and return its code."""

    async def make(parent: str | None = None, name: str = "test area") -> str:
        code = (parent or "") + unique("")[-6:] if parent else "9" + unique("")[-5:]
        response = await admin.post("/api/v1/areas", json={"code": code, "name": name, "parent_code": parent})
        assert response.status_code == 201, response.text
        return code

    return make


@pytest.fixture(scope="session")
async def make_staff(service: ServiceProcess, admin: StaffClient) -> AsyncIterator[Callable[..., Awaitable[StaffClient]]]:
    """Create an account with a role and log it in through the API."""
    clients: list[StaffClient] = []

    async def make(role: str, area_code: str | None = None) -> StaffClient:
        username = unique(role)
        password = f"{username}-password"
        response = await admin.post("/api/v1/accounts", json={
            "username": username, "password": password, "role": role,
            "display_name": f"{role} {username}", "area_code": area_code,
        })
        assert response.status_code == 201, response.text
        client = await StaffClient.log_in(service.base_url, username, password)
        client.account = response.json()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture(scope="session")
async def make_dwelling() -> Callable[..., Awaitable[dict]]:
    async def make(owner: StaffClient, area_code: str, **fields) -> dict:
        body = {"name": unique("Room "), "address": "1 Test Lane", "area_code": area_code,
                "kind": "rental_room", "capacity": 2, **fields}
        response = await owner.post("/api/v1/dwellings", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    return make


# Browser tests (tests/test_pages.py): Debian's Chromium through Playwright.
from tests.browser import browser, new_context  # noqa: E402, F401
