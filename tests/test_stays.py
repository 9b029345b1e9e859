"""A guest scans the QR code and registers; the landlord sees the guest, masked; check-out ends the stay."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.support import idempotency_key, resident_id

TODAY = datetime.now(ZoneInfo("Asia/Shanghai")).date()


def token_of(dwelling: dict) -> str:
    return dwelling["registration_url"].rsplit("/", 1)[1]


def stay_body(**fields) -> dict:
    return {
        "full_name": "张三",
        "document_type": "resident_id",
        "document_number": resident_id(),
        "phone": "13800138000",
        "check_in": TODAY.isoformat(),
        "check_out": (TODAY + timedelta(days=2)).isoformat(),
        **fields,
    }


@pytest.fixture
async def dwelling(make_staff, make_area, make_dwelling):
    landlord = await make_staff("landlord")
    area = await make_area()
    made = await make_dwelling(landlord, area, capacity=2)
    made["owner"], made["token"] = landlord, token_of(made)
    return made


async def register(client, dwelling: dict, body: dict, key: str | None = None, **headers):
    return await client.post(f"/api/v1/public/dwellings/{dwelling['token']}/stays", json=body,
                             headers={"Idempotency-Key": key or idempotency_key(), **headers})


async def test_a_guest_registers_and_gets_a_receipt(anonymous, dwelling):
    number = resident_id()
    response = await register(anonymous, dwelling, stay_body(document_number=number))
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert len(receipt["receipt_code"]) == 11 and receipt["receipt_code"][5] == "-"
    assert receipt["dwelling"]["name"] == dwelling["name"]
    assert receipt["guests"] == [{"full_name": "张三", "document_masked": number[:3] + "*" * 11 + number[-4:]}]
    assert response.headers["cache-control"] == "no-store"
    again = await anonymous.get(f"/api/v1/public/receipts/{receipt['receipt_code'].lower()}")
    assert again.json()["id"] == receipt["id"]


async def test_retries_with_one_key_create_one_stay(anonymous, db, dwelling):
    key, body = idempotency_key(), stay_body()
    answers = await asyncio.gather(*(register(anonymous, dwelling, body, key) for _ in range(5)))
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["receipt_code"] for a in answers}) == 1
    assert await db.fetchval("SELECT count(*) FROM stays WHERE dwelling_id = $1", dwelling["id"]) == 1
    later = await register(anonymous, dwelling, body, key)
    assert later.json() == answers[0].json()


async def test_a_reused_key_with_another_body_is_refused(anonymous, db, dwelling):
    key = idempotency_key()
    assert (await register(anonymous, dwelling, stay_body(), key)).status_code == 201
    reused = await register(anonymous, dwelling, stay_body(full_name="李四"), key)
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"
    assert await db.fetchval("SELECT count(*) FROM stays WHERE dwelling_id = $1", dwelling["id"]) == 1


async def test_a_registration_without_idempotency_key_is_refused(anonymous, dwelling):
    response = await anonymous.post(f"/api/v1/public/dwellings/{dwelling['token']}/stays", json=stay_body())
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"


FUTURE = (TODAY + timedelta(days=1)).strftime("%Y%m%d")
# (what the guest typed, the field the error names, its code); each rule passes in VALID below.
INVALID = [
    ({"document_number": resident_id()[:-1] + ("0" if resident_id()[-1] != "0" else "1")}, "document_number", "id_check_digit"),
    ({"document_number": resident_id(birth="19900230")}, "document_number", "id_birth_date"),
    ({"document_number": resident_id(birth=FUTURE)}, "document_number", "id_birth_date"),
    ({"document_number": resident_id(division="990101")}, "document_number", "id_province"),
    ({"document_number": "1101051990"}, "document_number", "id_length"),
    ({"document_type": "passport", "document_number": "E12", "nationality": "CHN"}, "document_number", "passport_format"),
    ({"document_type": "passport", "document_number": "E12345678"}, "nationality", "nationality_required"),
    ({"document_type": "passport", "document_number": "X12345678", "nationality": "ZZZ"}, "nationality", "nationality_unknown"),
    ({"document_type": "hk_macao_permit", "document_number": "K12345678"}, "document_number", "hk_macao_permit_format"),
    ({"document_type": "taiwan_permit", "document_number": "1234567"}, "document_number", "taiwan_permit_format"),
    ({"document_type": "foreign_permanent_residence", "document_number": "AB1234", "nationality": "USA"},
     "document_number", "foreign_permanent_residence_format"),
    ({"phone": "12345"}, "phone", "phone_invalid"),
    ({"phone": "+0123456789"}, "phone", "phone_invalid"),
    ({"check_out": (TODAY - timedelta(days=1)).isoformat()}, "check_out", "check_out_before_check_in"),
    ({"check_out": (TODAY + timedelta(days=91)).isoformat()}, "check_out", "stay_too_long"),
    ({"check_in": (TODAY - timedelta(days=3)).isoformat()}, "check_in", "check_in_out_of_range"),
    ({"companions": [{"full_name": "小明"}]}, "companions.0.relationship", "companion_needs_document_or_relationship"),
    ({"companions": [{"full_name": "王五", "document_type": "resident_id", "document_number": "110105199003071230"}]},
     "companions.0.document_number", "id_check_digit"),
    ({"full_name": "\u202eevil"}, "full_name", "invalid_value"),
    ({"document_type": "driving_licence"}, "document_type", "invalid_value"),
]
VALID = [
    {"document_number": resident_id(sequence="002", birth="19491231", division="110105")},  # check character X
    {"document_number": "110105491231002"},  # a 15-digit legacy number
    {"document_number": resident_id(birth="20000229")},
    {"document_type": "passport", "document_number": "E12345678", "nationality": "CHN"},
    {"document_type": "passport", "document_number": "X12345678", "nationality": "USA"},
    {"document_type": "hk_macao_permit", "document_number": "H12345678"},
    {"document_type": "taiwan_permit", "document_number": "12345678"},
    {"document_type": "foreign_permanent_residence", "document_number": "USA110079112701", "nationality": "USA"},
    {"phone": "+86 138 0013 8000"},
    {"phone": "+4915112345678"},
    {"check_out": TODAY.isoformat()},
    {"check_in": (TODAY - timedelta(days=1)).isoformat()},
    {"check_out": (TODAY + timedelta(days=90)).isoformat()},
    {"companions": [{"full_name": "小明", "relationship": "child"},
                    {"full_name": "王五", "document_type": "resident_id", "document_number": resident_id()}]},
]


@pytest.mark.parametrize(("fields", "field", "code"), INVALID, ids=[c for _, _, c in INVALID])
async def test_each_rule_refuses_a_bad_entry_naming_its_field(anonymous, db, dwelling, fields, field, code):
    response = await register(anonymous, dwelling, stay_body(**fields))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = response.json()["errors"]
    assert (field, code) in [(e["field"], e["code"]) for e in errors], errors
    assert await db.fetchval("SELECT count(*) FROM stays WHERE dwelling_id = $1", dwelling["id"]) == 0


@pytest.mark.parametrize("fields", VALID, ids=[str(i) for i in range(len(VALID))])
async def test_each_rule_accepts_a_good_entry(anonymous, dwelling, fields):
    response = await register(anonymous, dwelling, stay_body(**fields))
    assert response.status_code == 201, response.text


async def test_all_bad_fields_are_named_at_once_in_the_guests_language(anonymous, dwelling):
    body = stay_body(document_number="110105199003071230", phone="12", check_out=(TODAY - timedelta(days=5)).isoformat())
    response = await register(anonymous, dwelling, body, **{"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    problem = response.json()
    assert {e["field"] for e in problem["errors"]} == {"document_number", "phone", "check_out"}
    assert problem["title"] == "部分信息需要修改。"
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in e["message"]) for e in problem["errors"])


async def test_a_legacy_number_is_stored_as_its_18_digit_form(anonymous, dwelling):
    receipt = (await register(anonymous, dwelling, stay_body(document_number="110105491231002"))).json()
    assert receipt["guests"][0]["document_masked"] == "110***********002X"


async def test_derived_facts_are_kept_for_counting(anonymous, db, dwelling):
    companions = [{"full_name": "Anna", "document_type": "passport", "document_number": "C01X00T47", "nationality": "DEU"},
                  {"full_name": "小明", "relationship": "child"}]
    body = stay_body(document_number=resident_id(division="331082", birth="19851102", sequence="013"), companions=companions)
    receipt = (await register(anonymous, dwelling, body)).json()
    rows = await db.fetch("""SELECT birth_year, sex, origin_division, is_foreign, relationship FROM stay_guests
                              WHERE stay_id = $1 ORDER BY position""", receipt["id"])
    assert [tuple(r) for r in rows] == [(1985, "M", "331082", False, None), (None, None, None, True, None),
                                        (None, None, None, False, "child")]


async def test_a_stay_past_capacity_is_accepted_and_marked(anonymous, db, dwelling):
    first = await register(anonymous, dwelling, stay_body(companions=[{"full_name": "小明", "relationship": "child"}]))
    assert first.json()["capacity_anomaly"] is False
    second = await register(anonymous, dwelling, stay_body())
    assert second.status_code == 201 and second.json()["capacity_anomaly"] is True
    flags = await db.fetch("SELECT capacity_anomaly FROM stays WHERE dwelling_id = $1 ORDER BY created_at", dwelling["id"])
    assert [f["capacity_anomaly"] for f in flags] == [False, True]


async def test_the_landlord_sees_current_guests_masked_and_checks_them_out(anonymous, db, dwelling):
    landlord = dwelling["owner"]
    number = resident_id()
    receipt = (await register(anonymous, dwelling, stay_body(document_number=number, phone="13912345678"))).json()
    listed = (await landlord.get(f"/api/v1/dwellings/{dwelling['id']}/stays?current=true")).json()
    assert [s["id"] for s in listed] == [receipt["id"]]
    assert listed[0]["phone_masked"] == "139****5678"
    assert listed[0]["guests"][0]["document_masked"] == number[:3] + "*" * 11 + number[-4:]
    assert number not in str(listed) and "13912345678" not in str(listed)
    overview = {d["id"]: d for d in (await landlord.get("/api/v1/dwellings")).json()}
    assert overview[dwelling["id"]]["current_guests"] == 1

    out = await landlord.post(f"/api/v1/stays/{receipt['id']}/checkout")
    assert out.status_code == 200 and out.json()["checked_out_at"]
    assert (await landlord.get(f"/api/v1/dwellings/{dwelling['id']}/stays?current=true")).json() == []
    assert len((await landlord.get(f"/api/v1/dwellings/{dwelling['id']}/stays")).json()) == 1


async def test_landlord_b_can_neither_list_nor_check_out_landlord_as_guests(anonymous, db, make_staff, dwelling):
    receipt = (await register(anonymous, dwelling, stay_body())).json()
    landlord_b = await make_staff("landlord")
    assert (await landlord_b.get(f"/api/v1/dwellings/{dwelling['id']}/stays?current=true")).status_code == 404
    assert (await landlord_b.post(f"/api/v1/stays/{receipt['id']}/checkout")).status_code == 404
    walk_in = await landlord_b.post(f"/api/v1/dwellings/{dwelling['id']}/stays", json=stay_body(),
                                    headers={"Idempotency-Key": idempotency_key()})
    assert walk_in.status_code == 404
    assert await db.fetchval("SELECT checked_out_at FROM stays WHERE id = $1", receipt["id"]) is None


async def test_police_see_the_guests_of_their_jurisdiction_only(anonymous, make_staff, make_area, make_dwelling):
    county, elsewhere = await make_area(), await make_area()
    landlord = await make_staff("landlord")
    inside = await make_dwelling(landlord, await make_area(parent=county))
    inside["token"] = token_of(inside)
    await register(anonymous, inside, stay_body())
    police, outsider = await make_staff("police", area_code=county), await make_staff("police", area_code=elsewhere)
    assert len((await police.get(f"/api/v1/dwellings/{inside['id']}/stays?current=true")).json()) == 1
    assert (await outsider.get(f"/api/v1/dwellings/{inside['id']}/stays")).status_code == 404
    stay_id = (await police.get(f"/api/v1/dwellings/{inside['id']}/stays")).json()[0]["id"]
    assert (await police.post(f"/api/v1/stays/{stay_id}/checkout")).status_code == 403


async def test_the_guest_checks_out_with_the_receipt_code(anonymous, dwelling):
    receipt = (await register(anonymous, dwelling, stay_body())).json()
    out = await anonymous.post(f"/api/v1/public/receipts/{receipt['receipt_code']}/checkout")
    assert out.status_code == 200 and out.json()["checked_out_at"]
    twice = await anonymous.post(f"/api/v1/public/receipts/{receipt['receipt_code']}/checkout")
    assert twice.json()["checked_out_at"] == out.json()["checked_out_at"]
    assert (await anonymous.get("/api/v1/public/receipts/ZZZZZ-ZZZZZ")).status_code == 404


async def test_the_desk_registers_a_walk_in_guest(db, make_staff, make_area, make_dwelling):
    desk = await make_staff("desk")
    room = await make_dwelling(desk, await make_area(), kind="hotel_room")
    key, body = idempotency_key(), stay_body()
    answers = [await desk.post(f"/api/v1/dwellings/{room['id']}/stays", json=body, headers={"Idempotency-Key": key})
               for _ in range(2)]
    assert [a.status_code for a in answers] == [201, 201]
    assert await db.fetchval("SELECT registered_by FROM stays WHERE dwelling_id = $1", room["id"]) == "desk"
    assert await db.fetchval("SELECT count(*) FROM stays WHERE dwelling_id = $1", room["id"]) == 1


async def test_a_stay_past_its_check_out_and_grace_is_flagged_overdue_not_closed(anonymous, db, dwelling):
    receipt = (await register(anonymous, dwelling, stay_body())).json()
    await db.execute("UPDATE stays SET expected_departure = now() - interval '13 hours' WHERE id = $1", receipt["id"])
    listed = (await dwelling["owner"].get(f"/api/v1/dwellings/{dwelling['id']}/stays?current=true")).json()
    assert [(s["id"], s["overdue"]) for s in listed] == [(receipt["id"], True)]
    overview = {d["id"]: d for d in (await dwelling["owner"].get("/api/v1/dwellings")).json()}
    assert overview[dwelling["id"]]["overdue_stays"] == 1


async def test_a_rotated_qr_code_takes_no_registrations(anonymous, db, dwelling):
    await dwelling["owner"].post(f"/api/v1/dwellings/{dwelling['id']}/qr/rotate")
    response = await register(anonymous, dwelling, stay_body())
    assert response.status_code == 410
    assert await db.fetchval("SELECT count(*) FROM stays WHERE dwelling_id = $1", dwelling["id"]) == 0


async def test_numbers_are_nowhere_in_clear_on_disk_nor_in_the_log(anonymous, db, service, dwelling):
    number = resident_id(sequence=f"{secrets.randbelow(1000):03d}")
    phone = "139" + "".join(secrets.choice("0123456789") for _ in range(8))
    companion = "E" + "".join(secrets.choice("0123456789") for _ in range(8))
    body = stay_body(document_number=number, phone=phone,
                     companions=[{"full_name": "Li", "document_type": "passport", "document_number": companion,
                                  "nationality": "CHN"}])
    assert (await register(anonymous, dwelling, body)).status_code == 201
    await db.execute("CHECKPOINT")
    data_directory = Path(await db.fetchval("SHOW data_directory"))
    needles = [n.encode() for n in (number, phone, companion)]
    files = [p for p in data_directory.rglob("*") if p.is_file()]
    assert any("pg_wal" in p.parts for p in files)  # the write-ahead log is searched too
    for path in files:
        content = path.read_bytes()
        assert not any(n in content for n in needles), f"a clear number in {path}"
    log = service.log()
    assert not any(n.decode() in log for n in needles)


async def test_lax_json_types_in_a_registration_are_refused_and_nothing_is_stored(db, anonymous, make_staff, make_area, make_dwelling):
    landlord = await make_staff("landlord")
    dwelling = await make_dwelling(landlord, await make_area())
    url = f"/api/v1/public/dwellings/{token_of(dwelling)}/stays"
    for wrong in ({"document_number": 110105199003071234}, {"phone": 13800138000}, {"full_name": ["张三"]},
                  {"companions": [{"full_name": True}]},
                  # a number of seconds was taken as a day: this one as the day after tomorrow
                  {"check_out": int(datetime.combine(TODAY + timedelta(days=2), datetime.min.time(), UTC).timestamp())}):
        refused = await anonymous.post(url, json=stay_body(**wrong), headers={"Idempotency-Key": idempotency_key()})
        assert refused.status_code == 400, wrong
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert await db.fetchval("SELECT count(*) FROM stays WHERE dwelling_id = $1", dwelling["id"]) == 0
    # dates travel in JSON as strings and still register
    accepted = await anonymous.post(url, json=stay_body(), headers={"Idempotency-Key": idempotency_key()})
    assert accepted.status_code == 201
