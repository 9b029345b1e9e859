"""The police see their jurisdiction as one virtual hotel, live; every look at a person is accountable."""

from __future__ import annotations

import asyncio
import json
import random
from contextlib import asynccontextmanager
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from service.events import LISTENER_ANSWER_SECONDS
from tests.support import ServiceProcess, idempotency_key, resident_id, sse_events, unique
from tests.test_operations import run_cli
from tests.test_stays import TODAY, stay_body, token_of
from tests.test_verification import apply, form, jpeg

COUNTY = "331082"  # Linhai, Taizhou: a real county, so its own residents are local guests


@pytest.fixture(scope="module")
async def county(admin):
    """A real county-level area (created once per database), with a fresh village under it per module."""
    await admin.post("/api/v1/areas", json={"code": COUNTY, "name": "临海市", "parent_code": None})
    village = COUNTY + unique("")[-6:]
    response = await admin.post("/api/v1/areas", json={"code": village, "name": "village", "parent_code": COUNTY})
    assert response.status_code == 201, response.text
    return village


async def register(client, dwelling: dict, **fields) -> dict:
    response = await client.post(f"/api/v1/public/dwellings/{token_of(dwelling)}/stays", json=stay_body(**fields),
                                 headers={"Idempotency-Key": idempotency_key()})
    assert response.status_code == 201, response.text
    return response.json()


FROM_SCRATCH = """
    SELECT coalesce(sum(s.guest_count) FILTER (WHERE s.checked_out_at IS NULL), 0) AS current_guests,
           (SELECT count(*) FROM stay_guests g JOIN stays t ON t.id = g.stay_id
             WHERE t.checked_out_at IS NULL AND t.area_code LIKE $1 || '%'
               AND g.origin_division <> left(t.area_code, 6)) AS floating_population,
           (SELECT count(*) FROM stay_guests g JOIN stays t ON t.id = g.stay_id
             WHERE t.checked_out_at IS NULL AND t.area_code LIKE $1 || '%' AND g.is_foreign) AS foreign_guests,
           count(DISTINCT s.dwelling_id) FILTER (WHERE s.checked_out_at IS NULL) AS occupied_dwellings,
           count(*) FILTER (WHERE s.checked_out_at IS NULL AND s.capacity_anomaly) AS capacity_anomalies,
           coalesce(sum(s.guest_count) FILTER (WHERE (s.created_at AT TIME ZONE 'Asia/Shanghai')::date = $2), 0)
             AS arrivals_today,
           coalesce(sum(s.guest_count) FILTER (WHERE (s.checked_out_at AT TIME ZONE 'Asia/Shanghai')::date = $2), 0)
             AS departures_today
      FROM stays s WHERE s.area_code LIKE $1 || '%'"""


def guest_fields(rng: random.Random) -> dict:
    """A local, floating or foreign registrant, with a companion now and then."""
    kind = rng.choice(["local", "floating", "foreign"])
    if kind == "foreign":
        fields = {"document_type": "passport", "document_number": f"X{rng.randrange(10**7, 10**8)}", "nationality": "USA"}
    else:
        fields = {"document_number": resident_id(division=COUNTY if kind == "local" else "440305")}
    if rng.random() < 0.3:
        fields["companions"] = [{"full_name": "小明", "relationship": "child"}]
    return fields


async def test_counts_equal_a_count_from_scratch_after_concurrent_registrations_and_check_outs(
        anonymous, db, make_staff, make_dwelling, county):
    rng = random.Random(20261125)
    landlord, police = await make_staff("landlord"), await make_staff("police", area_code=COUNTY)
    dwellings = [await make_dwelling(landlord, county, capacity=rng.choice([1, 2, 4])) for _ in range(6)]
    stays: list[str] = []

    async def one_step(step: int) -> None:
        if stays and rng.random() < 0.3:
            stay_id = stays.pop(rng.randrange(len(stays)))
            assert (await landlord.post(f"/api/v1/stays/{stay_id}/checkout")).status_code == 200
        else:
            stays.append((await register(anonymous, rng.choice(dwellings), **guest_fields(rng)))["id"])

    for batch in range(6):
        await asyncio.gather(*(one_step(batch * 10 + n) for n in range(10)))

    counts = (await police.get("/api/v1/police/occupancy", params={"area": county})).json()
    expected = dict(await db.fetchrow(FROM_SCRATCH, county, TODAY))
    assert {k: counts[k] for k in expected} == expected
    assert counts["current_guests"] > 0 and counts["floating_population"] > 0 and counts["foreign_guests"] > 0
    assert counts["dwellings"] == 6
    assert counts["beds"] == await db.fetchval("SELECT sum(capacity) FROM dwellings WHERE area_code = $1", county)


async def test_floating_local_and_foreign_guests_are_told_apart(anonymous, make_staff, make_dwelling, county):
    landlord, police = await make_staff("landlord"), await make_staff("police", area_code=COUNTY)
    dwelling = await make_dwelling(landlord, county, capacity=10)
    before = (await police.get("/api/v1/police/occupancy", params={"area": county})).json()
    await register(anonymous, dwelling, document_number=resident_id(division=COUNTY))  # local
    await register(anonymous, dwelling, document_number=resident_id(division="510104"))  # Chengdu: floating
    await register(anonymous, dwelling, document_type="passport", document_number="C01X00T47", nationality="DEU")
    await register(anonymous, dwelling, document_type="hk_macao_permit", document_number="H12345678")
    after = (await police.get("/api/v1/police/occupancy", params={"area": county})).json()
    assert after["current_guests"] - before["current_guests"] == 4
    assert after["floating_population"] - before["floating_population"] == 1
    assert after["foreign_guests"] - before["foreign_guests"] == 1
    provinces = {p["province"]: p["guests"] for p in after["origin_provinces"]}
    assert provinces.get("51", 0) >= 1 and "33" not in provinces
    county_view = (await police.get("/api/v1/police/occupancy")).json()
    assert county_view["area"] == COUNTY
    assert county in [c["area"] for c in county_view["children"]]


async def test_every_police_endpoint_stays_inside_the_jurisdiction(anonymous, make_staff, make_area, make_dwelling):
    mine, theirs = await make_area(), await make_area()
    police = await make_staff("police", area_code=mine)
    landlord = await make_staff("landlord")
    outside = await make_dwelling(landlord, theirs)
    number = resident_id()
    await register(anonymous, outside, document_number=number)
    for path in ("/api/v1/police/occupancy", "/api/v1/police/dwellings", "/api/v1/police/timeline",
                 "/api/v1/police/stream"):
        assert (await police.get(path, params={"area": theirs})).status_code == 404, path
    assert (await police.get("/api/v1/police/dwellings")).json() == []
    found = await police.get("/api/v1/police/search", params={"document_number": number, "reason": "routine check"})
    assert found.status_code == 200 and found.json() == []
    for role in ("landlord", "desk", "admin"):
        other = landlord if role == "landlord" else await make_staff(role) if role != "admin" else None
        if other is not None:
            assert (await other.get("/api/v1/police/occupancy")).status_code == 403


@asynccontextmanager
async def police_stream(client: httpx.AsyncClient, area: str, **headers):
    async with client.stream("GET", "/api/v1/police/stream", params={"area": area}, headers=headers,
                             timeout=httpx.Timeout(30, read=20)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        yield sse_events(response)


async def next_event(events, kind: str, timeout: float = 10) -> dict:
    async with asyncio.timeout(timeout):
        async for event in events:
            if event.get("event") == kind:
                return event
    raise AssertionError(f"stream ended before a {kind} event")


async def guests_counted(events, timeout: float = 10) -> int:
    """The current guests of the stream's next ``counts`` event."""
    return json.loads((await next_event(events, "counts", timeout))["data"])["current_guests"]


async def test_the_stream_sends_counts_on_connect_and_after_a_registration(anonymous, make_staff, make_dwelling, county):
    police = await make_staff("police", area_code=COUNTY)
    dwelling = await make_dwelling(await make_staff("landlord"), county)
    async with police_stream(police, county) as events:
        before = await guests_counted(events)
        await register(anonymous, dwelling)
        after = await guests_counted(events)
    assert after == before + 1


async def test_a_stream_is_one_response_line_in_the_log_however_many_events_it_sends(
        anonymous, make_staff, make_dwelling, county, service):
    """An operator reads one line per request: a stream logging each event it sends would bury the
    log (and slow the fan-out) under a line per change per open police view."""
    police = await make_staff("police", area_code=COUNTY)
    dwelling = await make_dwelling(await make_staff("landlord"), county)

    def logged() -> tuple[int, int]:
        log = service.log()
        return log.count('"event":"HTTP Request"'), log.count('"event":"HTTP Response"')

    requests_before, responses_before = logged()
    async with police_stream(police, county) as events:
        await next_event(events, "counts")
        for _ in range(3):
            await register(anonymous, dwelling)
            await next_event(events, "counts")
    def added() -> tuple[int, int]:
        requests, responses = logged()
        return requests - requests_before, responses - responses_before

    # Log records are written by a background thread: wait for the four requests' lines (the
    # stream and three registrations), then a moment longer for any line too many.
    async with asyncio.timeout(5):
        while min(added()) < 4:
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    assert added() == (4, 4)


async def test_the_counts_keep_coming_while_guests_close_their_status_pages_mid_connect(
        anonymous, make_staff, make_dwelling, county):
    """Guests' status pages closing while their streams subscribe must not silence the police view:
    a LISTEN cut short by a cancelled request once stopped every notification of the instance."""
    police = await make_staff("police", area_code=COUNTY)
    dwelling = await make_dwelling(await make_staff("landlord"), county)
    application = await apply(anonymous, {**dwelling, "token": token_of(dwelling)}, form("韩十", resident_id()), jpeg())
    assert application.status_code == 202, application.text
    pending = application.json()

    async def open_and_close(delay: float) -> None:
        async def status_page() -> None:
            async with anonymous.stream("GET", f"/api/v1/public/verifications/{pending['id']}/events",
                                        params={"secret": pending["secret"]}) as stream:
                await stream.aread()
        page = asyncio.create_task(status_page())
        await asyncio.sleep(delay)
        page.cancel()
        await asyncio.gather(page, return_exceptions=True)

    rng = random.Random(7)
    for _ in range(8):
        await asyncio.gather(*(open_and_close(rng.uniform(0, 0.02)) for _ in range(25)))

    async with police_stream(police, county) as events:
        before = await guests_counted(events)
        await register(anonymous, dwelling)
        after = await guests_counted(events)
    assert after == before + 1


async def test_a_registration_through_one_instance_is_streamed_by_another(
        anonymous, database_url, make_staff, make_dwelling, county, tmp_path):
    police = await make_staff("police", area_code=COUNTY)
    dwelling = await make_dwelling(await make_staff("landlord"), county)
    other = ServiceProcess(dsn=database_url, data_dir=tmp_path).start()
    try:
        async with httpx.AsyncClient(base_url=other.base_url, headers=dict(police.headers)) as police_on_other:
            async with police_stream(police_on_other, county) as events:
                before = await guests_counted(events)
                await register(anonymous, dwelling)  # through the first instance
                after = await guests_counted(events)
    finally:
        other.stop()
    assert after == before + 1


class SilencingProxy:
    """A TCP proxy in front of PostgreSQL that can silence the connections that LISTEN: they stay open
    but nothing the server sends reaches the service any more, not even the end of the connection, as
    with a half-open connection after a network fault. Connections opened later pass untouched."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.listening: list[dict] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> SilencingProxy:
        self.server = await asyncio.start_server(self._pipe, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_) -> None:
        self.server.close()

    @property
    def proxied_dsn(self) -> str:
        parts = urlsplit(self.dsn)
        port = self.server.sockets[0].getsockname()[1]
        return f"postgresql://{parts.username or 'postgres'}@127.0.0.1:{port}{parts.path}"

    async def _open_upstream(self):
        parts = urlsplit(self.dsn)
        if parts.hostname:
            return await asyncio.open_connection(parts.hostname, parts.port or 5432)
        socket_dir = parse_qs(parts.query)["host"][0]  # the embedded server: its Unix socket
        return await asyncio.open_unix_connection(f"{socket_dir}/.s.PGSQL.{parts.port or 5432}")

    async def _pipe(self, client_reader, client_writer) -> None:
        server_reader, server_writer = await self._open_upstream()
        link = {"silenced": False}

        async def to_server() -> None:
            try:
                while data := await client_reader.read(65536):
                    if b"LISTEN" in data and link not in self.listening:
                        self.listening.append(link)
                    server_writer.write(data)
                    await server_writer.drain()
            finally:
                server_writer.close()  # the service closing closes both sides
                client_writer.close()

        async def to_client() -> None:
            try:
                while data := await server_reader.read(65536):
                    if not link["silenced"]:
                        client_writer.write(data)
                        await client_writer.drain()
            finally:
                if not link["silenced"]:
                    client_writer.close()

        await asyncio.gather(to_server(), to_client(), return_exceptions=True)

    def silence_listening(self) -> int:
        for link in self.listening:
            link["silenced"] = True
        return len(self.listening)


async def test_an_instance_whose_listening_connection_goes_silent_listens_anew_and_streams_again(
        anonymous, database_url, make_staff, make_dwelling, county, tmp_path):
    police = await make_staff("police", area_code=COUNTY)
    dwelling = await make_dwelling(await make_staff("landlord"), county)
    async with SilencingProxy(database_url) as proxy:
        other = ServiceProcess(dsn=proxy.proxied_dsn, data_dir=tmp_path,
                               extra_env={"VH_LIVE_HEARTBEAT_SECONDS": "0.5"})
        await asyncio.to_thread(other.start)  # the proxy runs on this loop: do not block it
        try:
            async with httpx.AsyncClient(base_url=other.base_url, headers=dict(police.headers)) as police_on_other:
                async with police_stream(police_on_other, county) as events:
                    before = await guests_counted(events)
                    assert proxy.silence_listening() == 1
                    await asyncio.sleep(0.5)
                    await register(anonymous, dwelling)  # through the first instance
                    # Three silent heartbeats (1.5 s), a new listening connection, then the change.
                    after = await guests_counted(events, timeout=15)
        finally:
            await asyncio.to_thread(other.stop)
    assert after == before + 1
    assert "listening on a new connection" in other.log()
    assert len(proxy.listening) == 2


async def test_an_instance_whose_listening_connection_is_deaf_still_stops_at_once(database_url, tmp_path):
    """SIGTERM before the heartbeat watchdog has replaced a deaf listening connection: closing it
    cannot wait for an answer that never comes."""
    async with SilencingProxy(database_url) as proxy:
        other = ServiceProcess(dsn=proxy.proxied_dsn, data_dir=tmp_path)
        await asyncio.to_thread(other.start)
        try:
            assert proxy.silence_listening() == 1
            exit_code = await asyncio.to_thread(other.stop, timeout=LISTENER_ANSWER_SECONDS + 10)
        finally:
            other.process.kill()
    assert exit_code == 0


async def test_a_watchlist_match_raises_a_live_alert_and_marks_the_dwelling_red(anonymous, make_staff, make_dwelling, county):
    police = await make_staff("police", area_code=COUNTY)
    dwelling = await make_dwelling(await make_staff("landlord"), county, capacity=4)
    wanted = resident_id(division="440305")
    entry = await police.post("/api/v1/police/watchlist", json={"document_number": wanted, "note": "case 2026-118"})
    assert entry.status_code == 201 and entry.json()["document_masked"] == wanted[:3] + "*" * 11 + wanted[-4:]
    async with police_stream(police, county) as events:
        await next_event(events, "counts")
        await register(anonymous, dwelling, document_number=wanted)
        alert = await next_event(events, "alert")
    body = json.loads(alert["data"])
    assert body["dwelling_id"] == dwelling["id"] and body["note"] == "case 2026-118" and wanted not in alert["data"]
    risks = {d["id"]: d["risk"] for d in (await police.get("/api/v1/police/dwellings", params={"area": county})).json()}
    assert risks[dwelling["id"]] == "red"

    # A stream that reconnects with Last-Event-ID gets the alert it missed.
    async with police_stream(police, county, **{"Last-Event-ID": str(int(alert["id"]) - 1)}) as events:
        assert (await next_event(events, "alert"))["id"] == alert["id"]


async def test_risk_colours(anonymous, db, make_staff, make_dwelling, county):
    police = await make_staff("police", area_code=COUNTY)
    landlord = await make_staff("landlord")
    calm, late, crowded = [await make_dwelling(landlord, county, capacity=2) for _ in range(3)]
    await register(anonymous, calm)
    overdue = await register(anonymous, late)
    await db.execute("UPDATE stays SET expected_departure = now() - interval '2 days' WHERE id = $1", overdue["id"])
    await register(anonymous, crowded, companions=[{"full_name": "a", "relationship": "child"},
                                                   {"full_name": "b", "relationship": "child"}])
    risks = {d["id"]: d["risk"] for d in (await police.get("/api/v1/police/dwellings", params={"area": county})).json()}
    assert (risks[calm["id"]], risks[late["id"]], risks[crowded["id"]]) == ("green", "yellow", "red")


async def test_a_search_needs_a_reason_and_is_audited_without_clear_numbers(anonymous, admin, make_staff, make_dwelling, county):
    police = await make_staff("police", area_code=COUNTY)
    dwelling = await make_dwelling(await make_staff("landlord"), county)
    number = resident_id(division="440305")
    await register(anonymous, dwelling, document_number=number, phone="13700001111", full_name="赵六")
    refused = await police.get("/api/v1/police/search", params={"document_number": number})
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "reason"

    found = await police.get("/api/v1/police/search", params={"document_number": number, "reason": "theft report 17"})
    assert found.status_code == 200 and found.headers["cache-control"] == "no-store"
    [result] = found.json()
    assert (result["document_number"], result["phone"], result["full_name"]) == (number, "13700001111", "赵六")
    by_phone = await police.get("/api/v1/police/search", params={"phone": "137 0000 1111", "reason": "theft report 17"})
    assert [r["stay_id"] for r in by_phone.json()] == [result["stay_id"]]

    log = (await admin.get("/api/v1/audit", params={"limit": 10})).json()
    actions = [(e["actor"], e["action"], e["reason"]) for e in log[:4]]
    username = police.account["username"]
    assert actions == [(username, "reveal", "theft report 17"), (username, "search", "theft report 17")] * 2
    assert number not in json.dumps(log) and "13700001111" not in json.dumps(log)
    assert (await police.get("/api/v1/audit")).status_code == 403


async def test_the_audit_chain_verifies_and_detects_an_edited_row(db, database_url, make_staff, county, tmp_path):
    police = await make_staff("police", area_code=COUNTY)
    await police.get("/api/v1/police/search", params={"name": "nobody", "reason": "chain test"})
    env = {"DATABASE_URL": database_url, "VH_DATA_DIR": str(tmp_path)}
    intact = run_cli("audit", "verify", env=env)
    assert intact.returncode == 0 and "intact" in intact.stdout, intact.stderr
    with pytest.raises(Exception, match="append-only"):
        await db.execute("UPDATE audit_log SET reason = 'nothing to see' WHERE reason = 'chain test'")
    with pytest.raises(Exception, match="append-only"):
        await db.execute("DELETE FROM audit_log WHERE reason = 'chain test'")

    row_id = await db.fetchval("SELECT id FROM audit_log WHERE reason = 'chain test'")
    async with db.acquire() as conn:  # a superuser bypassing the trigger, as an intruder with full access would
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("UPDATE audit_log SET reason = 'nothing to see' WHERE id = $1", row_id)
        try:
            broken = run_cli("audit", "verify", env=env)
            assert broken.returncode == 1 and f"BROKEN at entry {row_id}" in broken.stderr
        finally:
            await conn.execute("UPDATE audit_log SET reason = 'chain test' WHERE id = $1", row_id)
            await conn.execute("SET session_replication_role = DEFAULT")
    assert run_cli("audit", "verify", env=env).returncode == 0


async def test_the_last_24_hours_timeline(anonymous, make_staff, make_dwelling, county):
    police = await make_staff("police", area_code=COUNTY)
    dwelling = await make_dwelling(await make_staff("landlord"), county)
    before = (await police.get("/api/v1/police/timeline", params={"area": county})).json()
    await register(anonymous, dwelling, check_out=(TODAY + timedelta(days=1)).isoformat())
    after = (await police.get("/api/v1/police/timeline", params={"area": county})).json()
    assert len(after) == 24
    assert after[-1]["arrivals"] == before[-1]["arrivals"] + 1 or after[-1]["hour"] != before[-1]["hour"]
