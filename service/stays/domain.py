"""Stays: validation against the data rules, registration, receipts, check-out, as SQL."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Literal

import asyncpg
import uuid6

from service.auth.schemas import Staff
from service.i18n import add_messages
from service.idempotency import fingerprint, key_reused
from service.police.names import name_key
from service.privacy.crypto import Keyring, mask, mask_document
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
    data: StayIn,
    idempotency_key: str,
    registered_by: RegisteredBy,
    *,
    token: str | None = None,
    owned: tuple[int, int] | None = None,
) -> Registration:
    """Check, encrypt and store a stay; answer 201 with the receipt, or the first answer for a repeated key.

    The dwelling: a guest's QR ``token``, or ``owned`` (dwelling id, the desk's account id) for a
    walk-in. One call to the database (register_stay, migration 0013) looks the dwelling up and
    locks it, claims the key and stores everything, and commits; a problem it finds is raised here.
    """
    today = datetime.now(settings.zone).date()
    checked = check_stay(data, today, settings.longest_stay_days)
    stay_id, stay, receipt = _stay_arguments(keyring, settings, checked, registered_by)
    dwelling_id, owner_id = owned or (None, None)
    problem, status_code, body, area_code, alert_ids = await conn.fetchrow(
        REGISTER_STAY, token, dwelling_id, owner_id, idempotency_key,
        fingerprint(keyring, data.model_dump(mode="json")), *stay, receipt)
    if problem == "idempotency_key_reused":
        raise key_reused()
    if problem is not None:
        raise Problem(PROBLEM_STATUS[problem], problem)
    stored = None if alert_ids is None else StoredStay(stay_id, body, [{"id": alert_id} for alert_id in alert_ids])
    return Registration(status_code, body, stored, area_code)


# What register_stay (the SQL function) may find instead of a dwelling to register at.
PROBLEM_STATUS = {"qr_unknown": 404, "qr_retired": 410, "dwelling_inactive": 410, "dwelling_not_found": 404}
# The SQL types of what _stay_arguments gives, then of the receipt (the functions are called with unknown types).
STAY_TYPES = ("uuid", "bytea", "date", "date", "timestamptz", "bytea", "bytea", "text", "text", "uuid[]", "text[]",
              "text[]", "bytea[]", "bytea[]", "text[]", "text[]", "text[]", "smallint[]", "char(1)[]", "char(6)[]",
              "boolean[]", "text[]", "jsonb")


def _placeholders(first: int) -> str:
    return ", ".join(f"${n}::{kind}" for n, kind in enumerate(STAY_TYPES, start=first))


REGISTER_STAY = f"SELECT * FROM register_stay($1::text, $2::bigint, $3::bigint, $4::text, $5::bytea, {_placeholders(6)})"
STORE_STAY = f"SELECT * FROM store_stay($1::bigint, {_placeholders(2)})"


async def lock_dwelling(conn: asyncpg.Connection, dwelling_id: int) -> asyncpg.Record:
    """A dwelling's row, locked until the transaction ends (store_stay needs it locked)."""
    return await conn.fetchrow(
        "SELECT id, name, address, area_code FROM dwellings WHERE id = $1 FOR UPDATE", dwelling_id)


@dataclass(frozen=True)
class StoredStay:
    id: uuid.UUID
    receipt: dict[str, Any]  # what the guest is answered
    alerts: list[dict[str, Any]]  # watchlist hits and duplicate presences, to announce once committed


@dataclass(frozen=True)
class Registration:
    """The answer for the guest, and what changed for the police (nothing when a retry was replayed)."""

    status_code: int
    body: dict[str, Any]
    stored: StoredStay | None
    area_code: str


async def store_stay(
    conn: asyncpg.Connection,
    keyring: Keyring,
    settings: Settings,
    dwelling: asyncpg.Record,
    checked: CheckedStay,
    registered_by: RegisteredBy,
) -> StoredStay:
    """Insert a checked stay and its guests at a dwelling locked in the caller's transaction
    (lock_dwelling), with the same SQL as a registration (store_stay, migration 0013)."""
    stay_id, stay, receipt = _stay_arguments(keyring, settings, checked, registered_by)
    body, alert_ids = await conn.fetchrow(STORE_STAY, dwelling["id"], *stay, receipt)
    return StoredStay(stay_id, body, [{"id": alert_id} for alert_id in alert_ids])


def _stay_arguments(keyring: Keyring, settings: Settings, checked: CheckedStay,
                    registered_by: RegisteredBy) -> tuple[uuid.UUID, list[Any], dict[str, Any]]:
    """The stay's id, its columns as the SQL functions take them (sealed, indexed, masked; the guests
    as one array a column), and the receipt without what the dwelling adds.

    Ids are time-ordered (UUIDv7): a new stay's and guests' keys go to the right edge of this month's
    primary keys and of the guests' (stay_id, position) index instead of a random page of each, which
    at a province's size is a page read and a full-page image in the WAL per index per registration."""
    stay_id = uuid6.uuid7()
    code = new_receipt_code()
    receipt = {
        "id": str(stay_id),
        "receipt_code": code,
        "check_in": checked.check_in.isoformat(),
        "check_out": checked.check_out.isoformat(),
        "guests": [{"full_name": g.full_name,
                    "document_masked": g.identity and mask_document(g.identity.document_type, g.identity.number)}
                   for g in checked.guests],
        "checked_out_at": None,
    }
    stay = [stay_id, receipt_hash(code), checked.check_in, checked.check_out, _departure(checked.check_out, settings),
            keyring.seal(checked.phone, f"stays.phone.{stay_id}"), keyring.blind_index("phone", checked.phone),
            mask(checked.phone), registered_by, *_guest_columns(keyring, checked.guests)]
    return stay_id, stay, receipt


def _guest_columns(keyring: Keyring, guests: list[CheckedGuest]) -> list[list[Any]]:
    """The guests as columns (one list a column), in order: any number of guests in one call."""
    rows = []
    for guest in guests:
        guest_id = uuid6.uuid7()
        ident = guest.identity
        rows.append((
            guest_id, guest.full_name,
            ident and ident.document_type,
            ident and keyring.seal(ident.number, f"stay_guests.document.{guest_id}"),
            ident and keyring.blind_index("document", ident.number),
            ident and mask_document(ident.document_type, ident.number),
            ident and ident.nationality,
            guest.relationship,
            ident and ident.birth_date and ident.birth_date.year,
            ident and ident.sex,
            ident and ident.origin_division,
            bool(ident and ident.is_foreign),
            name_key(guest.full_name),
        ))
    return [list(column) for column in zip(*rows, strict=True)]


RECEIPT_QUERY = """
    SELECT s.id, s.check_in, s.check_out, s.capacity_anomaly, s.checked_out_at, d.name, d.address,
           (SELECT json_agg(json_build_object('full_name', g.full_name, 'document_masked', g.document_masked)
                            ORDER BY g.position)
              FROM stay_guests g WHERE g.stay_id = s.id AND g.check_in = s.check_in) AS guests
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
              FROM stay_guests g WHERE g.stay_id = s.id AND g.check_in = s.check_in) AS guests
      FROM stays s"""


async def dwelling_stays(conn: asyncpg.Connection, dwelling_id: int, current: bool, grace_hours: int) -> list[asyncpg.Record]:
    """A dwelling's stays, newest first; ``current`` keeps those not checked out."""
    # Two statements, not one with `$3 IS FALSE OR ...`: a cached generic plan of that one cannot use the
    # index of current stays, and reads every stay the dwelling ever had to keep the current ones.
    current_only = " AND s.checked_out_at IS NULL" if current else ""
    return await conn.fetch(
        STAY_QUERY + f" WHERE s.dwelling_id = $1{current_only} ORDER BY s.created_at DESC LIMIT 500",
        dwelling_id, grace_hours,
    )


async def owner_checkout(conn: asyncpg.Connection, staff: Staff, stay_id: uuid.UUID, grace_hours: int) -> asyncpg.Record:
    """The owner of the stay's dwelling checks the guest out; anyone else's stay answers 404."""
    check_in = await conn.fetchval(
        """UPDATE stays s SET checked_out_at = coalesce(s.checked_out_at, now()),
                              checked_out_by = coalesce(s.checked_out_by, 'owner')
             FROM dwellings d
            WHERE s.id = $1 AND d.id = s.dwelling_id AND d.owner_id = $2
           RETURNING s.check_in""",
        stay_id, staff.id,
    )
    if check_in is None:
        raise Problem(404, "stay_not_found")
    # Read back in its own month: by id alone every month's partition is probed.
    return await conn.fetchrow(STAY_QUERY + " WHERE s.id = $1 AND s.check_in = $3", stay_id, grace_hours, check_in)


@dataclass(frozen=True)
class Occupancy:
    """A dwelling's counts for its owner's list."""

    current_guests: int = 0
    overdue_stays: int = 0
    arrivals_today: int = 0


async def occupancy(conn: asyncpg.Connection, dwelling_ids: list[int], grace_hours: int) -> dict[int, Occupancy]:
    """Current guests, overdue stays and today's arrivals (guests, in the display zone) per dwelling,
    in one query over the indexes of current stays and of stays by dwelling and time."""
    rows = await conn.fetch(
        """SELECT dwelling_id,
                  coalesce(sum(guest_count) FILTER (WHERE checked_out_at IS NULL), 0)::int AS guests,
                  count(*) FILTER (WHERE checked_out_at IS NULL
                                     AND expected_departure + make_interval(hours => $2) < now())::int AS overdue,
                  coalesce(sum(guest_count) FILTER (WHERE created_at >= current_date), 0)::int AS arrivals
             FROM stays
            WHERE dwelling_id = ANY($1::bigint[]) AND (checked_out_at IS NULL OR created_at >= current_date)
            GROUP BY dwelling_id""",
        dwelling_ids, grace_hours,
    )
    return {r["dwelling_id"]: Occupancy(r["guests"], r["overdue"], r["arrivals"]) for r in rows}
