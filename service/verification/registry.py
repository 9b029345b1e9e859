"""The identity registry port: does the registry know this number, under this name, with this face?

The default adapter is a table that administrators fill (POST /api/v1/registry/persons and
``python -m service registry import FILE.csv``). It holds no photos, so it can never confirm a
face: with it every application goes to police review, the registry's finding shown to the
officer. A deployment connected to the population database implements IdentityRegistry
against it (the applicant's photo is handed over for the face comparison) and names its class
in ``VH_IDENTITY_REGISTRY``; nothing else changes.
"""

from __future__ import annotations

import functools
import importlib
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol, runtime_checkable

import asyncpg
from litestar.datastructures import State
from pydantic import ValidationError

from service.csvfile import decode, invalid, records
from service.privacy.crypto import Keyring, mask_document
from service.problems import FieldError
from service.progress import SILENT, Progress
from service.stays.documents import DocumentError, Identity, parse_document
from service.verification.schemas import FaceVerdict, PersonIn


@dataclass(frozen=True)
class RegistryFinding:
    """What the registry says of an applicant; shown to the reviewing officer, never to the applicant."""

    number_known: bool
    name_matches: bool
    face: FaceVerdict  # "unavailable": the registry has no photo to compare, or found no face to compare

    @property
    def confirms(self) -> bool:
        """Only all three together let an application be approved without an officer."""
        return self.number_known and self.name_matches and self.face == "match"


@runtime_checkable  # Litestar checks injected dependencies against their declared type
class IdentityRegistry(Protocol):
    async def check(self, full_name: str, identity: Identity, photo_jpeg: bytes) -> RegistryFinding:
        """The registry's finding on this name, document and face (a JPEG, re-encoded without metadata)."""
        ...


def same_name(a: str, b: str) -> bool:
    """Equal after width, spacing and case are set aside: 'ZHANG  San' is 'Zhang San', 'Ｚｈａｎｇ' is 'Zhang'."""

    def normal(name: str) -> str:
        return " ".join(unicodedata.normalize("NFKC", name).split()).casefold()

    return normal(a) == normal(b)


class TableRegistry:
    """The default adapter: the registry_persons table, looked up by blind index; it holds no faces."""

    def __init__(self, conn: asyncpg.Connection, keyring: Keyring) -> None:
        self._conn = conn
        self._keyring = keyring

    async def known_name(self, identity: Identity) -> str | None:
        return await self._conn.fetchval(
            "SELECT full_name FROM registry_persons WHERE document_index = $1",
            self._keyring.blind_index("document", identity.number),
        )

    async def check(self, full_name: str, identity: Identity, photo_jpeg: bytes) -> RegistryFinding:
        known = await self.known_name(identity)
        return RegistryFinding(number_known=known is not None,
                               name_matches=known is not None and same_name(known, full_name), face="unavailable")


@functools.cache
def load_adapter(reference: str) -> type:
    """The adapter class named "module:Class"; ValueError naming what is wrong."""
    module_name, _, class_name = reference.partition(":")
    try:
        adapter = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        raise ValueError(f"no identity registry adapter {reference!r} (expected module:Class)") from None
    if not callable(getattr(adapter, "check", None)):
        raise ValueError(f"{reference!r} has no check(full_name, identity, photo_jpeg) method")
    return adapter


def provide_registry(db: asyncpg.Connection, state: State) -> IdentityRegistry:
    """The registry the decision asks: the adapter VH_IDENTITY_REGISTRY names, on this request's connection."""
    return load_adapter(state.settings.identity_registry)(db, state.keyring)


UPSERT = """
    INSERT INTO registry_persons (document_index, document_type, document_cipher, document_masked, full_name)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (document_index) DO UPDATE
       SET document_type = excluded.document_type, document_masked = excluded.document_masked,
           full_name = excluded.full_name, updated_at = now()
    RETURNING xmax = 0 AS created"""


def _upsert_args(keyring: Keyring, full_name: str, identity: Identity) -> tuple:
    index = keyring.blind_index("document", identity.number)
    # The index is the row's identity, so it is the sealed number's context too.
    cipher = keyring.seal(identity.number, f"registry_persons.document.{index.hex()}")
    return index, identity.document_type, cipher, mask_document(identity.document_type, identity.number), full_name


def checked_person(person: PersonIn, today: date) -> Identity:
    """The person's document under the data rules; DocumentError if it breaks one."""
    return parse_document(person.document_type, person.document_number, person.nationality, today)


async def add_person(conn: asyncpg.Connection, keyring: Keyring, full_name: str, identity: Identity) -> bool:
    """Enter or update one person; True when new."""
    return await conn.fetchval(UPSERT, *_upsert_args(keyring, full_name, identity))


REGISTRY_COLUMNS = ("full_name", "document_number", "document_type", "nationality")


@dataclass(frozen=True)
class RegistryLine:
    line: int
    full_name: str
    document_type: str
    document_masked: str
    upsert: tuple = field(repr=False)  # the row's sealed values; never the number in clear


def check_csv(keyring: Keyring, text: str, today: date,
              progress: Progress = SILENT) -> tuple[list[RegistryLine], list[FieldError]]:
    """Each line of a CSV with the columns full_name, document_number (optional: document_type, default
    resident_id; nationality), checked under the data rules: the rows, and the problems with their lines
    (never the line's content, which holds a document number)."""
    rows: list[RegistryLine] = []
    errors: list[FieldError] = []
    progress.phase("checking", max(text.count("\n") - 1, 0), "lines")  # about: the lines after the header
    for line, cells, _ in records(text, REGISTRY_COLUMNS, REGISTRY_COLUMNS[:2]):
        progress.advance()
        try:
            person = PersonIn.model_validate({k: v for k, v in cells.items() if v})
            identity = checked_person(person, today)
        except ValidationError as exc:
            field_name = str(exc.errors()[0]["loc"][0])
            errors.append(FieldError(field_name, "required" if not cells.get(field_name) else "invalid_value",
                                     line=line))
        except DocumentError as exc:
            errors.append(FieldError(exc.field, exc.code, line=line))
        else:
            rows.append(RegistryLine(line, person.full_name, identity.document_type, mask_document(identity.document_type, identity.number),
                                     _upsert_args(keyring, person.full_name, identity)))
    return rows, errors


ENTER_BATCH = 1000


async def enter_lines(conn: asyncpg.Connection, rows: list[RegistryLine], progress: Progress = SILENT) -> None:
    progress.phase("entering", len(rows), "persons")
    async with conn.transaction():
        for start in range(0, len(rows), ENTER_BATCH):
            batch = rows[start:start + ENTER_BATCH]
            await conn.executemany(UPSERT, [r.upsert for r in batch])
            progress.advance(len(batch))


async def import_file(conn: asyncpg.Connection, keyring: Keyring, data: bytes, today: date,
                      dry_run: bool) -> list[RegistryLine]:
    """All lines or none: 422 with every line's problem, else every person entered (in a dry run, only checked)."""
    rows, errors = check_csv(keyring, decode(data), today)
    if errors:
        raise invalid(errors)
    if not dry_run:
        await enter_lines(conn, rows)
    return rows
