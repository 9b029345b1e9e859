"""HTTP routes of the auth domain: login, logout, who am I, accounts."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie, State

from service.auth import domain
from service.auth.guards import SESSION_COOKIE, admin_only, any_staff, credentials
from service.auth.schemas import AccountIn, AccountOut, LoginIn, LoginOut, Staff
from service.net import client_address


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post("/login", name="auth:login", status_code=200)
    async def login(self, request: Request, state: State, db: asyncpg.Connection, data: LoginIn) -> Response[LoginOut]:
        settings = state.settings
        ttl = timedelta(minutes=settings.session_ttl_minutes)
        token, staff, expires_at = await domain.login(
            db, data.username, data.password, client_address(request, settings.trusted_proxies), ttl
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
        return Response(body, cookies=[cookie], headers={"Cache-Control": "no-store"})

    @post("/logout", name="auth:logout", status_code=204)
    async def logout(self, request: Request, db: asyncpg.Connection) -> Response[None]:
        token = credentials(request)
        if token:
            await domain.logout(db, token)
        return Response(None, status_code=204, cookies=[Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/")])

    @get("/me", name="auth:me", guards=[any_staff])
    async def me(self, staff: Staff) -> Staff:
        return staff


class AccountController(Controller):
    path = "/api/v1/accounts"
    tags = ["accounts"]
    guards = [admin_only]

    @post(name="accounts:create")
    async def create(self, db: asyncpg.Connection, data: AccountIn) -> AccountOut:
        return AccountOut(**dict(await domain.create_account(db, data)))

    @get(name="accounts:list")
    async def list_accounts(self, db: asyncpg.Connection) -> list[AccountOut]:
        return [AccountOut(**dict(r)) for r in await domain.list_accounts(db)]
