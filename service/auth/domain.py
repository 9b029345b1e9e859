"""Accounts and sessions: the SQL behind login, logout and account creation."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import asyncpg

from service.auth.passwords import hash_password, verify_password
from service.auth.schemas import AccountIn, Staff
from service.i18n import add_messages
from service.privacy import audit
from service.problems import FieldError, Problem

add_messages(
    {
        "login_failed": ("Wrong username or password.", "用户名或密码错误。"),
        "username_taken": ("This username is taken.", "该用户名已被使用。"),
        "police_need_area": ("A police or analyst account needs an area (area_code): the jurisdiction it sees.",
                             "警务或统计分析账号必须指定区域（辖区）。"),
        "unknown_area": ("There is no area with this code.", "没有这个区域代码。"),
        "login_locked": (
            "Too many failed logins for this account from here. Please try again in {minutes} minutes.",
            "此账号在此处登录失败次数过多，请 {minutes} 分钟后再试。",
        ),
        "wrong_password": ("The current password is not right.", "当前密码不正确。"),
        "cannot_disable_self": ("You cannot disable your own account.", "不能停用自己的账号。"),
        "account_not_found": ("No such account.", "没有该账号。"),
    }
)

# Failed logins refuse a (username, client address) pair for the window: only the one who failed
# waits, never the owner logging in from elsewhere. Per address, failures are limited per minute
# (a setting): a shared address (a police station, a hotel) is slowed down, never locked out, and
# successful logins never count.
FAILURE_WINDOW = timedelta(minutes=15)
FAILURES_PER_PAIR = 5
# Failures on one username within the window, from any addresses, that tell the admins (audit).
FAILURES_UNDER_ATTACK = 5
# Failures are kept this long so the owner sees those since the previous login.
FAILURES_KEPT = timedelta(days=30)
# A browser that logged in to an account is known to it this long after its last login there.
DEVICE_KNOWN_FOR = timedelta(days=365)
DEVICES_KEPT = 20
# How long an attempt waits for the one before it of the same account and origin.
LOGIN_TURN_WAIT = timedelta(seconds=10)
DEVICE_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # as secrets.token_urlsafe(32) makes them


def _token_hash(token: str) -> bytes:
    # Only a hash is stored, so a copy of the sessions table opens no session.
    return hashlib.sha256(token.encode()).digest()


async def create_account(conn: asyncpg.Connection, account: AccountIn) -> asyncpg.Record:
    if account.role in ("police", "analyst") and not account.area_code:
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


async def list_accounts(conn: asyncpg.Connection, role: str | None = None, area: str | None = None
                        ) -> list[asyncpg.Record]:
    """Accounts, of one role and of an area's subtree when asked."""
    return await conn.fetch(
        """SELECT id, username, role, display_name, area_code, created_at, disabled, last_login_at FROM accounts
            WHERE ($1::text IS NULL OR role = $1) AND ($2::text IS NULL OR area_code LIKE $2 || '%')
            ORDER BY id""",
        role, area,
    )


def generated_password() -> str:
    """16 characters from a 64-letter alphabet: 96 random bits, short enough to read out once."""
    return secrets.token_urlsafe(12)


async def reset_password(conn: asyncpg.Connection, account_id: int) -> tuple[str, asyncpg.Record]:
    """A new generated password for the account, and every session of it ended: the password and the account."""
    password = generated_password()
    async with conn.transaction():
        row = await conn.fetchrow(
            "UPDATE accounts SET password_hash = $2 WHERE id = $1 RETURNING id, username",
            account_id, hash_password(password),
        )
        if row is None:
            raise Problem(404, "account_not_found")
        await revoke_sessions(conn, account_id)
        await conn.execute("DELETE FROM login_failures WHERE username = $1", row["username"])
    return password, row


async def ensure_admin(conn: asyncpg.Connection, username: str, password: str) -> bool:
    """Create the first admin unless an admin exists; True when one was created.

    Instances starting at once on an empty database take turns (a transaction-scoped advisory lock):
    the first creates the admin, the others find it, none fails its start-up on a taken username."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('vh:ensure_admin'))")
        if await conn.fetchval("SELECT 1 FROM accounts WHERE role = 'admin' LIMIT 1"):
            return False
        await create_account(conn, AccountIn(username=username, password=password, role="admin"))
    return True


@asynccontextmanager
async def _one_attempt_at_a_time(conn: asyncpg.Connection, username: str, attempt_from: str,
                                 client_failures_per_minute: int) -> AsyncIterator[None]:
    """A transaction in which one attempt of a (username, origin) pair checks its password, or a refusal.

    Attempts of a pair take turns (a transaction-scoped advisory lock, held while the password is
    checked): each counts the failures of those before it, so a burst of concurrent guesses gets no
    more passwords checked than the limit (counted without turns, 12 of 40 at once were), and
    concurrent right passwords all get in. A turn waited for longer than LOGIN_TURN_WAIT is refused."""
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{int(LOGIN_TURN_WAIT.total_seconds() * 1000)}ms'")
        try:
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                               f"login\n{username}\n{attempt_from}")
        except asyncpg.LockNotAvailableError:
            raise Problem(429, "too_many_requests", headers={"Retry-After": "1"}, retry_after=1) from None
        await _throttle(conn, username, attempt_from, client_failures_per_minute)
        yield


async def _throttle(conn: asyncpg.Connection, username: str, client: str, client_failures_per_minute: int) -> None:
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE username = $1) AS by_pair,
                  count(*) FILTER (WHERE failed_at > now() - interval '1 minute') AS by_client,
                  ceil(extract(epoch FROM min(failed_at) FILTER (WHERE failed_at > now() - interval '1 minute')
                                          + interval '1 minute' - now()))::int AS client_wait
             FROM login_failures
            WHERE client = $2 AND failed_at > now() - $3::interval""",
        username,
        client,
        FAILURE_WINDOW,
    )
    if row["by_pair"] >= FAILURES_PER_PAIR:
        minutes = int(FAILURE_WINDOW.total_seconds() // 60)
        raise Problem(429, "login_locked", headers={"Retry-After": str(minutes * 60)}, minutes=minutes)
    if row["by_client"] >= client_failures_per_minute:
        wait = max(row["client_wait"], 1)
        raise Problem(429, "too_many_requests", headers={"Retry-After": str(wait)}, retry_after=wait)


async def _record_failure(conn: asyncpg.Connection, username: str, attempt_from: str, account_id: int | None) -> None:
    """Count the failure; the one that makes an account's failures reach the alarm level is audited,
    so the admins see an account under attack."""
    await conn.execute("INSERT INTO login_failures (username, client) VALUES ($1, $2)", username, attempt_from)
    recent = await conn.fetchrow(
        """SELECT count(*) AS failures, count(DISTINCT client) AS addresses FROM login_failures
            WHERE username = $1 AND failed_at > now() - $2::interval""",
        username,
        FAILURE_WINDOW,
    )
    if account_id is not None and recent["failures"] == FAILURES_UNDER_ATTACK:
        await audit.append_unauthenticated(conn, "login.failures", {
            "account_id": account_id, "username": username, "failures": recent["failures"],
            "addresses": recent["addresses"], "window_minutes": int(FAILURE_WINDOW.total_seconds() // 60)})


async def _known_device(conn: asyncpg.Connection, username: str, device: str | None) -> str | None:
    """The attempt's own key when it comes from a browser that logged in to this account before (its
    device cookie), so strangers' failures at the same address do not count against it."""
    if not device:
        return None
    known = await conn.fetchval(
        """SELECT 1 FROM login_devices d JOIN accounts a ON a.id = d.account_id
            WHERE d.token_hash = $1 AND a.username = $2 AND d.last_login_at > now() - $3::interval""",
        _token_hash(device), username, DEVICE_KNOWN_FOR)
    return "device:" + _token_hash(device)[:8].hex() if known else None


async def login(
    conn: asyncpg.Connection, username: str, password: str, client: str, ttl: timedelta, client_failures_per_minute: int,
    device: str | None = None,
) -> tuple[str, Staff, datetime, str]:
    """Check the password and open a session; slow down repeated failures. Answers the session token
    and the browser's device token (the one it came with, now known to this account too, or a new one)."""
    known_device = await _known_device(conn, username, device)
    attempt_from = known_device or client
    async with _one_attempt_at_a_time(conn, username, attempt_from, client_failures_per_minute):
        row = await conn.fetchrow(
            """SELECT id, username, role, display_name, area_code, password_hash, last_login_at, disabled
                 FROM accounts WHERE username = $1""",
            username,
        )
        failed = not verify_password(row["password_hash"] if row else None, password) or row["disabled"]
        if failed:
            await _record_failure(conn, username, attempt_from, row["id"] if row else None)
        else:
            token = secrets.token_urlsafe(32)
            if not (device and DEVICE_TOKEN.fullmatch(device)):
                device = secrets.token_urlsafe(32)
            staff = Staff(row["id"], row["username"], row["role"], row["display_name"], row["area_code"])
            expires_at = await _open_session(conn, staff, token, device, attempt_from, ttl, row["last_login_at"])
            await audit.append(conn, staff, "login", details={"client": client, "known_device": bool(known_device)})
    if failed:
        raise Problem(401, "login_failed")
    return token, staff, expires_at, device


async def _open_session(conn: asyncpg.Connection, staff: Staff, token: str, device: str, attempt_from: str,
                        ttl: timedelta, previous_login_at: datetime | None) -> datetime:
    """The session of a right password (in the attempt's transaction); answers when it expires."""
    # This pair's own failures are forgiven; failures from elsewhere stay for the owner to see.
    await conn.execute(
        "DELETE FROM login_failures WHERE (username = $1 AND client = $2) OR failed_at < now() - $3::interval",
        staff.username,
        attempt_from,
        FAILURES_KEPT,
    )
    await conn.execute(
        """INSERT INTO login_devices (token_hash, account_id) VALUES ($1, $2)
           ON CONFLICT (account_id, token_hash) DO UPDATE SET last_login_at = now()""",
        _token_hash(device),
        staff.id,
    )
    # An account's browsers beyond its latest few (scripts logging in without cookies) are forgotten.
    await conn.execute(
        """DELETE FROM login_devices WHERE account_id = $1 AND token_hash NOT IN (
               SELECT token_hash FROM login_devices WHERE account_id = $1 ORDER BY last_login_at DESC LIMIT $2)""",
        staff.id,
        DEVICES_KEPT,
    )
    await conn.execute("UPDATE accounts SET last_login_at = now() WHERE id = $1", staff.id)
    return await conn.fetchval(
        """INSERT INTO sessions (token_hash, account_id, expires_at, previous_login_at)
           VALUES ($1, $2, now() + $3::interval, $4) RETURNING expires_at""",
        _token_hash(token),
        staff.id,
        ttl,
        previous_login_at,
    )


async def staff_for_token(conn: asyncpg.Connection, token: str) -> Staff | None:
    row = await conn.fetchrow(
        """SELECT a.id, a.username, a.role, a.display_name, a.area_code
             FROM sessions s JOIN accounts a ON a.id = s.account_id
            WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT a.disabled""",
        _token_hash(token),
    )
    return Staff(**dict(row)) if row else None


async def login_history(conn: asyncpg.Connection, token: str) -> asyncpg.Record:
    """The login before this session's and the failed logins on the account since then
    (the owner's own mistakes are forgiven when they log in)."""
    return await conn.fetchrow(
        """SELECT s.previous_login_at,
                  (SELECT count(*) FROM login_failures f
                    WHERE f.username = a.username AND f.failed_at > coalesce(s.previous_login_at, '-infinity')
                  ) AS failed_logins_since_previous_login
             FROM sessions s JOIN accounts a ON a.id = s.account_id
            WHERE s.token_hash = $1""",
        _token_hash(token),
    )


async def logout(conn: asyncpg.Connection, token: str, staff: Staff | None) -> None:
    async with conn.transaction():
        await conn.execute(
            "DELETE FROM sessions WHERE token_hash = $1 OR expires_at < now()", _token_hash(token)
        )
        if staff is not None:
            await audit.append(conn, staff, "logout")


async def revoke_sessions(conn: asyncpg.Connection, account_id: int, keep_token_hash: bytes | None = None) -> int:
    """End every session of the account but the one kept; the number ended."""
    ended = await conn.fetch(
        """DELETE FROM sessions WHERE account_id = $1 AND ($2::bytea IS NULL OR token_hash <> $2)
           RETURNING 1""",
        account_id,
        keep_token_hash,
    )
    return len(ended)


async def end_other_sessions(conn: asyncpg.Connection, staff: Staff, token: str) -> int:
    async with conn.transaction():
        ended = await revoke_sessions(conn, staff.id, _token_hash(token))
        await audit.append(conn, staff, "sessions.revoke", details={"account_id": staff.id, "sessions_ended": ended})
    return ended


async def change_password(conn: asyncpg.Connection, staff: Staff, token: str, current: str, new: str, client: str,
                          client_failures_per_minute: int) -> int:
    """A new password after the current one is proven; every other session ends (a thief's too).
    A wrong current password counts as a failed login, so a stolen session cannot guess it."""
    async with _one_attempt_at_a_time(conn, staff.username, client, client_failures_per_minute):
        stored = await conn.fetchval("SELECT password_hash FROM accounts WHERE id = $1", staff.id)
        failed = not verify_password(stored, current)
        if failed:
            await _record_failure(conn, staff.username, client, staff.id)
        else:
            await conn.execute("UPDATE accounts SET password_hash = $2 WHERE id = $1", staff.id, hash_password(new))
            ended = await revoke_sessions(conn, staff.id, _token_hash(token))
            await audit.append(conn, staff, "password.change", details={"account_id": staff.id, "sessions_ended": ended})
    if failed:
        raise Problem(400, "invalid_input", errors=[FieldError("current_password", "wrong_password")])
    return ended


async def set_disabled(conn: asyncpg.Connection, admin: Staff, account_id: int, disabled: bool) -> None:
    """Disable (every session ends at once) or enable an account; an admin cannot disable themself."""
    if disabled and account_id == admin.id:
        raise Problem(400, "cannot_disable_self")
    async with conn.transaction():
        username = await conn.fetchval(
            "UPDATE accounts SET disabled = $2 WHERE id = $1 RETURNING username", account_id, disabled)
        if username is None:
            raise Problem(404, "not_found")
        ended = await revoke_sessions(conn, account_id) if disabled else 0
        await audit.append(conn, admin, "account.disable" if disabled else "account.enable",
                           details={"account_id": account_id, "username": username, "sessions_ended": ended})
