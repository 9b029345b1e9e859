"""What a request must be before a handler sees it: JSON bodies that are JSON, and no NUL anywhere.

Found by tests/test_hostile_input.py; each was a 500 or a silently accepted body before:

- A JSON body must say so (``Content-Type: application/json`` or ``+json``): a ``text/plain`` or
  untyped body was parsed as JSON all the same. 415 otherwise.
- A body the JSON decoder cannot read is the caller's error, 400 ``malformed_body``: msgspec raises
  ``RecursionError`` for deeply nested documents and ``UnicodeDecodeError`` for invalid UTF-8, which
  Litestar passes on as 500s (it converts only ``msgspec.DecodeError``).
- The same for a multipart form: Litestar decodes its text parts as strict UTF-8 (or as the part's
  declared charset, which may not exist), a ``UnicodeDecodeError`` or ``LookupError`` and a 500.
  ``read_forms_first`` has the form read through ``InputRequest.form`` before the handler's data
  is extracted, which then finds it read.
- PostgreSQL text cannot hold U+0000, so a NUL in any JSON string, form field, path or query reached
  asyncpg as ``CharacterNotInRepertoireError``, a 500. A NUL is never part of a name, code or address:
  400, naming the field.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import unquote_to_bytes

from litestar import Request
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from litestar.datastructures import FormMultiDict
from litestar.enums import RequestEncodingType, ScopeType
from litestar.exceptions import SerializationException
from litestar.middleware import ASGIMiddleware
from litestar.params import BodyKwarg
from litestar.types import ASGIApp, Empty, Receive, Scope, Send

from service.i18n import add_messages
from service.problems import FieldError, Problem

add_messages(
    {
        "unsupported_media_type": (
            "Send this request as JSON, with the header Content-Type: application/json.",
            "请以 JSON 发送此请求，并带上请求头 Content-Type: application/json。",
        ),
        "malformed_form": (
            "The form could not be read: a field is not text in UTF-8.",
            "无法读取表单：有字段不是 UTF-8 文本。",
        ),
        "nul_character": (
            "This value contains a NUL character (U+0000). Please remove it.",
            "此项包含空字符（U+0000），请删除。",
        ),
    }
)


def _is_json(content_type: str) -> bool:
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def _nul_fields(document: Any) -> list[str]:
    """Paths (``companions.0.full_name``) of the strings holding a NUL, keys included; iterative, as documents
    may be as deep as the decoder allows."""
    found: list[str] = []
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                found.append(path or "body")
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                if "\x00" in str(key):
                    found.append(child)
                else:
                    stack.append((child, item))
        elif isinstance(value, list):
            stack.extend((f"{path}.{i}" if path else str(i), item) for i, item in enumerate(value))
    return sorted(found)


class InputRequest(Request):
    """Litestar's request, with the checks above on the JSON body (read only by handlers that take JSON)."""

    async def json(self) -> Any:
        if self._json is not Empty or self._connection_state.json is not Empty:  # read and checked before
            return await super().json()
        if not _is_json(self.headers.get("content-type", "")):
            raise Problem(415, "unsupported_media_type")
        try:
            document = await super().json()
        except (SerializationException, RecursionError, UnicodeDecodeError):
            raise Problem(400, "malformed_body") from None
        if fields := _nul_fields(document):
            raise Problem(400, "invalid_input", errors=[FieldError(f, "nul_character") for f in fields])
        return document

    async def form(self) -> FormMultiDict:
        if self._form is not Empty or self._connection_state.form is not Empty:
            return await super().form()
        try:
            form = await super().form()
        except (UnicodeDecodeError, LookupError):  # LookupError: a part declaring a charset that does not exist
            raise Problem(400, "malformed_form") from None
        if fields := sorted({key for key, value in form.multi_items() if isinstance(value, str) and "\x00" in value}):
            raise Problem(400, "invalid_input", errors=[FieldError(f, "nul_character") for f in fields])
        return form


async def read_forms_first(request: Request) -> None:
    """``before_request``: a handler taking a form gets it read by ``InputRequest.form`` first (see above)."""
    data = request.route_handler.parsed_fn_signature.parameters.get("data")
    if data is not None and isinstance(data.kwarg_definition, BodyKwarg) and data.kwarg_definition.media_type in (
            RequestEncodingType.MULTI_PART, RequestEncodingType.URL_ENCODED):
        await request.form()


class NulFreeUrlMiddleware(ASGIMiddleware):
    """A NUL in the path or the query (``%00``) answers 400 before any route parses it."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        query: bytes = scope.get("query_string", b"")
        if "\x00" in scope.get("path", "") or (b"%" in query and b"\x00" in unquote_to_bytes(query)):
            raise Problem(400, "invalid_input", errors=[FieldError("url", "nul_character")])
        await next_app(scope, receive, send)



class StrictBody(BaseModel):
    """A JSON request body taken as typed: a number must be a JSON number and a yes/no a JSON boolean
    (``true`` is not a capacity of 1, nor ``"2"`` one of 2). Dates stay as JSON carries them, strings (JsonDate)."""

    model_config = ConfigDict(strict=True)

    @classmethod
    def model_validate(cls, obj: Any, *, strict: bool | None = None, **kwargs: Any) -> Any:
        # Litestar's pydantic plugin calls this with strict=False, which would override the model's
        # and the fields' own strictness: each field decides here.
        return super().model_validate(obj, **kwargs)


def _not_a_number(value: Any) -> Any:
    """A day or a time comes as an ISO string: a JSON number is refused (1893456000 was taken as 2030-01-01)."""
    if isinstance(value, (int, float)):
        raise ValueError("a date or time as an ISO string")
    return value


JsonDate = Annotated[date, Field(strict=False), BeforeValidator(_not_a_number)]
# an ISO string with its offset
JsonDatetime = Annotated[AwareDatetime, Field(strict=False), BeforeValidator(_not_a_number)]
