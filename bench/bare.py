"""The bare registration endpoints: the benchmark's baselines, not part of the service.

One Litestar route, ``POST /api/v1/public/dwellings/{token}/stays``, that does only the
database work a registration cannot avoid: it parses the JSON body (msgspec) and, in one
transaction, inserts the same two rows the service stores — a ``stays`` row (its dwelling
and area looked up by the QR token in the same statement) and a ``stay_guests`` row — then
answers 201 with an id and a receipt code. No validation, no encryption, no idempotency
record, no dwelling lock, no middleware. Cipher and blind-index columns get placeholder bytes
of the real sizes; the index column gets a distinct (unkeyed) hash per number, so its index
grows as the real one does; the occupancy columns (floating population, origin province) are
derived from the number as the service derives them, so the schema's triggers do the same
work. Same schema, indexes and triggers, the service's pool settings (VH_DB_POOL_SIZE,
default 10), synchronous_commit as the server has it (checked: on), and as many worker
processes on the port as the service (VH_WORKERS).

``--without-counters``: the same into ``bare_stays`` and ``bare_stay_guests``, copies of the
two tables' columns and indexes without any trigger (so no occupancy counters, no statistics
ledger, no foreign-key checks): the floor of HTTP + JSON + two inserts + a durable commit.
The benchmark makes these tables (bench/registrations.py).

    DATABASE_URL=... python -m bench.bare --port 8001 [--without-counters]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import secrets
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
from litestar import Litestar, Request, Response, get, post

from service.settings import load_settings

ZONE = ZoneInfo("Asia/Shanghai")
SEAL_OVERHEAD = 1 + 12 + 16  # version byte, nonce, GCM tag: a real ciphertext's extra bytes

INSERT_STAY = """
INSERT INTO {prefix}stays (id, dwelling_id, area_code, receipt_hash, check_in, check_out, expected_departure,
                   phone_cipher, phone_index, phone_masked, guest_count, registered_by{counted})
SELECT $1, d.id, d.area_code, $2, $3, $4, $5, $6, $7, $8, 1, 'guest'{count_values}
  FROM dwellings d WHERE d.qr_token = $9
"""
# The occupancy counters' columns (migration 0005), when the schema has them: floating population is
# a guest whose registered residence ($10, the division) is outside the dwelling's county.
COUNTED = ", floating_count, foreign_count, origin_provinces"
COUNT_VALUES = """,
       (left(d.area_code, 6) <> $10)::int, 0,
       CASE WHEN left(d.area_code, 6) <> $10 THEN ARRAY[left($10, 2)] ELSE '{}'::text[] END"""
INSERT_GUEST = """
INSERT INTO {prefix}stay_guests (id, stay_id, check_in, position, full_name, document_type, document_cipher,
                         document_index, document_masked, nationality, birth_year, sex, origin_division, is_foreign)
VALUES ($1, $2, $12, 0, $3, $4, $5, $6, $7, $8, $9, $10, $11, false)
"""


def mask(number: str) -> str:
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


@post("/api/v1/public/dwellings/{token:str}/stays", status_code=201)
async def register(request: Request, token: str) -> Response[bytes]:
    guest = msgspec.json.decode(await request.body())
    number, phone = guest["document_number"], guest["phone"]
    check_in, check_out = date.fromisoformat(guest["check_in"]), date.fromisoformat(guest["check_out"])
    stay_id, receipt = uuid.uuid4(), secrets.token_hex(5).upper()
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        counted = (number[:6],) if request.app.state.counted else ()
        inserted = await conn.execute(
            request.app.state.insert_stay, stay_id, hashlib.sha256(receipt.encode()).digest(), check_in, check_out,
            datetime.combine(check_out, time(12), ZONE), bytes(SEAL_OVERHEAD + len(phone)),
            hashlib.sha256(phone.encode()).digest(), mask(phone), token, *counted)
        if inserted != "INSERT 0 1":
            return Response(b'{"status":404}', status_code=404, media_type="application/problem+json")
        await conn.execute(
            request.app.state.insert_guest, uuid.uuid4(), stay_id, guest["full_name"], guest["document_type"],
            bytes(SEAL_OVERHEAD + len(number)), hashlib.sha256(number.encode()).digest(), mask(number),
            guest.get("nationality"), int(number[6:10]), "M" if int(number[16]) % 2 else "F", number[:6], check_in)
    return Response(msgspec.json.encode({"id": str(stay_id), "receipt_code": receipt}), status_code=201,
                    media_type="application/json")


@get("/readyz")
async def readyz(request: Request) -> dict[str, str]:
    await request.app.state.pool.fetchval("SELECT 1")
    return {"status": "ready"}


def create_app(dsn: str, pool_size: int, timezone: str, prefix: str = "") -> Litestar:
    """``prefix``: "bare_" for the tables without triggers."""
    @asynccontextmanager
    async def database(app: Litestar) -> AsyncGenerator[None, None]:
        # As service/db/pool.py makes its pool.
        app.state.pool = await asyncpg.create_pool(
            dsn, min_size=min(2, pool_size), max_size=pool_size, command_timeout=30,
            max_inactive_connection_lifetime=60, server_settings={"timezone": timezone})
        if await app.state.pool.fetchval("SHOW synchronous_commit") != "on":
            raise SystemExit("bench.bare: synchronous_commit is not on; the comparison would not be fair")
        app.state.counted = bool(await app.state.pool.fetchval(
            "SELECT 1 FROM information_schema.columns WHERE table_name = 'stays' AND column_name = 'origin_provinces'"))
        app.state.insert_stay = INSERT_STAY.format(prefix=prefix, counted=COUNTED if app.state.counted else "",
                                                   count_values=COUNT_VALUES if app.state.counted else "")
        app.state.insert_guest = INSERT_GUEST.format(prefix=prefix)
        try:
            yield
        finally:
            await app.state.pool.close()

    return Litestar(route_handlers=[register, readyz], lifespan=[database])


WITHOUT_COUNTERS = "BENCH_BARE_WITHOUT_COUNTERS"


def worker_app() -> Litestar:
    """One worker process's application, from the environment ``main`` leaves."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # uvicorn's start-up lines, as the service's
    settings = load_settings()
    return create_app(settings.database_url, settings.db_pool_size, settings.timezone,
                      "bare_" if os.environ.get(WITHOUT_COUNTERS) else "")


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.bare", description="the bare registration endpoints")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--without-counters", action="store_true", help="into copies of the tables without triggers")
    args = parser.parse_args()
    settings = load_settings()
    if not settings.database_url:
        raise SystemExit("bench.bare: set DATABASE_URL")
    os.environ[WITHOUT_COUNTERS] = "1" if args.without_counters else ""
    # The service's uvicorn settings (service/cli.py), so the servers differ only in the application.
    uvicorn.run("bench.bare:worker_app", factory=True, workers=settings.workers, host=args.host, port=args.port,
                log_config=None, proxy_headers=False, server_header=False, access_log=False)


if __name__ == "__main__":
    main()
