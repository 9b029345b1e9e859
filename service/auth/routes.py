"""HTTP routes of the auth domain: login, logout, who am I, passwords and sessions, accounts."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import asyncpg
from dataclasses import asdict

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie, State
from litestar.params import Parameter

from service.auth import domain
from service.auth.guards import SESSION_COOKIE, admin_only, credentials, signed_in
from service.auth.schemas import (
    AccountId,
    AccountIn,
    AccountOut,
    LoginIn,
    LoginOut,
    MeOut,
    PasswordChangeIn,
    PasswordResetOut,
    Role,
    SessionsEndedOut,
    Staff,
)
from service.net import client_address
from service.privacy import audit


# Marks a browser that logged in to an account before; only the login route ever receives it.
DEVICE_COOKIE = "vh_device"


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post("/login", name="auth:login", status_code=200)
    async def login(self, request: Request, state: State, db: asyncpg.Connection, data: LoginIn) -> Response[LoginOut]:
        settings = state.settings
        ttl = timedelta(minutes=settings.session_ttl_minutes)
        token, staff, expires_at, device = await domain.login(
            db, data.username, data.password, client_address(request, settings.trusted_proxies), ttl,
            settings.rate_limit_login_per_minute, request.cookies.get(DEVICE_COOKIE),
        )
        cookie = Cookie(
            key=SESSION_COOKIE,
            value=token,
            max_age=int(ttl.total_seconds()),
            httponly=True,
            samesite="lax",
            secure=settings.public_base_url.startswith("https://"),
            path="/",
        )
        body = LoginOut(
            token=token,
            role=staff.role,
            username=staff.username,
            display_name=staff.display_name,
            area_code=staff.area_code,
            expires_at=expires_at,
        )
        known_device = Cookie(key=DEVICE_COOKIE, value=device, max_age=int(domain.DEVICE_KNOWN_FOR.total_seconds()),
                              httponly=True, samesite="strict", secure=cookie.secure, path="/api/v1/auth/login")
        return Response(body, cookies=[cookie, known_device], headers={"Cache-Control": "no-store"})

    @post("/logout", name="auth:logout", status_code=204)
    async def logout(self, request: Request, db: asyncpg.Connection) -> Response[None]:
        token = credentials(request)
        if token:
            await domain.logout(db, token, request.user)
        return Response(None, status_code=204, cookies=[Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/")])

    @get("/me", name="auth:me", guards=[signed_in],
         description="Who is logged in, the login before this session and the failed logins on the account since "
                     "then (from other addresses than the owner's: their own mistakes are forgiven on logging in).")
    async def me(self, request: Request, db: asyncpg.Connection, staff: Staff) -> MeOut:
        return MeOut(**asdict(staff), **dict(await domain.login_history(db, request.auth)))

    @post("/password", name="auth:password", guards=[signed_in], status_code=200,
          description="Change one's own password; every other session of the account ends.")
    async def change_password(self, request: Request, state: State, db: asyncpg.Connection, staff: Staff,
                              data: PasswordChangeIn) -> SessionsEndedOut:
        settings = state.settings
        ended = await domain.change_password(
            db, staff, request.auth, data.current_password, data.new_password,
            client_address(request, settings.trusted_proxies), settings.rate_limit_login_per_minute)
        return SessionsEndedOut(sessions_ended=ended)

    @post("/sessions/revoke", name="auth:sessions-revoke", guards=[signed_in], status_code=200,
          description="End every other session of one's own account (a phone left logged in, a lost laptop).")
    async def revoke_sessions(self, request: Request, db: asyncpg.Connection, staff: Staff) -> SessionsEndedOut:
        return SessionsEndedOut(sessions_ended=await domain.end_other_sessions(db, staff, request.auth))


class AccountController(Controller):
    path = "/api/v1/accounts"
    tags = ["accounts"]
    guards = [admin_only]

    @post(name="accounts:create")
    async def create(self, db: asyncpg.Connection, staff: Staff, data: AccountIn) -> AccountOut:
        async with db.transaction():
            account = AccountOut(**dict(await domain.create_account(db, data)))
            await audit.append(db, staff, "account.create", details={
                "account_id": account.id, "username": account.username, "role": account.role})
        return account

    @post("/{account_id:int}/disable", name="accounts:disable", status_code=204,
          description="The account can no longer log in and every session of it ends at once.")
    async def disable(self, db: asyncpg.Connection, staff: Staff, account_id: AccountId) -> None:
        await domain.set_disabled(db, staff, account_id, True)

    @post("/{account_id:int}/enable", name="accounts:enable", status_code=204)
    async def enable(self, db: asyncpg.Connection, staff: Staff, account_id: AccountId) -> None:
        await domain.set_disabled(db, staff, account_id, False)

    @get(name="accounts:list", description="`role`: one role only; `area`: accounts of that area's subtree.")
    async def list_accounts(self, db: asyncpg.Connection, role: Role | None = None,
                            area: str | None = None) -> list[AccountOut]:
        return [AccountOut(**dict(r)) for r in await domain.list_accounts(db, role, area)]

    @post("/{account_id:int}/password-reset", name="accounts:password-reset", status_code=200,
          description="A generated password, answered this once; every session of the account ends.")
    async def reset_password(self, db: asyncpg.Connection, staff: Staff,
                             account_id: Annotated[int, Parameter(ge=1, le=2**63 - 1)]) -> Response[PasswordResetOut]:
        async with db.transaction():
            password, account = await domain.reset_password(db, account_id)
            await audit.append(db, staff, "account.password_reset", details={"account": account["username"]})
        return Response(PasswordResetOut(password=password), headers={"Cache-Control": "no-store"})
