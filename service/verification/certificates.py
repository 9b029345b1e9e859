"""Electronic accommodation certificates: Ed25519 signing keys, the JWS itself, its check, revocation, the JWKS.

A certificate is a compact JWS (a JWT) signed with EdDSA over Ed25519 by joserfc; its
``kid`` is the RFC 7638 thumbprint of the key. Private keys are sealed with the master
key; one key is active, made on first need; a rotated key stays in the JWKS as long as a
certificate it signed has not expired, so those still verify.
"""

from __future__ import annotations

import json
import secrets
import time
import warnings
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock
from typing import Any
from uuid import UUID

import asyncpg
from joserfc import jws, jwt
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import OKPKey

from service.areas.domain import jurisdiction_of
from service.auth.schemas import Staff
from service.i18n import add_messages
from service.privacy import audit
from service.privacy.crypto import Keyring
from service.problems import Problem
from service.settings import Settings
from service.stays.domain import RECEIPT_ALPHABET

add_messages({"certificate_not_found": ("No such certificate.", "没有找到该电子住宿凭证。")})

# DESIGN.md section 6 fixes alg "EdDSA", which every JOSE library and WebCrypto verifier knows;
# joserfc warns that RFC 9864 prefers the new name "Ed25519" for the same signature.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)
ALGORITHM = "EdDSA"
CURVE = "Ed25519"
# Phones' clocks drift: a certificate is taken as started this much before its nbf.
CLOCK_LEEWAY_SECONDS = 300


# ---- signing keys ----


def _private_context(kid: str) -> str:
    return f"signing_keys.private.{kid}"


async def _create_key(conn: asyncpg.Connection, keyring: Keyring) -> None:
    """A new active key, unless another instance made one at the same moment (the unique index decides)."""
    key = OKPKey.generate_key(CURVE, private=True)
    kid = key.thumbprint()
    public = {**key.as_dict(private=False), "kid": kid, "alg": ALGORITHM, "use": "sig"}
    await conn.execute(
        "INSERT INTO signing_keys (kid, public_jwk, private_cipher) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        kid, public, keyring.seal(json.dumps(key.as_dict(private=True)), _private_context(kid)),
    )


async def _active_row(conn: asyncpg.Connection, keyring: Keyring) -> asyncpg.Record:
    """The active key's row, made on first need."""
    query = "SELECT kid, private_cipher FROM signing_keys WHERE retired_at IS NULL"
    row = await conn.fetchrow(query)
    if row is None:
        await _create_key(conn, keyring)
        row = await conn.fetchrow(query)
    return row


async def active_key(conn: asyncpg.Connection, keyring: Keyring) -> tuple[str, OKPKey]:
    """The kid and private key that sign new certificates."""
    row = await _active_row(conn, keyring)
    private = json.loads(keyring.open(row["private_cipher"], _private_context(row["kid"])))
    return row["kid"], OKPKey.import_key(private)


async def rotate_key(conn: asyncpg.Connection, keyring: Keyring) -> str:
    """Retire the active key and make a new one; answer the new kid."""
    async with conn.transaction():
        await conn.execute("UPDATE signing_keys SET retired_at = now() WHERE retired_at IS NULL")
        await _create_key(conn, keyring)
        return await conn.fetchval("SELECT kid FROM signing_keys WHERE retired_at IS NULL")


async def signing_keys(conn: asyncpg.Connection, keyring: Keyring) -> list[asyncpg.Record]:
    """Every key, newest first: when it was made and retired, and until when a retired key stays published."""
    await _active_row(conn, keyring)
    return await conn.fetch("""
        SELECT k.kid, k.created_at, k.retired_at, k.retired_at IS NULL AS active,
               CASE WHEN k.retired_at IS NOT NULL THEN max(c.expires_at) FILTER (WHERE c.expires_at > now())
               END AS published_until,
               count(c.number) AS certificates
          FROM signing_keys k LEFT JOIN certificates c ON c.kid = k.kid
         GROUP BY k.kid ORDER BY k.created_at DESC""")


async def published_keys(conn: asyncpg.Connection, keyring: Keyring) -> list[dict[str, str]]:
    """The JWKS: the active key and every retired key with a certificate not yet expired."""
    await _active_row(conn, keyring)
    rows = await conn.fetch("""
        SELECT k.public_jwk FROM signing_keys k
         WHERE k.retired_at IS NULL
            OR EXISTS (SELECT 1 FROM certificates c WHERE c.kid = k.kid AND c.expires_at > now())
         ORDER BY k.created_at DESC""")
    return [r["public_jwk"] for r in rows]


# ---- issuing ----


@dataclass(frozen=True)
class Issued:
    number: str
    token: str
    issued_at: datetime


def new_certificate_number() -> str:
    """EC and 10 characters of Crockford's base32 (50 bits), e.g. EC-7K3QX-M2P9A: easy to read out."""
    code = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(10))
    return f"EC-{code[:5]}-{code[5:]}"


def validity(check_in: date, check_out: date, settings: Settings) -> tuple[datetime, datetime]:
    """From the start of the check-in day to the end of the check-out day, in the display zone."""
    return (datetime.combine(check_in, clock(0), settings.zone),
            datetime.combine(check_out + timedelta(days=1), clock(0), settings.zone))


async def issue(
    conn: asyncpg.Connection,
    keyring: Keyring,
    settings: Settings,
    *,
    verification_id: UUID,
    stay_id: UUID,
    holder: str,
    document_masked: str,
    birth_year: int | None,
    dwelling: asyncpg.Record,
    check_in: date,
    check_out: date,
    now: datetime,
) -> Issued:
    """Sign and store the certificate of an approved verification; call inside its transaction.

    The holder's name, masked number and birth year are what a desk compares with the person in front
    of it: the photo is deleted once the application is decided, so the certificate carries no face."""
    kid, key = await active_key(conn, keyring)
    area_name = await conn.fetchval("SELECT name FROM areas WHERE code = $1", dwelling["area_code"])
    number = new_certificate_number()
    not_before, expires_at = validity(check_in, check_out, settings)
    claims = {
        "iss": settings.public_base_url,
        "jti": number,
        "iat": int(now.timestamp()),
        "nbf": int(not_before.timestamp()),
        "exp": int(expires_at.timestamp()),
        "name": holder,
        "doc": document_masked,
        "birth_year": birth_year,
        "dwelling": {"name": dwelling["name"], "address": dwelling["address"]},
        "area": dwelling["area_code"],
        "area_name": area_name,
        "tz": settings.timezone,
        "stay": str(stay_id),
    }
    token = jwt.encode({"alg": ALGORITHM, "kid": kid}, claims, key, algorithms=[ALGORITHM])
    await conn.execute(
        """INSERT INTO certificates (number, verification_id, stay_id, area_code, kid, token, issued_at, not_before,
                                     expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        number, verification_id, stay_id, dwelling["area_code"], kid, token, now, not_before, expires_at,
    )
    return Issued(number, token, now)


def verify_url(settings: Settings, token: str) -> str:
    """What the certificate's QR code encodes: the fragment never reaches a server's log."""
    return f"{settings.public_base_url}/verify#{token}"


# ---- checking ----

FORGED: dict[str, Any] = {"status": "forged", "valid": False, "revoked": False, "expired": False, "claims": None,
                          "reason": "forged"}
# Signed by one of our keys, yet never issued: a leaked key's forgery. Its claims are not shown, so a
# desk never reads a forger's holder as if it were ours.
NOT_ISSUED: dict[str, Any] = {**FORGED, "status": "unknown_certificate", "reason": "unknown_certificate"}


async def check(conn: asyncpg.Connection, settings: Settings, token: str) -> dict[str, Any]:
    """The verdict on a presented token: forged (no signature of ours over exactly these bytes),
    unknown_certificate (signed with our key, but no certificate of ours has its number and key),
    revoked, expired, not yet valid, or valid; with its claims when the certificate is ours."""
    try:
        header = jws.extract_compact(token.strip().encode()).headers()
    except (JoseError, ValueError):
        return FORGED
    kid = header.get("kid")
    if header.get("alg") != ALGORITHM or not isinstance(kid, str):
        return FORGED
    public = await conn.fetchval("SELECT public_jwk FROM signing_keys WHERE kid = $1", kid)
    if public is None:
        return FORGED
    try:
        claims = jwt.decode(token.strip(), OKPKey.import_key(public), algorithms=[ALGORITHM]).claims
    except (JoseError, ValueError):
        return FORGED
    if claims.get("iss") != settings.public_base_url or not isinstance(claims.get("exp"), int):
        return FORGED
    revoked = await conn.fetchval(
        "SELECT revoked_at IS NOT NULL FROM certificates WHERE number = $1 AND kid = $2 AND token = $3",
        str(claims.get("jti")), kid, token.strip())
    if revoked is None:
        return NOT_ISSUED
    now = time.time()
    expired = claims["exp"] <= now
    early = isinstance(claims.get("nbf"), int) and claims["nbf"] > now + CLOCK_LEEWAY_SECONDS
    status = "revoked" if revoked else "expired" if expired else "not_yet_valid" if early else "valid"
    # Certificates signed before their claims named the area carry only its code: the name is looked up.
    area_name = claims.get("area_name") or await conn.fetchval("SELECT name FROM areas WHERE code = $1", claims.get("area"))
    return {"status": status, "valid": status == "valid", "revoked": revoked, "expired": expired, "claims": claims,
            "reason": None if status == "valid" else status, "area_name": area_name}


# ---- revocation ----


async def revoke(conn: asyncpg.Connection, staff: Staff, number: str, reason: str) -> asyncpg.Record:
    """Revoke a certificate of the jurisdiction; revoking again keeps the first time and reason.
    A certificate outside the jurisdiction answers 404, as if absent. Each revocation asked for is audited."""
    async with conn.transaction():
        row = await conn.fetchrow(
            """UPDATE certificates SET revoked_at = coalesce(revoked_at, now()), revoked_by = coalesce(revoked_by, $3),
                                       revocation_reason = coalesce(revocation_reason, $4)
                WHERE number = $1 AND area_code LIKE $2 || '%'
               RETURNING number, verification_id, revoked_at, revocation_reason""",
            number.strip().upper(), jurisdiction_of(staff), staff.id, reason,
        )
        if row is None:
            raise Problem(404, "certificate_not_found")
        await audit.append(conn, staff, "certificate_revoke", reason, None,
                           {"certificate": row["number"], "verification_id": str(row["verification_id"])})
    return row
