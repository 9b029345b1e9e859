"""Crash and restart with a load running: nothing acknowledged is lost, nothing is stored twice.

Two failures, each with a bounded load of registrations on 127.0.0.1, every one with its
own Idempotency-Key, every answer recorded:

- the service process is killed with SIGKILL and started again on the same database;
- PostgreSQL is stopped with ``pg_ctl stop -m immediate`` and started again while the
  service keeps running (a PostgreSQL of this test's own, so a shared server is never
  stopped): /readyz says 503 meanwhile and 200 after, without a restart of the service.

Afterwards every acknowledged stay is there exactly once, a retry with an acknowledged
key gets the original answer, and the police counts equal a count from scratch.

Run alone with ``pytest -m chaos tests/test_chaos.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from tests.support import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    ServiceProcess,
    StaffClient,
    counters_applied,
    idempotency_key,
    pgdata_folder,
    sse_events,
    with_database,
)
from tests.test_police import COUNTY, FROM_SCRATCH, guest_fields
from tests.test_stays import stay_body, token_of

pytestmark = pytest.mark.chaos

VILLAGE = COUNTY + "001001"
LIVENESS_SECONDS = 30  # "it comes back": a bound on liveness, not a measure of speed
ATTEMPT_BOUND_SECONDS = 10  # no single request may hang longer than this, even with the database away
CLIENT_TIMEOUT = httpx.Timeout(ATTEMPT_BOUND_SECONDS + 5)


# --- a small world on a fresh database: a county, a village, a landlord with dwellings, a police officer


@dataclass
class World:
    base_url: str
    tokens: list[str]
    police: StaffClient
    clients: list[httpx.AsyncClient]

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


async def make_world(base_url: str, dwellings: int = 4) -> World:
    admin = await StaffClient.log_in(base_url, ADMIN_USERNAME, ADMIN_PASSWORD)
    for area in ({"code": COUNTY, "name": "临海市", "parent_code": None},
                 {"code": VILLAGE, "name": "chaos village", "parent_code": COUNTY}):
        response = await admin.post("/api/v1/areas", json=area)
        assert response.status_code == 201, response.text

    async def account(role: str, area_code: str | None) -> StaffClient:
        username, password = f"chaos-{role}", f"chaos-{role}-password"
        response = await admin.post("/api/v1/accounts", json={
            "username": username, "password": password, "role": role, "display_name": username,
            "area_code": area_code})
        assert response.status_code == 201, response.text
        return await StaffClient.log_in(base_url, username, password)

    landlord, police = await account("landlord", None), await account("police", COUNTY)
    tokens = []
    for n in range(dwellings):
        response = await landlord.post("/api/v1/dwellings", json={
            "name": f"Chaos room {n}", "address": f"{n} Chaos Lane", "area_code": VILLAGE,
            "kind": "rental_room", "capacity": 3})
        assert response.status_code == 201, response.text
        tokens.append(token_of(response.json()))
    return World(base_url, tokens, police, [admin, landlord, police])


# --- registrations that are retried with the same key until acknowledged, every answer recorded


@dataclass
class Attempt:
    key: str
    started: float
    ended: float
    status: int | None  # None: no HTTP answer (connection refused, reset, ...)
    error: str | None = None


@dataclass
class Ledger:
    """Every key sent (with its dwelling and body), every attempt, every acknowledgement."""

    sent: dict[str, tuple[str, dict]] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    acks: dict[str, dict] = field(default_factory=dict)

    def plan(self, rng: random.Random, tokens: list[str]) -> str:
        key = idempotency_key()
        self.sent[key] = (rng.choice(tokens), stay_body(**guest_fields(rng)))
        return key

    def failed(self, since: float = 0.0) -> list[Attempt]:
        return [a for a in self.attempts if a.status != 201 and a.started >= since]


def is_problem(response: httpx.Response) -> bool:
    return (response.headers.get("content-type", "").startswith("application/problem+json")
            and response.json().get("status") == response.status_code)


async def post_stay(client: httpx.AsyncClient, ledger: Ledger, key: str, headers: dict[str, str] | None = None,
                    ) -> httpx.Response | None:
    """One attempt; records it. A 201 is recorded as the key's acknowledgement."""
    token, body = ledger.sent[key]
    started = time.monotonic()
    try:
        response = await client.post(f"/api/v1/public/dwellings/{token}/stays", json=body,
                                      headers={"Idempotency-Key": key, **(headers or {})}, timeout=CLIENT_TIMEOUT)
    except httpx.TransportError as exc:
        ledger.attempts.append(Attempt(key, started, time.monotonic(), None, type(exc).__name__))
        return None
    ledger.attempts.append(Attempt(key, started, time.monotonic(), response.status_code,
                                   None if response.status_code == 201 else response.text[:300]))
    if response.status_code == 201:
        first = ledger.acks.setdefault(key, response.json())
        # Every acknowledgement of one key is the same answer, also across the crash.
        assert first == response.json(), f"two answers for key {key}: {first} and {response.json()}"
    else:
        # Only the failure may answer other than 201: a 4xx here (409, 422) would be a bug. With the
        # database away the answer is 503 with Retry-After (a killed service gives no answer at all).
        assert response.status_code == 503 and is_problem(response) and "retry-after" in response.headers, (
            response.status_code, response.text)
    return response


async def register_until_acknowledged(client: httpx.AsyncClient, ledger: Ledger, key: str) -> dict:
    """What a phone does on a bad network: the same request with the same key until it is answered."""
    deadline = time.monotonic() + LIVENESS_SECONDS
    pause = 0.05
    while True:
        response = await post_stay(client, ledger, key)
        if response is not None and response.status_code == 201:
            return ledger.acks[key]
        assert time.monotonic() < deadline, f"key {key} not acknowledged within {LIVENESS_SECONDS} s"
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.4)


async def wait_until(condition: Callable[[], bool], what: str, tasks: Sequence[asyncio.Task] = (),
                     timeout: float = LIVENESS_SECONDS) -> None:
    """Poll with a deadline; a worker that failed meanwhile fails the test at once with its own error."""
    deadline = time.monotonic() + timeout
    while not condition():
        for task in tasks:
            if task.done():
                task.result()  # raises the worker's failure
        assert time.monotonic() < deadline, f"timed out waiting for: {what}"
        await asyncio.sleep(0.02)


async def ready_status(client: httpx.AsyncClient) -> httpx.Response | None:
    try:
        return await client.get("/readyz", timeout=CLIENT_TIMEOUT)
    except httpx.TransportError:
        return None


def stop_service(service: ServiceProcess) -> None:
    """SIGTERM, and SIGKILL if it does not stop in time: a failed test leaves no process behind."""
    if service.process is None or service.process.poll() is not None:
        return
    try:
        service.stop(timeout=25)
    except subprocess.TimeoutExpired:
        service.process.kill()
        service.process.wait(10)


# --- what must hold afterwards, whichever failure it was


def today() -> date:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


async def check_nothing_lost_nothing_doubled(dsn: str, ledger: Ledger, world: World) -> None:
    assert set(ledger.acks) == set(ledger.sent), "every key sent was acknowledged in the end"
    acked_ids = [ack["id"] for ack in ledger.acks.values()]
    assert len(set(acked_ids)) == len(acked_ids), "two keys were answered with one stay"
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """SELECT s.id::text AS id, s.guest_count, d.qr_token AS token
                 FROM stays s JOIN dwellings d ON d.id = s.dwelling_id WHERE s.id = ANY($1::uuid[])""", acked_ids)
        found = {r["id"]: r for r in rows}
        assert len(rows) == len(found) == len(acked_ids), "an acknowledged stay is missing"
        for key, ack in ledger.acks.items():
            token, body = ledger.sent[key]
            assert found[ack["id"]]["guest_count"] == 1 + len(body.get("companions", []))
            assert found[ack["id"]]["token"] == token
        # Registrations whose answer was lost (the connection broke after the commit) are there at most
        # once: all stays of the test are the acknowledged ones, one per key, and one key row per stay.
        stored = await conn.fetchval("SELECT count(*) FROM stays")
        assert stored == len(ledger.sent), f"{stored} stays for {len(ledger.sent)} keys: a retry stored a stay twice"
        answers = await conn.fetch(
            "SELECT key, status_code, response->>'id' AS id FROM idempotency_keys WHERE key = ANY($1::text[])",
            list(ledger.sent))
        assert sorted((r["key"], r["status_code"], r["id"]) for r in answers) == sorted(
            (key, 201, ack["id"]) for key, ack in ledger.acks.items())
        await counters_applied(conn)
        expected = dict(await conn.fetchrow(FROM_SCRATCH, COUNTY, today()))
    finally:
        await conn.close()

    # A retry with an acknowledged key gets the original answer (same id, same receipt code), stores nothing.
    async with httpx.AsyncClient(base_url=world.base_url) as client:
        for key, ack in ledger.acks.items():
            replay = await post_stay(client, ledger, key)
            assert replay is not None and replay.status_code == 201 and replay.json() == ack

    # A fresh client: the police client's kept-alive connections may have gone with a killed process.
    async with httpx.AsyncClient(base_url=world.base_url, headers=dict(world.police.headers)) as police:
        counts = (await police.get("/api/v1/police/occupancy", params={"area": COUNTY})).json()
    assert {k: counts[k] for k in expected} == expected
    assert counts["current_guests"] >= len(ledger.sent)


# --- 1. the service is killed with SIGKILL under load, and started again on the same database

WORKERS = 8
PER_WORKER = 30
KILL_AFTER = 70  # acknowledgements before the kill: about a third of the load


async def test_a_service_killed_under_load_loses_and_doubles_nothing(create_database, tmp_path):
    dsn = await create_database()
    service = ServiceProcess(dsn=dsn, data_dir=tmp_path / "service")
    await asyncio.to_thread(service.start)
    world = None
    try:
        world = await make_world(service.base_url)
        ledger = Ledger()
        plans = [[ledger.plan(random.Random(1000 + w * 100 + n), world.tokens) for n in range(PER_WORKER)]
                 for w in range(WORKERS)]

        async def worker(keys: list[str]) -> None:
            async with httpx.AsyncClient(base_url=service.base_url) as client:
                for key in keys:
                    await register_until_acknowledged(client, ledger, key)

        workers = [asyncio.create_task(worker(keys)) for keys in plans]
        try:
            await wait_until(lambda: len(ledger.acks) >= KILL_AFTER, "the load is under way", workers)
            first_pid = service.process.pid
            service.process.kill()  # SIGKILL: no graceful shutdown, requests in flight are cut
            await asyncio.to_thread(service.process.wait, 10)
            killed_at, acked_before_kill = time.monotonic(), dict(ledger.acks)
            await asyncio.to_thread(service.start)  # same port, same database
            assert service.process.pid != first_pid
            await asyncio.wait_for(asyncio.gather(*workers), LIVENESS_SECONDS * 2)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

        # The kill happened mid-load: acknowledgements before and after it, requests cut by it.
        assert KILL_AFTER <= len(acked_before_kill) < len(ledger.sent)
        assert any(a.status is None and a.started <= killed_at for a in ledger.attempts), "no request was cut"
        assert all(ledger.acks[k] == v for k, v in acked_before_kill.items())
        await check_nothing_lost_nothing_doubled(dsn, ledger, world)
    finally:
        if world is not None:
            await world.aclose()
        stop_service(service)


# --- 2. PostgreSQL is stopped immediately and started again while the service keeps running


class OwnPostgres:
    """An embedded PostgreSQL (pgserver) that this test alone uses, so it may crash it.

    pgserver starts the server with its bundled pg_ctl, as the user 'pgserver' when run as
    root, on a Unix socket in the data folder; the same helpers stop and start it here, so
    the server comes back on the same data folder and socket (the same DSN).
    """

    def __init__(self, pgdata: Path) -> None:
        import pgserver

        self.server = pgserver.get_server(pgdata, cleanup_mode="stop")

    def dsn(self, database: str) -> str:
        return with_database(self.server.get_uri(), database)

    def stop_immediately(self) -> None:
        from pgserver._commands import pg_ctl

        # No shutdown checkpoint: open connections are cut and the next start does crash recovery.
        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self.server.pgdata, user=self.server.system_user, timeout=30)

    def start(self) -> None:
        # pgserver's own start-up (pg_ctl -w start with its socket options); it runs under pgserver's lock.
        with self.server._lock:
            self.server.ensure_postgres_running()

    def cleanup(self) -> None:
        from pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.server.pgdata)
        if info is not None and info.is_running():
            self.server._postmaster_info = info  # the running server, whichever start made it
        self.server.cleanup()


@pytest.fixture
def own_postgres():
    """A PostgreSQL of this test's own, also when DATABASE_URL names the machine's shared server."""
    with pgdata_folder("own-pg") as pgdata:
        server = OwnPostgres(pgdata)
        try:
            yield server
        finally:
            server.cleanup()


@contextlib.asynccontextmanager
async def counts_events(client: httpx.AsyncClient, area: str) -> AsyncIterator[asyncio.Queue]:
    """The police stream's `counts` events, pumped into a queue (so waiting on it can time out safely)."""
    queue: asyncio.Queue[dict] = asyncio.Queue()
    async with client.stream("GET", "/api/v1/police/stream", params={"area": area},
                             timeout=httpx.Timeout(30, read=None)) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")

        async def pump() -> None:
            async for event in sse_events(response):
                if event.get("event") == "counts":
                    queue.put_nowait(json.loads(event["data"]))

        task = asyncio.create_task(pump())
        try:
            yield queue
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


LOAD_WORKERS = 4
LOAD_CAP = 400  # keys at most, whatever the timing
ACKS_BEFORE_CRASH = 30
ACKS_AFTER_RECOVERY = 20
FAILURES_WHILE_DOWN = 4


async def test_postgres_stopped_immediately_and_started_again_under_load(own_postgres, tmp_path):
    admin_conn = await asyncpg.connect(own_postgres.dsn("postgres"))
    try:
        await admin_conn.execute('CREATE DATABASE "vh_chaos"')
    finally:
        await admin_conn.close()
    dsn = own_postgres.dsn("vh_chaos")
    service = ServiceProcess(dsn=dsn, data_dir=tmp_path / "service")
    await asyncio.to_thread(service.start)
    service_pid = service.process.pid
    world = None
    client = httpx.AsyncClient(base_url=service.base_url)
    try:
        world = await make_world(service.base_url)
        ledger = Ledger()
        stop_load = asyncio.Event()

        async def worker(n: int) -> None:
            rng = random.Random(2000 + n)
            async with httpx.AsyncClient(base_url=service.base_url) as session:
                while not stop_load.is_set() and len(ledger.sent) < LOAD_CAP:
                    await register_until_acknowledged(session, ledger, ledger.plan(rng, world.tokens))
                    await asyncio.sleep(0.01)  # a steady load, not a flood: it must span the outage

        workers = [asyncio.create_task(worker(n)) for n in range(LOAD_WORKERS)]
        try:
            await wait_until(lambda: len(ledger.acks) >= ACKS_BEFORE_CRASH, "the load is under way", workers)
            acked_before_crash = dict(ledger.acks)
            await asyncio.to_thread(own_postgres.stop_immediately)
            down_since = time.monotonic()

            # Not ready while the database is away: 503 problem details, and the process stays up.
            deadline = time.monotonic() + LIVENESS_SECONDS
            while (ready := await ready_status(client)) is None or ready.status_code != 503:
                assert time.monotonic() < deadline, "/readyz did not report the database gone"
                await asyncio.sleep(0.05)
            assert is_problem(ready) and ready.json()["code"] == "database_unavailable" and "retry-after" in ready.headers
            assert (await client.get("/healthz")).status_code == 200

            # A registration sent now fails, promptly, saying to try again (the workers see the same).
            down_key = ledger.plan(random.Random(3000), world.tokens)
            down_answer = await post_stay(client, ledger, down_key, headers={"Accept-Language": "zh-CN"})
            assert down_answer is not None and down_answer.json()["code"] == "database_unavailable"
            assert down_answer.json()["title"] == "服务暂时无法连接数据库，请稍后再试。"
            await wait_until(lambda: len(ledger.failed(since=down_since)) >= FAILURES_WHILE_DOWN,
                             "the load meets the outage", workers)

            await asyncio.to_thread(own_postgres.start)
            up_again = time.monotonic()
            deadline = up_again + LIVENESS_SECONDS
            while (ready := await ready_status(client)) is None or ready.status_code != 200:
                assert time.monotonic() < deadline, f"/readyz not ready {LIVENESS_SECONDS} s after the restart"
                await asyncio.sleep(0.05)
            assert ready.json() == {"status": "ready"}
            assert service.process.poll() is None and service.process.pid == service_pid, "the service kept running"

            # The registration that failed succeeds when sent again with the same key.
            retried = await post_stay(client, ledger, down_key)
            assert retried is not None and retried.status_code == 201, retried and retried.text

            acked_at_recovery = len(ledger.acks)
            await wait_until(lambda: len(ledger.acks) >= acked_at_recovery + ACKS_AFTER_RECOVERY,
                             "the load goes on after the restart", workers)
            stop_load.set()
            await asyncio.wait_for(asyncio.gather(*workers), LIVENESS_SECONDS)
        finally:
            stop_load.set()
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

        # Failures were answered (no connection errors: the service never went down), within a bound.
        assert len(ledger.failed(since=down_since)) > FAILURES_WHILE_DOWN
        assert not [a for a in ledger.attempts if a.status is None], "a request got no HTTP answer"
        slow = [a for a in ledger.attempts if a.ended - a.started > ATTEMPT_BOUND_SECONDS]
        assert not slow, f"{len(slow)} requests hung longer than {ATTEMPT_BOUND_SECONDS} s"
        assert all(ledger.acks[k] == v for k, v in acked_before_crash.items())
        assert "--- Logging error ---" not in service.log(), "a log record of the outage was lost"
        await check_nothing_lost_nothing_doubled(dsn, ledger, world)

        # The live stream works again: the channels backend listens again on a new connection. Only that
        # listener carries a registration to the stream, so a `counts` event with the new count proves it.
        async with counts_events(world.police, COUNTY) as events:
            first = await asyncio.wait_for(events.get(), LIVENESS_SECONDS)
            expected = await scratch_counts(dsn)
            assert {k: first[k] for k in expected} == expected
            rng, deadline, seen = random.Random(4000), time.monotonic() + LIVENESS_SECONDS, None
            while seen is None:
                assert time.monotonic() < deadline, "no counts event after a registration: the listener is gone"
                await register_until_acknowledged(client, ledger, ledger.plan(rng, world.tokens))
                expected = await scratch_counts(dsn)
                # Until the listener is back a registration's event is lost; then the next one is sent.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(3):
                        while seen is None:
                            event = await events.get()
                            seen = event if {k: event[k] for k in expected} == expected else None
            assert seen["current_guests"] > first["current_guests"]
    finally:
        await client.aclose()
        if world is not None:
            await world.aclose()
        stop_service(service)


async def scratch_counts(dsn: str) -> dict:
    conn = await asyncpg.connect(dsn)
    try:
        return dict(await conn.fetchrow(FROM_SCRATCH, COUNTY, today()))
    finally:
        await conn.close()
