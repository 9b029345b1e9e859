"""Growth from --small to --large stays (issue 15): the same five measurements at both sizes, in one run.

For each size in turn: a fresh database (DATABASE_URL's server, or an embedded PostgreSQL), the real
service as a child process, the county tree, a police account and one dwelling through the API
(bench/police.py's set_up_through_api); then --dwellings dwellings and the stays, one guest each, by
bulk SQL spread over the --days (three years) before today, into their month partitions, with the
counters and statistics rollups built from the rows (bench/statistics.py's bulk_load). Then:

1. occupancy     GET /api/v1/police/occupancy?area=331004 as the county's police, --calls times
                 (bench/police.py's occupancy_over_http: interleaved with an empty town and /readyz).
2. registration  --registrations new guests, one POST after the other over one keep-alive connection,
                 each from its own address, dwellings round-robin: p50/p99 of the 201s.
3. search        GET /api/v1/police/search?document_number=..&reason=.. for the guests just registered
                 (each found once, in this month's partition; every partition's index is probed), --calls times.
4. statistics    a year by day for the county (bench/statistics.py's over_http), --calls times.
5. purge         the service stopped, then the oldest month of stays with their guests removed twice,
                 each after a CHECKPOINT (so both pay the first-touch full-page images a daily purge pays):
                 row by row (DELETE FROM stays ... through the partitioned root in one committed transaction,
                 its statement triggers deleting the guests and booking the changes, as purge deletes at
                 the edges; then counters_apply until the changes are applied, as the service's applier
                 would a moment later), then the same rows put back into the month's partitions from a copy, and the
                 month dropped whole (stays_drop_month, as purge does). Time, and WAL bytes
                 (pg_wal_lsn_diff of pg_current_wal_lsn() before and after): WAL is counted for the whole
                 server, so on a shared DATABASE_URL server others' writes count too (the embedded
                 PostgreSQL, DATABASE_URL unset, has no other writer).

Then a table of large/small growth ratios, the targets (occupancy, search and registration p50 and p99
within 1.3x) marked met or MISSED, and row by row / by partition for the purge at each size.

Disk: before each size the free space where the database lives (its data directory, when this machine's;
else the temp folder) is checked against an estimate: at first --bytes-per-stay per stay, for the large
size then the small one's database size scaled up (x1.2); short of it, the run refuses and says so.

    python -m bench.scale [--small 1000000] [--large 10000000] [--dwellings 20000] [--days 1095]
                          [--calls 200] [--registrations 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from bench.guests import body
from bench.police import COUNTY, ZONE, ZONE_NAME, occupancy_over_http, percentile, say, set_up_through_api
from bench.registrations import BEHIND_PROXY, LANDLORD, STAYS_PATH, Database, sql
from bench.statistics import bulk_load, over_http
from service.police.counters import BATCH as COUNTER_BATCH
from tests.support import ServiceProcess, counters_applied

TARGET_GROWTH = 1.3
ESTIMATE_MARGIN = 1.2
SEARCH_REASON = "scale benchmark: search by document number"
DELETE_MONTH = "DELETE FROM stays WHERE check_in >= $1 AND check_in < $1 + interval '1 month'"


@dataclass
class Size:
    """What one size measured: milliseconds per call of each kind, the purge's (seconds, WAL bytes) by way."""
    stays: int
    database_bytes: int = 0
    load_seconds: float = 0.0
    ms: dict[str, list[float]] = field(default_factory=dict)
    purge: dict[str, tuple[float, int]] = field(default_factory=dict)
    month: str = ""
    month_stays: int = 0


# --- disk ---------------------------------------------------------------------------------------

def data_folder(db: Database) -> Path:
    """Where the database's files grow: the server's data directory when it is on this machine."""
    if db.folder is not None:
        return db.folder
    try:
        folder = Path(sql(db.server_dsn, "SHOW data_directory")[0][0])
    except asyncpg.PostgresError:  # not a superuser: the setting is hidden
        folder = None
    return folder if folder is not None and folder.exists() else Path(tempfile.gettempdir())


def enough_disk(folder: Path, needed: int, what: str) -> bool:
    free = shutil.disk_usage(folder).free
    say(f"  disk: {free / 1e9:.1f} GB free in {folder}, {what} needs about {needed / 1e9:.1f} GB")
    if free < needed:
        say(f"NOT ENOUGH DISK SPACE for {what}: about {needed / 1e9:.1f} GB needed, {free / 1e9:.1f} GB free in "
            f"{folder}. Free some space or run smaller sizes (--small/--large).")
    return free >= needed


# --- the measurements over HTTP -----------------------------------------------------------------

def registrations(base_url: str, tokens: list[str], first: int, count: int) -> tuple[list[float], list[str]]:
    """``count`` new guests, one POST after the other: milliseconds of each 201, and the document numbers."""
    today = datetime.now(ZONE).date()
    ms, documents = [], []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for n in range(first, first + count):
            guest = body(n, today)
            started = time.perf_counter()
            response = client.post(STAYS_PATH.format(token=tokens[n % len(tokens)]), json=guest, headers={
                "Idempotency-Key": f"bench-scale-{n:09d}", "X-Forwarded-For": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"})
            took = 1000 * (time.perf_counter() - started)
            if response.status_code != 201:
                raise RuntimeError(f"registration {n}: {response.status_code} {response.text[:300]}")
            ms.append(took)
            documents.append(guest["document_number"])
    return ms, documents


async def applied(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await counters_applied(conn, within_seconds=120)
    finally:
        await conn.close()


def searches(base_url: str, token: str, documents: list[str], calls: int) -> list[float]:
    """Milliseconds of each search by document number (the first five warm up); each must find its guest."""
    ms = []
    with httpx.Client(base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:
        for n in range(calls + 5):
            document = documents[n % len(documents)]
            started = time.perf_counter()
            response = client.get("/api/v1/police/search",
                                  params={"document_number": document, "reason": SEARCH_REASON})
            took = 1000 * (time.perf_counter() - started)
            response.raise_for_status()
            if len(response.json()) != 1:
                raise RuntimeError(f"search for {document}: {len(response.json())} results, not 1")
            if n >= 5:
                ms.append(took)
    return ms


# --- the purge of one month, two ways -----------------------------------------------------------

async def timed_with_wal(conn: asyncpg.Connection, work: Callable[[], Awaitable[None]]) -> tuple[float, int]:
    """Seconds and WAL bytes of ``work``, after a CHECKPOINT."""
    await conn.execute("CHECKPOINT")
    before = await conn.fetchval("SELECT pg_current_wal_lsn()")
    started = time.perf_counter()
    await work()
    seconds = time.perf_counter() - started
    wal = await conn.fetchval("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::bigint", before)
    return seconds, wal


async def apply_changes(conn: asyncpg.Connection) -> None:
    """counters_apply until no change is left, as the service's counter applier does."""
    while (await conn.fetchrow("SELECT * FROM counters_apply($1)", COUNTER_BATCH))["applied"]:
        pass


async def purge_month(dsn: str, size: Size) -> None:
    conn = await asyncpg.connect(dsn, server_settings={"timezone": ZONE_NAME})
    try:
        # The oldest month wholly loaded (the first is cut by the --days window).
        month = await conn.fetchval("SELECT (date_trunc('month', min(check_in)) + interval '1 month')::date FROM stays")
        part = f"{month:%Y_%m}"
        size.month = f"{month:%Y-%m}"
        size.month_stays = await conn.fetchval(f"SELECT count(*) FROM stays_{part}")
        await conn.execute(f"CREATE UNLOGGED TABLE bench_month_stays AS TABLE stays_{part};"
                           f"CREATE UNLOGGED TABLE bench_month_guests AS TABLE stay_guests_{part};"
                           "CREATE UNLOGGED TABLE bench_daily_counts AS TABLE area_daily_counts")
        await apply_changes(conn)  # the registrations' changes, if the service stopped before applying them

        async def row_by_row() -> None:
            async with conn.transaction():
                await conn.execute(DELETE_MONTH, month)
            # What the service's counter applier does a moment later for the changes the delete booked
            # (the partition's drop takes them off the counters itself, in its own transaction).
            await apply_changes(conn)

        async def by_partition() -> None:
            async with conn.transaction():
                await conn.execute("SELECT stays_drop_month($1)", month)

        size.purge["row by row"] = await timed_with_wal(conn, row_by_row)
        # Back in their partitions by name (the root's statement triggers do not fire), and the daily counts
        # as they were: the drop starts where the delete did.
        await conn.execute(f"INSERT INTO stays_{part} SELECT * FROM bench_month_stays;"
                           f"INSERT INTO stay_guests_{part} SELECT * FROM bench_month_guests;"
                           "DELETE FROM area_daily_counts; INSERT INTO area_daily_counts SELECT * FROM bench_daily_counts;"
                           "DROP TABLE bench_month_stays, bench_month_guests, bench_daily_counts")
        await conn.execute(f"VACUUM (ANALYZE) stays_{part}, stay_guests_{part}, area_daily_counts")
        if await conn.fetchval(f"SELECT count(*) FROM stays_{part}") != size.month_stays:
            raise RuntimeError(f"the month {size.month} was not put back whole")
        size.purge["by partition"] = await timed_with_wal(conn, by_partition)
    finally:
        await conn.close()


# --- one size -----------------------------------------------------------------------------------

def measure(args: argparse.Namespace, stays: int, estimate: int) -> Size | None:
    """Everything at one size; None when the disk is short."""
    size = Size(stays)
    say(f"\n=== {stays:,} stays over {args.dwellings:,} dwellings, {args.days} days ===")
    work = Path(tempfile.mkdtemp(prefix="vh-bench-scale-"))
    db, service = Database(), None
    try:
        if not enough_disk(data_folder(db), estimate, f"{stays:,} stays"):
            return None
        service = ServiceProcess(dsn=db.dsn, data_dir=work / "service", extra_env=BEHIND_PROXY).start()
        token = asyncio.run(set_up_through_api(service.base_url))
        owner_id = sql(db.dsn, "SELECT id FROM accounts WHERE username = $1", LANDLORD["username"])[0]["id"]
        say(f"bulk SQL into {db.name}:")
        started = time.monotonic()
        asyncio.run(bulk_load(db.dsn, owner_id, args.dwellings, stays, args.days))
        size.load_seconds = time.monotonic() - started
        size.database_bytes = sql(db.dsn, "SELECT pg_database_size(current_database())")[0][0]
        months = sql(db.dsn, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'stays'::regclass")[0][0]
        say(f"  loaded in {size.load_seconds:.0f} s: database {size.database_bytes / 1e6:,.0f} MB, "
            f"{months} partitions of stays")

        say(f"measuring: occupancy x{args.calls}, {args.registrations} registrations, search x{args.calls}, "
            f"statistics x{args.calls}")
        occupancy = occupancy_over_http(service.base_url, token, args.calls)
        size.ms["occupancy"] = [1000 * s for s in occupancy["county"]]
        size.ms["readyz"] = [1000 * s for s in occupancy["readyz"]]
        tokens = [r["qr_token"] for r in sql(db.dsn, "SELECT qr_token FROM dwellings WHERE name LIKE 'Bench room %' "
                                                     "ORDER BY id")]
        size.ms["registration"], documents = registrations(service.base_url, tokens, 70_000_000, args.registrations)
        started = time.monotonic()
        asyncio.run(applied(db.dsn))
        say(f"  the service's counter applier caught up with the registrations {time.monotonic() - started:.1f} s "
            "after the last (then the search, so it does not compete with it)")
        size.ms["search"] = searches(service.base_url, token, documents, args.calls)
        today = datetime.now(ZONE).date()
        params = {"area": COUNTY, "from": (today - timedelta(days=365)).isoformat(),
                  "to": (today - timedelta(days=1)).isoformat(), "period": "day"}
        size.ms["statistics"], _, _ = over_http(service.base_url, token, params, args.calls)
        for what in ("occupancy", "registration", "search", "statistics", "readyz"):
            say(f"  {what:<13} p50 {percentile(size.ms[what], 0.5):7.1f} ms  p99 {percentile(size.ms[what], 0.99):7.1f} ms")

        service.stop()
        service = None
        asyncio.run(purge_month(db.dsn, size))
        say(f"  purge of {size.month} ({size.month_stays:,} stays, their guests): "
            + "; ".join(f"{way} {s:.2f} s, {wal / 1e6:,.1f} MB WAL" for way, (s, wal) in size.purge.items()))
        return size
    finally:
        if service is not None:
            service.stop()
        db.close()
        shutil.rmtree(work, ignore_errors=True)


# --- the report ---------------------------------------------------------------------------------

def times(ratio: float) -> str:
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.2f}x"


def verdict(ratio: float, targeted: bool) -> str:
    if not targeted:
        return ""
    return "met" if ratio <= TARGET_GROWTH else "MISSED"


def print_report(small: Size, large: Size) -> list[str]:
    """The growth table and the purge comparison; the targets missed."""
    say(f"\ngrowth, {large.stays:,} stays / {small.stays:,} ({large.stays / small.stays:.0f}x the stays; "
        f"database {large.database_bytes / 1e6:,.0f} MB / {small.database_bytes / 1e6:,.0f} MB = "
        f"{large.database_bytes / small.database_bytes:.1f}x)")
    say(f"{'':<16}{'small ms':>10}{'large ms':>10}{'large/small':>13}  target <= {TARGET_GROWTH}x")
    missed = []
    for what in ("occupancy", "search", "registration", "statistics", "readyz"):
        targeted = what in ("occupancy", "search", "registration")
        for name, q in (("p50", 0.5), ("p99", 0.99)):
            a, b = percentile(small.ms[what], q), percentile(large.ms[what], q)
            mark = verdict(b / a, targeted)
            if mark == "MISSED":
                missed.append(f"{what} {name}")
            say(f"{what + ' ' + name:<16}{a:>10.1f}{b:>10.1f}{b / a:>12.2f}x  {mark or '(for the record)'}")
    say("\npurge of one month: row by row (DELETE through the root, then its changes applied) / by partition "
        "(stays_drop_month)")
    say(f"{'':<16}{'stays':>11}{'row by row':>22}{'by partition':>22}{'rows / partition':>24}")
    for name, size in (("small", small), ("large", large)):
        (row_s, row_wal), (part_s, part_wal) = size.purge["row by row"], size.purge["by partition"]
        say(f"{name + ' ' + size.month:<16}{size.month_stays:>11,}{row_s:>9.2f} s {row_wal / 1e6:>8.1f} MB"
            f"{part_s:>9.2f} s {part_wal / 1e6:>8.2f} MB{times(row_s / part_s):>10} time {times(row_wal / part_wal):>6} WAL")
    for way in ("row by row", "by partition"):
        (a_s, a_wal), (b_s, b_wal) = small.purge[way], large.purge[way]
        say(f"growth of {way}: {times(b_s / a_s)} time, {times(b_wal / a_wal)} WAL "
            f"(the month's stays {large.month_stays / small.month_stays:.1f}x)")
    return missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=1_000_000, help="stays of the baseline size")
    parser.add_argument("--large", type=int, default=10_000_000, help="stays of the large size")
    parser.add_argument("--dwellings", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=3 * 365, help="the stays' check-ins spread over these days")
    parser.add_argument("--calls", type=int, default=200, help="calls timed for occupancy, search, statistics")
    parser.add_argument("--registrations", type=int, default=300, help="registrations timed, one after the other")
    parser.add_argument("--bytes-per-stay", type=int, default=1600,
                        help="disk estimate before the small size is measured (a stay with its guest, indexes, WAL)")
    args = parser.parse_args(argv)
    began, load_at_start = time.monotonic(), os.getloadavg()
    say(f"scale benchmark: {args.small:,} and {args.large:,} stays, {os.cpu_count()} cores, load average "
        f"{load_at_start[0]:.1f} {load_at_start[1]:.1f} {load_at_start[2]:.1f} (1, 5, 15 min)")
    small = measure(args, args.small, ESTIMATE_MARGIN * args.bytes_per_stay * args.small)
    if small is None:
        return 2
    large = measure(args, args.large, int(ESTIMATE_MARGIN * small.database_bytes * args.large / args.small))
    if large is None:
        return 2
    missed = print_report(small, large)
    say(f"\nload average at start {load_at_start[0]:.1f}, at end {os.getloadavg()[0]:.1f} (1 min; above the cores "
        f"the figures are disturbed); whole run {time.monotonic() - began:.0f} s")
    if missed:
        say(f"targets MISSED: {', '.join(missed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
