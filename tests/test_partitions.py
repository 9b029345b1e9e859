"""Stays and their guests in month partitions by check-in (0014_stay_partitions.sql): a database of the
old schema converted in place without losing a row or a count, registrations in their month (or the
DEFAULT partition until their month is made), retention dropping whole months, and searches reading only the
months of what they find."""

from __future__ import annotations

import json
import re
import uuid
from datetime import date, datetime, timedelta

import asyncpg
import httpx

from service.db.migrate import apply_migrations, migration_files
from service.police.search import search_query
from service.privacy.retention import purge
from service.progress import Progress
from service.stays.partitions import make_months_ahead
from tests.support import ADMIN_PASSWORD, ADMIN_USERNAME, ServiceProcess, StaffClient, idempotency_key
from tests.test_stays import TODAY, stay_body, token_of

COUNTY = "330782"
SEED = f"""
    INSERT INTO areas (code, name, parent_code) VALUES ('{COUNTY}', 'county', NULL), ('{COUNTY}001', 'village', '{COUNTY}');
    INSERT INTO accounts (username, password_hash, role) VALUES ('owner', 'x', 'landlord');
    INSERT INTO dwellings (owner_id, name, address, area_code, kind, capacity, qr_token)
    SELECT 1, 'room ' || i, 'lane', '{COUNTY}001', 'rental_room', 4, 'token-' || i FROM generate_series(1, 3) i"""
# Stays `$1` .. `$2`, checked in `$3` days ago (check-in days spread over `$4` days), staying `$5` nights;
# checked out at the end of their stay unless `$6` (then overdue). Two guests each, one from Shenzhen.
HISTORY = f"""
    WITH made AS (
        INSERT INTO stays (id, dwelling_id, area_code, receipt_hash, check_in, check_out, expected_departure,
                           phone_cipher, phone_index, phone_masked, guest_count, registered_by, created_at,
                           checked_out_at, checked_out_by, floating_count, origin_provinces)
        SELECT md5('stay' || j)::uuid, 1 + j % 3, '{COUNTY}001', sha256(('r' || j)::bytea), v.check_in,
               v.check_in + $5::int, (v.check_in + $5::int) + time '12:00', '\\x00', '\\x00', '138****0000', 2,
               'guest', v.check_in + time '15:00',
               CASE WHEN NOT $6 THEN (v.check_in + $5::int) + time '10:00' END,
               CASE WHEN NOT $6 THEN 'guest' END, 1, ARRAY['44']
          FROM generate_series($1::int, $2::int) j,
               LATERAL (SELECT current_date - $3::int + (j % $4::int) AS check_in) v
        RETURNING id, check_in
    )
    INSERT INTO stay_guests (id, stay_id, position, full_name, document_type, document_cipher, document_index,
                             document_masked, origin_division GUEST_CHECK_IN)
    SELECT md5('guest' || m.id || p)::uuid, m.id, p, 'guest ' || p, 'resident_id', '\\x00',
           sha256((m.id || '-' || p)::bytea), '44****', CASE p WHEN 0 THEN '{COUNTY}' ELSE '440305' END
           GUEST_CHECK_IN_VALUE
      FROM made m, generate_series(0, 1) p"""
HISTORY_BEFORE_0014 = HISTORY.replace(" GUEST_CHECK_IN_VALUE", "").replace(" GUEST_CHECK_IN", "")
HISTORY = HISTORY.replace("GUEST_CHECK_IN_VALUE", ", m.check_in").replace(" GUEST_CHECK_IN", ", check_in")

STAYS = "SELECT * FROM stays ORDER BY id"
GUESTS = """SELECT id, stay_id, position, full_name, document_type, document_cipher, document_index, document_masked,
                   nationality, relationship, birth_year, sex, origin_division, is_foreign, name_key
              FROM stay_guests ORDER BY id"""
# Every counter the applier keeps, and each from the stays (the display zone is the connection's).
COUNTERS = """
    SELECT (SELECT array_agg(current_guests ORDER BY id) FROM dwellings) AS dwelling_guests,
           (SELECT sum(current_stays)::int FROM area_counts) AS current_stays,
           (SELECT sum(current_guests)::int FROM area_counts) AS current_guests,
           (SELECT sum(floating_population)::int FROM area_counts) AS floating,
           (SELECT sum(occupied_dwellings)::int FROM area_counts) AS occupied,
           (SELECT sum(guests)::int FROM area_origin_counts) AS origins,
           (SELECT sum(stays)::int FROM area_departures) AS departures,
           (SELECT array_agg(day || ': ' || a || ' in, ' || d || ' out' ORDER BY day)
              FROM (SELECT day, sum(arrivals) a, sum(departures) d FROM area_daily_counts GROUP BY day
                    HAVING sum(arrivals) <> 0 OR sum(departures) <> 0) x) AS days"""
FROM_SCRATCH = """
    SELECT (SELECT array_agg((SELECT coalesce(sum(guest_count), 0) FROM stays s
                               WHERE s.dwelling_id = d.id AND s.checked_out_at IS NULL)::int ORDER BY d.id)
              FROM dwellings d) AS dwelling_guests,
           count(*)::int AS current_stays, coalesce(sum(guest_count), 0)::int AS current_guests,
           coalesce(sum(floating_count), 0)::int AS floating, count(DISTINCT dwelling_id)::int AS occupied,
           coalesce(sum(cardinality(origin_provinces)), 0)::int AS origins, count(*)::int AS departures,
           (SELECT array_agg(day || ': ' || a || ' in, ' || d || ' out' ORDER BY day)
              FROM (SELECT day, sum(a) a, sum(d) d
                      FROM (SELECT created_at::date AS day, guest_count a, 0 d FROM stays
                            UNION ALL
                            SELECT checked_out_at::date, 0, guest_count FROM stays WHERE checked_out_at IS NOT NULL) e
                     GROUP BY day) x) AS days
      FROM stays WHERE checked_out_at IS NULL"""
LEDGER = """SELECT day, dwelling_id, origin, sum(arrivals), sum(departures) FROM stats_ledger GROUP BY 1, 2, 3
            HAVING sum(arrivals) <> 0 OR sum(departures) <> 0 ORDER BY 1, 2, 3"""
# Each row's partition, and the one its check-in month should be in.
MISPLACED = """
    SELECT count(*) FROM {table} WHERE tableoid::regclass::text <> '{table}_' || to_char(check_in, 'YYYY_MM')"""


class Recorded(Progress):
    def __init__(self) -> None:
        self.phases: list[tuple[str, int, str]] = []
        self.done: list[int] = []

    def phase(self, description: str, total: int, unit: str) -> None:
        self.phases.append((description, total, unit))
        self.done.append(0)

    def advance(self, amount: int = 1) -> None:
        self.done[-1] += amount


def month_of(day: date) -> str:
    return f"{day:%Y_%m}"


async def apply_counters(conn: asyncpg.Connection) -> None:
    async with conn.transaction():
        await conn.execute("SELECT counters_apply(100000)")


async def migrated_before(conn: asyncpg.Connection, first_left_out: str) -> None:
    await conn.execute("CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz"
                       " NOT NULL DEFAULT now())")
    for version, sql in migration_files():
        if version < first_left_out:
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)


async def test_the_migration_partitions_a_database_of_the_old_schema_keeping_every_row_and_count(create_database):
    conn = await asyncpg.connect(await create_database(), server_settings={"timezone": "Asia/Shanghai"})
    try:
        await migrated_before(conn, "0014")
        await conn.execute(SEED)
        # Five months of history, checked out; some stays still in (three overdue), the changes of the
        # newest not yet applied when the migration runs.
        await conn.execute(HISTORY_BEFORE_0014, 1, 150, 150, 140, 3, False)
        await conn.execute(HISTORY_BEFORE_0014, 151, 153, 20, 1, 2, True)
        await apply_counters(conn)
        await conn.execute(HISTORY_BEFORE_0014, 154, 160, 0, 1, 2, True)
        await conn.execute("INSERT INTO alerts (kind, dwelling_id, area_code, stay_id) "
                           f"SELECT 'duplicate_presence', 1, '{COUNTY}001', md5('stay' || 155)::uuid")
        stays, guests = await conn.fetch(STAYS), await conn.fetch(GUESTS)
        pending = await conn.fetchval("SELECT count(*) FROM stay_changes")
        assert pending > 0
        counting = conn.transaction()  # the counts as they will be once the pending changes are applied
        await counting.start()
        await conn.execute("SELECT counters_apply(100000)")
        counted, ledger = dict(await conn.fetchrow(COUNTERS)), await conn.fetch(LEDGER)
        await counting.rollback()
        months = await conn.fetchval("SELECT count(DISTINCT date_trunc('month', check_in)) FROM stays")
        assert months >= 5

        progress = Recorded()
        assert await apply_migrations(conn, progress) == [v for v, _ in migration_files() if v >= "0014"]
        assert progress.phases[0] == ("copying stays and guests into month partitions", months, "months")
        assert progress.done[0] == months
        assert progress.phases[1][1:] == (13, "indexes") and progress.done[1] == 13

        assert await conn.fetch(STAYS) == stays
        assert await conn.fetch(GUESTS) == guests
        assert await conn.fetchval(MISPLACED.format(table="stays")) == 0
        assert await conn.fetchval(MISPLACED.format(table="stay_guests")) == 0
        assert await conn.fetchval("SELECT count(*) FROM stay_guests g JOIN stays s ON s.id = g.stay_id"
                                   " AND s.check_in = g.check_in") == len(guests)
        assert await conn.fetchval("SELECT count(*) FROM stay_changes") == pending
        await apply_counters(conn)
        assert dict(await conn.fetchrow(COUNTERS)) == counted == dict(await conn.fetchrow(FROM_SCRATCH))
        assert await conn.fetch(LEDGER) == ledger
        # This month and the three after it are there for the registrations to come.
        for ahead in range(4):
            month = (TODAY.replace(day=1) + timedelta(days=31 * ahead)).replace(day=1)
            assert await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"stays_{month_of(month)}")

        # Changes after the conversion are counted as before: a check-out, a deletion (its guests go too).
        await conn.execute("UPDATE stays SET checked_out_at = now(), checked_out_by = 'guest'"
                           " WHERE id = md5('stay' || 151)::uuid")
        await conn.execute("DELETE FROM alerts")
        await conn.execute("DELETE FROM stays WHERE id = md5('stay' || 152)::uuid")
        assert await conn.fetchval("SELECT count(*) FROM stay_guests WHERE stay_id = md5('stay' || 152)::uuid") == 0
        await apply_counters(conn)
        assert dict(await conn.fetchrow(COUNTERS)) == dict(await conn.fetchrow(FROM_SCRATCH))
    finally:
        await conn.close()


async def test_a_registration_lands_in_its_month_and_one_without_its_month_still_registers(
        create_database, tmp_path):
    """Through the service: without this month's partitions a registration goes into the DEFAULT one, its
    receipt and check-out work, and making the month moves it there without changing a count."""
    dsn = await create_database()
    service = ServiceProcess(dsn=dsn, data_dir=tmp_path).start()
    conn = await asyncpg.connect(dsn, server_settings={"timezone": "Asia/Shanghai"})
    try:
        month = month_of(TODAY)
        await conn.execute(f"DROP TABLE stays_{month}, stay_guests_{month}")
        admin = await StaffClient.log_in(service.base_url, ADMIN_USERNAME, ADMIN_PASSWORD)
        await admin.post("/api/v1/areas", json={"code": COUNTY, "name": "county"})
        await admin.post("/api/v1/accounts", json={"username": "partition-landlord", "password": "long-enough-pw",
                                                    "role": "landlord", "area_code": COUNTY})
        landlord = await StaffClient.log_in(service.base_url, "partition-landlord", "long-enough-pw")
        dwelling = (await landlord.post("/api/v1/dwellings", json={
            "name": "Room", "address": "Lane 1", "area_code": COUNTY, "kind": "homestay", "capacity": 4})).json()
        async with httpx.AsyncClient(base_url=service.base_url) as guest:
            async def register() -> dict:
                made = await guest.post(f"/api/v1/public/dwellings/{token_of(dwelling)}/stays",
                                        json=stay_body(companions=[{"full_name": "李四", "relationship": "child"}]),
                                        headers={"Idempotency-Key": idempotency_key()})
                assert made.status_code == 201, made.text
                return made.json()

            first, second = await register(), await register()
            where = "SELECT tableoid::regclass::text FROM {} WHERE {} = $1"
            assert await conn.fetchval(where.format("stays", "id"), first["id"]) == "stays_default"
            assert {r[0] for r in await conn.fetch(where.format("stay_guests", "stay_id"), first["id"])} == {
                "stay_guests_default"}
            assert (await guest.post(f"/api/v1/public/receipts/{second['receipt_code']}/checkout")).status_code == 200
            await apply_counters(conn)
            counted = dict(await conn.fetchrow(COUNTERS))
            assert counted == dict(await conn.fetchrow(FROM_SCRATCH)) and counted["current_stays"] == 1

            assert month.replace("_", "-") in await make_months_ahead(conn)
            assert await conn.fetchval(where.format("stays", "id"), first["id"]) == f"stays_{month}"
            assert {r[0] for r in await conn.fetch(where.format("stay_guests", "stay_id"), first["id"])} == {
                f"stay_guests_{month}"}
            assert await conn.fetchval("SELECT count(*) FROM stays_default") == 0
            assert await conn.fetchval("SELECT count(*) FROM stay_changes") == 0  # a move is no change
            assert dict(await conn.fetchrow(COUNTERS)) == counted
            receipt = await guest.get(f"/api/v1/public/receipts/{first['receipt_code']}")
            assert receipt.status_code == 200 and len(receipt.json()["guests"]) == 2

            third = await register()
            assert await conn.fetchval(where.format("stays", "id"), third["id"]) == f"stays_{month}"
            assert await conn.fetchval(where.format("stay_guests", "stay_id"), third["id"]) == f"stay_guests_{month}"
            assert (await landlord.post(f"/api/v1/stays/{first['id']}/checkout")).status_code == 200
        await apply_counters(conn)
        assert dict(await conn.fetchrow(COUNTERS)) == dict(await conn.fetchrow(FROM_SCRATCH))
        for client in (admin, landlord):
            await client.aclose()
    finally:
        await conn.close()
        service.stop()


async def test_purge_drops_whole_months_and_deletes_only_the_edge_rows(create_database):
    conn = await asyncpg.connect(await create_database(), server_settings={"timezone": "Asia/Shanghai"})
    try:
        await apply_migrations(conn)
        await conn.execute(SEED)
        oldest = (TODAY - timedelta(days=150)).replace(day=1)
        await conn.execute("SELECT stays_partition_month(m::date) FROM generate_series($1::date, current_date,"
                           " interval '1 month') m", oldest)
        # Retention 60 days. Checked in from the first of the month 150 days ago, over 50 days, and out
        # after 3 nights; three never checked out (overdue); one checked in 75 days ago still in (a long
        # stay: it keeps its month and those after it); two ended 62 days ago (edges, deleted one by
        # one); some of the last 30 days.
        await conn.execute(HISTORY, 1, 100, (TODAY - oldest).days, 50, 3, False)
        await conn.execute(HISTORY, 101, 103, (TODAY - oldest).days - 3, 1, 2, True)
        await conn.execute(HISTORY, 104, 104, 75, 1, 80, True)
        await conn.execute(HISTORY, 105, 106, 64, 1, 2, False)
        await conn.execute(HISTORY, 107, 120, 30, 30, 2, False)
        await conn.execute(HISTORY, 121, 125, 0, 1, 2, True)
        await apply_counters(conn)
        ledger = await conn.fetch(LEDGER)
        cutoff = datetime.now().astimezone() - timedelta(days=60)
        long_stay_month = (TODAY - timedelta(days=75)).replace(day=1)
        ended = await conn.fetch("SELECT id, check_in FROM stays WHERE coalesce(checked_out_at, expected_departure)"
                                 " < $1", cutoff)
        whole = sorted({r["check_in"].replace(day=1) for r in ended if r["check_in"] < long_stay_month})
        assert whole
        in_whole = sum(1 for r in ended if r["check_in"].replace(day=1) in whole)
        kept = await conn.fetchval("SELECT count(*) FROM stays") - len(ended)

        dry = dict(await purge(conn, 60, dry_run=True))
        months = ", ".join(f"{m:%Y-%m}" for m in whole)
        assert dry[f"stays (with their guests) in months dropped whole: {months}"] == in_whole
        assert dry["stays (with their guests)"] == len(ended) - in_whole
        assert await conn.fetchval("SELECT count(*) FROM stays") == len(ended) + kept

        done = dict(await purge(conn, 60, dry_run=False))
        assert done == dry
        for month in whole:
            assert await conn.fetchval("SELECT to_regclass($1)", f"stays_{month_of(month)}") is None
            assert await conn.fetchval("SELECT to_regclass($1)", f"stay_guests_{month_of(month)}") is None
        assert await conn.fetchval("SELECT count(*) FROM stays") == kept
        assert await conn.fetchval("SELECT count(*) FROM stays WHERE id = ANY($1::uuid[])", [r["id"] for r in ended]) == 0
        assert await conn.fetchval("SELECT count(*) FROM stay_guests WHERE stay_id = ANY($1::uuid[])",
                                   [r["id"] for r in ended]) == 0
        assert await conn.fetchval("SELECT count(*) FROM stay_guests") == 2 * kept
        assert await conn.fetchval(f"SELECT count(*) FROM stays_{month_of(long_stay_month)}") >= 1
        assert await conn.fetchval("SELECT count(*) FROM stays WHERE id = md5('stay' || 104)::uuid") == 1
        # Counts from scratch, as a row-by-row deletion would have left them; rollups outlive the stays.
        await apply_counters(conn)
        assert dict(await conn.fetchrow(COUNTERS)) == dict(await conn.fetchrow(FROM_SCRATCH))
        assert await conn.fetch(LEDGER) == ledger
        assert dict(await purge(conn, 60, dry_run=False))["stays (with their guests)"] == 0
    finally:
        await conn.close()


async def months_of_history(create_database) -> asyncpg.Connection:
    """A connection to a new database holding 1,800 stays over the last 180 days, in their month partitions."""
    conn = await asyncpg.connect(await create_database(), server_settings={"timezone": "Asia/Shanghai"})
    await apply_migrations(conn)
    await conn.execute(SEED)
    await conn.execute("SELECT stays_partition_month(m::date) FROM generate_series(current_date - 200,"
                       " current_date, interval '1 month') m")
    await conn.execute(HISTORY, 1, 1800, 180, 180, 3, False)
    await conn.execute("ANALYZE stays, stay_guests")
    return conn


async def partitions_read(conn: asyncpg.Connection, table: str, sql: str, *args: tuple[str, object]) -> set[str]:
    """The month partitions of ``table`` that ``sql`` read, run with (type, value) arguments as a cached generic
    plan (what a connection runs from its sixth execution on): the partitions its plan did not prune."""
    async with conn.transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute(f"PREPARE generic ({', '.join(t for t, _ in args)}) AS {sql}")
        values = [await conn.fetchval(f"SELECT quote_literal($1::{t})", v) for t, v in args]
        [explained] = json.loads(await conn.fetchval(
            f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE generic ({', '.join(values)})"))
        await conn.execute("DEALLOCATE generic")
    assert re.search(r"\$\d", json.dumps(explained["Plan"])), "not a generic plan"

    def read(node: dict) -> set[str]:
        here = {node["Relation Name"]} if node.get("Relation Name", "").startswith(f"{table}_") and node.get(
            "Actual Loops") else set()
        return here.union(*(read(child) for child in node.get("Plans", [])))

    return read(explained["Plan"])


async def test_a_search_reads_only_the_months_of_what_it_finds_even_as_a_generic_plan(create_database):
    """A person found in two months: the search by document reads the stays of those two months only, the
    search by phone the guests of the stays it found only (a join read every month once a connection's
    plan was generic), with the rows the join of the two tables gives."""
    conn = await months_of_history(create_database)
    try:
        person = await conn.fetchval("SELECT document_index FROM stay_guests WHERE stay_id = md5('stay' || 10)::uuid"
                                     " AND position = 0")
        await conn.execute("UPDATE stay_guests SET document_index = $1 WHERE stay_id = md5('stay' || 100)::uuid"
                           " AND position = 1", person)
        await conn.execute("UPDATE stays SET phone_index = '\\x01' WHERE id IN (md5('stay' || 10)::uuid,"
                           " md5('stay' || 100)::uuid)")
        months = {f"{r[0]:%Y_%m}" for r in await conn.fetch(
            "SELECT check_in FROM stays WHERE id IN (md5('stay' || 10)::uuid, md5('stay' || 100)::uuid)")}
        assert len(months) == 2 and await conn.fetchval("SELECT count(DISTINCT tableoid) FROM stays") >= 6

        by_document = search_query("g.document_index = $2")
        assert await partitions_read(conn, "stays", by_document, ("text", COUNTY), ("bytea", person)) == {
            f"stays_{m}" for m in months}
        by_phone = search_query("s.phone_index = $2")
        assert await partitions_read(conn, "stay_guests", by_phone, ("text", COUNTY), ("bytea", b"\x01")) == {
            f"stay_guests_{m}" for m in months}

        joined = """SELECT s.id, g.id FROM stay_guests g JOIN stays s ON s.id = g.stay_id AND s.check_in = g.check_in
                     WHERE s.area_code LIKE $1 || '%' AND {} ORDER BY 1, 2"""
        for found, condition, value in ((by_document, "g.document_index = $2", person),
                                        (by_phone, "s.phone_index = $2", b"\x01")):
            rows = await conn.fetch(f"SELECT stay_id, guest_id FROM ({found}) r ORDER BY 1, 2", COUNTY, value)
            assert [tuple(r) for r in rows] == [tuple(r) for r in await conn.fetch(joined.format(condition),
                                                                                     COUNTY, value)]
            assert len(rows) == (2 if condition.startswith("g.") else 4)
    finally:
        await conn.close()


async def test_the_counter_applier_reads_only_the_guests_of_the_stays_it_applies(create_database):
    """The statistics ledger's part of a batch finds its stays' guests by stay and month: two stays of two
    months read those two months' guests, as a generic plan too (it read every guest of every month, so
    each batch cost more as the months filled: 0.35 s at 1,000,000 stays), and every stay (NULLs, the
    rebuild) still gives each guest its origin."""
    conn = await months_of_history(create_database)
    try:
        picked = await conn.fetch("SELECT id, check_in FROM stays WHERE id IN (md5('stay' || 10)::uuid,"
                                  " md5('stay' || 100)::uuid)")
        months = {f"{r['check_in']:%Y_%m}" for r in picked}
        assert len(months) == 2 and await conn.fetchval("SELECT count(DISTINCT tableoid) FROM stay_guests") >= 6

        origins = "SELECT * FROM stats_guest_origins($1, $2)"
        ids, check_ins = [r["id"] for r in picked], [r["check_in"] for r in picked]
        assert await partitions_read(conn, "stay_guests", origins, ("uuid[]", ids), ("date[]", check_ins)) == {
            f"stay_guests_{m}" for m in months}
        found = await conn.fetch(origins, ids + ids, check_ins + check_ins)  # a stay twice in a batch: once
        assert sorted(r["stay_id"] for r in found) == sorted(await conn.fetchval(
            "SELECT array_agg(stay_id) FROM stay_guests WHERE stay_id = ANY ($1)", ids))
        assert await conn.fetchval("SELECT count(*) FROM stats_guest_origins(NULL, NULL)") == await conn.fetchval(
            "SELECT count(*) FROM stay_guests")
    finally:
        await conn.close()


# A registration of one guest with document index `$3` at dwelling 1 today, by the SQL the service calls.
STORE_ONE = """
    SELECT * FROM store_stay(1, $1::uuid, sha256($1::uuid::text::bytea), current_date, current_date + 1,
                             now() + interval '1 day', '\\x00', '\\x00', '138****0000', 'guest', ARRAY[$2::uuid],
                             ARRAY['guest'], ARRAY['resident_id'], ARRAY['\\x00'::bytea], ARRAY[$3::bytea],
                             ARRAY['44****'], ARRAY[NULL::text], ARRAY[NULL::text], ARRAY[NULL::smallint],
                             ARRAY[NULL::char(1)], ARRAY['440305'::char(6)], ARRAY[false], ARRAY['guest'],
                             '{}'::jsonb)"""
# Blocks of each month's index of guests' documents read from memory or disk so far (an index, not the table:
# autovacuum's ANALYZE reads tables while a test runs, and counts there too).
DOCUMENT_INDEX_BLOCKS = """
    SELECT relname, idx_blks_hit + idx_blks_read FROM pg_statio_user_indexes
     WHERE relname LIKE 'stay_guests\\__%' AND indexrelname LIKE '%document_index%'"""


async def guest_months_read(conn: asyncpg.Connection, sql: str, *args: object) -> tuple[set[str], asyncpg.Record]:
    """The months whose guests' documents ``sql`` looked up (as a cached generic plan), and its row. (A month
    without guests reads no block: its index's empty root is known from its first page, kept in memory.)"""
    flush = "SELECT pg_stat_force_next_flush()"  # this backend's counts, out as soon as it is idle
    await conn.execute(flush)
    before = dict(await conn.fetch(DOCUMENT_INDEX_BLOCKS))
    async with conn.transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        row = await conn.fetchrow(sql, *args)
    await conn.execute(flush)
    after = dict(await conn.fetch(DOCUMENT_INDEX_BLOCKS))
    return {name.removeprefix("stay_guests_") for name, blocks in after.items() if blocks > before.get(name, 0)}, row


async def test_a_registration_looks_for_its_guests_elsewhere_only_from_the_oldest_stay_not_checked_out(
        create_database):
    """Duplicate presence: a guest still at a stay of 100 days ago (never checked out) is found, reading the
    guests of that month and the ones after only; once that stay is checked out, the same guest registering
    again reads this month's guests only and is found at the stay registered today. (Every month was read:
    at a province's size a page not in memory per month, 36 a registration.)"""
    conn = await months_of_history(create_database)
    try:
        await conn.execute(HISTORY, 5000, 5000, 100, 1, 3, True)
        overdue = await conn.fetchrow("SELECT s.id, s.check_in, g.document_index FROM stays s JOIN stay_guests g"
                                      " ON g.stay_id = s.id AND g.position = 0 WHERE s.id = md5('stay' || 5000)::uuid")
        months = {month_of(r[0]) for r in await conn.fetch("SELECT DISTINCT check_in FROM stay_guests")}
        since_overdue = {m for m in months if m >= month_of(overdue["check_in"])}
        assert len(months - since_overdue) >= 2 and month_of(TODAY) in since_overdue
        # Once, so what its planning reads (every month's index's first page, kept after) is not counted.
        await guest_months_read(conn, STORE_ONE, uuid.uuid4(), uuid.uuid4(), b"a document nobody else has")

        first_id = uuid.uuid4()
        read, found = await guest_months_read(conn, STORE_ONE, first_id, uuid.uuid4(), overdue["document_index"])
        assert read == since_overdue
        assert json.loads(found["body"])["notices"] == [{"code": "already_present"}]
        assert await conn.fetchval("SELECT array_agg(details->>'other_stay_id') FROM alerts WHERE id = ANY ($1)",
                                   found["alert_ids"]) == [str(overdue["id"])]

        await conn.execute("UPDATE stays SET checked_out_at = now(), checked_out_by = 'owner' WHERE id = $1",
                           overdue["id"])
        read, found = await guest_months_read(conn, STORE_ONE, uuid.uuid4(), uuid.uuid4(), overdue["document_index"])
        assert read == {month_of(TODAY)}
        assert await conn.fetchval("SELECT array_agg(details->>'other_stay_id') FROM alerts WHERE id = ANY ($1)",
                                   found["alert_ids"]) == [str(first_id)]
    finally:
        await conn.close()
