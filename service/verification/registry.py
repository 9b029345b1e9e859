"""The identity registry port: do this name and this document number belong together?

The default adapter is a table that administrators fill (POST /api/v1/registry/persons and
``python -m service registry import FILE.csv``). A deployment connected to the population
database implements IdentityRegistry against it and returns that adapter from
provide_registry(); nothing else changes.
"""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Protocol, runtime_checkable

import asyncpg
from litestar.datastructures import State
from pydantic import ValidationError

from service.privacy.crypto import Keyring, mask
from service.stays.documents import DocumentError, Identity, parse_document
from service.verification.schemas import PersonIn


@runtime_checkable  # Litestar checks injected dependencies against their declared type
class IdentityRegistry(Protocol):
    async def confirms(self, full_name: str, identity: Identity) -> bool:
        """True when the registry knows a person of this name holding this document."""
        ...


def same_name(a: str, b: str) -> bool:
    """Equal after width, spacing and case are set aside: 'ZHANG  San' is 'Zhang San', 'Ｚｈａｎｇ' is 'Zhang'."""

    def normal(name: str) -> str:
        return " ".join(unicodedata.normalize("NFKC", name).split()).casefold()

    return normal(a) == normal(b)


class TableRegistry:
    """The default adapter: the registry_persons table, looked up by blind index."""

    def __init__(self, conn: asyncpg.Connection, keyring: Keyring) -> None:
        self._conn = conn
        self._keyring = keyring

    async def confirms(self, full_name: str, identity: Identity) -> bool:
        known = await self._conn.fetchval(
            "SELECT full_name FROM registry_persons WHERE document_index = $1",
            self._keyring.blind_index("document", identity.number),
        )
        return known is not None and same_name(known, full_name)


def provide_registry(db: asyncpg.Connection, state: State) -> IdentityRegistry:
    """The registry the automatic decision asks; swap the adapter here."""
    return TableRegistry(db, state.keyring)


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
    return index, identity.document_type, cipher, mask(identity.number), full_name


def checked_person(person: PersonIn, today: date) -> Identity:
    """The person's document under the data rules; DocumentError if it breaks one."""
    return parse_document(person.document_type, person.document_number, person.nationality, today)


async def add_person(conn: asyncpg.Connection, keyring: Keyring, full_name: str, identity: Identity) -> bool:
    """Enter or update one person; True when new."""
    return await conn.fetchval(UPSERT, *_upsert_args(keyring, full_name, identity))


@dataclass
class ImportResult:
    imported: int = 0
    # (line number, what is wrong): never the line's content, which holds a document number.
    refused: list[tuple[int, str]] = field(default_factory=list)


async def import_csv(conn: asyncpg.Connection, keyring: Keyring, path: Path, today: date) -> ImportResult:
    """Enter every valid line of a CSV file with the columns full_name, document_number
    (optional: document_type, default resident_id; nationality); lines that break a rule are reported."""
    result = ImportResult()
    rows = []
    with path.open(newline="", encoding="utf-8-sig") as file:  # -sig: spreadsheets write a BOM
        reader = csv.DictReader(file)
        missing = {"full_name", "document_number"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: the header lacks the column(s) {', '.join(sorted(missing))}")
        for line in reader:
            try:
                person = PersonIn.model_validate({k: v for k, v in line.items() if k and v})
                rows.append(_upsert_args(keyring, person.full_name, checked_person(person, today)))
            except ValidationError as exc:
                result.refused.append((reader.line_num, f"invalid {exc.errors()[0]['loc'][0]}"))
            except DocumentError as exc:
                result.refused.append((reader.line_num, exc.code))
    async with conn.transaction():
        await conn.executemany(UPSERT, rows)
    result.imported = len(rows)
    return result
