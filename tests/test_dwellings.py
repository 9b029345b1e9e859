"""Landlords and desks manage dwellings and their QR codes; guests see only public facts."""

from __future__ import annotations

import io

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
