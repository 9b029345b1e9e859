"""Police search for a person's stays: a stated reason, results from the jurisdiction only, every step audited."""

from __future__ import annotations

import unicodedata
from typing import Any

import asyncpg

from service.auth.schemas import Staff
from service.i18n import add_messages
from service.police.names import name_key
from service.privacy import audit
from service.privacy.crypto import Keyring
from service.problems import FieldError, Problem
from service.stays.documents import DocumentError, normalise_phone, searchable_number
from service.stays.partitions import GUESTS_WITH_THEIR_STAYS, STAYS_WITH_THEIR_GUESTS

add_messages(
    {
        "reason_required": (
            "State the reason for this search (at least 5 characters); it is kept in the audit log.",
            "请填写查询事由（至少 5 个字），事由将记入审计日志。",
        ),
        "search_term_required": (
            "Search by exactly one of: document number, name, phone.",
            "请只用一种条件查询：证件号码、姓名或手机号码。",
        ),
    }
)

MAX_RESULTS = 200

RESULT_QUERY = """
    SELECT s.id AS stay_id, s.check_in, s.check_out, s.created_at, s.checked_out_at, s.registered_by,
           s.phone_cipher, s.area_code, d.id AS dwelling_id, d.name AS dwelling_name, d.address AS dwelling_address,
           g.id AS guest_id, g.full_name, g.document_type, g.document_cipher, g.document_index, g.nationality
      FROM {found}
      JOIN dwellings d ON d.id = s.dwelling_id
     WHERE s.area_code LIKE $1 || '%' AND {condition}
     ORDER BY s.created_at DESC LIMIT {limit}"""


def search_query(condition: str) -> str:
    """The search by ``condition`` on $2: a guest's (g.) finds guests, then each one's stay; a stay's (s.)
    finds stays, then each one's guests."""
    found = GUESTS_WITH_THEIR_STAYS if condition.startswith("g.") else STAYS_WITH_THEIR_GUESTS
    return RESULT_QUERY.format(found=found, condition=condition, limit=MAX_RESULTS)


def _criterion(keyring: Keyring, document_number: str | None, name: str | None,
               phone: str | None) -> tuple[str, str, Any, bytes]:
    """(what was searched by, SQL condition on $2, its value, the blind index for the audit log)."""
    given = [v for v in (document_number, name, phone) if v]
    if len(given) != 1:
        raise Problem(400, "search_term_required", errors=[FieldError("document_number", "search_term_required")])
    if document_number:
        index = keyring.blind_index("document", searchable_number(document_number))
        return "document_number", "g.document_index = $2", index, index
    if phone:
        try:
            index = keyring.blind_index("phone", normalise_phone(phone))
        except DocumentError as exc:
            raise Problem(400, "invalid_input", errors=[FieldError("phone", exc.code)]) from None
        return "phone", "s.phone_index = $2", index, index
    clean = " ".join(unicodedata.normalize("NFC", name or "").split())
    # Names are kept out of the audit log too: only their keyed hash (of the name as typed, as ever) goes there.
    return "name", "g.name_key = $2", name_key(clean), keyring.blind_index("name", clean)


async def search(conn: asyncpg.Connection, keyring: Keyring, staff: Staff, reason: str | None,
                 document_number: str | None, name: str | None, phone: str | None) -> list[dict[str, Any]]:
    if not reason or len(reason.strip()) < 5:
        raise Problem(400, "reason_required", errors=[FieldError("reason", "reason_required")])
    by, condition, value, subject = _criterion(keyring, document_number, name, phone)
    async with conn.transaction():
        rows = await conn.fetch(search_query(condition), staff.area_code, value)
        await audit.append(conn, staff, "search", reason.strip(), subject, {"by": by, "results": len(rows)})
        results = []
        for row in rows:
            results.append(_reveal(keyring, row))
            await audit.append(conn, staff, "reveal", reason.strip(), row["document_index"],
                               {"stay_id": str(row["stay_id"]), "guest_id": str(row["guest_id"])})
    return results


def _reveal(keyring: Keyring, row: asyncpg.Record) -> dict[str, Any]:
    """Full numbers, for the police only, after the audit entry is written."""
    document = (keyring.open(row["document_cipher"], f"stay_guests.document.{row['guest_id']}")
                if row["document_cipher"] else None)
    return {
        "stay_id": row["stay_id"], "full_name": row["full_name"], "document_type": row["document_type"],
        "document_number": document, "nationality": row["nationality"],
        "phone": keyring.open(row["phone_cipher"], f"stays.phone.{row['stay_id']}"),
        "dwelling": {"id": row["dwelling_id"], "name": row["dwelling_name"], "address": row["dwelling_address"],
                     "area_code": row["area_code"]},
        "check_in": row["check_in"], "check_out": row["check_out"], "registered_by": row["registered_by"],
        "created_at": row["created_at"], "checked_out_at": row["checked_out_at"],
    }
