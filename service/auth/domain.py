"""Accounts and sessions: the SQL behind login, logout and account creation."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import asyncpg

from service.auth.passwords import hash_password, verify_password
from service.auth.schemas import AccountIn, Staff
from service.i18n import add_messages
from service.problems import FieldError, Problem

add_messages(
    {
        "login_failed": ("Wrong username or password.", "用户名或密码错误。"),
        "username_taken": ("This username is taken.", "该用户名已被使用。"),
        "police_need_area": ("A police account needs a jurisdiction (area_code).", "警务账号必须指定辖区。"),
        "unknown_area": ("There is no area with this code.", "没有这个区域代码。"),
    }
)

# Failed logins allowed per username (and per client address) in the window before 429.
FAILURE_WINDOW = timedelta(minutes=15)
FAILURES_PER_USERNAME = 5
FAILURES_PER_CLIENT = 20


def _token_hash(token: str) -> bytes:
    # Only a hash is stored, so a copy of the sessions table opens no session.
    return hashlib.sha256(token.encode()).digest()


async def create_account(conn: asyncpg.Connection, account: AccountIn) -> asyncpg.Record:
    if account.role == "police" and not account.area_code:
        raise Problem(400, "invalid_input", errors=[FieldError("area_code", "police_need_area")])
    if account.area_code and not await conn.fetchval(
        "SELECT 1 FROM areas WHERE code = $1", account.area_code
    ):
        raise Problem(400, "invalid_input", errors=[FieldError("area_code", "unknown_area")])
    try:
        return await conn.fetchrow(
            """INSERT INTO accounts (username, password_hash, role, display_name, area_code)
               VALUES ($1, $2, $3, $4, $5)
               RETURNING id, username, role, display_name, area_code, created_at""",
            account.username,
            hash_password(account.password),
            account.role,
            account.display_name,
            account.area_code,
        )
    except asyncpg.UniqueViolationError:
        raise Problem(409, "username_taken", errors=[FieldError("username", "username_taken")]) from None


async def list_accounts(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, username, role, display_name, area_code, created_at FROM accounts ORDER BY id"
    )


async def ensure_admin(conn: asyncpg.Connection, username: str, password: str) -> bool:
    """Create the first admin unless an admin exists; True when one was created."""
    if await conn.fetchval("SELECT 1 FROM accounts WHERE role = 'admin' LIMIT 1"):
        return False
    await create_account(conn, AccountIn(username=username, password=password, role="admin"))
    return True


async def _throttle(conn: asyncpg.Connection, username: str, client: str) -> None:
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE username = $1) AS by_user,
                  count(*) FILTER (WHERE client = $2) AS by_client,
                  min(failed_at) FILTER (WHERE username = $1) AS first_failure
             FROM login_failures
            WHERE failed_at > now() - $3::interval""",
        username,
        client,
        FAILURE_WINDOW,
    )
    if row["by_user"] >= FAILURES_PER_USERNAME or row["by_client"] >= FAILURES_PER_CLIENT:
        retry_after = int(FAILURE_WINDOW.total_seconds())
        raise Problem(429, "too_many_requests", headers={"Retry-After": str(retry_after)}, retry_after=retry_after)


async def login(
    conn: asyncpg.Connection, username: str, password: str, client: str, ttl: timedelta
) -> tuple[str, Staff, datetime]:
    """Check the password and open a session; slow down repeated failures."""
    await _throttle(conn, username, client)
    row = await conn.fetchrow(
        """SELECT id, username, role, display_name, area_code, password_hash
             FROM accounts WHERE username = $1 AND NOT disabled""",
        username,
    )
    if not verify_password(row["password_hash"] if row else None, password):
        await conn.execute(
            "INSERT INTO login_failures (username, client) VALUES ($1, $2)", username, client
        )
        raise Problem(401, "login_failed")
    await conn.execute(
        "DELETE FROM login_failures WHERE username = $1 OR failed_at < now() - $2::interval",
        username,
        FAILURE_WINDOW,
    )
    token = secrets.token_urlsafe(32)
    expires_at = await conn.fetchval(
        """INSERT INTO sessions (token_hash, account_id, expires_at)
           VALUES ($1, $2, now() + $3::interval) RETURNING expires_at""",
        _token_hash(token),
        row["id"],
        ttl,
    )
    staff = Staff(row["id"], row["username"], row["role"], row["display_name"], row["area_code"])
    return token, staff, expires_at


async def staff_for_token(conn: asyncpg.Connection, token: str) -> Staff | None:
    row = await conn.fetchrow(
        """SELECT a.id, a.username, a.role, a.display_name, a.area_code
             FROM sessions s JOIN accounts a ON a.id = s.account_id
            WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT a.disabled""",
        _token_hash(token),
    )
    return Staff(**dict(row)) if row else None


async def logout(conn: asyncpg.Connection, token: str) -> None:
    await conn.execute(
        "DELETE FROM sessions WHERE token_hash = $1 OR expires_at < now()", _token_hash(token)
    )
