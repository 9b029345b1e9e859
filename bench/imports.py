"""Bulk onboarding: 10,000 dwellings imported from one CSV file through HTTP, against a plain COPY of the
same rows into the same table, measured in the same run.

Each round gets two fresh landlords: one receives the file through ``POST /api/v1/dwellings/import`` (the
whole path: upload, decoding, every line checked, duplicate names, one COPY in one transaction, the audit
entry), the other the same rows by asyncpg's ``copy_records_to_table`` straight into ``dwellings`` (tokens
made the same way), each write after a vacuum of the area counters (``settle``). A dry run of the same
file is timed too. Figures: seconds, rows/s, and the import's time as a multiple of the COPY's; the target
is an import under 10 s.

    python -m bench.imports [--rows 10000] [--rounds 3]

It runs on DATABASE_URL's server (a fresh database, dropped afterwards) or an embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

from bench.registrations import Database
from service.dwellings.domain import new_token
from tests.support import ADMIN_PASSWORD, ADMIN_USERNAME, ServiceProcess

AREA = "331004"
COLUMNS = ["owner_id", "name", "address", "area_code", "kind", "capacity", "latitude", "longitude", "qr_token"]
KINDS = ("rental_room", "homestay", "dormitory", "hotel_room")


def rows(count: int) -> list[tuple[str, str, str, str, int, float, float]]:
    """(name, address, area, kind, beds, latitude, longitude): a village's worth of distinct dwellings."""
    return [(f"官林村{n // 40 + 1}号楼{n % 40 + 1:02d}室", f"台州市路桥区官林村 {n // 40 + 1} 号", AREA, KINDS[n % 4],
             1 + n % 6, 28.5 + n % 1000 / 10000, 121.3 + n % 997 / 10000) for n in range(count)]


def csv_text(data: list[tuple], owner: str) -> str:
    head = "name,address,area_code,kind,capacity,latitude,longitude,owner\n"
    return head + "".join(f"{n},{a},{c},{k},{b},{la},{lo},{owner}\n" for n, a, c, k, b, la, lo in data)


async def settle(dsn: str) -> None:
    """Each timed write starts from the same table state. Every inserted dwelling updates one of its area's 16
    counter rows (area_counts), so one transaction of 10,000 rows leaves ~10,000 dead versions of those rows;
    the next writer steps over them until a vacuum removes them. Measured without this, the second of the two
    writes was always the slower one (1.6 s import against 2.7 s COPY; the order swapped, 3.5 s against 3.3 s)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM area_counts")
    finally:
        await conn.close()


async def copy_rows(dsn: str, owner_id: int, data: list[tuple]) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table("dwellings", columns=COLUMNS, records=[
                (owner_id, n, a, c, k, b, la, lo, new_token()) for n, a, c, k, b, la, lo in data])
        return time.perf_counter() - started
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.imports", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    data = rows(args.rows)
    db = Database()
    work = Path(tempfile.mkdtemp(prefix="vh-bench-import-"))
    service = ServiceProcess(dsn=db.dsn, data_dir=work / "service").start()
    try:
        with httpx.Client(base_url=service.base_url, timeout=120) as admin:
            token = admin.post("/api/v1/auth/login", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
            admin.cookies.clear()
            admin.headers["Authorization"] = f"Bearer {token.json()['token']}"
            admin.post("/api/v1/areas", json={"code": AREA, "name": "路桥区", "parent_code": None}).raise_for_status()

            def landlord(name: str) -> dict:
                made = admin.post("/api/v1/accounts", json={"username": name, "password": f"{name}-password",
                                                             "role": "landlord"})
                made.raise_for_status()
                return made.json()

            dry, full, plain = [], [], []
            for round_ in range(args.rounds):
                via_http, via_copy = landlord(f"import-{round_}"), landlord(f"copy-{round_}")
                body = csv_text(data, via_http["username"]).encode()
                started = time.perf_counter()
                checked = admin.post("/api/v1/dwellings/import", params={"dry_run": "true"}, content=body,
                                     headers={"Content-Type": "text/csv"})
                dry.append(time.perf_counter() - started)
                assert checked.status_code == 200 and checked.json()["would_create"] == args.rows, checked.text[:300]
                asyncio.run(settle(db.dsn))
                started = time.perf_counter()
                created = admin.post("/api/v1/dwellings/import", content=body, headers={"Content-Type": "text/csv"})
                full.append(time.perf_counter() - started)
                assert created.status_code == 201 and created.json()["created"] == args.rows, created.text[:300]
                asyncio.run(settle(db.dsn))
                plain.append(asyncio.run(copy_rows(db.dsn, via_copy["id"], data)))
                print(f"round {round_ + 1}: import {full[-1]:.2f} s, dry run {dry[-1]:.2f} s, COPY {plain[-1]:.3f} s",
                      flush=True)
        size = len(csv_text(data, "import-0").encode())
        import_s, dry_s, copy_s = (statistics.median(x) for x in (full, dry, plain))
        print(f"\n{args.rows:,} dwellings, {size / 1e6:.1f} MB of CSV, median of {args.rounds} rounds")
        print(f"  HTTP import   {import_s:6.2f} s  {args.rows / import_s:9,.0f} rows/s  "
              f"{import_s / copy_s:5.1f}x the COPY  (target: under 10 s)")
        print(f"  HTTP dry run  {dry_s:6.2f} s  {args.rows / dry_s:9,.0f} rows/s  {dry_s / copy_s:5.1f}x the COPY")
        print(f"  plain COPY    {copy_s:6.3f} s  {args.rows / copy_s:9,.0f} rows/s  (baseline)")
        return 0 if import_s < 10 else 1
    finally:
        service.stop()
        db.close()


if __name__ == "__main__":
    sys.exit(main())
