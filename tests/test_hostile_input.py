"""Hostile input: generated requests for every operation of the OpenAPI document, and hand-made nasties.

Runs against a service of its own on a database of its own: the generated requests create areas,
accounts and dwellings with odd names, which no other test should meet.

1. schemathesis over /schema/openapi.json, each operation called as a caller its policy admits
   (tests/test_access.py), so the requests reach the handlers rather than the guards: no answer may be
   a 5xx, and every answer must match what the document says for its status (schema, content type,
   status code). The document says every client error is RFC 9457 problem details (``4XX``).
2. By hand: a body over the size limit, JSON nested 10,000 deep, bodies that are not JSON, text that is
   not UTF-8, and names no identity document carries. Each is refused with 4xx problem details naming
   the field where there is one, quickly, and nothing is stored.

Emoji in names: refused, with a message saying what a name may hold. A registration is matched with
the guest's identity document, the identity registry and the police's searches by name; no document
of any country prints an emoji, so a name holding one is a typing accident or an attempt to make a
record unfindable, and the guest can correct it on the spot.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import time
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from PIL import Image
from schemathesis.config import SchemathesisConfig

from tests.support import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    ServiceProcess,
    idempotency_key,
    resident_id,
    unique,
)
from tests.test_access import CALLERS, POLICY, describe_app
from tests.test_stays import TODAY, stay_body, token_of


@dataclass
class Hostile:
    """The service under attack, its database, and one caller of each kind."""

    base_url: str
    pool: asyncpg.Pool
    tokens: dict[str, str]  # role -> bearer token
    area: str
    dwelling: dict  # of "host", a landlord the generated requests never log in as: its QR code stays valid
    fuzzed: dict  # of "landlord", whose generated requests may rename, deactivate and rotate it
    target_account: int  # an account no caller here uses: the one generated requests disable and reset

    @property
    def qr_token(self) -> str:
        return token_of(self.dwelling)

    async def stored(self) -> dict[str, int]:
        """What a refused request must not leave behind."""
        async with self.pool.acquire() as conn:
            return dict(await conn.fetchrow(
                """SELECT (SELECT count(*) FROM stays) AS stays, (SELECT count(*) FROM stay_guests) AS guests,
                          (SELECT count(*) FROM verifications) AS verifications,
                          (SELECT count(*) FROM idempotency_keys) AS idempotency_keys"""))


@pytest.fixture(scope="module")
async def hostile(create_database, tmp_path_factory) -> AsyncIterator[Hostile]:
    dsn = await create_database()
    process = ServiceProcess(dsn=dsn, data_dir=tmp_path_factory.mktemp("hostile")).start()
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    async with httpx.AsyncClient(base_url=process.base_url, timeout=30) as client:
        async def login(username: str, password: str) -> str:
            response = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
            assert response.status_code == 200, response.text
            return response.json()["token"]

        admin = {"Authorization": f"Bearer {await login(ADMIN_USERNAME, ADMIN_PASSWORD)}"}
        area = "9" + unique("")[-5:]
        assert (await client.post("/api/v1/areas", json={"code": area, "name": "hostile"}, headers=admin)).status_code == 201
        tokens = {"admin": admin["Authorization"].removeprefix("Bearer ")}
        for name, role in (("landlord", "landlord"), ("host", "landlord"), ("police", "police")):
            username = unique(name)
            created = await client.post("/api/v1/accounts", headers=admin, json={
                "username": username, "password": f"{username}-password", "role": role,
                "area_code": area if role == "police" else None})
            assert created.status_code == 201, created.text
            tokens[name] = await login(username, f"{username}-password")

        async def dwelling(owner: str) -> dict:
            made = await client.post("/api/v1/dwellings", headers={"Authorization": f"Bearer {tokens[owner]}"},
                                     json={"name": f"{owner}'s inn", "address": "1 Fuzz Lane", "area_code": area,
                                           "kind": "homestay", "capacity": 4})
            assert made.status_code == 201, made.text
            return made.json()

        dwellings = (await dwelling("host"), await dwelling("landlord"))
        target = await client.post("/api/v1/accounts", headers=admin, json={
            "username": unique("target"), "password": "target-password", "role": "landlord"})
        assert target.status_code == 201, target.text
    try:
        yield Hostile(process.base_url, pool, tokens, area, *dwellings, target.json()["id"])
    finally:
        await pool.close()
        process.stop()


# ---- 1. schemathesis ----------------------------------------------------------------------------------

MAX_EXAMPLES = 50  # per operation, in the fuzzing phase; the coverage phase adds its boundary cases

CONFIG = SchemathesisConfig.from_dict({
    "generation": {"max-examples": MAX_EXAMPLES, "database": "none", "mode": "all"},
    "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True},
               "stateful": {"enabled": False}},
    "checks": {
        "enabled": False,
        "not_a_server_error": {"enabled": True},
        "response_schema_conformance": {"enabled": True},
        "content_type_conformance": {"enabled": True},
        "status_code_conformance": {"enabled": True},
    },
    "request-timeout": 10,
    "max-stream-events": 1,  # the police stream never ends: its first event is enough to check
    "seed": 20260101,  # a failure found once is found again
})


# The callers of the access matrix, in the order tried, and the account each stands for here.
ROLE_OF_CALLER = {"guest": None, "landlord_a": "landlord", "police_in": "police", "admin": "admin"}


def role_for(method: str, path: str) -> str | None:
    """The first caller the access policy (tests/test_access.py) admits to the operation, so that generated
    input reaches the handler rather than the guard; None is anonymous (a guest: public routes, logout)."""
    admitted = dict(zip(CALLERS, POLICY[f"{method.upper()} {path}"], strict=True))
    return next((role for caller, role in ROLE_OF_CALLER.items() if admitted[caller] == "2xx"), None)


def as_path_int(value: object) -> int | None:
    """The id a path parameter names, read as the service reads an int path parameter."""
    try:
        return int(str(value))
    except ValueError:
        return None


def openapi_document() -> dict:
    """The service's OpenAPI document, made by the service's own code (tests/test_access.py: describe_app).

    Made at collection, so that pytest gets one test per operation; the running service is checked to
    serve the same document (``test_the_service_serves_the_document_tested``). Loading it from the
    running service with ``schemathesis.pytest.from_fixture`` fails on this pytest: schemathesis 4.32
    sets ``Node._nodeid``, which pytest 9.2 no longer has.
    """
    with tempfile.TemporaryDirectory(prefix="vh-openapi-") as tmp:
        return describe_app(Path(tmp))["openapi"]


DOCUMENT = openapi_document()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)
_calls: dict[str, int] = {}


async def test_the_service_serves_the_document_tested(hostile: Hostile, client: httpx.AsyncClient):
    assert (await client.get("/schema/openapi.json")).json() == DOCUMENT


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)
def test_generated_requests_get_no_5xx_and_answers_as_documented(case, hostile: Hostile):
    label = f"{case.method} {case.path}"
    _calls[label] = n = _calls.get(label, 0) + 1
    # Every other call aims at a real dwelling (its id, its QR token), so bodies get past the lookup into
    # validation and storage; the others keep the generated values, hostile path parameters included.
    if n % 2 == 0 and case.path_parameters:
        if "dwelling_id" in case.path_parameters:
            case.path_parameters["dwelling_id"] = hostile.fuzzed["id"]
        if "token" in case.path_parameters:
            case.path_parameters["token"] = hostile.qr_token
    if as_path_int((case.path_parameters or {}).get("dwelling_id")) == hostile.dwelling["id"]:
        # A generated id can be the host's dwelling (ids start at 1, and "01" or " 1" reach it too): an
        # administrator's generated PATCH would deactivate it, and the hand-written tests below register at
        # its QR code.
        case.path_parameters["dwelling_id"] = hostile.fuzzed["id"]
    if "account_id" in (case.path_parameters or {}):
        # Disabling or resetting a caller's own account would end the sessions the other operations use.
        case.path_parameters["account_id"] = hostile.target_account
    headers = {}
    # The operation's own method: the coverage phase also sends others (TRACE, DELETE ...) to its path.
    if (role := role_for(case.operation.method, case.operation.path)) is not None:
        headers["Authorization"] = f"Bearer {hostile.tokens[role]}"
    if case.headers is not None and "Idempotency-Key" in case.headers and n % 2 == 0:
        headers["Idempotency-Key"] = idempotency_key()  # a valid key half the time, to get past it
    case.call_and_validate(base_url=hostile.base_url, headers=headers)


# ---- 2. by hand ---------------------------------------------------------------------------------------


@pytest.fixture
async def client(hostile: Hostile) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=hostile.base_url, timeout=30) as client:
        yield client


def stays_url(hostile: Hostile) -> str:
    return f"/api/v1/public/dwellings/{hostile.qr_token}/stays"


def json_headers(**more: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "Idempotency-Key": idempotency_key(), **more}


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    problem = response.json()
    assert problem["status"] == status and problem["title"], problem
    if code is not None:
        assert problem["code"] == code, problem
    return problem


def field_errors(problem: dict) -> dict[str, str]:
    return {e["field"]: e["code"] for e in problem.get("errors", [])}


async def test_a_body_over_the_size_limit_is_413_declared_or_streamed(hostile: Hostile, client: httpx.AsyncClient):
    before = await hostile.stored()
    big = json.dumps(stay_body(full_name="张" * 10, address="x" * 1_200_000)).encode()
    assert_problem(await client.post(stays_url(hostile), content=big, headers=json_headers()), 413, "body_too_large")

    async def chunks():  # no Content-Length: the limit must hold on the bytes as they come
        for start in range(0, len(big), 64 * 1024):
            yield big[start:start + 64 * 1024]

    streamed = await client.post(stays_url(hostile), content=chunks(), headers=json_headers())
    assert "content-length" not in streamed.request.headers
    assert_problem(streamed, 413, "body_too_large")
    landlord = {"Authorization": f"Bearer {hostile.tokens['host']}"}
    dwelling = {"name": "n", "address": "x" * 2_000_000, "area_code": hostile.area, "kind": "homestay", "capacity": 1}
    assert_problem(await client.post("/api/v1/dwellings", json=dwelling, headers=landlord), 413, "body_too_large")
    assert await hostile.stored() == before


DEEP = 10_000
NESTED = {
    "array": b"[" * DEEP + b"]" * DEEP,
    "object": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    "inside_a_field": json.dumps(stay_body()).encode()[:-1] + b', "companions": ' + b"[" * DEEP + b"]" * DEEP + b"}",
}


@pytest.mark.parametrize("shape", NESTED)
async def test_json_nested_10000_deep_is_a_quick_400(hostile: Hostile, client: httpx.AsyncClient, shape: str):
    before = await hostile.stored()
    started = time.monotonic()
    response = await client.post(stays_url(hostile), content=NESTED[shape], headers=json_headers())
    assert_problem(response, 400, "malformed_body")
    assert time.monotonic() - started < 5
    assert (await client.get("/healthz")).status_code == 200
    assert await hostile.stored() == before


WRONG_TYPES = {
    "text/plain": {"Content-Type": "text/plain"},
    "form": {"Content-Type": "application/x-www-form-urlencoded"},
    "none": {},
    "multipart": {"Content-Type": "multipart/form-data; boundary=x"},
    "xml": {"Content-Type": "application/xml"},
}


@pytest.mark.parametrize("kind", WRONG_TYPES)
async def test_a_json_endpoint_refuses_other_content_types(hostile: Hostile, client: httpx.AsyncClient, kind: str):
    """Even when the bytes are good JSON: a body is read as what it says it is (a text/plain POST is also
    what a cross-site form can send without asking)."""
    before = await hostile.stored()
    body = json.dumps(stay_body()).encode()
    headers = {"Idempotency-Key": idempotency_key(), **WRONG_TYPES[kind]}
    request = client.build_request("POST", stays_url(hostile), content=body, headers=headers)
    if kind == "none":
        request.headers.pop("Content-Type", None)
        assert "content-type" not in request.headers
    problem = assert_problem(await client.send(request), 415, "unsupported_media_type")
    assert "application/json" in problem["title"]
    landlord = {"Authorization": f"Bearer {hostile.tokens['host']}", **WRONG_TYPES[kind]}
    staff_request = client.build_request("PATCH", f"/api/v1/dwellings/{hostile.dwelling['id']}",
                                         content=b'{"capacity": 3}', headers=landlord)
    if kind == "none":
        staff_request.headers.pop("Content-Type", None)
    assert_problem(await client.send(staff_request), 415, "unsupported_media_type")
    assert await hostile.stored() == before


async def test_json_with_a_charset_or_a_json_suffix_is_json(hostile: Hostile, client: httpx.AsyncClient):
    for content_type in ("application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"):
        response = await client.post(stays_url(hostile), content=json.dumps(stay_body()).encode(),
                                     headers=json_headers(**{"Content-Type": content_type}))
        assert response.status_code == 201, (content_type, response.text)


UNDECODABLE = {
    "invalid UTF-8": json.dumps(stay_body(full_name="@@")).encode().replace(b"@@", b"\xff\xfe"),
    "overlong UTF-8": json.dumps(stay_body(full_name="@@")).encode().replace(b"@@", b"\xc0\xaf"),
    "UTF-8 encoded surrogate": json.dumps(stay_body(full_name="@@")).encode().replace(b"@@", b"\xed\xa0\x80"),
    "lone surrogate escape": json.dumps(stay_body(full_name="@@")).encode().replace(b"@@", b"\\ud800"),
    "lone low surrogate escape": json.dumps(stay_body(full_name="@@")).encode().replace(b"@@", b"a\\udc00b"),
    "UTF-16 body": json.dumps(stay_body()).encode("utf-16"),
}


@pytest.mark.parametrize("kind", UNDECODABLE)
async def test_a_json_body_that_is_not_utf8_text_is_a_400(hostile: Hostile, client: httpx.AsyncClient, kind: str):
    """JSON is UTF-8 (RFC 8259 §8.1) and a lone surrogate is no character: the document has no text to
    name a field in, so the whole body is refused as malformed."""
    before = await hostile.stored()
    response = await client.post(stays_url(hostile), content=UNDECODABLE[kind], headers=json_headers())
    assert_problem(response, 400, "malformed_body")
    assert await hostile.stored() == before


# (what the guest typed as full_name, the error code the field gets)
BAD_NAMES = {
    "NUL": ("张\x00三", "nul_character"),
    "right-to-left override": ("\u202eevil", "invalid_value"),
    "left-to-right embedding": ("张\u202a三", "invalid_value"),
    "zero-width space": ("张\u200b三", "invalid_value"),
    "zero-width joiner": ("张\u200d三", "invalid_value"),
    "zero-width no-break space (BOM)": ("\ufeff张三", "invalid_value"),
    "bell": ("张\x07三", "invalid_value"),
    "private use": ("张\ue000三", "invalid_value"),
    "10,000 characters": ("张" * 10_000, "invalid_value"),
    "101 characters": ("a" * 101, "invalid_value"),
    "only spaces": ("   \u3000 ", "invalid_value"),
    "emoji": ("张三😀", "invalid_value"),
    "only emoji": ("😀", "invalid_value"),
    "emoji ZWJ sequence": ("👨\u200d👩\u200d👧", "invalid_value"),
    "skin-tone modifier": ("Anna👍🏽", "invalid_value"),
    "regional-indicator flag": ("Anna 🇨🇳", "invalid_value"),
    "math symbol": ("Anna+Bob", "invalid_value"),
    "replacement character": ("张\ufffd三", "invalid_value"),
}


@pytest.mark.parametrize("name", BAD_NAMES)
async def test_a_name_no_document_carries_is_refused_naming_the_field(hostile: Hostile, client: httpx.AsyncClient,
                                                                     name: str):
    typed, code = BAD_NAMES[name]
    before = await hostile.stored()
    response = await client.post(stays_url(hostile), json=stay_body(full_name=typed), headers=json_headers())
    problem = assert_problem(response, 400)
    assert field_errors(problem) == {"full_name": code}, problem
    if code == "invalid_value":  # the message says what a name may hold, in the guest's language
        message = problem["errors"][0]["message"]
        assert "emoji" in message and "100" in message, message
        zh = await client.post(stays_url(hostile), json=stay_body(full_name=typed),
                               headers=json_headers(**{"Accept-Language": "zh-CN"}))
        assert "表情符号" in zh.json()["errors"][0]["message"]
    companion = await client.post(stays_url(hostile), headers=json_headers(), json=stay_body(
        companions=[{"full_name": typed, "relationship": "child"}]))
    assert field_errors(assert_problem(companion, 400)) == {"companions.0.full_name": code}
    assert await hostile.stored() == before


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 170, 140)).save(out, "JPEG")
    return out.getvalue()


def multipart(fields: dict[str, bytes], charset: str | None = None) -> tuple[bytes, str]:
    boundary = hashlib.sha256(repr(fields).encode()).hexdigest()[:24]
    declared = f"\r\nContent-Type: text/plain; charset={charset}" if charset else ""
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"{declared}\r\n\r\n'.encode() + v + b"\r\n"
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="f.jpg"\r\n'
                 f"Content-Type: image/jpeg\r\n\r\n".encode() + jpeg() + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


# (bytes between 张 and 三 in full_name, the part's declared charset, what the problem names)
FORM_NAMES = {
    "emoji": ("😀".encode(), None, {"full_name": "invalid_value"}),
    "right-to-left override": ("\u202e".encode(), None, {"full_name": "invalid_value"}),
    "NUL": (b"\x00", None, {"full_name": "nul_character"}),
    # Text that is no UTF-8, or a charset that does not exist: the form cannot be read, so no field is named.
    "invalid UTF-8": (b"\xff\xfe", None, "malformed_form"),
    "unknown charset": (b"", "x-no-such-charset", "malformed_form"),
}


@pytest.mark.parametrize("kind", FORM_NAMES)
async def test_a_remote_verification_refuses_the_same_names_in_its_multipart_form(
        hostile: Hostile, client: httpx.AsyncClient, kind: str):
    raw, charset, expected = FORM_NAMES[kind]
    before = await hostile.stored()
    body, content_type = multipart({
        "full_name": "张".encode() + raw + "三".encode(), "document_number": resident_id().encode(),
        "phone": b"13800138000", "check_out": (TODAY + timedelta(days=1)).isoformat().encode(), "consent": b"true",
    }, charset)
    response = await client.post(f"/api/v1/public/dwellings/{hostile.qr_token}/verifications", content=body,
                                 headers={"Content-Type": content_type, "Idempotency-Key": idempotency_key()})
    if isinstance(expected, str):
        assert_problem(response, 400, expected)
    else:
        assert expected.items() <= field_errors(assert_problem(response, 400)).items(), response.text
    assert await hostile.stored() == before


NAMES_PEOPLE_HAVE = ["张三", "爱新觉罗·溥仪", "阿卜杜热西提·买买提", "O'Brien", "Anne-Marie Dupont", "Nguyễn Văn Anh",
                     "José Ñúñez", "Jose\u0301 Nu\u0303n\u0303ez",  # combining accents, normalised to NFC
                     "محمد عبد الله", "Ólafur Þór", "Σωκράτης", "Иван Петров", "佐藤・花子", "Dr. J. R. R. Tolkien",
                     "Henry VIII", "ᠪᠠᠲᠤ"]


async def test_names_real_people_have_are_accepted(hostile: Hostile, client: httpx.AsyncClient):
    for name in NAMES_PEOPLE_HAVE:
        response = await client.post(stays_url(hostile), json=stay_body(full_name=name), headers=json_headers())
        assert response.status_code == 201, (name, response.text)
        assert response.json()["guests"][0]["full_name"] == unicodedata.normalize("NFC", name)


@pytest.mark.parametrize("url", [
    "/api/v1/public/dwellings/ab%00cd", "/api/v1/public/dwellings/ab%00cd/stays", "/api/v1/public/receipts/AB%00CD",
    "/api/v1/public/certificates/EC%00/qr.png?secret=x", "/api/v1/police/occupancy?area=9%00",
    "/api/v1/police/search?name=%E5%BC%A0%00&reason=x", "/api/v1/audit?before=1%00",
])
async def test_a_nul_in_a_path_or_query_is_a_400(hostile: Hostile, client: httpx.AsyncClient, url: str):
    method = "POST" if url.endswith("/stays") else "GET"
    role = "police" if "/police/" in url else "admin" if "/audit" in url else None
    headers = {"Authorization": f"Bearer {hostile.tokens[role]}"} if role else {}
    response = await client.request(method, url, headers={**headers, "Idempotency-Key": idempotency_key()},
                                    json=stay_body() if method == "POST" else None)
    assert_problem(response, 400)
    assert field_errors(response.json()) == {"url": "nul_character"}


@pytest.mark.parametrize("url", [
    "/api/v1/dwellings/9223372036854775808", "/api/v1/dwellings/99999999999999999999999/stays",
    "/api/v1/dwellings/-1/qr.png", "/api/v1/audit?before=99999999999999999999", "/api/v1/audit?before=-5",
])
async def test_a_number_past_the_database_range_is_a_400(hostile: Hostile, client: httpx.AsyncClient, url: str):
    role = "admin" if "/audit" in url else "host"
    assert_problem(await client.get(url, headers={"Authorization": f"Bearer {hostile.tokens[role]}"}), 400)


@pytest.mark.parametrize("last_event_id", [
    b"99999999999999999999", b"\xb2", b"1" * 5000, b"-1", b"abc", b"18446744073709551616:", b"5:9-2", b"5:0",
    b"5:1-9223372036854775808", b"5:" + b"1," * 2000 + b"1", b"99999999999999:1-3",
], ids=["past bigint", "superscript two", "5000 digits", "negative", "letters", "horizon past xid8",
        "range backwards", "id zero", "range past bigint", "too long", "horizon ahead of the database"])
async def test_a_resumed_police_stream_ignores_a_last_event_id_that_names_no_position(
        hostile: Hostile, client: httpx.AsyncClient, last_event_id: bytes):
    headers = [(b"Authorization", f"Bearer {hostile.tokens['police']}".encode()), (b"Last-Event-ID", last_event_id)]
    async with client.stream("GET", "/api/v1/police/stream", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
