"""Who may call a route: authentication from the session, guards by role."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from service.auth import domain
from service.auth.schemas import Role, Staff

SESSION_COOKIE = "vh_session"


def bearer_token(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer …`` header; None for any other scheme or an empty token."""
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def credentials(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The bearer token of an API client, else the session cookie of a browser."""
    return bearer_token(connection.headers.get("authorization", "")) or connection.cookies.get(SESSION_COOKIE)


class SessionAuthMiddleware(AbstractAuthenticationMiddleware):
    """Attach the staff member of a valid session; anonymous callers get ``user=None``."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        token = credentials(connection)
        if not token:
            return AuthenticationResult(user=None, auth=None)
        async with connection.app.state.pool.acquire() as conn:
            staff = await domain.staff_for_token(conn, token)
        return AuthenticationResult(user=staff, auth=token if staff else None)


def requires_role(*roles: Role):
    """A guard admitting authenticated staff with one of ``roles``."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        staff: Staff | None = connection.scope.get("user")
        if staff is None:
            raise NotAuthorizedException()
        if staff.role not in roles:
            raise PermissionDeniedException()

    guard.__name__ = f"requires_role({', '.join(roles)})"
    return guard


any_staff = requires_role("admin", "police", "landlord", "desk")
# Any signed-in account, analysts too: only for routes that tell nothing about a person (who am I).
signed_in = requires_role("admin", "police", "landlord", "desk", "analyst")
admin_only = requires_role("admin")
owners = requires_role("landlord", "desk")
# The guests of a dwelling: its owner and the police of its area; an admin manages accounts, not guests.
owners_and_police = requires_role("landlord", "desk", "police")
police_only = requires_role("police")
# Aggregates only: the statistics routes, where analysts of other departments are admitted.
statistics_readers = requires_role("admin", "police", "analyst")


def provide_staff(request: Request[Any, Any, Any]) -> Staff:
    """The guarded route's staff member, as a dependency."""
    return request.scope["user"]
