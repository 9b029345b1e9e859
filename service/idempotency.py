"""Idempotency-Key for public POSTs: a retry from a phone on a bad network gets the first answer.

The key is claimed in the same transaction that does the work, so either both the
record and the stored answer are committed, or neither is. A concurrent retry with
the same key waits on the key's row until the first attempt commits (then replays
its answer) or rolls back (then does the work itself). A registration keeps its keys in
the same table with the same fingerprint, in SQL, in one call (register_stay, migration 0013).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

import asyncpg

from service.i18n import add_messages
from service.privacy.crypto import Keyring
from service.problems import FieldError, Problem

add_messages(
    {
        "idempotency_key_required": (
            "The Idempotency-Key header is missing or malformed (8 to 100 letters, digits, '-' or '_').",
            "缺少或格式错误的 Idempotency-Key 请求头（8 到 100 位字母、数字、- 或 _）。",
        ),
        "idempotency_key_reused": (
            "This Idempotency-Key was used for a different request. Send a new key for a new registration.",
            "此 Idempotency-Key 已用于另一个请求，新的登记请使用新的键。",
        ),
    }
)

HEADER = "Idempotency-Key"
_KEY = re.compile(r"[A-Za-z0-9_-]{8,100}")


def require_key(value: str | None) -> str:
    if value is None or not _KEY.fullmatch(value):
        raise Problem(400, "idempotency_key_required", errors=[FieldError(HEADER, "idempotency_key_required")])
    return value


def fingerprint(keyring: Keyring, request: dict[str, Any]) -> bytes:
    """What a retry must repeat exactly; keyed, so the stored fingerprint cannot be used to guess a number in it."""
    canonical = json.dumps(request, sort_keys=True, ensure_ascii=False)
    return hmac.new(keyring.derive("idempotency"), canonical.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: dict[str, Any]


async def claim(conn: asyncpg.Connection, scope: str, key: str, fingerprint: bytes) -> Replay | None:
    """Claim ``key`` inside the caller's transaction; a key already answered gives its Replay."""
    claimed = await conn.fetchval(
        """INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING RETURNING true""",
        scope, key, fingerprint,
    )
    if claimed:
        return None
    row = await conn.fetchrow(
        "SELECT request_hash, status_code, response FROM idempotency_keys WHERE scope = $1 AND key = $2", scope, key
    )
    if row["request_hash"] != fingerprint:
        raise key_reused()
    return Replay(row["status_code"], row["response"])


def key_reused() -> Problem:
    """409: the key came before with another request."""
    return Problem(409, "idempotency_key_reused", errors=[FieldError(HEADER, "idempotency_key_reused")])


async def record(conn: asyncpg.Connection, scope: str, key: str, status_code: int, body: dict[str, Any]) -> None:
    """Store the answer of a claimed key, in the same transaction as the work."""
    await conn.execute("UPDATE idempotency_keys SET status_code = $3, response = $4 WHERE scope = $1 AND key = $2",
                       scope, key, status_code, body)

