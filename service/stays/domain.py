"""Stays: validation against the data rules, registration, receipts, check-out, as SQL."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Literal

import asyncpg

from service.auth.schemas import Staff
from service.i18n import add_messages
from service.idempotency import RECORD_ANSWER, claim, fingerprint
from service.police.watchlist import matching_entries
from service.privacy.crypto import Keyring, mask
from service.problems import FieldError, Problem
from service.settings import Settings
from service.stays.documents import DocumentError, Identity, check_stay_dates, normalise_phone, parse_document
from service.stays.schemas import CompanionIn, StayIn

add_messages(
    {
        "companion_needs_document_or_relationship": (
            "Give this companion's document, or for a minor without one, the relationship to you.",
            "请填写同住人的证件，未带证件的未成年人请选择与您的关系。",
        ),
        "receipt_not_found": (
            "No stay has this receipt code. Please check the code on your receipt.",
            "没有找到该回执码对应的登记，请核对回执码。",
        ),
        "stay_not_found": ("No such stay.", "没有找到该登记。"),
    }
)

RegisteredBy = Literal["guest", "desk", "remote"]
# Crockford's base32: no I, L, O, U, so a code read aloud or retyped is not misread.
RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RECEIPT_LENGTH = 10  # 50 bits
# When a guest is expected to leave on their check-out date.
DEPARTURE_TIME = time(12, 0)


@dataclass(frozen=True)
class CheckedGuest:
    """One person of a stay after the data rules: an identity, or a minor's relationship."""

    full_name: str
    identity: Identity | None
    relationship: str | None


@dataclass(frozen=True)
class CheckedStay:
    guests: list[CheckedGuest]
    phone: str
    check_in: date
    check_out: date


def check_stay(data: StayIn, today: date, longest_stay_days: int) -> CheckedStay:
    """Apply the data rules; every offending field is named at once, so the guest fixes all in one go."""
    errors: list[FieldError] = []

    def attempt(prefix: str, work, *args):
        try:
            return work(*args)
        except DocumentError as exc:
            errors.append(FieldError(prefix + exc.field, exc.code))
            return None

    registrant = attempt("", parse_document, data.document_type, data.document_number, data.nationality, today)
    guests = [CheckedGuest(data.full_name, registrant, None)]
    for n, companion in enumerate(data.companions):
        guests.append(_check_companion(companion, f"companions.{n}.", today, errors, attempt))
    phone = attempt("", normalise_phone, data.phone)
    check_in = data.check_in or today
    attempt("", check_stay_dates, check_in, data.check_out, today, longest_stay_days)
    if errors:
        raise Problem(400, "invalid_input", errors=errors)
    return CheckedStay(guests, phone, check_in, data.check_out)


def _check_companion(companion: CompanionIn, prefix: str, today: date, errors: list[FieldError], attempt) -> CheckedGuest:
    if companion.document_type is None and not companion.document_number:
        if companion.relationship is None:
            errors.append(FieldError(prefix + "relationship", "companion_needs_document_or_relationship"))
        return CheckedGuest(companion.full_name, None, companion.relationship)
    if companion.document_type is None:
        errors.append(FieldError(prefix + "document_type", "required"))
        return CheckedGuest(companion.full_name, None, None)
    identity = attempt(prefix, parse_document, companion.document_type, companion.document_number,
                       companion.nationality, today)
    return CheckedGuest(companion.full_name, identity, companion.relationship)


def new_receipt_code() -> str:
    # 50 random bits, five bits a character; 32 divides 256, so every character is equally likely.
    code = "".join(RECEIPT_ALPHABET[b % 32] for b in secrets.token_bytes(RECEIPT_LENGTH))
    return f"{code[:5]}-{code[5:]}"


def receipt_hash(code: str) -> bytes:
    """Codes are stored hashed, like passwords: a copy of the table checks nobody out.

    Typing slips are forgiven: case, dashes, spaces, and O/I/L for 0/1/1.
    """
    normal = code.upper().replace("-", "").replace(" ", "").translate(str.maketrans("OIL", "011"))
    return hashlib.sha256(normal.encode()).digest()


def _departure(check_out: date, settings: Settings) -> datetime:
    return datetime.combine(check_out, DEPARTURE_TIME, tzinfo=settings.zone)


async def register_stay(
    conn: asyncpg.Connection,
    keyring: Keyring,
    settings: Settings,
    find_dwelling: Callable[[asyncpg.Connection], Awaitable[asyncpg.Record]],
    data: StayIn,
    idempotency_key: str,
    registered_by: RegisteredBy,
) -> Registration:
    """Check, encrypt and store a stay; answer 201 with the receipt, or the first answer for a repeated key.

    ``find_dwelling`` reads and locks the dwelling's row (see store_stay), or raises the Problem a guest sees.
    """
    today = datetime.now(settings.zone).date()
    checked = check_stay(data, today, settings.longest_stay_days)
    async with conn.transaction():
        dwelling = await find_dwelling(conn)
        # Retries of one key wait on the dwelling's lock; the second then finds the first's answer.
        scope = f"stays:{dwelling['id']}"
        replay = await claim(conn, scope, idempotency_key, fingerprint(keyring, data.model_dump(mode="json")))
        if replay is not None:
            return Registration(replay.status_code, replay.body, None, dwelling["area_code"])
        stored = await store_stay(conn, keyring, settings, dwelling, checked, registered_by,
                                  answer_to=(scope, idempotency_key))
    return Registration(201, stored.receipt, stored, dwelling["area_code"])


async def lock_dwelling(conn: asyncpg.Connection, dwelling_id: int) -> asyncpg.Record:
    """A dwelling's row as store_stay needs it, locked until the transaction ends."""
    return await conn.fetchrow(
        "SELECT id, name, address, area_code, capacity, current_guests FROM dwellings WHERE id = $1 FOR UPDATE",
        dwelling_id)


@dataclass(frozen=True)
class StoredStay:
    id: uuid.UUID
    receipt: dict[str, Any]  # what the guest is answered
    alerts: list[dict[str, Any]]  # watchlist hits, to announce once committed


@dataclass(frozen=True)
class Registration:
    """The answer for the guest, and what changed for the police (nothing when a retry was replayed)."""

    status_code: int
    body: dict[str, Any]
    stored: StoredStay | None
    area_code: str


# The stay, its guests, the watchlist's alerts and the answer kept for retries, in one
# statement: one round trip to the database however many guests there are.
STORE_STAY = f"""
    WITH stay AS (
        INSERT INTO stays (id, dwelling_id, area_code, receipt_hash, check_in, check_out, expected_departure,
                           phone_cipher, phone_index, phone_masked, guest_count, registered_by, capacity_anomaly,
                           floating_count, foreign_count, origin_provinces)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
    ), guests AS (
        INSERT INTO stay_guests (id, stay_id, position, full_name, document_type, document_cipher, document_index,
                                 document_masked, nationality, relationship, birth_year, sex, origin_division,
                                 is_foreign)
        SELECT g.id, $1, g.position, g.full_name, g.document_type, g.document_cipher, g.document_index,
               g.document_masked, g.nationality, g.relationship, g.birth_year, g.sex, g.origin_division, g.is_foreign
          FROM unnest($17::uuid[], $18::smallint[], $19::text[], $20::text[], $21::bytea[], $22::bytea[],
                      $23::text[], $24::text[], $25::text[], $26::smallint[], $27::char(1)[], $28::char(6)[],
                      $29::boolean[])
               AS g (id, position, full_name, document_type, document_cipher, document_index, document_masked,
                     nationality, relationship, birth_year, sex, origin_division, is_foreign)
    ), answer AS (
        {RECORD_ANSWER.format(scope="$30", key="$31", status="201", body="$32")}
    ), hits AS (
        INSERT INTO alerts (watchlist_id, dwelling_id, area_code, stay_id)
        SELECT id, $2, $3, $1 FROM ({matching_entries(indexes="$22::bytea[]", area="$3")}) w
        RETURNING id
    )
    SELECT coalesce(array_agg(id), '{{}}') FROM hits"""


async def store_stay(
    conn: asyncpg.Connection,
    keyring: Keyring,
    settings: Settings,
    dwelling: asyncpg.Record,
    checked: CheckedStay,
    registered_by: RegisteredBy,
    answer_to: tuple[str, str] | None = None,
) -> StoredStay:
    """Insert a checked stay and its guests; call inside a transaction.

    ``dwelling``: its row with capacity and current guests, locked in this transaction
    (lock_dwelling, or FOR UPDATE where it was looked up), so the registrations of one
    dwelling follow one another and the capacity check is exact. A guest is never
    turned away at the door: a stay past the beds is stored and marked as a capacity
    anomaly for the police. ``answer_to`` (scope, Idempotency-Key): the claimed key
    whose answer is the receipt.
    """
    capacity_anomaly = dwelling["current_guests"] + len(checked.guests) > dwelling["capacity"]
    county = dwelling["area_code"][:6]
    floating_provinces = [g.identity.origin_division[:2] for g in checked.guests
                          if g.identity and g.identity.origin_division and g.identity.origin_division != county]
    stay_id = uuid.uuid4()
    code = new_receipt_code()
    receipt = {
        "id": str(stay_id),
        "receipt_code": code,
        "dwelling": {"name": dwelling["name"], "address": dwelling["address"]},
        "check_in": checked.check_in.isoformat(),
        "check_out": checked.check_out.isoformat(),
        "guests": [{"full_name": g.full_name, "document_masked": g.identity and mask(g.identity.number)}
                   for g in checked.guests],
        "capacity_anomaly": capacity_anomaly,
        "checked_out_at": None,
    }
    scope, key = answer_to or (None, None)
    alert_ids = await conn.fetchval(
        STORE_STAY,
        stay_id, dwelling["id"], dwelling["area_code"], receipt_hash(code), checked.check_in, checked.check_out,
        _departure(checked.check_out, settings), keyring.seal(checked.phone, f"stays.phone.{stay_id}"),
        keyring.blind_index("phone", checked.phone), mask(checked.phone), len(checked.guests), registered_by,
        capacity_anomaly, len(floating_provinces), sum(bool(g.identity and g.identity.is_foreign) for g in checked.guests),
        floating_provinces, *_guest_columns(keyring, checked.guests), scope, key, receipt,
    )
    return StoredStay(stay_id, receipt, [{"id": alert_id} for alert_id in alert_ids])


def _guest_columns(keyring: Keyring, guests: list[CheckedGuest]) -> list[list[Any]]:
    """The guests as columns (one list a column) for unnest: any number of guests in one statement."""
    rows = []
    for position, guest in enumerate(guests):
        guest_id = uuid.uuid4()
        ident = guest.identity
        rows.append((
            guest_id, position, guest.full_name,
            ident and ident.document_type,
            ident and keyring.seal(ident.number, f"stay_guests.document.{guest_id}"),
            ident and keyring.blind_index("document", ident.number),
            ident and mask(ident.number),
            ident and ident.nationality,
            guest.relationship,
            ident and ident.birth_date and ident.birth_date.year,
            ident and ident.sex,
            ident and ident.origin_division,
            bool(ident and ident.is_foreign),
        ))
    return [list(column) for column in zip(*rows, strict=True)]


RECEIPT_QUERY = """
    SELECT s.id, s.check_in, s.check_out, s.capacity_anomaly, s.checked_out_at, d.name, d.address,
           (SELECT json_agg(json_build_object('full_name', g.full_name, 'document_masked', g.document_masked)
                            ORDER BY g.position)
              FROM stay_guests g WHERE g.stay_id = s.id) AS guests
      FROM stays s JOIN dwellings d ON d.id = s.dwelling_id
     WHERE s.receipt_hash = $1"""


def _receipt(row: asyncpg.Record, code: str) -> dict[str, Any]:
    return {
        "id": row["id"], "receipt_code": code.upper(), "dwelling": {"name": row["name"], "address": row["address"]},
        "check_in": row["check_in"], "check_out": row["check_out"], "guests": row["guests"],
        "capacity_anomaly": row["capacity_anomaly"], "checked_out_at": row["checked_out_at"],
    }


async def receipt(conn: asyncpg.Connection, code: str) -> dict[str, Any]:
    row = await conn.fetchrow(RECEIPT_QUERY, receipt_hash(code))
    if row is None:
        raise Problem(404, "receipt_not_found")
    return _receipt(row, code)


async def guest_checkout(conn: asyncpg.Connection, code: str) -> tuple[dict[str, Any], str | None]:
    """The guest leaves; checking out twice keeps the first time. Returns the receipt and the area that changed."""
    changed_area = await conn.fetchval(
        """UPDATE stays SET checked_out_at = now(), checked_out_by = 'guest'
            WHERE receipt_hash = $1 AND checked_out_at IS NULL RETURNING area_code""",
        receipt_hash(code),
    )
    return await receipt(conn, code), changed_area


STAY_QUERY = """
    SELECT s.id, s.dwelling_id, s.area_code, s.check_in, s.check_out, s.phone_masked, s.registered_by,
           s.capacity_anomaly, s.created_at, s.checked_out_at,
           s.checked_out_at IS NULL AND s.expected_departure + make_interval(hours => $2) < now() AS overdue,
           (SELECT json_agg(json_build_object('full_name', g.full_name, 'document_type', g.document_type,
                                              'document_masked', g.document_masked, 'nationality', g.nationality,
                                              'relationship', g.relationship) ORDER BY g.position)
              FROM stay_guests g WHERE g.stay_id = s.id) AS guests
      FROM stays s"""


async def dwelling_stays(conn: asyncpg.Connection, dwelling_id: int, current: bool, grace_hours: int) -> list[asyncpg.Record]:
    """A dwelling's stays, newest first; ``current`` keeps those not checked out."""
    return await conn.fetch(
        STAY_QUERY + """ WHERE s.dwelling_id = $1 AND ($3::boolean IS FALSE OR s.checked_out_at IS NULL)
                         ORDER BY s.created_at DESC LIMIT 500""",
        dwelling_id, grace_hours, current,
    )


async def owner_checkout(conn: asyncpg.Connection, staff: Staff, stay_id: uuid.UUID, grace_hours: int) -> asyncpg.Record:
    """The owner of the stay's dwelling checks the guest out; anyone else's stay answers 404."""
    owned = await conn.fetchval(
        """UPDATE stays s SET checked_out_at = coalesce(s.checked_out_at, now()),
                              checked_out_by = coalesce(s.checked_out_by, 'owner')
             FROM dwellings d
            WHERE s.id = $1 AND d.id = s.dwelling_id AND d.owner_id = $2
           RETURNING true""",
        stay_id, staff.id,
    )
    if not owned:
        raise Problem(404, "stay_not_found")
    return await conn.fetchrow(STAY_QUERY + " WHERE s.id = $1", stay_id, grace_hours)


async def occupancy(conn: asyncpg.Connection, dwelling_ids: list[int], grace_hours: int) -> dict[int, tuple[int, int]]:
    """Current guests and overdue stays per dwelling, from the index of current stays."""
    rows = await conn.fetch(
        """SELECT dwelling_id, sum(guest_count)::int AS guests,
                  count(*) FILTER (WHERE expected_departure + make_interval(hours => $2) < now())::int AS overdue
             FROM stays WHERE dwelling_id = ANY($1::bigint[]) AND checked_out_at IS NULL
            GROUP BY dwelling_id""",
        dwelling_ids, grace_hours,
    )
    return {r["dwelling_id"]: (r["guests"], r["overdue"]) for r in rows}
