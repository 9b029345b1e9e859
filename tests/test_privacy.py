"""Personal numbers at rest, masking, and retention: what is kept, how, and for how long."""

from __future__ import annotations

import base64
import re
import stat

import asyncpg
import httpx
import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given
from hypothesis import strategies as st

from service.privacy.crypto import Keyring, mask, mask_document
from service.stays.documents import DOCUMENT_TYPES
from tests.support import (ADMIN_PASSWORD, ADMIN_USERNAME, TEST_MASTER_KEY, ServiceProcess, StaffClient,
                           idempotency_key, resident_id)
from tests.test_operations import run_cli
from tests.test_stays import stay_body, token_of


def test_a_ciphertext_opens_only_in_its_own_table_column_and_row():
    keyring = Keyring(b"k" * 32)
    sealed = keyring.seal("13800138000", "stays.phone.1")
    assert keyring.open(sealed, "stays.phone.1") == "13800138000"
    assert b"13800138000" not in sealed
    for elsewhere in ("stays.phone.2", "stay_guests.document.1"):
        with pytest.raises(InvalidTag):
            keyring.open(sealed, elsewhere)
    with pytest.raises(InvalidTag):
        Keyring(b"x" * 32).open(sealed, "stays.phone.1")


def test_blind_indexes_match_equal_numbers_only_under_the_same_key():
    keyring = Keyring(b"k" * 32)
    assert keyring.blind_index("document", "E12345678") == keyring.blind_index("document", "E12345678")
    assert keyring.blind_index("document", "E12345678") != keyring.blind_index("phone", "E12345678")
    assert keyring.blind_index("document", "E12345678") != Keyring(b"x" * 32).blind_index("document", "E12345678")


def test_masks_show_the_first_three_and_last_four():
    assert mask("11010519491231002X") == "110***********002X"
    assert mask("13800138000") == "138****8000"
    assert mask("E1234") == "*****"


def test_short_document_numbers_are_no_longer_left_almost_whole_by_the_mask():
    assert mask_document("taiwan_permit", "87654321") == "8*****21"  # was 876*4321: 7 of 8 digits
    assert mask_document("hk_macao_permit", "H12345678") == "H******78"  # was H12**5678
    assert mask_document("passport", "EA1234567") == "E******67"
    assert mask_document("resident_id", "11010519491231002X") == "110***********002X"


@given(document_type=st.sampled_from(DOCUMENT_TYPES),
       number=st.text(alphabet="0123456789ABCDEFGHJKLMNPQRSTUVWXYZ", min_size=1, max_size=24))
def test_a_masked_document_number_always_hides_at_least_half_of_it(document_type, number):
    masked = mask_document(document_type, number)
    assert len(masked) == len(number)
    hidden = masked.count("*")
    assert 2 * hidden >= len(number), (document_type, number, masked)
    # What is shown is the number's own start and end, one run of stars between.
    assert all(m in ("*", n) for m, n in zip(masked, number, strict=True))
    assert re.fullmatch(r"[^*]*\**[^*]*", masked)
    if document_type == "resident_id" and len(number) == 18:
        assert masked == number[:3] + "*" * 11 + number[-4:]


async def test_without_a_configured_key_one_is_made_on_first_start_readable_by_the_owner_only(create_database, tmp_path):
    process = ServiceProcess(dsn=await create_database(), data_dir=tmp_path, extra_env={"VH_MASTER_KEY": ""}).start()
    try:
        key_file = tmp_path / "master.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        first = key_file.read_text()
    finally:
        process.stop()
    process.start()  # a second start keeps the key: what was sealed stays readable
    process.stop()
    assert key_file.read_text() == first


async def test_purge_removes_registrations_past_retention_and_keeps_the_audit_log(
        anonymous, db, database_url, make_staff, make_area, make_dwelling, tmp_path):
    landlord = await make_staff("landlord")
    dwelling = await make_dwelling(landlord, await make_area())
    old, recent = [(await anonymous.post(f"/api/v1/public/dwellings/{token_of(dwelling)}/stays", json=stay_body(),
                                         headers={"Idempotency-Key": idempotency_key()})).json() for _ in range(2)]
    for stay in (old, recent):
        assert (await landlord.post(f"/api/v1/stays/{stay['id']}/checkout")).status_code == 200
    await db.execute("UPDATE stays SET checked_out_at = now() - interval '4 years' WHERE id = $1", old["id"])
    audit_rows = await db.fetchval("SELECT count(*) FROM audit_log")
    env = {"DATABASE_URL": database_url, "VH_DATA_DIR": str(tmp_path)}

    dry = run_cli("purge", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "would remove" in dry.stdout and "audit log kept" in dry.stdout
    assert await db.fetchval("SELECT count(*) FROM stays WHERE id = $1", old["id"]) == 1

    done = run_cli("purge", env=env)
    assert done.returncode == 0, done.stderr
    assert await db.fetchval("SELECT count(*) FROM stays WHERE id = $1", old["id"]) == 0
    assert await db.fetchval("SELECT count(*) FROM stay_guests WHERE stay_id = $1", old["id"]) == 0
    assert await db.fetchval("SELECT count(*) FROM stays WHERE id = $1", recent["id"]) == 1
    assert await db.fetchval("SELECT count(*) FROM audit_log") >= audit_rows
    gone = await anonymous.get(f"/api/v1/public/receipts/{old['receipt_code']}")
    assert gone.status_code == 404


async def test_rekey_moves_every_number_and_index_to_a_new_master_key(create_database, tmp_path):
    """Stop, `rekey`, start with the new key: searches, watchlist and the registry still find everyone."""
    old_key, new_key = TEST_MASTER_KEY, base64.b64encode(b"a-brand-new-master-key-32-bytes!").decode()
    dsn = await create_database()
    service = ServiceProcess(dsn=dsn, data_dir=tmp_path).start()
    number = resident_id(division="440305")
    try:
        admin = await StaffClient.log_in(service.base_url, ADMIN_USERNAME, ADMIN_PASSWORD)
        await admin.post("/api/v1/areas", json={"code": "331004", "name": "Luqiao"})
        for username, role in (("rekey-landlord", "landlord"), ("rekey-police", "police")):
            await admin.post("/api/v1/accounts", json={"username": username, "password": "long-enough-pw",
                                                        "role": role, "area_code": "331004"})
        registry = await admin.post("/api/v1/registry/persons", json={"full_name": "张三", "document_number": number})
        assert registry.status_code == 201, registry.text
        landlord = await StaffClient.log_in(service.base_url, "rekey-landlord", "long-enough-pw")
        dwelling = (await landlord.post("/api/v1/dwellings", json={
            "name": "Room", "address": "Lane 1", "area_code": "331004", "kind": "homestay", "capacity": 4})).json()
        async with httpx.AsyncClient(base_url=service.base_url) as guest:
            stayed = await guest.post(f"/api/v1/public/dwellings/{token_of(dwelling)}/stays",
                                      json=stay_body(document_number=number, phone="13911112222"),
                                      headers={"Idempotency-Key": idempotency_key()})
            assert stayed.status_code == 201
        police = await StaffClient.log_in(service.base_url, "rekey-police", "long-enough-pw")
        assert (await police.post("/api/v1/police/watchlist", json={"document_number": number, "note": "n"})).status_code == 201
        for client in (admin, landlord, police):
            await client.aclose()
    finally:
        service.stop()
    assert run_cli("keys", "rotate", env={"DATABASE_URL": dsn, "VH_DATA_DIR": str(tmp_path),
                                          "VH_MASTER_KEY": old_key}).returncode == 0

    moved = run_cli("rekey", env={"DATABASE_URL": dsn, "VH_DATA_DIR": str(tmp_path),
                                  "VH_MASTER_KEY": old_key, "VH_NEW_MASTER_KEY": new_key})
    assert moved.returncode == 0, moved.stderr
    assert "re-encrypted 1 stays.phone_cipher" in moved.stdout and "re-encrypted 1 signing_keys" in moved.stdout

    service.extra_env = {"VH_MASTER_KEY": new_key}
    service.start()
    try:
        police = await StaffClient.log_in(service.base_url, "rekey-police", "long-enough-pw")
        found = (await police.get("/api/v1/police/search", params={"document_number": number, "reason": "after rekey"})).json()
        assert [(r["document_number"], r["phone"]) for r in found] == [(number, "13911112222")]
        by_phone = await police.get("/api/v1/police/search", params={"phone": "13911112222", "reason": "after rekey"})
        assert len(by_phone.json()) == 1
        async with httpx.AsyncClient(base_url=service.base_url) as guest:  # the same person comes back
            again = await guest.post(f"/api/v1/public/dwellings/{token_of(dwelling)}/stays",
                                     json=stay_body(document_number=number), headers={"Idempotency-Key": idempotency_key()})
            assert again.status_code == 201
        conn = await asyncpg.connect(dsn)
        try:  # one hit when the entry was added, one for the new stay: the watchlist still matches; and the
            # new stay's number is found present in the first stay too, by its re-keyed blind index
            kinds = await conn.fetch("SELECT kind, count(*) FROM alerts GROUP BY kind ORDER BY kind")
            assert [tuple(r) for r in kinds] == [("duplicate_presence", 1), ("watchlist", 2)]
        finally:
            await conn.close()
        jwks = httpx.get(f"{service.base_url}/.well-known/jwks.json").json()
        assert len(jwks["keys"]) >= 1
        await police.aclose()
    finally:
        service.stop()


async def test_numbers_masked_before_the_fix_are_masked_again_by_type(create_database):
    """Migration 0010 re-masks what was stored "first 3, last 4" from the old mask itself."""
    from service.db.migrate import apply_migrations, migration_files

    conn = await asyncpg.connect(await create_database())
    try:
        await conn.execute("CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz "
                           "NOT NULL DEFAULT now())")
        for version, sql in migration_files():
            if version < "0010":
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
        old = {"taiwan_permit": "876*4321", "hk_macao_permit": "H12**5678", "passport": "EA1**4567",
               "resident_id": "110***********002X"}
        for n, (document_type, masked) in enumerate(old.items()):
            await conn.execute("INSERT INTO registry_persons (document_index, document_type, document_cipher, "
                               "document_masked, full_name) VALUES ($1, $2, '\\x00', $3, 'x')",
                               bytes([n]), document_type, masked)
        await apply_migrations(conn)
        now = dict(await conn.fetch("SELECT document_type, document_masked FROM registry_persons"))
    finally:
        await conn.close()
    assert now == {"taiwan_permit": "8*****21", "hk_macao_permit": "H******78", "passport": "E******67",
                   "resident_id": "110***********002X"}
