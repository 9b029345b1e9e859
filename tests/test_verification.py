"""A guest without their document applies; the registry or the police decide; a signed certificate results.

Real HTTP against the service on a real PostgreSQL. Certificates are checked with
``cryptography``'s Ed25519 against the published JWKS, independently of the JOSE
library the service signs with.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
import zxingcpp
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from PIL import ExifTags, Image

from tests.support import ROOT, TEST_MASTER_KEY, ServiceProcess, StaffClient, idempotency_key, resident_id

ZONE = ZoneInfo("Asia/Shanghai")
TODAY = datetime.now(ZONE).date()


# ---- images made here, with Pillow ----


def jpeg(size: tuple[int, int] = (640, 480), gps: bool = False) -> bytes:
    image = Image.new("RGB", size, (214, 180, 150))
    image.paste((40, 60, 90), (size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2))
    exif = Image.Exif()
    if gps:
        exif[ExifTags.Base.Make] = "TestPhone"
        position = exif.get_ifd(ExifTags.IFD.GPSInfo)
        position.update({ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (28.0, 34.0, 51.0),
                         ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (121.0, 22.0, 7.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def encoded(kind: str, size: tuple[int, int] = (320, 240), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, 0 if mode == "1" else (90, 120, 160)).save(out, kind)
    return out.getvalue()


def bomb_png() -> bytes:
    """20000 x 20000 one-bit pixels: 400 megapixels in a file of some tens of kilobytes."""
    return encoded("PNG", (20000, 20000), "1")


# ---- helpers ----


def b64url(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def verify_independently(token: str, jwks: dict) -> dict:
    """Check a compact JWS with cryptography's Ed25519 against the JWKS; return its claims."""
    header_part, payload_part, signature_part = token.split(".")
    header = json.loads(b64url(header_part))
    assert header["alg"] == "EdDSA"
    jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    assert (jwk["kty"], jwk["crv"]) == ("OKP", "Ed25519")
    Ed25519PublicKey.from_public_bytes(b64url(jwk["x"])).verify(b64url(signature_part),
                                                               f"{header_part}.{payload_part}".encode())
    return json.loads(b64url(payload_part))


def sign(header: dict, claims: dict, private: Ed25519PrivateKey) -> str:
    head = b64url_encode(json.dumps(header).encode())
    body = b64url_encode(json.dumps(claims).encode())
    return f"{head}.{body}.{b64url_encode(private.sign(f'{head}.{body}'.encode()))}"


def rfc7638_thumbprint(jwk: dict) -> str:
    required = {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}
    return b64url_encode(hashlib.sha256(json.dumps(required, separators=(",", ":"), sort_keys=True).encode()).digest())


def token_of(dwelling: dict) -> str:
    return dwelling["registration_url"].rsplit("/", 1)[1]


def form(name: str, number: str, **fields) -> dict:
    return {"full_name": name, "document_number": number, "phone": "13800138000",
            "check_out": (TODAY + timedelta(days=2)).isoformat(), "consent": "true", **fields}


async def apply(client: httpx.AsyncClient, dwelling: dict, fields: dict, photo: bytes | None = None,
                filename: str = "face.jpg", content_type: str = "image/jpeg", key: str | None = None, **headers):
    files = {} if photo is None else {"photo": (filename, photo, content_type)}
    if not files:  # still multipart, as a browser sends it
        files = {"nothing": ("", b"", "application/octet-stream")}
    return await client.post(f"/api/v1/public/dwellings/{dwelling['token']}/verifications", data=fields,
                             files=files, headers={"Idempotency-Key": key or idempotency_key(), **headers})


async def in_registry(admin: StaffClient, name: str, number: str) -> None:
    response = await admin.post("/api/v1/registry/persons", json={"full_name": name, "document_number": number})
    assert response.status_code == 201, response.text


async def approved_by(police: StaffClient, client: httpx.AsyncClient, dwelling: dict, fields: dict) -> dict:
    """An application the police of the area approved: its 202 answer, with the certificate number."""
    accepted = (await apply(client, dwelling, fields, jpeg())).json()
    decided = await police.post(f"/api/v1/verifications/{accepted['id']}/approve")
    assert decided.status_code == 200, decided.text
    return {**accepted, "certificate_number": decided.json()["certificate_number"]}


async def review_item_of(police: StaffClient, verification_id: str, status: str = "pending") -> dict:
    listed = (await police.get("/api/v1/verifications", params={"status": status})).json()
    return next(i for i in listed if i["id"] == verification_id)


async def stored_rows(db, dwelling: dict) -> dict[str, int]:
    """What a refused application must not leave behind."""
    return {
        "verifications": await db.fetchval("SELECT count(*) FROM verifications WHERE dwelling_id = $1", dwelling["id"]),
        "photos": await db.fetchval(
            "SELECT count(*) FROM verifications WHERE dwelling_id = $1 AND photo_cipher IS NOT NULL", dwelling["id"]),
        "stays": await db.fetchval("SELECT count(*) FROM stays WHERE dwelling_id = $1", dwelling["id"]),
        "idempotency_keys": await db.fetchval("SELECT count(*) FROM idempotency_keys WHERE scope = $1",
                                              f"verifications:{dwelling['id']}"),
    }


NOTHING = {"verifications": 0, "photos": 0, "stays": 0, "idempotency_keys": 0}


@pytest.fixture
async def area(make_area) -> str:
    return await make_area()


@pytest.fixture
async def police(make_staff, area) -> StaffClient:
    return await make_staff("police", area)


@pytest.fixture(scope="module")
def face_registry(database_url, service, tmp_path_factory):
    """A second instance on the same database whose registry adapter compares faces (tests/registry_faces.py),
    chosen by configuration as a deployment chooses its population-registry adapter; every registry
    person's photo there is ``jpeg()``."""
    folder = tmp_path_factory.mktemp("faces")
    (folder / "registry-face.jpg").write_bytes(jpeg(size=(900, 1200)))
    process = ServiceProcess(dsn=database_url, data_dir=folder, extra_env={
        "VH_PUBLIC_BASE_URL": service.base_url,  # behind the same address, as instances behind a balancer
        "VH_IDENTITY_REGISTRY": "tests.registry_faces:FaceOnFileRegistry",
        "VH_TEST_REGISTRY_FACE": str(folder / "registry-face.jpg")}).start()
    yield process
    process.stop()


@pytest.fixture
async def face_client(face_registry) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=face_registry.base_url, timeout=30) as client:
        yield client


@pytest.fixture
async def dwelling(make_staff, make_dwelling, area) -> dict:
    landlord = await make_staff("landlord")
    made = await make_dwelling(landlord, area, name="Lane 3 No. 5", address="Guanlin Village, Lane 3 No. 5")
    made["token"], made["owner"] = token_of(made), landlord
    return made


# ---- the automatic path ----


async def test_name_number_and_face_matching_the_registry_are_approved_at_once_with_a_certificate_that_verifies(
        face_client, anonymous, admin, db, dwelling, area, service):
    number = resident_id(division="331082", birth="19850412")
    await in_registry(admin, "王小红", number)

    response = await apply(face_client, dwelling, form("王小红", number), jpeg())
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "approved", accepted
    assert len(accepted["secret"]) >= 40 and accepted["certificate_number"].startswith("EC-")
    assert response.headers["cache-control"] == "no-store"

    status = (await anonymous.get(f"/api/v1/public/verifications/{accepted['id']}",
                                  params={"secret": accepted["secret"]})).json()
    assert status["status"] == "approved" and status["certificate_number"] == accepted["certificate_number"]
    certificate = (await anonymous.get(f"/api/v1/public/certificates/{status['certificate_number']}",
                                       params={"secret": accepted["secret"]})).json()
    assert certificate["verify_url"] == f"{service.base_url}/verify#{certificate['token']}"

    jwks = (await anonymous.get("/.well-known/jwks.json")).json()
    claims = verify_independently(certificate["token"], jwks)
    header = json.loads(b64url(certificate["token"].split(".")[0]))
    assert header["kid"] == rfc7638_thumbprint(next(k for k in jwks["keys"] if k["kid"] == header["kid"]))
    assert all(set(k) == {"kty", "crv", "x", "kid", "alg", "use"} for k in jwks["keys"])  # no private part
    end_of_stay = datetime.combine(TODAY + timedelta(days=3), datetime.min.time(), ZONE)
    start_of_stay = datetime.combine(TODAY, datetime.min.time(), ZONE)
    assert claims["iss"] == service.base_url and claims["jti"] == accepted["certificate_number"]
    assert claims["nbf"] == int(start_of_stay.timestamp()) and claims["exp"] == int(end_of_stay.timestamp())
    assert abs(claims["iat"] - time.time()) < 60
    assert claims["name"] == "王小红" and claims["doc"] == number[:3] + "*" * 11 + number[-4:]
    assert claims["dwelling"] == {"name": "Lane 3 No. 5", "address": "Guanlin Village, Lane 3 No. 5"}
    assert claims["area"] == area and claims["stay"]

    stay = await db.fetchrow("SELECT registered_by, dwelling_id, check_out FROM stays WHERE id = $1",
                             uuid.UUID(claims["stay"]))
    assert (stay["registered_by"], stay["dwelling_id"]) == ("remote", dwelling["id"])
    row = await db.fetchrow("SELECT status, photo_cipher, decided_by, decided_path, registry_face FROM verifications "
                            "WHERE id = $1", uuid.UUID(accepted["id"]))
    assert tuple(row) == ("approved", None, None, "automatic", "match")  # decided at once: the face never stored
    listed = (await dwelling["owner"].get(f"/api/v1/dwellings/{dwelling['id']}/stays?current=true")).json()
    assert [s["registered_by"] for s in listed] == ["remote"] and number not in json.dumps(listed)

    verdict = (await anonymous.post("/api/v1/certificates/verify", json={"token": certificate["token"]})).json()
    assert verdict == {"status": "valid", "valid": True, "revoked": False, "expired": False, "claims": claims,
                       "reason": None, "area_name": "test area", "timezone": "Asia/Shanghai"}
    assert claims["area_name"] == "test area" and claims["tz"] == "Asia/Shanghai" and claims["birth_year"] == int(number[6:10])

    metrics = (await face_client.get("/metrics")).text  # the instance that decided
    assert 'vhotel_verification_seconds_to_certificate_count{decision="automatic"}' in metrics


async def test_registry_names_match_whatever_the_spacing_width_and_case(face_client, admin, dwelling):
    number = resident_id()
    await in_registry(admin, "Zhang San", number)
    response = await apply(face_client, dwelling, form("  ＺＨＡＮＧ   san ", number), jpeg())
    assert response.json()["status"] == "approved"


async def test_remote_verification_never_approves_on_a_name_and_a_number_alone(anonymous, admin, db, dwelling, police):
    """The default registry holds no faces: a registry person's name and number, with any picture, go to an officer."""
    number = resident_id()
    await in_registry(admin, "林一", number)
    accepted = (await apply(anonymous, dwelling, form("林一", number), encoded("PNG", (400, 400)), "f.png",
                            "image/png")).json()
    assert (accepted["status"], accepted["certificate_number"]) == ("pending", None)
    item = await review_item_of(police, accepted["id"])
    assert item["registry"] == {"number_known": True, "name_matches": True, "face": "unavailable"}
    assert item["registry_match"] is True and item["decided_path"] is None and item["has_photo"] is True

    decided = (await police.post(f"/api/v1/verifications/{accepted['id']}/approve")).json()
    assert (decided["decided_path"], decided["decided_by"]) == ("police_review", police.account["display_name"])
    assert await db.fetchval("SELECT decided_path FROM verifications WHERE id = $1::uuid", accepted["id"]) \
        == "police_review"


async def test_a_flat_colour_or_another_picture_is_never_approved_automatically(face_client, admin, dwelling, police):
    number = resident_id()
    await in_registry(admin, "林二", number)
    flat = (await apply(face_client, dwelling, form("林二", number), encoded("JPEG", (600, 800)))).json()
    other = Image.new("RGB", (600, 800), (30, 30, 30))
    other.paste((240, 240, 240), (300, 0, 600, 800))
    out = io.BytesIO()
    other.save(out, "JPEG")
    stranger = (await apply(face_client, dwelling, form("林二", number), out.getvalue())).json()
    for accepted in (flat, stranger):
        assert accepted["status"] == "pending"
        item = await review_item_of(police, accepted["id"])
        assert item["registry"] == {"number_known": True, "name_matches": True, "face": "mismatch"}


async def test_the_applicants_answer_does_not_tell_whether_a_name_and_a_number_belong_together(
        face_client, anonymous, admin, dwelling, police):
    """Registered pair, unknown number, known number under another name: the same answer, field for field."""
    number = resident_id()
    await in_registry(admin, "林三", number)
    cases = {"registered": form("林三", number), "unknown": form("林三", resident_id()),
             "other_name": form("林四", number)}
    for client in (anonymous, face_client):  # without faces, and with a face that does not match
        photo = encoded("JPEG", (600, 800)) if client is face_client else jpeg()
        answers = {case: await apply(client, dwelling, fields, photo) for case, fields in cases.items()}

        def shape(response: httpx.Response) -> tuple:
            body = response.json()
            return (response.status_code, sorted(response.headers.keys()),
                    {k: v for k, v in body.items() if k not in ("id", "secret")})

        assert len({repr(shape(a)) for a in answers.values()}) == 1, {c: shape(a) for c, a in answers.items()}
        assert shape(answers["registered"])[2] == {"status": "pending", "certificate_number": None}
        statuses = []
        for answer in answers.values():
            status = (await client.get(f"/api/v1/public/verifications/{answer.json()['id']}",
                                       params={"secret": answer.json()["secret"]})).json()
            statuses.append({k: v for k, v in status.items() if k not in ("id", "created_at")})
        assert statuses[0] == statuses[1] == statuses[2]


async def test_a_changed_payload_a_wrong_key_an_expired_and_a_revoked_certificate_get_their_answers(
        anonymous, admin, db, dwelling, police, make_staff, make_area):
    accepted = await approved_by(police, anonymous, dwelling, form("李四", resident_id()))
    certificate = (await anonymous.get(f"/api/v1/public/certificates/{accepted['certificate_number']}",
                                       params={"secret": accepted["secret"]})).json()
    token = certificate["token"]
    header_part, payload_part, signature_part = token.split(".")
    jwks = (await anonymous.get("/.well-known/jwks.json")).json()

    async def verdict(presented: str) -> dict:
        response = await anonymous.post("/api/v1/certificates/verify", json={"token": presented})
        assert response.status_code == 200, response.text
        return response.json()

    # One byte of the payload changed: the signature no longer holds, for cryptography and for the service.
    changed = bytearray(b64url(payload_part))
    changed[changed.index(b"}") - 1] ^= 0x01
    tampered = f"{header_part}.{b64url_encode(bytes(changed))}.{signature_part}"
    with pytest.raises(InvalidSignature):
        verify_independently(tampered, jwks)
    assert await verdict(tampered) == {"status": "forged", "valid": False, "revoked": False, "expired": False,
                                       "claims": None, "reason": "forged", "area_name": None,
                                       "timezone": "Asia/Shanghai"}
    assert (await verdict("not a token"))["status"] == "forged"

    # The same claims under the same kid, signed by a key that is not ours.
    claims = json.loads(b64url(payload_part))
    header = json.loads(b64url(header_part))
    assert (await verdict(sign(header, claims, Ed25519PrivateKey.generate())))["status"] == "forged"

    # Expired: the service's own key (opened with the test master key) over an exp in the past.
    from service.privacy.crypto import Keyring

    sealed = await db.fetchval("SELECT private_cipher FROM signing_keys WHERE kid = $1", header["kid"])
    private = json.loads(Keyring(base64.b64decode(TEST_MASTER_KEY)).open(sealed, f"signing_keys.private.{header['kid']}"))
    ours = Ed25519PrivateKey.from_private_bytes(b64url(private["d"]))
    past = {**claims, "nbf": claims["nbf"] - 10 * 86400, "exp": claims["nbf"] - 7 * 86400}
    await db.execute("UPDATE certificates SET token = $2, not_before = to_timestamp($3), expires_at = to_timestamp($4)"
                     " WHERE number = $1", claims["jti"], sign(header, past, ours), past["nbf"], past["exp"])
    expired = await verdict(sign(header, past, ours))
    assert (expired["status"], expired["valid"], expired["expired"]) == ("expired", False, True)
    assert expired["claims"]["name"] == "李四"  # a genuine, old certificate: whose it was is still shown
    await db.execute("UPDATE certificates SET token = $2 WHERE number = $1", claims["jti"], token)
    assert (await verdict(token))["status"] == "valid"  # the control

    # A leaked key's forgeries: correctly signed, but no certificate of ours has this number, or these claims.
    never_issued = await verdict(sign(header, {**claims, "jti": "EC-AAAAA-AAAAA"}, ours))
    assert never_issued == {"status": "unknown_certificate", "valid": False, "revoked": False, "expired": False,
                            "claims": None, "reason": "unknown_certificate", "area_name": None,
                            "timezone": "Asia/Shanghai"}
    other_holder = await verdict(sign(header, {**claims, "name": "冒名"}, ours))
    assert (other_holder["status"], other_holder["valid"]) == ("unknown_certificate", False)

    # Revoked: police of another jurisdiction cannot, the area's police can.
    stranger = await make_staff("police", await make_area())
    number_path = f"/api/v1/certificates/{accepted['certificate_number']}/revoke"
    assert (await stranger.post(number_path, json={"reason": "not mine"})).status_code == 404
    assert (await police.post(number_path, json={})).status_code == 400
    revoked = await police.post(number_path, json={"reason": "identity used by someone else"})
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revocation_reason"] == "identity used by someone else"
    answer = await verdict(token)
    assert (answer["status"], answer["valid"], answer["revoked"], answer["expired"]) == ("revoked", False, True, False)
    mine = (await anonymous.get(f"/api/v1/public/certificates/{accepted['certificate_number']}",
                                params={"secret": accepted["secret"]})).json()
    assert mine["revoked"] is True
    verify_independently(token, jwks)  # the signature itself still holds: revocation is the service's word


# ---- the review path ----


async def test_an_unknown_person_waits_for_review_and_other_police_can_neither_see_nor_decide(
        anonymous, db, dwelling, police, make_staff, make_area):
    response = await apply(anonymous, dwelling, form("赵六", resident_id()), jpeg())
    assert response.status_code == 202
    accepted = response.json()
    assert accepted["status"] == "pending" and accepted["certificate_number"] is None
    path = f"/api/v1/verifications/{accepted['id']}"

    queue = (await police.get("/api/v1/verifications", params={"status": "pending"})).json()
    item = next(i for i in queue if i["id"] == accepted["id"])
    assert item["full_name"] == "赵六" and item["registry_match"] is False and item["has_photo"] is True
    assert item["waiting_seconds"] >= 0 and item["dwelling"]["name"] == dwelling["name"]
    assert "*" in item["document_masked"] and item["phone_masked"] == "138****8000"

    stranger = await make_staff("police", await make_area())
    assert accepted["id"] not in [i["id"] for i in (await stranger.get("/api/v1/verifications")).json()]
    assert (await stranger.get(f"{path}/photo")).status_code == 404
    assert (await stranger.post(f"{path}/approve")).status_code == 404
    assert (await stranger.post(f"{path}/reject", json={"reason": "no"})).status_code == 404
    assert (await dwelling["owner"].get("/api/v1/verifications")).status_code == 403
    assert (await anonymous.get("/api/v1/verifications")).status_code == 401
    assert await db.fetchval("SELECT status FROM verifications WHERE id = $1::uuid", accepted["id"]) == "pending"

    photo = await police.get(f"{path}/photo")
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(photo.content)).size == (640, 480)

    approved = await police.post(f"{path}/approve")
    assert approved.status_code == 200, approved.text
    decided = approved.json()
    assert decided["status"] == "approved" and decided["has_photo"] is False
    assert decided["certificate_number"] and decided["seconds_to_certificate"] >= 0
    assert decided["decided_by"] == police.account["display_name"]
    assert await db.fetchval("SELECT photo_cipher FROM verifications WHERE id = $1::uuid", accepted["id"]) is None
    gone = await police.get(f"{path}/photo")
    assert gone.status_code == 404 and gone.json()["code"] == "photo_gone"
    assert (await police.post(f"{path}/approve")).status_code == 409
    status = (await anonymous.get(f"/api/v1/public/verifications/{accepted['id']}",
                                  params={"secret": accepted["secret"]})).json()
    assert status["certificate_number"] == decided["certificate_number"]
    history = (await police.get("/api/v1/verifications", params={"status": "approved"})).json()
    assert accepted["id"] in [i["id"] for i in history]
    metrics = (await anonymous.get("/metrics")).text
    assert 'vhotel_verification_seconds_to_certificate_count{decision="review"}' in metrics


async def test_a_name_not_matching_the_registry_and_a_watchlisted_number_wait_for_review(
        anonymous, admin, dwelling, police):
    number = resident_id()
    await in_registry(admin, "孙七", number)
    assert (await apply(anonymous, dwelling, form("孙八", number), jpeg())).json()["status"] == "pending"

    watched = resident_id()
    await in_registry(admin, "周九", watched)
    added = await police.post("/api/v1/police/watchlist", json={"document_number": watched, "note": "wanted"})
    assert added.status_code == 201, added.text
    accepted = (await apply(anonymous, dwelling, form("周九", watched), jpeg())).json()
    assert accepted["status"] == "pending"
    item = next(i for i in (await police.get("/api/v1/verifications")).json() if i["id"] == accepted["id"])
    assert (item["registry_match"], item["watchlist_hit"]) == (True, True)
    mismatch = await review_item_of(police, (await apply(anonymous, dwelling, form("孙八", number), jpeg())).json()["id"])
    assert mismatch["registry"] == {"number_known": True, "name_matches": False, "face": "unavailable"}


async def test_a_rejection_needs_a_reason_tells_the_guest_and_drops_the_photo(anonymous, db, dwelling, police):
    accepted = (await apply(anonymous, dwelling, form("钱一", resident_id()), jpeg())).json()
    path = f"/api/v1/verifications/{accepted['id']}/reject"
    assert (await police.post(path, json={"reason": "   "})).status_code == 400
    rejected = await police.post(path, json={"reason": "The photo is too dark: please apply again."})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert await db.fetchval("SELECT photo_cipher FROM verifications WHERE id = $1::uuid", accepted["id"]) is None
    status = (await anonymous.get(f"/api/v1/public/verifications/{accepted['id']}",
                                  params={"secret": accepted["secret"]})).json()
    assert status["status"] == "rejected" and status["rejection_reason"].startswith("The photo is too dark")
    assert await db.fetchval("SELECT count(*) FROM stays WHERE dwelling_id = $1", dwelling["id"]) == 0


async def test_the_status_and_the_certificate_need_the_secret(anonymous, police, dwelling):
    accepted = await approved_by(police, anonymous, dwelling, form("吴二", resident_id()))
    wrong = await anonymous.get(f"/api/v1/public/verifications/{accepted['id']}", params={"secret": "x" * 43})
    assert wrong.status_code == 404 and wrong.json()["code"] == "verification_not_found"
    assert (await anonymous.get(f"/api/v1/public/verifications/{accepted['id']}")).status_code == 400
    for suffix in ("", "/qr.png", "/qr.svg"):
        path = f"/api/v1/public/certificates/{accepted['certificate_number']}{suffix}"
        assert (await anonymous.get(path, params={"secret": "x" * 43})).status_code == 404
    events = await anonymous.get(f"/api/v1/public/verifications/{accepted['id']}/events", params={"secret": "nope"})
    assert events.status_code == 404


async def test_retries_with_one_key_make_one_application_with_one_secret(anonymous, db, dwelling):
    key, fields, photo = idempotency_key(), form("郑三", resident_id()), jpeg()
    answers = await asyncio.gather(*(apply(anonymous, dwelling, fields, photo, key=key) for _ in range(3)))
    assert {a.status_code for a in answers} == {202}
    assert len({(a.json()["id"], a.json()["secret"]) for a in answers}) == 1
    assert (await stored_rows(db, dwelling))["verifications"] == 1
    other_photo = await apply(anonymous, dwelling, fields, jpeg(size=(600, 400)), key=key)
    assert other_photo.status_code == 409 and other_photo.json()["code"] == "idempotency_key_reused"
    # Neither table holds the secret itself.
    secret = answers[0].json()["secret"]
    assert await db.fetchval("SELECT count(*) FROM idempotency_keys WHERE response::text LIKE '%' || $1 || '%'",
                             secret) == 0
    assert await db.fetchval("SELECT secret_hash FROM verifications WHERE id = $1::uuid",
                             answers[0].json()["id"]) == hashlib.sha256(secret.encode()).digest()


# ---- photos ----

EIGHT_MB = 8 * 1024 * 1024
REFUSED_UPLOADS = [
    ("not_an_image", b"%PDF-1.4 this is a document, not a face", "face.jpg", "image/jpeg", 415, "photo_not_an_image"),
    ("svg_with_script", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "face.svg",
     "image/svg+xml", 415, "photo_not_an_image"),
    ("gif", encoded("GIF"), "face.gif", "image/gif", 415, "photo_not_an_image"),
    ("truncated_jpeg", jpeg()[:3000], "face.jpg", "image/jpeg", 422, "photo_unreadable"),
    ("truncated_png", encoded("PNG", (400, 300), "RGB")[:-40], "face.png", "image/png", 422, "photo_unreadable"),
    ("just_past_8_mb", b"\xff\xd8\xff" + b"\0" * (EIGHT_MB - 2), "face.jpg", "image/jpeg", 413, "photo_too_large"),
    ("9_mb", b"\xff\xd8\xff" + os.urandom(9 * 1024 * 1024), "face.jpg", "image/jpeg", 413, "body_too_large"),
    ("bomb_400_megapixels", bomb_png(), "face.png", "image/png", 422, "photo_too_many_pixels"),
    ("png_64_megapixels", encoded("PNG", (8000, 8000), "1"), "face.png", "image/png", 422, "photo_too_many_pixels"),
]


@pytest.mark.parametrize(("photo", "filename", "content_type", "status", "code"),
                         [case[1:] for case in REFUSED_UPLOADS], ids=[case[0] for case in REFUSED_UPLOADS])
async def test_bad_uploads_are_refused_and_nothing_is_stored(anonymous, db, dwelling, photo, filename, content_type,
                                                             status, code):
    response = await apply(anonymous, dwelling, form("冯五", resident_id()), photo, filename, content_type)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code or code in [e["code"] for e in response.json().get("errors", [])]
    assert await stored_rows(db, dwelling) == NOTHING


async def test_missing_consent_and_photo_and_bad_fields_are_named_at_once_in_chinese(anonymous, db, dwelling):
    fields = form("陈六", "110105199003071230", phone="12", consent="false")
    response = await apply(anonymous, dwelling, fields, None, **{"Accept-Language": "zh-CN"})
    assert response.status_code == 400
    problem = response.json()
    assert {e["field"]: e["code"] for e in problem["errors"]} == {
        "document_number": "id_check_digit", "phone": "phone_invalid", "consent": "consent_required",
        "photo": "required"}
    assert problem["title"] == "部分信息需要修改。"
    assert "同意" in next(e["message"] for e in problem["errors"] if e["field"] == "consent")
    refused = await apply(anonymous, dwelling, form("陈六", resident_id()), b"GIF89a", "a.gif", "image/gif",
                          **{"Accept-Language": "zh-CN"})
    assert refused.json()["title"] == "该文件不是照片，请拍摄一张照片（JPEG、PNG 或 WebP）。"
    assert await stored_rows(db, dwelling) == NOTHING


async def test_the_stored_photo_is_a_fresh_jpeg_without_exif_or_gps(anonymous, dwelling, police):
    original = jpeg(size=(3000, 2000), gps=True)
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the test image has a position
    accepted = (await apply(anonymous, dwelling, form("褚七", resident_id()), original)).json()
    stored = (await police.get(f"/api/v1/verifications/{accepted['id']}/photo")).content
    image = Image.open(io.BytesIO(stored))
    assert image.format == "JPEG" and max(image.size) == 1600
    assert not image.getexif() and b"Exif" not in stored and b"TestPhone" not in stored


@pytest.mark.parametrize("kind", ["PNG", "WEBP"])
async def test_png_and_webp_photos_are_taken_as_jpeg(anonymous, dwelling, police, kind):
    accepted = (await apply(anonymous, dwelling, form("卫八", resident_id()), encoded(kind), "face.bin",
                            "application/octet-stream")).json()
    stored = (await police.get(f"/api/v1/verifications/{accepted['id']}/photo")).content
    assert Image.open(io.BytesIO(stored)).format == "JPEG"


# ---- live status, across instances ----


@pytest.fixture(scope="module")
def second_instance(database_url, service, tmp_path_factory):
    """Another service process on the same database, as behind a load balancer."""
    process = ServiceProcess(dsn=database_url, data_dir=tmp_path_factory.mktemp("second")).start()
    yield process
    process.stop()


async def next_event(lines) -> tuple[str, dict]:
    """The next server-sent event (skipping keep-alive comments): its name and data."""
    name, data = "message", []
    async for line in lines:
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and data:
            return name, json.loads("\n".join(data))
    raise AssertionError("the stream ended")


async def test_a_decision_on_another_instance_reaches_the_guests_stream(anonymous, dwelling, police, second_instance):
    accepted = (await apply(anonymous, dwelling, form("蒋九", resident_id()), jpeg())).json()
    officer = await StaffClient.log_in(second_instance.base_url, police.account["username"],
                                       f"{police.account['username']}-password")
    try:
        async with anonymous.stream("GET", f"/api/v1/public/verifications/{accepted['id']}/events",
                                    params={"secret": accepted["secret"]}) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            name, first = await asyncio.wait_for(next_event(lines), 10)
            assert (name, first["status"]) == ("status", "pending")
            started = time.monotonic()
            assert (await officer.post(f"/api/v1/verifications/{accepted['id']}/approve")).status_code == 200
            name, decided = await asyncio.wait_for(next_event(lines), 10)
            assert decided["status"] == "approved" and decided["certificate_number"]
            assert time.monotonic() - started < 3  # the notification, not the keep-alive re-read
    finally:
        await officer.aclose()


# ---- the certificate's QR code and the keys ----


async def test_the_certificate_qr_code_decodes_to_the_verify_url(anonymous, police, dwelling, service):
    accepted = await approved_by(police, anonymous, dwelling, form("沈十", resident_id()))
    path = f"/api/v1/public/certificates/{accepted['certificate_number']}"
    certificate = (await anonymous.get(path, params={"secret": accepted["secret"]})).json()
    png = await anonymous.get(f"{path}/qr.png", params={"secret": accepted["secret"]})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert [b.text for b in decoded] == [f"{service.base_url}/verify#{certificate['token']}"]
    assert decoded[0].ec_level == "Q"
    svg = await anonymous.get(f"{path}/qr.svg", params={"secret": accepted["secret"]})
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content


def run_cli(service: ServiceProcess, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service", *args], cwd=ROOT, env=service.env(),
                          capture_output=True, text=True, timeout=120)


async def test_rotated_keys_stay_published_while_their_certificates_live(anonymous, police, dwelling, service):
    before = await approved_by(police, anonymous, dwelling, form("韩一", resident_id()))
    old = (await anonymous.get(f"/api/v1/public/certificates/{before['certificate_number']}",
                               params={"secret": before["secret"]})).json()["token"]
    old_kid = json.loads(b64url(old.split(".")[0]))["kid"]

    rotated = run_cli(service, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    unused = rotated.stdout.split()[4].rstrip(";")
    rotated = run_cli(service, "keys", "rotate")  # the key in between signs nothing
    newest = rotated.stdout.split()[4].rstrip(";")

    kids = [k["kid"] for k in (await anonymous.get("/.well-known/jwks.json")).json()["keys"]]
    assert newest in kids and old_kid in kids and unused not in kids
    assert (await anonymous.post("/api/v1/certificates/verify", json={"token": old})).json()["status"] == "valid"
    after = await approved_by(police, anonymous, dwelling, form("韩二", resident_id()))
    new = (await anonymous.get(f"/api/v1/public/certificates/{after['certificate_number']}",
                               params={"secret": after["secret"]})).json()["token"]
    assert json.loads(b64url(new.split(".")[0]))["kid"] == newest
    verify_independently(new, (await anonymous.get("/.well-known/jwks.json")).json())


# ---- the identity registry ----


async def test_the_registry_takes_persons_from_admins_only_and_checks_their_numbers(admin, make_staff, area):
    for role in ("landlord", "police"):
        staff = await make_staff(role, area if role == "police" else None)
        assert (await staff.post("/api/v1/registry/persons",
                                 json={"full_name": "X", "document_number": resident_id()})).status_code == 403
    bad = await admin.post("/api/v1/registry/persons", json={"full_name": "X", "document_number": "110105199003071230"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "id_check_digit"
    number = resident_id()
    first = await admin.post("/api/v1/registry/persons", json={"full_name": "许三", "document_number": number})
    again = await admin.post("/api/v1/registry/persons", json={"full_name": "许 三", "document_number": number})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["document_masked"] == number[:3] + "*" * 11 + number[-4:]


async def test_the_registry_imports_a_csv_file_and_names_refused_lines_without_their_numbers(
        face_client, dwelling, service, tmp_path):
    good, bad = resident_id(), "110105199003071230"
    csv_file = tmp_path / "persons.csv"
    csv_file.write_text("\ufefffull_name,document_number,document_type,nationality\n"
                        f"何四,{good},,\n"
                        f"Bad Number,{bad},,\n"
                        "Anna Schmidt,C01X00T47,passport,DEU\n", encoding="utf-8")
    imported = run_cli(service, "registry", "import", str(csv_file))
    assert imported.returncode == 1, imported.stderr
    assert "imported 2 persons" in imported.stdout
    assert "line 3 refused: id_check_digit" in imported.stderr and bad not in imported.stderr + imported.stdout
    assert (await apply(face_client, dwelling, form("何四", good), jpeg())).json()["status"] == "approved"
    passport = form("Anna Schmidt", "C01X00T47", document_type="passport", nationality="DEU")
    assert (await apply(face_client, dwelling, passport, jpeg())).json()["status"] == "approved"


# ---- the audit trail of decisions ----


async def test_viewing_a_face_deciding_and_revoking_leave_audit_rows(anonymous, db, dwelling, police):
    since = await db.fetchval("SELECT coalesce(max(id), 0) FROM audit_log")
    approved = (await apply(anonymous, dwelling, form("秦一", resident_id()), jpeg())).json()
    rejected = (await apply(anonymous, dwelling, form("秦二", resident_id()), jpeg())).json()
    assert (await police.get(f"/api/v1/verifications/{approved['id']}/photo")).status_code == 200
    decided = (await police.post(f"/api/v1/verifications/{approved['id']}/approve")).json()
    assert (await police.post(f"/api/v1/verifications/{rejected['id']}/reject",
                              json={"reason": "not the person on the photo"})).status_code == 200
    certificate = decided["certificate_number"]
    assert (await police.post(f"/api/v1/certificates/{certificate}/revoke",
                              json={"reason": "reported stolen"})).status_code == 200

    rows = await db.fetch("SELECT actor, action, reason, details FROM audit_log WHERE id > $1 AND actor = $2 "
                          "ORDER BY id", since, police.account["username"])
    assert [(r["action"], r["reason"], json.loads(r["details"])) for r in rows] == [
        ("verification_photo_view", None, {"verification_id": approved["id"]}),
        ("verification_approve", None, {"verification_id": approved["id"], "certificate": certificate}),
        ("verification_reject", "not the person on the photo", {"verification_id": rejected["id"]}),
        ("certificate_revoke", "reported stolen", {"certificate": certificate, "verification_id": approved["id"]}),
    ]
