"""Police and statistics reads from a streaming replica (VH_READ_DATABASE_URL), writes on the primary.

A second PostgreSQL server pair is made for this module: a primary and a hot standby copied from it with
pg_basebackup. With the standby's replay paused, what the service reads from the replica stands still
while the primary moves on: that tells which server answered each route.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import httpx
import pytest

from service.police.occupancy import occupancy
from tests.support import (ADMIN_PASSWORD, ADMIN_USERNAME, ServiceProcess, StaffClient, replicated_postgres,
                           resident_id, unique)
from tests.test_police import register

COUNTY = "331082"
CATCH_UP_SECONDS = 30


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait for replication (or its absence) to show; fails only if it never does."""
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


async def replayed_all_of(primary: asyncpg.Connection, replica: asyncpg.Connection) -> None:
    """Until the replica has replayed everything the primary has written so far."""
    lsn = await primary.fetchval("SELECT pg_current_wal_lsn()")
    await eventually(lambda: replica.fetchval("SELECT pg_last_wal_replay_lsn() >= $1", lsn),
                     "the replica did not catch up")


@pytest.fixture(scope="module")
def servers():
    with replicated_postgres() as made:
        yield made


@pytest.fixture(scope="module")
def replicated_service(servers, tmp_path_factory: pytest.TempPathFactory):
    process = ServiceProcess(dsn=servers.primary_dsn, data_dir=tmp_path_factory.mktemp("replicated"),
                             extra_env={"VH_READ_DATABASE_URL": servers.replica_dsn}).start()
    yield process
    process.stop()


@pytest.fixture
async def connections(servers, replicated_service) -> AsyncIterator[tuple[asyncpg.Connection, asyncpg.Connection]]:
    """Direct connections to the primary and the replica, to see what each holds."""
    primary = await asyncpg.connect(servers.primary_dsn)
    replica = await asyncpg.connect(servers.replica_dsn)
    yield primary, replica
    for conn in (replica, primary):
        if not conn.is_closed():
            await conn.close()


async def test_police_reads_come_from_the_replica_while_writes_and_reads_of_own_writes_stay_on_the_primary(
        servers, replicated_service: ServiceProcess, connections):
    primary, replica = connections
    base = replicated_service.base_url
    admin = await StaffClient.log_in(base, ADMIN_USERNAME, ADMIN_PASSWORD)
    assert (await admin.post("/api/v1/areas", json={"code": COUNTY, "name": "临海市", "parent_code": None})
            ).status_code == 201
    clients = {}
    for role in ("police", "landlord"):
        username = unique(role)
        made = await admin.post("/api/v1/accounts", json={"username": username, "password": f"{username}-password",
                                                          "role": role, "area_code": COUNTY})
        assert made.status_code == 201, made.text
        clients[role] = await StaffClient.log_in(base, username, f"{username}-password")
    police, landlord = clients["police"], clients["landlord"]
    made = await landlord.post("/api/v1/dwellings", json={"name": "Room 1", "address": "1 River Lane",
                                                          "area_code": COUNTY, "kind": "rental_room", "capacity": 2})
    assert made.status_code == 201, made.text
    dwelling = made.json()

    async def police_counts() -> dict:
        response = await police.get("/api/v1/police/occupancy")
        assert response.status_code == 200, response.text
        return response.json()

    async def arrivals_on_timeline() -> int:
        response = await police.get("/api/v1/police/timeline")
        assert response.status_code == 200, response.text
        return sum(hour["arrivals"] for hour in response.json())

    await replayed_all_of(primary, replica)
    assert (await police_counts())["current_stays"] == 0
    assert (await replicated_service_ready(base)) == {"status": "ready", "replica": "ok"}

    await replica.execute("SELECT pg_wal_replay_pause()")
    await eventually(lambda: replica.fetchval("SELECT pg_get_wal_replay_pause_state() = 'paused'"),
                     "replay did not pause")
    async with httpx.AsyncClient(base_url=base, timeout=30) as anonymous:
        number = resident_id()
        stay = await register(anonymous, dwelling, document_number=number)  # the write succeeds meanwhile

    # (a) The primary has the stay and counts it; the police counts and timeline, read from the replica, do not yet.
    async def primary_counts_it() -> bool:
        return (await occupancy(primary, COUNTY, 12))["current_stays"] == 1

    await eventually(primary_counts_it, "the primary did not count the registration")
    assert (await police_counts())["current_stays"] == 0
    assert await arrivals_on_timeline() == 0

    # (b) Writes, and reads of what the caller (or an alert) just changed, go to the primary.
    stays = await landlord.get(f"/api/v1/dwellings/{dwelling['id']}/stays")
    assert [s["id"] for s in stays.json()] == [stay["id"]]
    found = await police.get("/api/v1/police/search", params={"reason": "case 2026-77 check",
                                                              "document_number": number})
    assert found.status_code == 200, found.text
    assert [r["stay_id"] for r in found.json()] == [stay["id"]]
    added = await police.post("/api/v1/police/watchlist", json={"document_number": number, "note": "case 2026-77"})
    assert added.status_code == 201, added.text
    listed = await police.get("/api/v1/police/watchlist")
    assert added.json()["id"] in [entry["id"] for entry in listed.json()]
    inbox = (await police.get("/api/v1/police/alerts", params={"unacknowledged": "true"})).json()["items"]
    [alert] = [a for a in inbox if a["kind"] == "watchlist" and a["stay_id"] == stay["id"]]
    assert (await police.post(f"/api/v1/police/alerts/{alert['id']}/acknowledge")).status_code == 200
    inbox = (await police.get("/api/v1/police/alerts", params={"unacknowledged": "true"})).json()["items"]
    assert alert["id"] not in [a["id"] for a in inbox]

    # (c) A report read from the replica is still in the primary's access log; the search in its audit log.
    report = await police.get("/api/v1/statistics", params={"area": COUNTY})
    assert report.status_code == 200, report.text
    asked = "SELECT count(*) FROM stats_access_log WHERE actor = $1 AND area_code = $2"
    assert await primary.fetchval(asked, police.login["username"], COUNTY) == 1
    assert await replica.fetchval(asked, police.login["username"], COUNTY) == 0
    audited = await primary.fetch("SELECT action, reason FROM audit_log WHERE actor = $1 AND action IN "
                                  "('search', 'reveal') ORDER BY id", police.login["username"])
    assert [(r["action"], r["reason"]) for r in audited] == [("search", "case 2026-77 check"),
                                                             ("reveal", "case 2026-77 check")]
    assert (await police_counts())["current_stays"] == 0  # the replica still stands still

    # Replay resumes: the police reads catch up.
    await replica.execute("SELECT pg_wal_replay_resume()")

    async def police_see_the_stay() -> bool:
        return (await police_counts())["current_stays"] == 1

    await eventually(police_see_the_stay, "the police counts did not catch up")
    assert await arrivals_on_timeline() == 1

    # A replica that is away leaves the service ready; its reads go to the primary meanwhile.
    await replica.close()
    servers.stop_replica()
    assert (await replicated_service_ready(base)) == {"status": "ready", "replica": "away"}
    assert (await police_counts())["current_stays"] == 1
    assert (await police.get("/api/v1/statistics", params={"area": COUNTY})).status_code == 200
    assert await primary.fetchval(asked, police.login["username"], COUNTY) == 2
    for client in (admin, police, landlord):
        await client.aclose()


async def replicated_service_ready(base_url: str) -> dict:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    return response.json()
