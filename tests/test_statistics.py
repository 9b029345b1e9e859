"""Statistics as a county police chief, a village police post and a tourism-bureau analyst use them.

The figures are checked against a count from scratch over the stays (written here, independently of
the rollups), after a seeded mix of registrations, back-dated check-ins, early, late and overdue
check-outs, and nights closed in between.
"""

from __future__ import annotations

import asyncio
import csv
import json
import io
import random
import re
import uuid
from collections import Counter
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from tests.support import counters_applied, idempotency_key, resident_id, unique
from tests.test_access import POLICY
from tests.test_stays import stay_body, token_of

ZONE = ZoneInfo("Asia/Shanghai")
TODAY = datetime.now(ZONE).date()
COUNTY = "331082"


def local(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=ZONE)


async def register(client, dwelling: dict, **fields) -> dict:
    response = await client.post(f"/api/v1/public/dwellings/{token_of(dwelling)}/stays", json=stay_body(**fields),
                                 headers={"Idempotency-Key": idempotency_key()})
    assert response.status_code == 201, response.text
    return response.json()


async def close_nights(db) -> None:
    """What the service's statistics loop does every VH_STATS_EVALUATE_SECONDS (once the changes so far
    are booked: the counter applier books them a moment after they commit)."""
    await counters_applied(db)
    async with db.acquire() as conn:
        await conn.execute("SELECT stats_close($1)", TODAY - timedelta(days=1))


async def history_stay(db, dwelling: dict, check_in: date, nights_planned: int, checked_out: datetime | None,
                       origins: list[tuple[str, str, str | None]]) -> None:
    """A stay of the past, written as the registration would have, through SQL (the API only takes
    check-ins from yesterday on). ``origins``: (document_type, origin_division or number, nationality)."""
    stay_id = uuid.uuid4()
    async with db.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO stays (id, dwelling_id, area_code, receipt_hash, check_in, check_out, expected_departure,
                                  phone_cipher, phone_index, phone_masked, guest_count, registered_by, checked_out_at,
                                  checked_out_by)
               SELECT $1, id, area_code, $2, $3, $4, $5, '\\x00', '\\x00', '138****0000', $6, 'guest', $7,
                      CASE WHEN $7::timestamptz IS NULL THEN NULL ELSE 'guest' END
                 FROM dwellings WHERE id = $8""",
            stay_id, uuid.uuid4().bytes, check_in, check_in + timedelta(days=nights_planned),
            local(check_in + timedelta(days=nights_planned), 12), len(origins), checked_out, dwelling["id"])
        await conn.executemany(
            """INSERT INTO stay_guests (id, stay_id, check_in, position, full_name, document_type, document_cipher,
                                        document_masked, nationality, origin_division, is_foreign)
               VALUES ($1, $2, $9, $3, 'guest', $4, '\\x00', $5, $6, $7, $8)""",
            [(uuid.uuid4(), stay_id, n, doc, number[:3] + "****", nationality,
              number[:6] if doc == "resident_id" else None, doc == "passport", check_in)
             for n, (doc, number, nationality) in enumerate(origins)])


def origin_of(document_type: str, number: str | None, division: str | None, nationality: str | None) -> str:
    if document_type == "resident_id":
        return division[:2]
    if document_type == "hk_macao_permit":
        return "MO" if number.upper().startswith("M") else "HK"
    if document_type == "taiwan_permit":
        return "TW"
    return nationality


def breakdown_key(by: str, origin: str, kind: str) -> str:
    """The key of a guest's origin or dwelling kind in a breakdown, as docs/statistics.md defines them."""
    chinese = re.fullmatch(r"[0-9]{2}|HK|MO|TW", origin) is not None
    if by == "origin_province":
        return origin if chinese or origin == "--" else "CN" if origin == "CHN" else "foreign"
    if by == "nationality":
        return "CHN" if chinese else origin
    return kind


async def from_scratch(db, area: str, first: date, last: date) -> tuple[Counter, Counter, Counter]:
    """Arrivals and guest-nights per day, and arrivals and guest-nights per (day, origin, dwelling kind)
    (a pair per key), counted over the stays."""
    async with db.acquire() as conn:
        guests = await conn.fetch(
            """SELECT s.check_in, s.checked_out_at, g.document_type, g.document_masked, g.origin_division,
                      g.nationality, d.kind
                 FROM stays s JOIN stay_guests g ON g.stay_id = s.id JOIN dwellings d ON d.id = s.dwelling_id
                WHERE s.area_code LIKE $1 || '%'""", area)
    arrivals, nights, by_origin = Counter(), Counter(), Counter()
    for g in guests:
        origin = origin_of(g["document_type"], g["document_masked"], g["origin_division"], g["nationality"])
        if first <= g["check_in"] <= last:
            arrivals[g["check_in"]] += 1
            by_origin[g["check_in"], origin, g["kind"], "arrivals"] += 1
        # Present on a night from check-in until the night of the check-out's local date (not that one);
        # an open stay, overdue or not, up to the last night that has ended (yesterday).
        end = g["checked_out_at"].astimezone(ZONE).date() if g["checked_out_at"] else TODAY
        night = max(g["check_in"], first)
        while night < min(end, last + timedelta(days=1), TODAY):
            nights[night] += 1
            by_origin[night, origin, g["kind"], "guest_nights"] += 1
            night += timedelta(days=1)
    return arrivals, nights, by_origin


@pytest.fixture(scope="module")
async def county(admin):
    await admin.post("/api/v1/areas", json={"code": COUNTY, "name": "临海市", "parent_code": None})
    return COUNTY


@pytest.fixture
async def village(admin, county):
    code = county + unique("")[-6:]
    response = await admin.post("/api/v1/areas", json={"code": code, "name": "东塍村", "parent_code": county})
    assert response.status_code == 201, response.text
    return code


async def statistics(client, **params) -> dict:
    response = await client.get("/api/v1/statistics", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_rollups_equal_a_count_from_scratch_after_a_mixed_history(db, anonymous, admin, make_staff,
                                                                      make_dwelling, village):
    rng = random.Random(12)
    landlord = await make_staff("landlord")
    dwellings = [await make_dwelling(landlord, village, capacity=rng.randint(1, 6),
                                     kind=rng.choice(["homestay", "rental_room"])) for _ in range(4)]
    documents = [("resident_id", resident_id(division), None) for division in ("331082", "320102", "310101")]
    documents += [("passport", "E12345678", "USA"), ("hk_macao_permit", "H12345678", None)]
    # Forty days of history: stays checked out early, on time, late, and still open past their date.
    for _ in range(60):
        check_in = TODAY - timedelta(days=rng.randint(2, 40))
        planned = rng.randint(0, 5)
        ending = rng.choice(["early", "on_time", "late", "open"])
        actual = {"early": max(0, planned - 1), "on_time": planned, "late": planned + 2}.get(ending)
        out = local(check_in + timedelta(days=actual), rng.randint(6, 22)) if actual is not None else None
        if out and out.date() >= TODAY:
            out = None
        await history_stay(db, rng.choice(dwellings), check_in, planned, out,
                           [rng.choice(documents) for _ in range(rng.randint(1, 3))])
        if rng.random() < 0.2:
            await close_nights(db)  # the service's loop closing nights as the history happens
    await close_nights(db)
    # Today: registrations, some back-dated to yesterday (a closed night), check-outs of old open stays.
    for _ in range(6):
        check_in = rng.choice([TODAY, TODAY - timedelta(days=1)])
        await register(anonymous, rng.choice(dwellings), check_in=check_in.isoformat(),
                       check_out=(check_in + timedelta(days=2)).isoformat())
    async with db.acquire() as conn:
        open_ids = await conn.fetch("SELECT id FROM stays WHERE area_code = $1 AND checked_out_at IS NULL "
                                    "AND check_in < $2 LIMIT 4", village, TODAY - timedelta(days=3))
        await conn.execute("UPDATE stays SET checked_out_at = now() WHERE id = ANY($1::uuid[])",
                           [r["id"] for r in open_ids])
    first, last = TODAY - timedelta(days=45), TODAY
    await counters_applied(db)

    arrivals, nights, by_origin = await from_scratch(db, village, first, last)
    for moment in ("before the night closes", "after"):
        answer = await statistics(admin, area=village, **{"from": first.isoformat()}, to=last.isoformat())
        got = {date.fromisoformat(r["period"]): (r["arrivals"], r["guest_nights"]) for r in answer["rows"]}
        days = set(arrivals) | set(nights) | set(got)
        assert {d: got.get(d, (0, 0)) for d in days} == {d: (arrivals[d], nights[d]) for d in days}, moment
        assert answer["totals"]["arrivals"] == sum(arrivals.values())
        assert answer["totals"]["guest_nights"] == sum(nights.values())
        # Each breakdown, cell by cell: arrivals and guest-nights per day and origin (or kind).
        for by in ("origin_province", "nationality", "kind"):
            cells = await statistics(admin, area=village, **{"from": first.isoformat()}, to=last.isoformat(), by=by)
            got_cells = Counter()
            for r in cells["rows"]:
                for measure in ("arrivals", "guest_nights"):
                    got_cells[date.fromisoformat(r["period"]), r["key"], measure] += r[measure]
            expected = Counter()
            for (day, origin, kind, measure), n in by_origin.items():
                expected[day, breakdown_key(by, origin, kind), measure] += n
            assert +got_cells == +expected, (by, moment)
        await close_nights(db)
    # Nothing has closed today's night yet: the check-ins of today have arrivals but no guest-night.
    assert nights[TODAY] == 0


async def test_guest_nights_and_occupancy_on_a_worked_example(db, admin, make_staff, make_dwelling, village):
    """Two dwellings of 2 beds: four nights, a stay of 3 guests for 2 nights in one, 1 guest for 1 night in the other."""
    landlord = await make_staff("landlord")
    a = await make_dwelling(landlord, village, capacity=2)
    b = await make_dwelling(landlord, village, capacity=2)
    first = TODAY - timedelta(days=4)
    local_guest = ("resident_id", resident_id("331082"), None)
    await history_stay(db, a, first, 2, local(first + timedelta(days=2), 11), [local_guest] * 3)
    await history_stay(db, b, first + timedelta(days=1), 1, local(first + timedelta(days=2), 9), [local_guest])
    async with db.acquire() as conn:  # the dwellings were there all along: their beds count from then
        await conn.execute("UPDATE dwellings SET created_at = $1 WHERE id IN ($2, $3)", local(first, 0), a["id"], b["id"])
        await conn.execute("SELECT stats_rebuild()")
    await close_nights(db)
    answer = await statistics(admin, area=village, **{"from": first.isoformat()},
                              to=(TODAY - timedelta(days=1)).isoformat(), period="month")
    totals = answer["totals"]
    assert (totals["arrivals"], totals["guest_nights"]) == (4, 7)  # 3 x 2 nights + 1 x 1 night
    assert totals["beds"] == 4 and totals["bed_nights"] == 16  # 4 beds x 4 ended nights
    assert totals["bed_occupancy"] == pytest.approx(7 / 16, abs=1e-4)
    assert totals["dwelling_occupancy"] == pytest.approx(3 / 8, abs=1e-4)  # a: 2 nights, b: 1, of 2 x 4
    assert totals["average_stay"] == pytest.approx(7 / 4, abs=0.01)
    # Three guests in two beds: occupancy of those nights passes 100% and is reported as it is.
    crowded = await statistics(admin, area=village, **{"from": first.isoformat()}, to=first.isoformat())
    assert crowded["totals"]["bed_occupancy"] == pytest.approx(3 / 4)
    assert (crowded["rows"][0]["guest_nights"], crowded["totals"]["guest_nights"]) == (3, 3)


async def test_an_overdue_stay_keeps_counting_until_checked_out(db, admin, make_staff, make_dwelling, village):
    landlord = await make_staff("landlord")
    room = await make_dwelling(landlord, village, capacity=2)
    check_in = TODAY - timedelta(days=6)
    await history_stay(db, room, check_in, 1, None, [("resident_id", resident_id("320102"), None)])
    await close_nights(db)
    span = {"area": village, "from": check_in.isoformat(), "to": TODAY.isoformat()}
    assert (await statistics(admin, **span))["totals"]["guest_nights"] == 6  # planned 1, still there
    async with db.acquire() as conn:
        await conn.execute("UPDATE stays SET checked_out_at = now() WHERE dwelling_id = $1", room["id"])
    await close_nights(db)
    assert (await statistics(admin, **span))["totals"]["guest_nights"] == 6  # tonight never counts


async def test_police_see_their_jurisdiction_and_analysts_only_their_area(admin, make_staff, make_area, village, county):
    other_county = await make_area()
    police = await make_staff("police", county)
    outsider = await make_staff("police", other_county)
    analyst = await make_staff("analyst", village)
    assert (await police.get("/api/v1/statistics", params={"area": village})).status_code == 200
    assert (await outsider.get("/api/v1/statistics", params={"area": village})).status_code == 404
    assert (await analyst.get("/api/v1/statistics", params={"area": village})).status_code == 200
    assert (await analyst.get("/api/v1/statistics", params={"area": county})).status_code == 404
    assert (await analyst.get("/api/v1/statistics", params={"area": other_county})).status_code == 404
    assert (await analyst.get("/api/v1/auth/me")).json()["role"] == "analyst"
    log = (await admin.get("/api/v1/statistics/access-log")).json()
    assert {"analyst", "police"} <= {e["role"] for e in log[:5]}
    # Aggregate accesses: in their own log, not in the person-level audit chain.
    audited = (await admin.get("/api/v1/audit", params={"actor": police.account["username"]})).json()
    assert not [e for e in audited if "statistic" in json.dumps(e)], audited


async def test_an_analyst_gets_403_on_every_route_about_persons(make_staff, village):
    analyst = await make_staff("analyst", village)
    # Their own account (who they are, password, sessions), the figures, and what anyone may call.
    allowed = {"GET /api/v1/statistics", "GET /api/v1/auth/me", "POST /api/v1/auth/logout",
               "POST /api/v1/auth/password", "POST /api/v1/auth/sessions/revoke",
               "POST /api/v1/auth/login", "POST /api/v1/certificates/verify"}
    checked = 0
    for route, answers in POLICY.items():
        method, path = route.split(" ", 1)
        if route in allowed or not path.startswith("/api/v1/") or "/public/" in path:
            continue
        url = re.sub(r"\{(\w*id|number)\}", "1", path.replace("{stay_id}", str(uuid.uuid4())).replace(
            "{verification_id}", str(uuid.uuid4())).replace("{area_code}", village).replace("{code}", village))
        response = await analyst.request(method, url, params={"area": village})
        assert response.status_code == 403, (route, response.status_code)
        checked += 1
    assert checked >= 20
    assert (await analyst.post("/api/v1/auth/logout")).status_code == 204


async def test_exports_carry_the_same_table_as_the_json(db, admin, make_staff, make_dwelling, village):
    landlord = await make_staff("landlord")
    room = await make_dwelling(landlord, village, capacity=4)
    await history_stay(db, room, TODAY - timedelta(days=3), 2, local(TODAY - timedelta(days=1)),
                       [("resident_id", resident_id("320102"), None), ("passport", "E7654321", "JPN")])
    await close_nights(db)
    params = {"area": village, "from": (TODAY - timedelta(days=5)).isoformat(), "to": TODAY.isoformat(),
              "by": "origin_province", "lang": "zh"}
    answer = await statistics(admin, **params)
    table = [[r["period"], r["key"], r["label"], r["arrivals"], r["guest_nights"]] for r in answer["rows"]]
    assert ["江苏省", "境外"] == sorted({r[2] for r in table}, reverse=True)

    response = await admin.get("/api/v1/statistics", params={**params, "format": "csv"})
    assert response.content.startswith("\ufeff".encode())
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert lines[0][:3] == ["地区 area", village, "东塍村"]
    start = next(i for i, line in enumerate(lines) if line and line[0] == "期间 period" and len(line) == 6)
    rows = [[p, k, label, int(a), int(n)] for p, k, label, a, n, _ in lines[start + 1:start + 1 + len(table)]]
    assert rows == table

    response = await admin.get("/api/v1/statistics", params={**params, "format": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    start = next(i for i, r in enumerate(cells) if r[0] == "期间 period" and r[1] == "分组 key")
    assert [list(r[:5]) for r in cells[start + 1:start + 1 + len(table)]] == table
    assert any(r[0] == "口径 definitions" for r in cells)


async def test_labels_are_in_the_readers_language_in_the_answer_and_the_files(db, admin, make_staff,
                                                                               make_dwelling, village):
    landlord = await make_staff("landlord")
    homestay = await make_dwelling(landlord, village, kind="homestay", capacity=6)
    await history_stay(db, homestay, TODAY - timedelta(days=3), 2, local(TODAY - timedelta(days=1)),
                       [("resident_id", resident_id("320102"), None), ("passport", "E7654321", "USA"),
                        ("hk_macao_permit", "H12345678", None), ("passport", "E7654322", "KOR")])
    await close_nights(db)
    period = {"area": village, "from": (TODAY - timedelta(days=5)).isoformat(), "to": TODAY.isoformat()}
    expected = {
        "origin_province": {"en": {"32": "Jiangsu", "HK": "Hong Kong", "foreign": "Foreign countries"},
                            "zh": {"32": "江苏省", "HK": "香港", "foreign": "境外"}},
        "nationality": {"en": {"CHN": "China", "USA": "United States", "KOR": "South Korea"},
                        "zh": {"CHN": "中国", "USA": "美国", "KOR": "大韩民国"}},
        "kind": {"en": {"homestay": "Homestay"}, "zh": {"homestay": "民宿"}},
        "none": {"en": {"": "Total"}, "zh": {"": "合计"}},
    }
    for by, names in expected.items():
        for lang, labels in names.items():
            answer = await statistics(admin, **period, by=by, lang=lang)
            assert {r["key"]: r["label"] for r in answer["rows"]} == labels, (by, lang)
            # Both names in every answer: a page switching language draws the rows again without asking.
            assert {r["key"]: r["labels"] for r in answer["rows"]} == {
                key: {"en": names["en"][key], "zh": names["zh"][key]} for key in labels}
    # The language as Accept-Language says it, as the pages send it.
    response = await admin.get("/api/v1/statistics", params={**period, "by": "kind"},
                               headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert {r["label"] for r in response.json()["rows"]} == {"民宿"}

    # The files in English: the same English names as the JSON.
    response = await admin.get("/api/v1/statistics", params={**period, "by": "nationality", "format": "csv", "lang": "en"})
    text = response.content.decode("utf-8-sig")
    assert {"United States", "South Korea", "China"} <= {line[2] for line in csv.reader(io.StringIO(text)) if len(line) > 2}
    assert "美国" not in text
    response = await admin.get("/api/v1/statistics", params={**period, "by": "origin_province", "format": "xlsx", "lang": "en"})
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert {"Jiangsu", "Hong Kong", "Foreign countries"} <= {r[2] for r in sheet.iter_rows(values_only=True)}


async def test_the_live_origins_carry_english_and_chinese_names(anonymous, make_staff, make_dwelling, village, db):
    police = await make_staff("police", area_code=village)
    room = await make_dwelling(await make_staff("landlord"), village, capacity=4)
    await register(anonymous, room, document_number=resident_id("440305"))
    await counters_applied(db)
    counts = (await police.get("/api/v1/police/occupancy", params={"area": village})).json()
    assert {"province": "44", "name": "广东省", "names": {"en": "Guangdong", "zh": "广东省"}, "guests": 1} \
        in counts["origin_provinces"]


async def a_week_with_one_foreign_guest(db, make_staff, make_dwelling, village, foreign_guests: int = 1) -> date:
    """Last week: 22 arrivals over four dwellings, ``foreign_guests`` of them Americans in one dwelling."""
    landlord = await make_staff("landlord")
    rooms = [await make_dwelling(landlord, village, capacity=6) for _ in range(4)]
    monday = TODAY - timedelta(days=TODAY.weekday() + 7)
    local_guest = ("resident_id", resident_id("331082"), None)
    for n in range(7):
        await history_stay(db, rooms[n % 4], monday + timedelta(days=n % 5), 1,
                           local(monday + timedelta(days=n % 5 + 1)), [local_guest] * (3 if n or foreign_guests == 1 else 2))
    await history_stay(db, rooms[0], monday + timedelta(days=2), 1, local(monday + timedelta(days=3)),
                       [("passport", "E1234567", "USA")] * foreign_guests)
    await close_nights(db)
    return monday


async def test_an_analyst_cannot_recover_a_hidden_count(db, admin, make_staff, make_dwelling, village):
    monday = await a_week_with_one_foreign_guest(db, make_staff, make_dwelling, village)
    analyst = await make_staff("analyst", village)
    week = {"area": village, "period": "week", "by": "nationality"}
    seen = await statistics(analyst, **week, **{"from": monday.isoformat()}, to=(monday + timedelta(days=6)).isoformat())
    exact = await statistics(admin, **week, **{"from": monday.isoformat()}, to=(monday + timedelta(days=6)).isoformat())
    assert {r["key"]: r["arrivals"] for r in exact["rows"]} == {"CHN": 21, "USA": 1}  # police and admins: exact
    assert all(r["arrivals"] is None and r["suppressed"] for r in seen["rows"])  # USA (1) and, to protect it, CHN
    # The files say so: blank cells, flagged, and the suppression note.
    span = {**week, "from": monday.isoformat(), "to": (monday + timedelta(days=6)).isoformat(), "lang": "en"}
    text = (await analyst.get("/api/v1/statistics", params={**span, "format": "csv"})).content.decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert any(line[0] == "隐藏说明 suppression" for line in lines if line)
    assert {tuple(line[2:]) for line in lines if len(line) == 6 and line[1] in ("CHN", "USA")} == {
        ("China", "", "", "yes"), ("United States", "", "", "yes")}
    sheet = openpyxl.load_workbook(io.BytesIO(
        (await analyst.get("/api/v1/statistics", params={**span, "format": "xlsx"})).content)).active
    assert any(r[0] == "隐藏说明 suppression" for r in sheet.iter_rows(values_only=True))
    # Differencing the totals against the visible cells: the totals are rounded (20 or 25, never 22).
    assert seen["totals"]["arrivals"] % 5 == 0 and seen["totals"]["rounded"]
    # A neighbouring query, one day shorter or longer, snaps to the same whole week: nothing to subtract.
    for first, last in ((monday + timedelta(days=1), monday + timedelta(days=6)),
                        (monday, monday + timedelta(days=5))):
        shifted = await statistics(analyst, **week, **{"from": first.isoformat()}, to=last.isoformat())
        assert (shifted["from"], shifted["rows"], shifted["totals"]) == (seen["from"], seen["rows"], seen["totals"])
    # A village with one American fewer among the same 22 guests looks the same to the analyst: the
    # answer does not tell whether one or two Americans came.
    twin = COUNTY + unique("")[-6:]
    assert (await admin.post("/api/v1/areas", json={"code": twin, "name": "twin", "parent_code": COUNTY})).is_success
    await a_week_with_one_foreign_guest(db, make_staff, make_dwelling, twin, foreign_guests=2)
    twin_analyst = await make_staff("analyst", twin)
    twin_seen = await statistics(twin_analyst, **{**week, "area": twin, "from": monday.isoformat()},
                                 to=(monday + timedelta(days=6)).isoformat())
    assert (twin_seen["rows"], twin_seen["totals"]) == (seen["rows"], seen["totals"])


async def test_a_cell_from_fewer_than_three_dwellings_is_hidden_from_analysts(db, make_staff, make_dwelling, village):
    landlord = await make_staff("landlord")
    rooms = [await make_dwelling(landlord, village, capacity=20) for _ in range(2)]
    yesterday = TODAY - timedelta(days=1)
    for room in rooms:  # ten guests, but all from two landlords' rooms: one landlord's business shows
        await history_stay(db, room, yesterday, 1, local(TODAY), [("resident_id", resident_id("320102"), None)] * 5)
    await close_nights(db)
    analyst = await make_staff("analyst", village)
    seen = await statistics(analyst, area=village, **{"from": yesterday.isoformat()}, to=yesterday.isoformat())
    assert seen["rows"][0]["suppressed"] and seen["rows"][0]["arrivals"] is None


async def test_capacity_thresholds_raise_and_clear_warnings_on_the_police_stream(
        database_url, tmp_path, admin, anonymous, make_staff, make_dwelling, village, county):
    from tests.support import ServiceProcess
    from tests.test_police import next_event, police_stream

    fast = ServiceProcess(dsn=database_url, data_dir=tmp_path, extra_env={"VH_STATS_EVALUATE_SECONDS": "0.3"}).start()
    try:
        landlord = await make_staff("landlord")
        room = await make_dwelling(landlord, village, capacity=4)
        response = await admin.put(f"/api/v1/statistics/thresholds/{village}", json={"yellow": 0.5, "red": 0.9})
        assert response.status_code == 200, response.text
        listed = {t["area_code"]: t for t in (await admin.get("/api/v1/statistics/thresholds")).json()}
        assert (listed[village]["yellow"], listed[village]["red"], listed[county]["yellow"]) == (0.5, 0.9, 0.8)
        police = await make_staff("police", county)
        police.base_url = fast.base_url

        async def village_alert(events) -> dict:
            while True:
                body = json.loads((await next_event(events, "alert", timeout=20))["data"])
                if body["area_code"] == village and body["kind"] == "capacity":
                    return body

        async with police_stream(police, village) as events:
            first = await register(anonymous, room, companions=[{"full_name": "李四", "document_type": "resident_id",
                                                                 "document_number": resident_id("320102")}])
            raised = await village_alert(events)
            assert raised["details"]["level"] == "yellow" and raised["details"]["rate"] == 0.5
            assert raised["details"]["threshold"] == 0.5
            warnings = (await police.get("/api/v1/statistics/warnings", params={"area": village})).json()
            assert [(w["kind"], w["level"]) for w in warnings] == [("capacity", "yellow")]
            receipt = await anonymous.post(f"/api/v1/public/receipts/{first['receipt_code']}/checkout")
            assert receipt.status_code == 200, receipt.text
            cleared = await village_alert(events)
            assert cleared["details"]["level"] == "cleared"
        assert (await police.get("/api/v1/statistics/warnings", params={"area": village})).json() == []
        count = await db_alerts(database_url, village)
        assert count == 2  # raised once and cleared once, though two instances evaluate
    finally:
        fast.stop()


async def db_alerts(database_url: str, area: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval("SELECT count(*) FROM alerts WHERE area_code = $1 AND kind = 'capacity'", area)
    finally:
        await conn.close()


async def test_a_day_of_unusual_arrivals_raises_a_warning(database_url, anonymous, make_staff, make_area,
                                                          make_dwelling, county):
    """Ten arrivals today where the same weekday of the last four weeks saw none."""
    from service.db.pool import create_pool
    from service.statistics.warnings import evaluate

    area = await make_area(county, "quiet hamlet")
    room = await make_dwelling(await make_staff("landlord"), area, capacity=20)
    await register(anonymous, room, companions=[
        {"full_name": f"团员{n}", "document_type": "resident_id", "document_number": resident_id("320102")}
        for n in range(9)])
    police = await make_staff("police", county)
    pool = await create_pool(database_url, 1, str(ZONE))
    try:
        for _ in range(100):  # what the service's loop does every 30 s; it may hold the round's lock now
            async with pool.acquire() as conn:
                await evaluate(conn, datetime.now(ZONE))
            warnings = (await police.get("/api/v1/statistics/warnings", params={"area": area})).json()
            if warnings:
                break
            await asyncio.sleep(0.5)
    finally:
        await pool.close()
    assert [(w["kind"], w["level"]) for w in warnings] == [("unusual_arrivals", "raised")], warnings
    assert warnings[0]["details"]["arrivals"] == 10
