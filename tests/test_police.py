"""The police see their jurisdiction as one virtual hotel, live; every look at a person is accountable."""

from __future__ import annotations

import asyncio
import json
import random
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from service.events import LISTENER_ANSWER_SECONDS
from tests.support import ServiceProcess, counters_applied, idempotency_key, resident_id, sse_events, unique
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

    await counters_applied(db)
    counts = (await police.get("/api/v1/police/occupancy", params={"area": county})).json()
    expected = dict(await db.fetchrow(FROM_SCRATCH, county, TODAY))
    assert {k: counts[k] for k in expected} == expected
    assert counts["current_guests"] > 0 and counts["floating_population"] > 0 and counts["foreign_guests"] > 0
    assert counts["dwellings"] == 6
    assert counts["beds"] == await db.fetchval("SELECT sum(capacity) FROM dwellings WHERE area_code = $1", county)


async def test_floating_local_and_foreign_guests_are_told_apart(anonymous, db, make_staff, make_dwelling, county):
    landlord, police = await make_staff("landlord"), await make_staff("police", area_code=COUNTY)
    dwelling = await make_dwelling(landlord, county, capacity=10)
    await counters_applied(db)
    before = (await police.get("/api/v1/police/occupancy", params={"area": county})).json()
    await register(anonymous, dwelling, document_number=resident_id(division=COUNTY))  # local
    await register(anonymous, dwelling, document_number=resident_id(division="510104"))  # Chengdu: floating
    await register(anonymous, dwelling, document_type="passport", document_number="C01X00T47", nationality="DEU")
    await register(anonymous, dwelling, document_type="hk_macao_permit", document_number="H12345678")
    await counters_applied(db)
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


async def test_a_stream_is_one_line_in_the_log_however_many_events_it_sends(
        anonymous, make_staff, make_dwelling, county, service):
    """An operator reads one line per request: a stream logging each event it sends would bury the
    log (and slow the fan-out) under a line per change per open police view."""
    police = await make_staff("police", area_code=COUNTY)
    dwelling = await make_dwelling(await make_staff("landlord"), county)

    def logged() -> int:
        return service.log().count('"event":"request"')

    before = logged()
    async with police_stream(police, county) as events:
        await next_event(events, "counts")
        for _ in range(3):
            await register(anonymous, dwelling)
            await next_event(events, "counts")
    # Log records are written by a background thread: wait for the four requests' lines (the
    # stream and three registrations), then a moment longer for any line too many.
    async with asyncio.timeout(5):
        while logged() - before < 4:
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    assert logged() - before == 4


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
                    # Three silent heartbeats (1.5 s), a new listening connection, then the change. The counts
                    # sent on hearing again (anything may have been missed) can come before the change is applied.
                    async with asyncio.timeout(15):
                        while (after := await guests_counted(events)) == before:
                            pass
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

    # A stream that reconnects with an alert id as Last-Event-ID (as before the cursor) gets every later alert.
    async with police_stream(police, county, **{"Last-Event-ID": str(body["id"] - 1)}) as events:
        assert [a["id"] for a in await missed_alerts(events)] == [body["id"]]


async def missed_alerts(events) -> list[dict]:
    """The alerts a (re)connected stream sends before its first counts: those it had not had."""
    missed = []
    async for event in events:
        if event.get("event") == "counts":
            return missed
        if event.get("event") == "alert":
            missed.append(json.loads(event["data"]))
    raise AssertionError("stream ended before its counts")


async def test_a_resumed_stream_gets_an_alert_that_committed_after_a_later_one_was_sent(
        anonymous, db, make_staff, make_dwelling, county):
    """Alert ids are drawn before commit: a slow transaction's alert can commit after a later id was
    sent live. Resuming after that later alert still brings it, once, and not the later one again."""
    police = await make_staff("police", area_code=COUNTY)
    dwelling = await make_dwelling(await make_staff("landlord"), county)
    wanted = resident_id(division="440305")
    entry = await police.post("/api/v1/police/watchlist", json={"document_number": wanted, "note": "case 2026-120"})
    assert entry.status_code == 201
    async with db.acquire() as slow:
        # The statistics round's transaction, as it raises a capacity warning, still open.
        commit = slow.transaction()
        await commit.start()
        earlier = await slow.fetchval(
            """INSERT INTO alerts (kind, area_code, details) VALUES ('capacity', $1, $2) RETURNING id""",
            county, '{"level": "red", "rate": 1.2, "threshold": 1.0, "guests": 6, "beds": 5}')
        async with police_stream(police, county) as events:
            await next_event(events, "counts")
            await register(anonymous, dwelling, document_number=wanted)
            later = await next_event(events, "alert")
        assert json.loads(later["data"])["id"] > earlier
        await commit.commit()
    async with police_stream(police, county, **{"Last-Event-ID": later["id"]}) as events:
        assert [a["id"] for a in await missed_alerts(events)] == [earlier]


async def test_an_acknowledgement_on_the_stream_does_not_make_a_resume_send_alerts_again(
        anonymous, make_staff, make_dwelling, county):
    police = await make_staff("police", area_code=COUNTY)
    dwelling = await make_dwelling(await make_staff("landlord"), county, capacity=4)
    wanted = [resident_id(division="440305") for _ in range(2)]
    for number in wanted:
        entry = await police.post("/api/v1/police/watchlist", json={"document_number": number, "note": "case 2026-121"})
        assert entry.status_code == 201
    last_event_id = None
    async with police_stream(police, county) as events:
        await next_event(events, "counts")
        raised = []
        for number in wanted:
            await register(anonymous, dwelling, document_number=number)
            event = await next_event(events, "alert")
            raised.append(json.loads(event["data"])["id"])
            last_event_id = event.get("id", last_event_id)
        acknowledged = await police.post(f"/api/v1/police/alerts/{raised[0]}/acknowledge")
        assert acknowledged.status_code == 200
        event = await next_event(events, "alert")
        assert json.loads(event["data"])["acknowledged_at"] is not None
        last_event_id = event.get("id", last_event_id)  # as an EventSource keeps it
    async with police_stream(police, county, **{"Last-Event-ID": last_event_id}) as events:
        assert await missed_alerts(events) == []


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


async def test_look_alike_names_do_not_escape_the_police_name_search(anonymous, db, database_url, make_staff,
                                                                   make_dwelling, county, tmp_path):
    """Full width, a Cyrillic "а", a Greek capital Zeta: all read "Zhang Wenqi", and the search finds them all,
    each shown as the guest typed it; a guest stored before names were keyed is keyed at start-up."""
    police = await make_staff("police", area_code=COUNTY)
    dwelling = await make_dwelling(await make_staff("landlord"), county, capacity=10)
    typed = ["Zhang Wenqi", "Ｚｈａｎｇ Ｗｅｎｑｉ", "Zh\u0430ng Wenqi", "\u0396hang WENQI"]
    for name in typed:
        await register(anonymous, dwelling, full_name=name)
    await db.execute("UPDATE stay_guests SET name_key = NULL WHERE full_name = $1", typed[1])  # as before 0010

    other = ServiceProcess(dsn=database_url, data_dir=tmp_path).start()  # a start-up keys what is missing
    other.stop()
    found = await police.get("/api/v1/police/search", params={"name": "zhang wenqi", "reason": "look-alike check"})
    assert found.status_code == 200, found.text
    assert sorted(r["full_name"] for r in found.json()) == sorted(typed)
    assert await db.fetchval("SELECT count(*) FROM stay_guests WHERE name_key IS NULL") == 0
    nobody = await police.get("/api/v1/police/search", params={"name": "Zhang Wenji", "reason": "look-alike check"})
    assert nobody.json() == []


async def test_latin_look_alikes_tones_and_invisible_marks_do_not_escape_the_police_name_search(
        anonymous, make_staff, make_dwelling, county):
    """Latin's own look-alikes ("ɡ", "ɑ", "ı"), the tones of pinyin, an invisible combining grapheme joiner or
    variation selector, a Hangul filler for the space, a hyphen: each still reads "Zhang Weiqu" and is found."""
    police = await make_staff("police", area_code=COUNTY)
    dwelling = await make_dwelling(await make_staff("landlord"), county, capacity=12)
    typed = ["Zhang Weiqu", "Zhanɡ Weiqu", "Zhɑng Weiqu", "Zhang We\u0131qu", "Zhāng Wèiqú", "Zh\u034fang Weiqu",
             "Zhang\ufe0f Weiqu", "Zhang\u3164Weiqu", "Zhang-Weiqu"]
    for name in typed:
        await register(anonymous, dwelling, full_name=name)
    found = await police.get("/api/v1/police/search", params={"name": "zhang weiqu", "reason": "look-alike check"})
    assert sorted(r["full_name"] for r in found.json()) == sorted(typed)
    nobody = await police.get("/api/v1/police/search", params={"name": "Zhang Weiqi", "reason": "look-alike check"})
    assert nobody.json() == []


# ---- the alert inbox -------------------------------------------------------------------------------


async def inbox(police, **params) -> dict:
    response = await police.get("/api/v1/police/alerts", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return response.json()


async def test_an_officer_who_logs_in_after_a_watchlist_hit_finds_it_in_the_inbox_and_acknowledges_it(
        anonymous, admin, make_staff, make_dwelling, county):
    on_duty = await make_staff("police", area_code=COUNTY)
    dwelling = await make_dwelling(await make_staff("landlord"), county)
    wanted = resident_id(division="440305", birth="19660708")
    added = await on_duty.post("/api/v1/police/watchlist", json={"document_number": wanted, "note": "case 2026-301"})
    assert added.json()["created_by"] == on_duty.account["display_name"]
    async with police_stream(on_duty, county) as events:
        await next_event(events, "counts")
        stay = await register(anonymous, dwelling, document_number=wanted)
        live = json.loads((await next_event(events, "alert"))["data"])

    # Twenty seconds later another officer logs in: the hit is waiting, in the shape the stream sent.
    late = await make_staff("police", area_code=COUNTY)
    waiting = (await inbox(late, unacknowledged="true"))["items"]
    [alert] = [a for a in waiting if a["id"] == live["id"]]
    assert alert == live
    assert (alert["kind"], alert["dwelling_id"], alert["dwelling_name"], alert["stay_id"], alert["note"]) == (
        "watchlist", dwelling["id"], dwelling["name"], stay["id"], "case 2026-301")
    assert alert["area_code"] == county and alert["area_name"] == "village" and alert["acknowledged_at"] is None
    assert wanted not in json.dumps(alert)

    acknowledged = await late.post(f"/api/v1/police/alerts/{alert['id']}/acknowledge")
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json()["acknowledged_by"] == late.account["display_name"]
    assert acknowledged.json()["acknowledged_at"] is not None
    # A second acknowledgement keeps the first: who saw it first is the record.
    again = await on_duty.post(f"/api/v1/police/alerts/{alert['id']}/acknowledge")
    assert again.json()["acknowledged_by"] == late.account["display_name"]
    assert again.json()["acknowledged_at"] == acknowledged.json()["acknowledged_at"]
    assert alert["id"] not in [a["id"] for a in (await inbox(late, unacknowledged="true"))["items"]]
    assert alert["id"] in [a["id"] for a in (await inbox(late))["items"]]

    log = (await admin.get("/api/v1/audit", params={"limit": 50})).json()
    acks = [e for e in log if e["action"] == "alert_acknowledge" and e["details"]["alert_id"] == alert["id"]]
    assert [e["actor"] for e in acks] == [late.account["username"]]


async def test_the_inbox_pages_newest_first_and_keeps_to_the_jurisdiction(anonymous, make_staff, make_area,
                                                                          make_dwelling):
    area, elsewhere = await make_area(), await make_area()
    police, outsider = await make_staff("police", area_code=area), await make_staff("police", area_code=elsewhere)
    dwelling = await make_dwelling(await make_staff("landlord"), area, capacity=10)
    wanted = [resident_id(birth="19610203") for _ in range(3)]
    for number in wanted:
        await police.post("/api/v1/police/watchlist", json={"document_number": number, "note": "paging"})
        await register(anonymous, dwelling, document_number=number)
    first = await inbox(police, limit=2)
    assert len(first["items"]) == 2 and first["next"] == first["items"][-1]["id"]
    second = await inbox(police, limit=2, before=first["next"])
    assert len(second["items"]) == 1 and second["next"] is None
    ids = [a["id"] for a in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True)

    assert (await inbox(outsider))["items"] == []
    assert (await outsider.get("/api/v1/police/alerts", params={"area": area})).status_code == 404
    assert (await outsider.post(f"/api/v1/police/alerts/{ids[0]}/acknowledge")).status_code == 404
    assert (await police.post(f"/api/v1/police/alerts/{2**63 - 1}/acknowledge")).status_code == 404
    assert (await police.get("/api/v1/police/alerts", params={"limit": 0})).status_code == 400


async def test_watchlist_entries_expire_and_are_removed_for_the_record(anonymous, admin, db, make_staff, make_area,
                                                                        make_dwelling):
    area = await make_area()
    police, neighbour = await make_staff("police", area_code=area), await make_staff("police", area_code=await make_area())
    dwelling = await make_dwelling(await make_staff("landlord"), area, capacity=10)
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    refused = await police.post("/api/v1/police/watchlist",
                                json={"document_number": resident_id(), "note": "too late", "expires_at": past})
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "expires_at"

    expiring, removed = resident_id(birth="19620304"), resident_id(birth="19620304")
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    entry = (await police.post("/api/v1/police/watchlist",
                               json={"document_number": expiring, "note": "expires", "expires_at": soon})).json()
    assert entry["expires_at"] is not None
    await db.execute("UPDATE watchlist SET expires_at = now() - interval '1 second' WHERE id = $1", entry["id"])
    gone = (await police.post("/api/v1/police/watchlist", json={"document_number": removed, "note": "removed"})).json()
    assert (await neighbour.delete(f"/api/v1/police/watchlist/{gone['id']}")).status_code == 404
    assert (await police.delete(f"/api/v1/police/watchlist/{gone['id']}")).status_code == 204
    assert (await police.delete(f"/api/v1/police/watchlist/{gone['id']}")).status_code == 404

    listed = [e["id"] for e in (await police.get("/api/v1/police/watchlist")).json()]
    assert entry["id"] not in listed and gone["id"] not in listed
    await register(anonymous, dwelling, document_number=expiring)
    await register(anonymous, dwelling, document_number=removed)
    assert (await inbox(police))["items"] == []
    kept = await db.fetchrow("SELECT removed_at, removed_by FROM watchlist WHERE id = $1", gone["id"])
    assert kept["removed_at"] is not None and kept["removed_by"] == police.account["id"]
    log = (await admin.get("/api/v1/audit", params={"limit": 50})).json()
    assert any(e["action"] == "watchlist_remove" and e["details"]["watchlist_id"] == gone["id"] for e in log)


async def test_a_district_note_reaches_only_officers_who_may_list_the_entry(anonymous, admin, make_staff, make_area,
                                                                            make_dwelling):
    """Decided: a village post alerted by its district's entry sees the hit (where, when, which office's
    entry) but not the note nor the number, as it cannot list the entry; the district sees both."""
    district = await make_area(name="Test district")
    village = await make_area(parent=district, name="Test village")
    district_police, post = await make_staff("police", area_code=district), await make_staff("police", area_code=village)
    dwelling = await make_dwelling(await make_staff("landlord"), village)
    wanted = resident_id(birth="19630405")
    await district_police.post("/api/v1/police/watchlist", json={"document_number": wanted, "note": "armed robbery"})
    assert "armed robbery" not in json.dumps((await post.get("/api/v1/police/watchlist")).json())

    async with police_stream(post, village) as post_events, police_stream(district_police, village) as district_events:
        await next_event(post_events, "counts")
        await next_event(district_events, "counts")
        await register(anonymous, dwelling, document_number=wanted)
        post_live = json.loads((await next_event(post_events, "alert"))["data"])
        district_live = json.loads((await next_event(district_events, "alert"))["data"])

    [post_alert] = (await inbox(post))["items"]
    [district_alert] = (await inbox(district_police, area=village))["items"]
    for seen_by_post in (post_alert, post_live):
        assert seen_by_post["note"] is None and seen_by_post["document_masked"] is None
        assert seen_by_post["watchlist_area_name"] == "Test district"
        assert seen_by_post["dwelling_id"] == dwelling["id"]
    for seen_by_district in (district_alert, district_live):
        assert seen_by_district["note"] == "armed robbery" and seen_by_district["document_masked"].endswith(wanted[-4:])


# ---- one person present in two places ----------------------------------------------------------------


async def test_one_number_present_in_two_dwellings_is_registered_marked_and_alerted(anonymous, db, make_staff,
                                                                                    make_dwelling, county):
    police = await make_staff("police", area_code=COUNTY)
    landlord = await make_staff("landlord")
    room_1, room_5 = await make_dwelling(landlord, county, capacity=4), await make_dwelling(landlord, county, capacity=4)
    await counters_applied(db)
    before = (await police.get("/api/v1/police/occupancy", params={"area": county})).json()
    number = resident_id(division="440305", birth="19650607")
    first = await register(anonymous, room_1, document_number=number)
    assert first["notices"] == []

    key = idempotency_key()
    body = stay_body(document_number=number, full_name="张三丰")
    again = await anonymous.post(f"/api/v1/public/dwellings/{token_of(room_5)}/stays", json=body,
                                 headers={"Idempotency-Key": key, "Accept-Language": "zh-CN"})
    assert again.status_code == 201, again.text  # never turned away
    [notice] = again.json()["notices"]
    assert notice["code"] == "already_present" and "其他住处" in notice["message"]
    assert room_1["name"] not in notice["message"]  # not where
    retried = await anonymous.post(f"/api/v1/public/dwellings/{token_of(room_5)}/stays", json=body,
                                   headers={"Idempotency-Key": key, "Accept-Language": "en"})
    assert retried.json()["id"] == again.json()["id"] and "already registered" in retried.json()["notices"][0]["message"]

    # The desk registers the same person again, under another name, in room 5: the desk is told too.
    walk_in = await landlord.post(f"/api/v1/dwellings/{room_5['id']}/stays", headers={"Idempotency-Key": idempotency_key()},
                                  json=stay_body(document_number=number, full_name="Zhang Sanfeng"))
    assert walk_in.status_code == 201 and [n["code"] for n in walk_in.json()["notices"]] == ["already_present"]

    alerts = [a for a in (await inbox(police, area=county))["items"] if a["kind"] == "duplicate_presence"]
    by_stay = {a["stay_id"]: a for a in alerts}
    second = by_stay[again.json()["id"]]
    assert second["dwelling_id"] == room_5["id"]
    assert second["details"]["other_stay"]["stay_id"] == first["id"]
    assert second["details"]["other_stay"]["dwelling_name"] == room_1["name"]
    assert len([a for a in alerts if a["stay_id"] == walk_in.json()["id"]]) == 2  # present in both earlier stays

    # Counted per stay, three times; two of those presences are second ones, and the figure says so.
    await counters_applied(db)
    during = (await police.get("/api/v1/police/occupancy", params={"area": county})).json()
    assert during["current_guests"] - before["current_guests"] == 3
    assert during["duplicate_presences"] - before["duplicate_presences"] == 2
    assert (await landlord.post(f"/api/v1/stays/{first['id']}/checkout")).status_code == 200
    assert (await landlord.post(f"/api/v1/stays/{walk_in.json()['id']}/checkout")).status_code == 200
    await counters_applied(db)
    after = (await police.get("/api/v1/police/occupancy", params={"area": county})).json()
    assert after["current_guests"] - before["current_guests"] == 1
    assert after["duplicate_presences"] == before["duplicate_presences"]


async def test_the_other_stay_of_a_duplicate_is_named_only_inside_the_jurisdiction(anonymous, make_staff, make_area,
                                                                                   make_dwelling):
    here, there = await make_area(name="here"), await make_area(name="there")
    police = await make_staff("police", area_code=here)
    landlord = await make_staff("landlord")
    far, near = await make_dwelling(landlord, there), await make_dwelling(landlord, here)
    number = resident_id(birth="19640506")
    await register(anonymous, far, document_number=number)
    await register(anonymous, near, document_number=number)
    [alert] = (await inbox(police))["items"]
    assert alert["details"]["other_stay"] == {"area_code": there, "area_name": "there"}


async def test_the_inbox_refuses_a_page_mark_past_the_database_range(make_staff, make_area):
    police = await make_staff("police", area_code=await make_area())
    for before in ("0", str(2**63)):
        response = await police.get("/api/v1/police/alerts", params={"before": before})
        assert response.status_code == 400 and response.headers["content-type"] == "application/problem+json"
