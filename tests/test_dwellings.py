"""Landlords and desks manage dwellings and their QR codes; guests see only public facts."""

from __future__ import annotations

import codecs
import io
import json
import uuid
from datetime import date, timedelta

import zxingcpp
from PIL import Image


async def test_landlord_creates_a_dwelling_with_a_registration_url(service, make_staff, make_area, make_dwelling):
    area = await make_area()
    landlord = await make_staff("landlord")
    dwelling = await make_dwelling(landlord, area, kind="homestay", capacity=4, latitude=28.58, longitude=121.38)
    prefix = f"{service.base_url}/r/"
    assert dwelling["registration_url"].startswith(prefix)
    token = dwelling["registration_url"].removeprefix(prefix)
    assert len(token) >= 22  # at least 128 random bits in URL-safe base64
    listed = (await landlord.get("/api/v1/dwellings")).json()
    assert [d["id"] for d in listed] == [dwelling["id"]]


async def test_png_qr_decodes_to_exactly_the_registration_url(make_staff, make_area, make_dwelling):
    landlord = await make_staff("landlord")
    dwelling = await make_dwelling(landlord, await make_area())
    png = await landlord.get(f"/api/v1/dwellings/{dwelling['id']}/qr.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert [b.text for b in decoded] == [dwelling["registration_url"]]
    assert decoded[0].format == zxingcpp.BarcodeFormat.QRCode
    assert decoded[0].ec_level == "Q"


async def test_qr_images_are_cached_with_an_etag(make_staff, make_area, make_dwelling):
    landlord = await make_staff("landlord")
    dwelling = await make_dwelling(landlord, await make_area())
    svg = await landlord.get(f"/api/v1/dwellings/{dwelling['id']}/qr.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.lstrip().startswith("<svg")
    etag = svg.headers["etag"]
    again = await landlord.get(f"/api/v1/dwellings/{dwelling['id']}/qr.svg", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""


async def test_rotation_retires_the_old_qr_code(anonymous, service, make_staff, make_area, make_dwelling):
    landlord = await make_staff("landlord")
    dwelling = await make_dwelling(landlord, await make_area())
    old_token = dwelling["registration_url"].rsplit("/", 1)[1]
    assert (await anonymous.get(f"/api/v1/public/dwellings/{old_token}")).status_code == 200
    old_png = (await landlord.get(f"/api/v1/dwellings/{dwelling['id']}/qr.png")).headers["etag"]

    rotated = await landlord.post(f"/api/v1/dwellings/{dwelling['id']}/qr/rotate")
    assert rotated.status_code == 200
    new_token = rotated.json()["registration_url"].rsplit("/", 1)[1]
    assert new_token != old_token

    gone = await anonymous.get(f"/api/v1/public/dwellings/{old_token}", headers={"Accept-Language": "zh-CN"})
    assert gone.status_code == 410
    assert "新二维码" in gone.json()["title"]
    assert (await anonymous.get(f"/api/v1/public/dwellings/{new_token}")).status_code == 200
    assert (await landlord.get(f"/api/v1/dwellings/{dwelling['id']}/qr.png")).headers["etag"] != old_png


async def test_public_view_shows_only_public_facts(anonymous, make_staff, make_area, make_dwelling):
    landlord = await make_staff("landlord")
    dwelling = await make_dwelling(landlord, await make_area(name="Guanlin"), name="Lane 3 No. 5", address="Guanlin 3-5")
    token = dwelling["registration_url"].rsplit("/", 1)[1]
    public = (await anonymous.get(f"/api/v1/public/dwellings/{token}")).json()
    assert public == {"name": "Lane 3 No. 5", "address": "Guanlin 3-5", "kind": "rental_room", "area_name": "Guanlin"}
    assert (await anonymous.get("/api/v1/public/dwellings/not-a-token")).status_code == 404
    page = await anonymous.get(f"/r/{token}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


async def test_update_and_deactivate(anonymous, make_staff, make_area, make_dwelling):
    landlord = await make_staff("landlord")
    dwelling = await make_dwelling(landlord, await make_area())
    changed = await landlord.patch(f"/api/v1/dwellings/{dwelling['id']}", json={"capacity": 5, "name": "Renamed"})
    assert changed.status_code == 200 and changed.json()["capacity"] == 5 and changed.json()["name"] == "Renamed"
    off = await landlord.patch(f"/api/v1/dwellings/{dwelling['id']}", json={"active": False})
    assert off.json()["active"] is False
    token = dwelling["registration_url"].rsplit("/", 1)[1]
    assert (await anonymous.get(f"/api/v1/public/dwellings/{token}")).status_code == 410


async def test_owners_see_and_change_only_their_own_dwellings(make_staff, make_area, make_dwelling):
    area = await make_area()
    landlord_a, landlord_b = await make_staff("landlord"), await make_staff("landlord")
    dwelling = await make_dwelling(landlord_a, area)
    path = f"/api/v1/dwellings/{dwelling['id']}"
    assert (await landlord_b.get("/api/v1/dwellings")).json() == []
    assert (await landlord_b.get(path)).status_code == 404
    assert (await landlord_b.patch(path, json={"capacity": 1})).status_code == 404
    assert (await landlord_b.get(f"{path}/qr.png")).status_code == 404
    assert (await landlord_b.get(f"{path}/poster")).status_code == 404
    assert (await landlord_b.post(f"{path}/qr/rotate")).status_code == 404
    assert (await landlord_a.get(path)).json()["capacity"] == 2  # B changed nothing


async def test_police_see_dwellings_of_their_jurisdiction_only(make_staff, make_area, make_dwelling):
    county, elsewhere = await make_area(), await make_area()
    village = await make_area(parent=county)
    landlord = await make_staff("landlord")
    inside = await make_dwelling(landlord, village)
    outside = await make_dwelling(landlord, elsewhere)
    police = await make_staff("police", area_code=county)
    assert [d["id"] for d in (await police.get("/api/v1/dwellings")).json()] == [inside["id"]]
    assert (await police.get(f"/api/v1/dwellings/{inside['id']}")).status_code == 200
    assert (await police.get(f"/api/v1/dwellings/{outside['id']}")).status_code == 404
    # police read, they do not own: no creating, no rotating
    assert (await police.post("/api/v1/dwellings", json={"name": "x", "address": "y", "area_code": county,
                                                          "kind": "homestay", "capacity": 1})).status_code == 403
    assert (await police.post(f"/api/v1/dwellings/{inside['id']}/qr/rotate")).status_code == 403


async def test_anonymous_callers_reach_only_public_routes(anonymous):
    for path in ("/api/v1/dwellings", "/api/v1/dwellings/1", "/api/v1/dwellings/1/qr.png", "/api/v1/areas", "/api/v1/accounts"):
        response = await anonymous.get(path)
        assert response.status_code == 401, path
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_bad_input_is_refused_and_writes_nothing(db, make_staff, make_area):
    landlord = await make_staff("landlord")
    area = await make_area()
    before = await db.fetchval("SELECT count(*) FROM dwellings")
    good = {"name": "Room", "address": "Lane", "area_code": area, "kind": "homestay", "capacity": 2}
    cases = [
        ({**good, "area_code": "000000404"}, 400, "area_code"),
        ({**good, "capacity": -1}, 400, "capacity"),
        ({**good, "kind": "castle"}, 400, "kind"),
        ({**good, "latitude": 123}, 400, "latitude"),
    ]
    for body, status, field in cases:
        response = await landlord.post("/api/v1/dwellings", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in [e["field"] for e in response.json()["errors"]], response.text
    malformed = await landlord.post("/api/v1/dwellings", content=b'{"name": ', headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400 and malformed.headers["content-type"].startswith("application/problem+json")
    huge = await landlord.post("/api/v1/dwellings", json={**good, "address": "x" * 2_000_000})
    assert huge.status_code == 413 and huge.headers["content-type"].startswith("application/problem+json")
    assert await db.fetchval("SELECT count(*) FROM dwellings") == before


async def test_printable_posters(make_staff, make_area, make_dwelling):
    landlord = await make_staff("landlord")
    area = await make_area()
    first = await make_dwelling(landlord, area, name="Lane 1 <b>No. 1</b>", address="Guanlin 1-1")
    await make_dwelling(landlord, area, name="Lane 2 No. 2")
    poster = await landlord.get(f"/api/v1/dwellings/{first['id']}/poster")
    assert poster.status_code == 200 and poster.headers["content-type"].startswith("text/html")
    html = poster.text
    assert "Lane 1 &lt;b&gt;No. 1&lt;/b&gt;" in html  # escaped, not markup
    assert "<svg" in html and "扫码登记" in html and "Scan to register" in html
    assert "/static/poster-a4.css" in html
    assert "/static/poster-a6.css" in (await landlord.get(f"/api/v1/dwellings/{first['id']}/poster?size=a6")).text
    all_posters = (await landlord.get("/api/v1/dwellings/posters")).text
    assert all_posters.count('class="poster"') == 2


async def test_only_the_owner_receives_the_qr_token_admins_and_police_do_not(admin, make_staff, make_area,
                                                                             make_dwelling):
    area = await make_area()
    landlord, police = await make_staff("landlord"), await make_staff("police", area)
    dwelling = await make_dwelling(landlord, area)
    token = dwelling["registration_url"].rsplit("/", 1)[1]
    for caller in (admin, police):
        listed = await caller.get("/api/v1/dwellings")
        assert listed.status_code == 200
        mine = [d for d in listed.json() if d["id"] == dwelling["id"]]
        assert mine and mine[0]["registration_url"] is None
        assert token not in listed.text
        one = await caller.get(f"/api/v1/dwellings/{dwelling['id']}")
        assert one.json()["registration_url"] is None and token not in one.text
    owned = (await landlord.get("/api/v1/dwellings")).json()
    assert [d["registration_url"] for d in owned] == [dwelling["registration_url"]]


# ---- bulk onboarding: a village's dwellings from one CSV file ----

IMPORT_HEADER = "name,address,area_code,kind,capacity,latitude,longitude,owner\n"


def dwellings_csv(area: str, names: list[str], owner: str = "", **overrides: str) -> str:
    lines = [f"{name},{i} 官林路,{area},rental_room,2,28.58,121.38,{owner}" for i, name in enumerate(names, 1)]
    return IMPORT_HEADER + "\n".join(lines) + "\n"


async def import_csv(client, body: bytes | str, dry_run: bool = False, as_form: bool = True):
    data = body.encode() if isinstance(body, str) else body
    params = {"dry_run": "true"} if dry_run else {}
    if as_form:
        return await client.post("/api/v1/dwellings/import", params=params,
                                 files={"file": ("dwellings.csv", data, "text/csv")})
    return await client.post("/api/v1/dwellings/import", params=params, content=data,
                             headers={"Content-Type": "text/csv"})


async def names_of(client) -> set[str]:
    return {d["name"] for d in (await client.get("/api/v1/dwellings")).json()}


async def test_an_admin_imports_a_villages_dwellings_for_their_owners(admin, make_staff, make_area):
    area = await make_area()
    landlord, desk = await make_staff("landlord"), await make_staff("desk")
    body = IMPORT_HEADER + (
        f"陈家小院,官林村 12 号,{area},homestay,4,28.58,121.38,{landlord.account['username']}\n"
        f"Room 101,Guanlin Inn,{area},hotel_room,2,,,{desk.account['username']}\n")
    preview = await import_csv(admin, body, dry_run=True)
    assert preview.status_code == 200, preview.text
    assert preview.json()["would_create"] == 2 and preview.json()["created"] == 0
    assert [d["owner"] for d in preview.json()["dwellings"]] == [landlord.account["username"], desk.account["username"]]
    assert await names_of(landlord) == set()  # a dry run creates nothing

    created = await import_csv(admin, body)
    assert created.status_code == 201, created.text
    assert created.json()["created"] == 2
    mine = (await landlord.get("/api/v1/dwellings")).json()
    assert [(d["name"], d["capacity"], d["kind"], d["latitude"]) for d in mine] == [("陈家小院", 4, "homestay", 28.58)]
    assert await names_of(desk) == {"Room 101"}
    # Each has its own QR code that a guest can open.
    tokens = {d["registration_url"] for d in mine} | {d["registration_url"] for d in (await desk.get("/api/v1/dwellings")).json()}
    assert len(tokens) == 2


async def test_every_bad_line_is_named_and_nothing_is_created(admin, db, make_staff, make_area):
    area = await make_area()
    landlord = await make_staff("landlord")
    owner = landlord.account["username"]
    body = IMPORT_HEADER + "\n".join([
        f"Good 1,1 Lane,{area},rental_room,2,,,{owner}",
        f"Bad area,2 Lane,999999999,rental_room,2,,,{owner}",
        f"Twice,3 Lane,{area},rental_room,2,,,{owner}",
        f"twice,4 Lane,{area},rental_room,2,,,{owner}",  # the same name for one owner, case aside
        f"No beds,5 Lane,{area},rental_room,two,,,{owner}",
        f"Castle,6 Lane,{area},castle,2,91,,nobody-{owner}",
    ]) + "\n"
    answer = await import_csv(admin, body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    errors = {(e["line"], e["field"]) for e in answer.json()["errors"]}
    assert errors == {(3, "area_code"), (5, "name"), (6, "capacity"), (7, "kind"), (7, "latitude"),
                      (7, "longitude"), (7, "owner")}
    duplicate = next(e for e in answer.json()["errors"] if e["line"] == 5)
    assert "line 4" in duplicate["message"]
    assert await db.fetchval("SELECT count(*) FROM dwellings WHERE area_code = $1", area) == 0


async def test_a_name_the_owner_already_uses_is_a_line_error(make_staff, make_area, make_dwelling):
    area = await make_area()
    landlord = await make_staff("landlord")
    await make_dwelling(landlord, area, name="西厢房")
    answer = await import_csv(landlord, dwellings_csv(area, ["东厢房", "西厢房"]))
    assert answer.status_code == 422
    assert [(e["line"], e["field"], e["code"]) for e in answer.json()["errors"]] == [
        (3, "name", "import_duplicate_existing")]
    assert await names_of(landlord) == {"西厢房"}


async def test_gb18030_files_from_excel_are_read(make_staff, make_area):
    area = await make_area()
    landlord = await make_staff("landlord")
    body = dwellings_csv(area, ["王家老屋", "李家新楼"]).encode("gb18030")
    answer = await import_csv(landlord, body, as_form=False)
    assert answer.status_code == 201, answer.text
    assert await names_of(landlord) == {"王家老屋", "李家新楼"}


async def test_utf8_with_a_bom_and_a_broken_line_is_named_by_its_line(make_staff, make_area):
    area = await make_area()
    landlord = await make_staff("landlord")
    good = "\ufeff" + dwellings_csv(area, ["张家院", "赵家院"])
    with_bom = await import_csv(landlord, good.encode("utf-8"))
    assert with_bom.status_code == 201, with_bom.text
    broken = dwellings_csv(area, ["周家院", "吴家院", "郑家院"]).encode("utf-8").replace("郑".encode(), b"\xe9\x83")
    answer = await import_csv(landlord, broken)
    assert answer.status_code == 422
    assert [(e["line"], e["code"]) for e in answer.json()["errors"]] == [(4, "csv_encoding")]
    assert await names_of(landlord) == {"张家院", "赵家院"}


async def test_a_landlord_imports_only_their_own_dwellings(make_staff, make_area):
    area = await make_area()
    landlord, other = await make_staff("landlord"), await make_staff("landlord")
    mine = dwellings_csv(area, ["Own 1"], owner=landlord.account["username"]) + f"Own 2,9 Lane,{area},homestay,3,,,\n"
    assert (await import_csv(landlord, mine)).status_code == 201
    theirs = await import_csv(landlord, dwellings_csv(area, ["Theirs"], owner=other.account["username"]))
    assert theirs.status_code == 422
    assert [(e["line"], e["field"]) for e in theirs.json()["errors"]] == [(2, "owner")]
    assert await names_of(landlord) == {"Own 1", "Own 2"} and await names_of(other) == set()
    # Nor can a landlord look through other owners' dwellings.
    assert (await landlord.get("/api/v1/admin/dwellings", params={"q": "Own"})).status_code == 403


async def test_a_landlord_of_a_village_imports_only_into_that_village(make_staff, make_area):
    """As when adding one by one: an account's area bounds where its file may put dwellings."""
    village, elsewhere = await make_area(), await make_area()
    landlord = await make_staff("landlord", village)
    outside = await import_csv(landlord, dwellings_csv(village, ["Inside"]) + f"Outside,1 Lane,{elsewhere},homestay,2,,,\n")
    assert outside.status_code == 422
    assert [(e["line"], e["field"], e["code"]) for e in outside.json()["errors"]] == [
        (3, "area_code", "import_area_outside_account")]
    assert await names_of(landlord) == set()
    assert (await import_csv(landlord, dwellings_csv(village, ["Inside"]))).status_code == 201
    assert await names_of(landlord) == {"Inside"}


async def test_police_cannot_import(make_staff, make_area):
    area = await make_area()
    police = await make_staff("police", area)
    assert (await import_csv(police, dwellings_csv(area, ["X"]))).status_code == 403


async def test_a_file_without_the_header_or_lines_is_refused(make_staff, make_area):
    landlord = await make_staff("landlord")
    no_header = await import_csv(landlord, "陈家小院,官林村,331004,homestay,4\n")
    assert no_header.status_code == 422 and no_header.json()["errors"][0]["line"] == 1
    empty = await import_csv(landlord, IMPORT_HEADER)
    assert empty.status_code == 422 and empty.json()["errors"][0]["code"] == "csv_empty"


async def test_the_list_counts_guests_overdue_arrivals_and_over_capacity(anonymous, db, make_staff, make_area,
                                                                         make_dwelling):
    from tests.support import idempotency_key
    from tests.test_stays import stay_body

    landlord = await make_staff("landlord")
    area = await make_area()
    single = await make_dwelling(landlord, area, name="Single room", capacity=1)
    quiet = await make_dwelling(landlord, area, name="Quiet room", capacity=2)
    token = single["registration_url"].rsplit("/", 1)[1]
    # Two registrations into one bed: the second is taken (never turn a guest away) and over capacity.
    for _ in range(2):
        response = await anonymous.post(f"/api/v1/public/dwellings/{token}/stays", json=stay_body(),
                                         headers={"Idempotency-Key": idempotency_key()})
        assert response.status_code == 201, response.text
    # One of them registered yesterday for a stay that should have ended: overdue, not an arrival of today.
    await db.execute("""UPDATE stays SET created_at = now() - interval '3 days',
                                          expected_departure = now() - interval '2 days'
                         WHERE id = (SELECT id FROM stays WHERE dwelling_id = $1 ORDER BY created_at LIMIT 1)""",
                     single["id"])
    listed = {d["name"]: d for d in (await landlord.get("/api/v1/dwellings")).json()}
    assert {k: listed["Single room"][k] for k in ("current_guests", "overdue_stays", "arrivals_today", "over_capacity")} \
        == {"current_guests": 2, "overdue_stays": 1, "arrivals_today": 1, "over_capacity": True}
    assert {k: listed["Quiet room"][k] for k in ("current_guests", "overdue_stays", "arrivals_today", "over_capacity")} \
        == {"current_guests": 0, "overdue_stays": 0, "arrivals_today": 0, "over_capacity": False}
    assert quiet["over_capacity"] is False


async def test_posters_of_a_selection(make_staff, make_area, make_dwelling):
    landlord, other = await make_staff("landlord"), await make_staff("landlord")
    area = await make_area()
    first, second, third = [await make_dwelling(landlord, area, name=f"Selected {n}") for n in (1, 2, 3)]
    foreign = await make_dwelling(other, area, name="Someone else's")
    page = await landlord.get("/api/v1/dwellings/posters",
                              params=[("size", "a6"), ("id", first["id"]), ("id", third["id"]), ("id", foreign["id"])])
    assert page.status_code == 200
    assert page.text.count('class="poster"') == 2
    assert "Selected 1" in page.text and "Selected 3" in page.text
    assert "Selected 2" not in page.text and "Someone else" not in page.text
    assert "/static/poster-a6.css" in page.text
    everything = (await landlord.get("/api/v1/dwellings/posters")).text
    assert everything.count('class="poster"') == 3


async def test_lax_json_types_are_refused_and_nothing_is_stored(db, make_staff, make_area, make_dwelling):
    landlord = await make_staff("landlord")
    area = await make_area()
    body = {"name": "Typed room", "address": "Lane 1", "area_code": area, "kind": "homestay"}
    for capacity in (True, "2", 2.5):
        refused = await landlord.post("/api/v1/dwellings", json={**body, "capacity": capacity})
        assert refused.status_code == 400, capacity
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["errors"][0]["field"] == "capacity"
    assert (await landlord.post("/api/v1/dwellings", json={**body, "capacity": 2, "latitude": "28.6"})).status_code == 400
    assert await db.fetchval("SELECT count(*) FROM dwellings WHERE owner_id = $1", landlord.account["id"]) == 0
    dwelling = await make_dwelling(landlord, area, capacity=3)
    patched = await landlord.patch(f"/api/v1/dwellings/{dwelling['id']}", json={"capacity": "5"})
    assert patched.status_code == 400
    assert await db.fetchval("SELECT capacity FROM dwellings WHERE id = $1", dwelling["id"]) == 3


async def test_the_template_opens_in_excel_with_its_chinese_and_has_the_import_header(anonymous):
    body = (await anonymous.get("/static/dwellings-template.csv")).content
    # Without the byte order mark, Excel on a Chinese Windows reads UTF-8 as GBK: the examples turn to mojibake.
    assert body.startswith(codecs.BOM_UTF8)
    header, *examples = body.decode("utf-8-sig").splitlines()
    assert header + "\n" == IMPORT_HEADER and examples and "官林村" in examples[0]


# ---- moving a dwelling to another area (issue 13) ----

async def counts_and_statistics(db, police, area: str) -> tuple[dict, dict]:
    """The area's live counts (checked equal to a count from scratch) and its statistics by day (checked
    equal to a count from scratch over the stays of the area)."""
    from tests.test_counters import assert_counts_exact
    from tests.test_statistics import TODAY, from_scratch, statistics

    counts = await assert_counts_exact(db, police, area)
    first = TODAY - timedelta(days=10)
    answer = await statistics(police, area=area, **{"from": first.isoformat()}, to=TODAY.isoformat())
    got = {date.fromisoformat(r["period"]): (r["arrivals"], r["guest_nights"]) for r in answer["rows"]}
    arrivals, nights, _ = await from_scratch(db, area, first, TODAY)
    days = set(arrivals) | set(nights) | set(got)
    by_day = {d: (arrivals[d], nights[d]) for d in days}
    assert {d: got.get(d, (0, 0)) for d in days} == by_day
    return counts, by_day


def without_beds(counts: dict) -> dict:
    return {k: v for k, v in counts.items() if k not in ("dwellings", "beds")}


async def test_an_empty_dwelling_moves_and_both_areas_count_right_after_it(
        db, anonymous, admin, make_staff, make_area, make_dwelling):
    from tests.test_police import register
    from tests.test_statistics import TODAY, close_nights, history_stay, local
    from tests.support import resident_id

    county = await make_area()
    home, new_home = await make_area(parent=county), await make_area(parent=county)
    police = await make_staff("police", area_code=county)
    landlord = await make_staff("landlord")
    moving = await make_dwelling(landlord, home)
    neighbour = await make_dwelling(landlord, new_home)
    # A past stay in the moving dwelling (its nights closed in the statistics) and guests next door.
    await history_stay(db, moving, TODAY - timedelta(days=6), 2, local(TODAY - timedelta(days=4), 11),
                       [("resident_id", resident_id("320102"), None), ("passport", "E12345678", "USA")])
    await register(anonymous, neighbour)
    await close_nights(db)
    before = {area: await counts_and_statistics(db, police, area) for area in (home, new_home)}

    moved = await landlord.patch(f"/api/v1/dwellings/{moving['id']}", json={"area_code": new_home, "capacity": 3})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["area_code"], moved.json()["capacity"]) == (new_home, 3)
    assert json.loads(await db.fetchval(
        "SELECT details FROM audit_log WHERE action = 'dwelling.move' ORDER BY id DESC LIMIT 1")) == {"dwelling_id": moving["id"], "from": home, "to": new_home}
    # History stays where its nights happened: the old area's statistics and counts of guests are as they
    # were; the dwelling and its beds count in the new area.
    home_counts, home_statistics = await counts_and_statistics(db, police, home)
    assert home_statistics == before[home][1]
    assert without_beds(home_counts) == without_beds(before[home][0])
    assert (home_counts["dwellings"], home_counts["beds"]) == (before[home][0]["dwellings"] - 1,
                                                               before[home][0]["beds"] - 2)

    # Later registrations count in the new area only, live and in the statistics, before and after the night closes.
    await register(anonymous, moving, full_name="李四")
    await register(anonymous, moving, check_in=(TODAY - timedelta(days=1)).isoformat())
    home_after, _ = await counts_and_statistics(db, police, home)
    new_home_after, _ = await counts_and_statistics(db, police, new_home)
    assert home_after == home_counts
    assert new_home_after["current_guests"] == before[new_home][0]["current_guests"] + 2
    assert new_home_after["beds"] == before[new_home][0]["beds"] + 3
    await close_nights(db)
    for area in (home, new_home):
        await counts_and_statistics(db, police, area)
    # An administrator may move it too, once nobody is there; not while guests are.
    assert (await admin.patch(f"/api/v1/admin/dwellings/{moving['id']}", json={"area_code": home})).status_code == 409


async def test_an_occupied_dwelling_is_not_moved_and_nothing_changes(db, anonymous, admin, make_staff, make_area,
                                                                     make_dwelling):
    from tests.test_police import register

    county = await make_area()
    home, elsewhere = await make_area(parent=county), await make_area(parent=county)
    police = await make_staff("police", area_code=county)
    landlord = await make_staff("landlord")
    dwelling = await make_dwelling(landlord, home)
    stay = await register(anonymous, dwelling)
    before = {area: await counts_and_statistics(db, police, area) for area in (home, elsewhere)}
    moves = await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'dwelling.move'")

    path = f"/api/v1/dwellings/{dwelling['id']}"
    refused = await landlord.patch(path, json={"area_code": elsewhere, "name": "Renamed"},
                                   headers={"Accept-Language": "zh-CN"})
    assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "dwelling_occupied" and "在住" in refused.json()["title"]
    assert refused.json()["errors"][0]["field"] == "area_code"
    english = await admin.patch(f"/api/v1/admin/dwellings/{dwelling['id']}", json={"area_code": elsewhere},
                                headers={"Accept-Language": "en"})
    assert english.status_code == 409 and "checked out" in english.json()["title"]
    assert (await landlord.get(path)).json()["area_code"] == home
    assert (await landlord.get(path)).json()["name"] == dwelling["name"]  # the whole change was refused
    assert {area: await counts_and_statistics(db, police, area) for area in (home, elsewhere)} == before
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'dwelling.move'") == moves

    # The guests left today: the nights they spent are not closed yet, so the move waits for tomorrow.
    await db.execute("UPDATE stays SET checked_out_at = now() WHERE id = $1", uuid.UUID(stay["id"]))
    waiting = await landlord.patch(path, json={"area_code": elsewhere})
    assert waiting.status_code == 409 and waiting.json()["code"] == "dwelling_statistics_open"


async def test_a_landlord_cannot_move_a_dwelling_outside_the_area_of_the_account(make_staff, make_area, make_dwelling):
    county = await make_area()
    own, street = await make_area(parent=county), await make_area(parent=county)
    landlord = await make_staff("landlord", area_code=own)
    dwelling = await make_dwelling(landlord, own)
    path = f"/api/v1/dwellings/{dwelling['id']}"
    refused = await landlord.patch(path, json={"area_code": street})
    assert refused.status_code == 403 and refused.json()["code"] == "area_outside_account"
    assert (await landlord.get(path)).json()["area_code"] == own
    created = await landlord.post("/api/v1/dwellings", json={"name": "Elsewhere", "address": "Lane", "area_code": street,
                                                             "kind": "homestay", "capacity": 2})
    assert created.status_code == 403  # the same rule as for adding one
    inner = await make_area(parent=own)
    assert (await landlord.patch(path, json={"area_code": inner})).json()["area_code"] == inner
    assert (await landlord.patch(path, json={"area_code": "000000404"})).status_code == 400
