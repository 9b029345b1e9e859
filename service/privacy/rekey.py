"""Re-encryption under a new master key: every sealed number, photo and signing key, and every blind index.

Run with every instance stopped (they would seal and index with the old key
meanwhile); it is one transaction, so it either completes or changes nothing.
Audit entries keep the blind index of the key they were written under: they are
evidence and never rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from service.privacy.crypto import Keyring
from service.progress import SILENT, Progress

BATCH = 1000


@dataclass(frozen=True)
class SealedColumn:
    """A column sealed with the context ``{table}.{name}.{row key}``, maybe with a blind index beside it."""

    table: str
    column: str
    context_name: str
    key: str = "id"
    index_column: str | None = None
    index_kind: str | None = None


SEALED = [
    SealedColumn("stays", "phone_cipher", "phone", index_column="phone_index", index_kind="phone"),
    SealedColumn("stay_guests", "document_cipher", "document", index_column="document_index", index_kind="document"),
    SealedColumn("verifications", "document_cipher", "document", index_column="document_index",
                 index_kind="document"),
    SealedColumn("verifications", "phone_cipher", "phone"),
    SealedColumn("verifications", "photo_cipher", "photo"),
    SealedColumn("watchlist", "document_cipher", "document", index_column="document_index", index_kind="document"),
    SealedColumn("signing_keys", "private_cipher", "private", key="kid"),
]


async def _reseal(conn: asyncpg.Connection, old: Keyring, new: Keyring, sealed: SealedColumn,
                  progress: Progress) -> int:
    rows = await conn.fetch(
        f"SELECT {sealed.key} AS key, {sealed.column} AS cipher FROM {sealed.table} WHERE {sealed.column} IS NOT NULL")
    index_set = f", {sealed.index_column} = $3" if sealed.index_column else ""
    update = f"UPDATE {sealed.table} SET {sealed.column} = $2{index_set} WHERE {sealed.key} = $1"
    for start in range(0, len(rows), BATCH):
        changes = []
        for row in rows[start:start + BATCH]:
            context = f"{sealed.table}.{sealed.context_name}.{row['key']}"
            clear = old.open(row["cipher"], context)
            change = (row["key"], new.seal(clear, context))
            if sealed.index_column:
                change += (new.blind_index(sealed.index_kind, clear),)
            changes.append(change)
        await conn.executemany(update, changes)
        progress.advance(len(changes))
    return len(rows)


async def _reseal_registry(conn: asyncpg.Connection, old: Keyring, new: Keyring, progress: Progress) -> int:
    """The registry's rows are keyed by their blind index, which changes with the key: they are written anew."""
    rows = await conn.fetch("SELECT * FROM registry_persons")
    await conn.execute("DELETE FROM registry_persons")
    for row in rows:
        number = old.open(row["document_cipher"], f"registry_persons.document.{row['document_index'].hex()}")
        index = new.blind_index("document", number)
        await conn.execute(
            """INSERT INTO registry_persons (document_index, document_type, document_cipher, document_masked,
                                             full_name, created_at, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            index, row["document_type"], new.seal(number, f"registry_persons.document.{index.hex()}"),
            row["document_masked"], row["full_name"], row["created_at"], row["updated_at"],
        )
        progress.advance()
    return len(rows)


async def _count(conn: asyncpg.Connection) -> int:
    counts = [f"(SELECT count(*) FROM {s.table} WHERE {s.column} IS NOT NULL)" for s in SEALED]
    return await conn.fetchval(f"SELECT {' + '.join(counts)} + (SELECT count(*) FROM registry_persons)")


async def rekey(conn: asyncpg.Connection, old: Keyring, new: Keyring,
                progress: Progress = SILENT) -> list[tuple[str, int]]:
    """Move everything sealed or indexed from the old key to the new one; (what, how many) per column."""
    done = []
    async with conn.transaction():
        progress.phase("re-encrypting", await _count(conn), "values")
        for sealed in SEALED:
            done.append((f"{sealed.table}.{sealed.column}", await _reseal(conn, old, new, sealed, progress)))
        done.append(("registry_persons.document_cipher", await _reseal_registry(conn, old, new, progress)))
        # Fingerprints of retried requests were keyed with the old key: they cannot match any more.
        await conn.execute("DELETE FROM idempotency_keys")
    return done
