"""The counter applier (service/police/counters.py): counts applied in batches by one instance at a time,
exact whatever happens to that instance, and the police still see a change at once."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import httpx
import pytest

from service.db.migrate import apply_migrations, migration_files
from service.police.counters import APPLIER_LOCK_ID
from service.settings import Settings
from tests.support import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    ServiceProcess,
    StaffClient,
    counters_applied,
    resident_id,
    unique,
)
from tests.test_police import COUNTY, FROM_SCRATCH, guests_counted, police_stream, register
from tests.test_stays import TODAY, token_of

GRACE_HOURS = Settings.model_fields["overdue_grace_hours"].default
OVERDUE_FROM_SCRATCH = """
    SELECT count(*) FROM stays WHERE checked_out_at IS NULL AND area_code LIKE $1 || '%'
       AND expected_departure < now() - make_interval(hours => $2)"""
# The ledger rows of the nights the statistics loop leaves open (today and later), as 0011's bookings
# of every stay would make them; closed nights are in the rollups (tests/test_statistics.py).
LEDGER = """
    SELECT day, dwelling_id, origin, sum(arrivals) AS arrivals, sum(departures) AS departures
      FROM stats_ledger WHERE day >= $1 GROUP BY 1, 2, 3 HAVING sum(arrivals) <> 0 OR sum(departures) <> 0"""
LEDGER_FROM_SCRATCH = """
    SELECT day, dwelling_id, origin, arrivals, departures FROM stats_bookings(NULL, NULL) WHERE day >= $1"""
# The backends holding the applier's lock in this database (advisory locks are per database), by the
# service that opened them (its application_name).
HOLDERS = """
    SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND (l.classid::bigint << 32 | l.objid::bigint) = $1"""


class Instance(ServiceProcess):
    """A service process whose database connections carry its name, so the lock's holder can be told."""

    name: str = ""

    @classmethod
    def named(cls, dsn: str, name: str, data_dir) -> Instance:
        # The embedded server's DSN already has a query (its socket folder as ?host=).
        joiner = "&" if "?" in dsn else "?"
        instance = cls(dsn=f"{dsn}{joiner}application_name={name}", data_dir=data_dir)
        instance.name = name
        return instance


@pytest.fixture
async def two_instances(create_database, tmp_path) -> AsyncIterator[tuple[str, dict[str, Instance]]]:
    """A database of its own with two service processes on it; the dsn and the processes by name."""
    dsn = await create_database()
    instances = {name: Instance.named(dsn, name, tmp_path / name) for name in ("first", "second")}
    for instance in instances.values():
        instance.start()
    try:
        yield dsn, instances
    finally:
        for instance in instances.values():
            if instance.process is not None and instance.process.poll() is None:
                instance.stop()


async def holder(db: asyncpg.Pool | asyncpg.Connection, within_seconds: float = 30) -> str:
    """The name of the instance that holds the applier's lock (once one does)."""
    deadline = time.monotonic() + within_seconds
    while not (names := [r[0] for r in await db.fetch(HOLDERS, APPLIER_LOCK_ID)]):
        assert time.monotonic() < deadline, "no instance took the applier's lock"
        await asyncio.sleep(0.05)
    [name] = names  # one at a time
    return name


async def set_up(base_url: str) -> tuple[StaffClient, StaffClient, str]:
    """The county with a fresh village, a landlord and a police officer of the county."""
    admin = await StaffClient.log_in(base_url, ADMIN_USERNAME, ADMIN_PASSWORD)
    try:
        await admin.post("/api/v1/areas", json={"code": COUNTY, "name": "临海市", "parent_code": None})
        village = COUNTY + unique("")[-6:]
        (await admin.post("/api/v1/areas", json={"code": village, "name": "village", "parent_code": COUNTY})
         ).raise_for_status()
        clients = []
        for role, area in (("landlord", None), ("police", COUNTY)):
            username = unique(role)
            (await admin.post("/api/v1/accounts", json={
                "username": username, "password": f"{username}-password", "role": role,
                "display_name": username, "area_code": area})).raise_for_status()
            clients.append(await StaffClient.log_in(base_url, username, f"{username}-password"))
    finally:
        await admin.aclose()
    return clients[0], clients[1], village


async def make_dwellings(landlord: StaffClient, village: str, count: int) -> list[dict]:
    dwellings = []
    for capacity in range(1, count + 1):
        response = await landlord.post("/api/v1/dwellings", json={
            "name": unique("Room "), "address": "1 Test Lane", "area_code": village, "kind": "rental_room",
            "capacity": capacity})
        response.raise_for_status()
        dwellings.append(response.json())
    return dwellings


def guest(rng: random.Random) -> dict:
    """A local, floating or foreign registrant, now and then with a child; now and then arrived yesterday."""
    kind = rng.choice(["local", "floating", "foreign"])
    fields = ({"document_type": "passport", "document_number": f"X{rng.randrange(10**7, 10**8)}", "nationality": "USA"}
              if kind == "foreign" else
              {"document_number": resident_id(division=COUNTY if kind == "local" else "440305")})
    if rng.random() < 0.3:
        fields["companions"] = [{"full_name": "小明", "relationship": "child"}]
    if rng.random() < 0.3:  # a back-dated check-in
        fields["check_in"] = (TODAY - timedelta(days=1)).isoformat()
    return fields


async def counts_of(police: StaffClient, area: str) -> dict:
    return (await police.get("/api/v1/police/occupancy", params={"area": area})).raise_for_status().json()


async def assert_counts_exact(db: asyncpg.Pool | asyncpg.Connection, police: StaffClient, area: str) -> dict:
    """Once applied, every count of the area equals a count from scratch; the counts."""
    await counters_applied(db)
    counts = await counts_of(police, area)
    expected = dict(await db.fetchrow(FROM_SCRATCH, area, TODAY))
    expected["current_stays"] = await db.fetchval(
        "SELECT count(*) FROM stays WHERE checked_out_at IS NULL AND area_code LIKE $1 || '%'", area)
    expected["overdue_stays"] = await db.fetchval(OVERDUE_FROM_SCRATCH, area, GRACE_HOURS)
    assert {k: counts[k] for k in expected} == expected
    ledger = {tuple(r) for r in await db.fetch(LEDGER, TODAY)}
    assert ledger == {tuple(r) for r in await db.fetch(LEDGER_FROM_SCRATCH, TODAY)}
    return counts


async def test_counts_stay_exact_when_the_applying_instance_is_killed_mid_way_and_restarted(two_instances):
    """A seeded mix of registrations (some back-dated), check-outs (some late) and overdue stays through two
    instances; the one applying is SIGKILLed mid-way, the other takes over, the killed one comes back."""
    dsn, instances = two_instances
    rng = random.Random(20261129)
    db = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
    landlord, police, village = await set_up(instances["first"].base_url)
    clients = {name: httpx.AsyncClient(base_url=i.base_url, timeout=30) for name, i in instances.items()}
    try:
        dwellings = await make_dwellings(landlord, village, 5)
        current: list[dict] = []

        async def one_step() -> None:
            live = [name for name, i in instances.items() if i.process.poll() is None]
            client = clients[rng.choice(live)]
            roll = rng.random()
            if roll < 0.6 or not current:
                current.append(await register(client, rng.choice(dwellings), **guest(rng)))
            elif roll < 0.8:  # the guest leaves
                stay = current.pop(rng.randrange(len(current)))
                (await client.post(f"/api/v1/public/receipts/{stay['receipt_code']}/checkout")).raise_for_status()
            else:  # overdue: due past the grace period, checked out late or not at all
                stay = rng.choice(current)
                await db.execute("UPDATE stays SET expected_departure = now() - make_interval(hours => $2::int + $3::int)"
                                 " WHERE id = $1", stay["id"], GRACE_HOURS, rng.randrange(1, 72))

        for _ in range(4):
            await asyncio.gather(*(one_step() for _ in range(10)))
        killed = await holder(db)
        instances[killed].stop(signal.SIGKILL)
        for _ in range(4):  # the changes pending when it died, and these, are applied by the other
            await asyncio.gather(*(one_step() for _ in range(10)))
        survivor = next(name for name in instances if name != killed)
        assert await holder(db) == survivor
        police.base_url = instances[survivor].base_url
        counts = await assert_counts_exact(db, police, COUNTY)
        assert counts["overdue_stays"] > 0 and counts["departures_today"] > 0 and counts["current_guests"] > 0

        instances[killed].start()
        for _ in range(2):
            await asyncio.gather(*(one_step() for _ in range(10)))
        await assert_counts_exact(db, police, COUNTY)
        village_counts = await assert_counts_exact(db, police, village)
        [as_child] = [c for c in (await counts_of(police, COUNTY))["children"] if c["area"] == village]
        assert as_child == {k: village_counts[k] for k in as_child}  # the county's drill-down adds up the same
    finally:
        for client in (*clients.values(), landlord, police):
            await client.aclose()
        await db.close()


async def test_one_instance_applies_and_the_other_takes_over_when_it_dies(two_instances):
    dsn, instances = two_instances
    db = await asyncpg.connect(dsn)
    landlord, police, village = await set_up(instances["first"].base_url)
    try:
        [dwelling] = await make_dwellings(landlord, village, 1)
        first_holder = await holder(db)  # one of the two, and only one
        await asyncio.sleep(1)  # the other has tried for the lock meanwhile, and failed
        assert await holder(db) == first_holder
        instances[first_holder].stop(signal.SIGKILL)
        other = next(name for name in instances if name != first_holder)
        assert await holder(db) == other
        police.base_url = instances[other].base_url
        async with httpx.AsyncClient(base_url=instances[other].base_url, timeout=30) as anonymous:
            receipt = await register(anonymous, dwelling)
        counts = await assert_counts_exact(db, police, village)
        assert counts["current_stays"] == 1
        # Registered once, counted once, however long the applier took to come.
        assert await db.fetchval("SELECT count(*) FROM stays WHERE id = $1", receipt["id"]) == 1
    finally:
        for client in (landlord, police):
            await client.aclose()
        await db.close()


async def test_the_stream_of_one_instance_shows_a_registration_through_the_other_within_a_second(two_instances):
    dsn, instances = two_instances
    db = await asyncpg.connect(dsn)
    landlord, police, village = await set_up(instances["first"].base_url)
    try:
        [dwelling] = await make_dwellings(landlord, village, 1)
        applying = await holder(db)
        watching = next(name for name in instances if name != applying)  # the hub that is told by NOTIFY
        latencies = []
        async with (httpx.AsyncClient(base_url=instances[watching].base_url, headers=dict(police.headers)) as officer,
                    httpx.AsyncClient(base_url=instances[applying].base_url, timeout=30) as anonymous,
                    httpx.AsyncClient(base_url=instances[watching].base_url, timeout=30) as anonymous_on_watching):
            async with police_stream(officer, village) as events:
                counted = await guests_counted(events)
                for client in (anonymous, anonymous_on_watching, anonymous):
                    await register(client, dwelling)
                    registered = time.monotonic()
                    now_counted = await guests_counted(events)
                    latencies.append(time.monotonic() - registered)
                    assert now_counted == counted + 1
                    counted = now_counted
        latencies.sort()
        assert latencies[1] < 1.0, latencies  # the median of three: a stall of the shared machine is not the service
    finally:
        for client in (landlord, police):
            await client.aclose()
        await db.close()


async def test_overdue_counts_are_right_just_before_and_just_after_the_grace_period_ends(
        anonymous, db, make_staff, make_area, make_dwelling):
    """Overdue: not checked out more than the grace period after the expected departure (DESIGN.md)."""
    village = await make_area()
    police = await make_staff("police", area_code=village)
    dwelling = await make_dwelling(await make_staff("landlord"), village, capacity=5)
    long_ago, soon = await register(anonymous, dwelling), await register(anonymous, dwelling)
    await register(anonymous, dwelling)  # leaves in two days: not overdue
    # Due an hour past the grace period, and due to pass it ten seconds from now.
    await db.execute("UPDATE stays SET expected_departure = now() - make_interval(hours => $2 + 1) WHERE id = $1",
                     long_ago["id"], GRACE_HOURS)
    passes_at = await db.fetchval(
        "UPDATE stays SET expected_departure = now() - make_interval(hours => $2, secs => -10) WHERE id = $1"
        " RETURNING expected_departure + make_interval(hours => $2)", soon["id"], GRACE_HOURS)
    await counters_applied(db)
    before = await counts_of(police, village)
    assert await db.fetchval("SELECT now() <= $1", passes_at), "the machine stalled past the boundary; run again"
    assert before["overdue_stays"] == 1 == await db.fetchval(OVERDUE_FROM_SCRATCH, village, GRACE_HOURS)
    while await db.fetchval("SELECT now() <= $1", passes_at):
        await asyncio.sleep(0.2)
    after = await counts_of(police, village)
    assert after["overdue_stays"] == 2 == await db.fetchval(OVERDUE_FROM_SCRATCH, village, GRACE_HOURS)
    # A late check-out: no longer counted as overdue, nor present.
    (await anonymous.post(f"/api/v1/public/receipts/{long_ago['receipt_code']}/checkout")).raise_for_status()
    await counters_applied(db)
    checked_out = await counts_of(police, village)
    assert checked_out["overdue_stays"] == 1 and checked_out["current_stays"] == 2
    await police.aclose()


# A village of COUNTY with three dwellings, written through SQL as the service would.
SEED = f"""
    INSERT INTO areas (code, name, parent_code) VALUES ('{COUNTY}', 'county', NULL), ('{COUNTY}001', 'village', '{COUNTY}');
    INSERT INTO accounts (username, password_hash, role) VALUES ('owner', 'x', 'landlord');
    INSERT INTO dwellings (owner_id, name, address, area_code, kind, capacity, qr_token)
    SELECT 1, 'room ' || i, 'lane', '{COUNTY}001', 'rental_room', i, 'token-' || i FROM generate_series(1, 3) i"""
# Stays `$1` .. `$2`: every third guest from Shenzhen (floating), the others local; every fifth overdue.
# From 0014 on a guest carries the stay's check-in (its month partition): GUEST_CHECK_IN is then
# ", check_in" and the value ", current_date".
STAYS = f"""
    WITH made AS (
        INSERT INTO stays (id, dwelling_id, area_code, receipt_hash, check_in, check_out, expected_departure,
                           phone_cipher, phone_index, phone_masked, guest_count, registered_by, capacity_anomaly,
                           floating_count, origin_provinces)
        SELECT md5('stay' || j)::uuid, 1 + j % 3, '{COUNTY}001', sha256(('r' || j)::bytea), current_date,
               current_date + 1, CASE WHEN j % 5 = 0 THEN now() - interval '2 days' ELSE now() + interval '1 day' END,
               '\\x00', '\\x00', '138****0000', 1, 'guest', j % 4 = 0, (j % 3 = 0)::int,
               CASE WHEN j % 3 = 0 THEN ARRAY['44'] ELSE '{{}}' END
          FROM generate_series($1::int, $2::int) j
        RETURNING id
    )
    INSERT INTO stay_guests (id, stay_id, position, full_name, document_type, document_cipher, document_masked,
                             origin_division GUEST_CHECK_IN)
    SELECT md5('guest' || j)::uuid, md5('stay' || j)::uuid, 0, 'guest', 'resident_id', '\\x00', '44****',
           CASE WHEN j % 3 = 0 THEN '440305' ELSE '{COUNTY}' END GUEST_CHECK_IN_VALUE
      FROM generate_series($1::int, $2::int) j"""
STAYS_BEFORE_0014 = STAYS.replace(" GUEST_CHECK_IN_VALUE", "").replace(" GUEST_CHECK_IN", "")
STAYS = STAYS.replace("GUEST_CHECK_IN_VALUE", ", current_date").replace(" GUEST_CHECK_IN", ", check_in")
CHECK_OUT = "UPDATE stays SET checked_out_at = now(), checked_out_by = 'guest' WHERE id = md5('stay' || $1::int)::uuid"
COUNTERS = f"""
    SELECT sum(current_stays) AS current_stays, sum(current_guests) AS current_guests,
           sum(floating_population) AS floating_population, sum(capacity_anomalies) AS capacity_anomalies,
           sum(occupied_dwellings) AS occupied_dwellings,
           (SELECT sum(arrivals) FROM area_daily_counts WHERE day = $1) AS arrivals_today,
           (SELECT sum(departures) FROM area_daily_counts WHERE day = $1) AS departures_today,
           (SELECT array_agg(current_guests ORDER BY id) FROM dwellings) AS dwelling_guests
      FROM area_counts WHERE area_code LIKE '{COUNTY}%'"""
OVERDUE_COUNTED = """
    SELECT sum(stays) FROM area_departures WHERE expected_departure < now() - make_interval(hours => $1)"""


async def counts_from_scratch(conn: asyncpg.Connection) -> dict:
    scratch = dict(await conn.fetchrow(FROM_SCRATCH, COUNTY, TODAY))
    return {k: scratch[k] for k in ("current_guests", "floating_population", "capacity_anomalies",
                                    "occupied_dwellings", "arrivals_today", "departures_today")} | {
        "current_stays": await conn.fetchval("SELECT count(*) FROM stays WHERE checked_out_at IS NULL"),
        "dwelling_guests": await conn.fetchval(
            "SELECT array_agg((SELECT count(*) FROM stays s WHERE s.dwelling_id = d.id AND s.checked_out_at IS NULL)"
            " ORDER BY d.id) FROM dwellings d")}


async def test_the_migration_converts_a_database_counted_by_the_old_triggers_in_place(create_database):
    """A database of 0011 with stays counted by the per-row triggers: after 0012 every count is the same
    and equals a count from scratch, and what changes after it is counted by the applier alone."""
    conn = await asyncpg.connect(await create_database(), server_settings={"timezone": "Asia/Shanghai"})
    try:
        await conn.execute("CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz"
                           " NOT NULL DEFAULT now())")
        for version, sql in migration_files():
            if version < "0012":
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
        await conn.execute(SEED)
        await conn.execute(STAYS_BEFORE_0014, 1, 30)
        for j in (2, 5, 7):  # on time, late (overdue) and early
            await conn.execute(CHECK_OUT, j)
        before = dict(await conn.fetchrow(COUNTERS, TODAY))
        ledger_before = await conn.fetch("SELECT * FROM stats_ledger ORDER BY 1, 2, 3")

        assert await apply_migrations(conn) == [v for v, _ in migration_files() if v >= "0012"]
        converted = dict(await conn.fetchrow(COUNTERS, TODAY))
        assert converted == before == await counts_from_scratch(conn)  # kept as they were, and exact
        assert await conn.fetchval(OVERDUE_COUNTED, GRACE_HOURS) == 5 == await conn.fetchval(
            OVERDUE_FROM_SCRATCH, COUNTY, GRACE_HOURS)
        assert await conn.fetch("SELECT * FROM stats_ledger ORDER BY 1, 2, 3") == ledger_before

        await conn.execute(STAYS, 31, 40)
        for j in (10, 15, 31):
            await conn.execute(CHECK_OUT, j)
        assert dict(await conn.fetchrow(COUNTERS, TODAY)) == converted  # nothing applied yet
        async with conn.transaction():
            applied, _ = await conn.fetchrow("SELECT * FROM counters_apply(1000)")
        assert applied == 10 + 2 * 3  # the new stays, a pair (as it was, as it is) per check-out
        assert dict(await conn.fetchrow(COUNTERS, TODAY)) == await counts_from_scratch(conn)
        assert await conn.fetchval(OVERDUE_COUNTED, GRACE_HOURS) == await conn.fetchval(
            OVERDUE_FROM_SCRATCH, COUNTY, GRACE_HOURS)
        ledger = await conn.fetch(LEDGER, TODAY - timedelta(days=1))
        assert {tuple(r) for r in ledger} == {
            tuple(r) for r in await conn.fetch(LEDGER_FROM_SCRATCH, TODAY - timedelta(days=1))}

        # The retention purge of an overdue stay: gone from the counts, still in the statistics.
        await conn.execute("DELETE FROM stays WHERE id = md5('stay' || 20)::uuid")
        async with conn.transaction():
            assert (await conn.fetchrow("SELECT * FROM counters_apply(1000)"))["applied"] == 1
        assert dict(await conn.fetchrow(COUNTERS, TODAY)) == await counts_from_scratch(conn)
        assert await conn.fetchval(OVERDUE_COUNTED, GRACE_HOURS) == await conn.fetchval(
            OVERDUE_FROM_SCRATCH, COUNTY, GRACE_HOURS)
        assert {tuple(r) for r in await conn.fetch(LEDGER, TODAY - timedelta(days=1))} == {tuple(r) for r in ledger}
    finally:
        await conn.close()
