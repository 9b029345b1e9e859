"""RFC 9457 problem details whose texts follow the language of the request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsException

from service.i18n import CATALOGUE, add_messages, language_of, translate

add_messages({"database_unavailable": (
    "The service cannot reach its database just now. Please try again in a moment.",
    "服务暂时无法连接数据库，请稍后再试。")})

# The database stopped, restarting or unreachable: worth sending again shortly (public writes carry
# an Idempotency-Key, so a write whose answer was lost is not stored twice). OSError is what
# connecting raises when the server is gone, over TCP or its Unix socket.
DATABASE_AWAY = (OSError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
                 asyncpg.AdminShutdownError, asyncpg.CrashShutdownError)
DATABASE_RETRY_AFTER_SECONDS = "2"

STATUS_CODES = {
    400: "invalid_input",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    413: "body_too_large",
    429: "too_many_requests",
    500: "server_error",
}


@dataclass(frozen=True)
class FieldError:
    field: str
    code: str
    # A file's line (CSV imports): errors are then listed per line, with the line's own parameters.
    line: int | None = None
    params: Mapping[str, Any] | None = None


class Problem(ProblemDetailsException):
    """An error a person can act on: ``code`` names the message, ``errors`` the fields."""

    def __init__(
        self,
        status_code: int,
        code: str,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(status_code=status_code, detail=code, headers=dict(headers or {}))
        self.code = code
        self.errors = list(errors)
        self.params = params

    def to_response(self, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        language = language_of(request)
        body: dict[str, Any] = {
            "type": f"/problems/{self.code}",
            "title": translate(self.code, language, **self.params),
            "status": self.status_code,
            "code": self.code,
            "instance": request.url.path,
        }
        if self.errors:
            body["errors"] = [
                {**({"line": e.line} if e.line is not None else {}), "field": e.field, "code": e.code,
                 "message": _message(e, language, {**self.params, **(e.params or {})})}
                for e in self.errors
            ]
        return Response(
            body,
            status_code=self.status_code,
            headers=self.headers,
            media_type="application/problem+json",
        )


def _message(error: FieldError, language: str, params: Mapping[str, Any]) -> str:
    """The message of a field's error: ``{field}:{code}`` when a domain words it for that field
    (``companions.0.full_name`` reads ``full_name``'s), else the code's own."""
    specific = f"{error.field.rsplit('.', 1)[-1]}:{error.code}"
    return translate(specific if specific in CATALOGUE else error.code, language, **params)


def _field_error(item: Mapping[str, Any]) -> FieldError:
    message = str(item.get("message", ""))
    key = str(item.get("key") or "body")
    code = "required" if "required" in message.lower() or "missing" in message.lower() else "invalid_value"
    return FieldError(field=key, code=code)


def from_validation(exc: ValidationException) -> Problem:
    """Litestar's request validation (schema types, missing fields, bad JSON) as a Problem."""
    items = exc.extra if isinstance(exc.extra, list) else []
    if not items and "JSON" in (exc.detail or ""):
        return Problem(400, "malformed_body")
    return Problem(400, "invalid_input", errors=[_field_error(i) for i in items if isinstance(i, Mapping)])


def from_http_exception(exc: HTTPException) -> Problem:
    """Framework errors (401, 404, 413, 429 ...) with a translated title."""
    code = STATUS_CODES.get(exc.status_code, "invalid_input" if exc.status_code < 500 else "server_error")
    headers = dict(exc.headers or {})
    if exc.status_code == 429:
        # The rate limits count per minute: a minute on, the caller is welcome again.
        headers.setdefault("Retry-After", "60")
    return Problem(exc.status_code, code, headers=headers, retry_after=headers.get("Retry-After", "60"))


def database_away() -> Problem:
    return Problem(503, "database_unavailable", headers={"Retry-After": DATABASE_RETRY_AFTER_SECONDS})


def from_unexpected(exc: BaseException) -> Problem:
    """A plain apology, never internals (the log has them). When the database went away, at any depth
    of the exception's chain (a lost connection often surfaces as asyncpg's InterfaceError on leaving
    the transaction), the answer says to try again instead."""
    chain: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and link not in chain:  # a chain can loop back on itself
        chain.append(link)
        link = link.__cause__ or link.__context__
    return database_away() if any(isinstance(e, DATABASE_AWAY) for e in chain) else Problem(500, "server_error")


PROBLEM_DETAILS = ProblemDetailsConfig(
    exception_to_problem_detail_map={
        ValidationException: from_validation,
        HTTPException: from_http_exception,
        Exception: from_unexpected,
    }
)
