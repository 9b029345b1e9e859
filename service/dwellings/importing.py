"""Bulk onboarding: a village's dwellings from one CSV file, all or nothing.

Every line is checked before anything is written, and every problem is answered at once with its line
and column; a clean file goes in with one COPY inside one transaction (10,000 lines in well under a
second of database time), each row with its own QR token.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from typing import get_args

import asyncpg

from service.auth.schemas import Staff
from service.csvfile import decode, invalid, records
from service.dwellings.domain import in_accounts_area, new_token
from service.dwellings.schemas import Kind
from service.i18n import add_messages
from service.problems import FieldError

add_messages(
    {
        "import_required": ("{field} is empty.", "{field} 为空。"),
        "import_too_long": ("{field} is longer than {max} characters.", "{field} 超过 {max} 个字符。"),
        "import_unknown_area": ("There is no area with the code {value}.", "没有区域代码 {value}。"),
        "import_area_outside_account": ("The area {value} is outside the area of your account.",
                                        "区域 {value} 不在您账号所属的区域内。"),
        "import_kind": ("The kind must be one of {kinds}.", "类型必须是 {kinds} 之一。"),
        "import_capacity": ("Beds must be a whole number from 1 to 10000, not “{value}”.",
                            "床位数必须是 1 到 10000 的整数，而不是“{value}”。"),
        "import_coordinate": ("{field} must be a number from {min} to {max}, or empty.",
                              "{field} 必须是 {min} 到 {max} 之间的数字，或留空。"),
        "import_coordinates_pair": ("Give both latitude and longitude, or neither.", "经纬度须同时填写或同时留空。"),
        "import_owner_unknown": ("{value} is not a landlord's or hotel desk's username.",
                                 "{value} 不是房东或旅馆前台的用户名。"),
        "import_owner_required": ("Name the owner: a landlord's or hotel desk's username.",
                                  "请填写所有者：房东或旅馆前台的用户名。"),
        "import_owner_not_you": ("You can import only your own dwellings: leave owner empty or write {you}.",
                                 "您只能导入自己的住所：所有者留空或填写 {you}。"),
        "import_duplicate_in_file": ("The name “{value}” is already used on line {other} for the same owner.",
                                     "名称“{value}”已在第 {other} 行用于同一所有者。"),
        "import_duplicate_existing": ("The owner already has a dwelling named “{value}”.",
                                      "该所有者已有名为“{value}”的住所。"),
        "import_extra_cells": ("This line has more cells than the header names.", "此行的单元格比标题行多。"),
    }
)

COLUMNS = ("name", "address", "area_code", "kind", "capacity", "latitude", "longitude", "owner")
REQUIRED = ("name", "address", "area_code", "kind", "capacity")
KINDS = get_args(Kind)
MAX_LENGTH = {"name": 200, "address": 500}
COPY_COLUMNS = ["owner_id", "name", "address", "area_code", "kind", "capacity", "latitude", "longitude", "qr_token"]


def same_name_key(name: str) -> str:
    """Names compared as a person reads them: width, spacing and case set aside."""
    return " ".join(unicodedata.normalize("NFKC", name).split()).casefold()


@dataclass(frozen=True)
class ImportRow:
    line: int
    owner_id: int
    owner: str
    name: str
    address: str
    area_code: str
    kind: str
    capacity: int
    latitude: float | None
    longitude: float | None


def _coordinate(cells: dict[str, str], field: str, bound: float, errors: list[FieldError], line: int) -> float | None:
    value = cells[field]
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not -bound <= number <= bound:  # NaN fails too
        errors.append(FieldError(field, "import_coordinate", line=line,
                                 params={"field": field, "min": -bound, "max": bound}))
        return None
    return number


async def _owners(conn: asyncpg.Connection, usernames: set[str]) -> dict[str, tuple[int, str]]:
    rows = await conn.fetch(
        """SELECT id, username FROM accounts
            WHERE lower(username) = ANY($1::text[]) AND role IN ('landlord', 'desk') AND NOT disabled""",
        [u.lower() for u in usernames])
    return {r["username"].lower(): (r["id"], r["username"]) for r in rows}


async def check(conn: asyncpg.Connection, staff: Staff, text: str) -> tuple[list[ImportRow], list[FieldError]]:
    """Every line's rows and every line's problems; a landlord or desk imports only their own dwellings."""
    lines = list(records(text, COLUMNS, REQUIRED))
    areas = {r["code"] for r in await conn.fetch(
        "SELECT code FROM areas WHERE code = ANY($1::text[])", list({c["area_code"] for _, c, _ in lines}))}
    owners = await _owners(conn, {c["owner"] for _, c, _ in lines if c["owner"]}) if staff.role == "admin" else {}
    rows: list[ImportRow] = []
    errors: list[FieldError] = []
    for line, cells, extra in lines:
        found: list[FieldError] = []
        if extra:
            found.append(FieldError("line", "import_extra_cells", line=line))
        for field in REQUIRED:
            if not cells[field]:
                found.append(FieldError(field, "import_required", line=line, params={"field": field}))
        for field, limit in MAX_LENGTH.items():
            if len(cells[field]) > limit:
                found.append(FieldError(field, "import_too_long", line=line, params={"field": field, "max": limit}))
        if cells["area_code"] and cells["area_code"] not in areas:
            found.append(FieldError("area_code", "import_unknown_area", line=line,
                                    params={"value": cells["area_code"]}))
        elif cells["area_code"] and not in_accounts_area(staff, cells["area_code"]):
            found.append(FieldError("area_code", "import_area_outside_account", line=line,
                                    params={"value": cells["area_code"]}))
        if cells["kind"] and cells["kind"] not in KINDS:
            found.append(FieldError("kind", "import_kind", line=line, params={"kinds": ", ".join(KINDS)}))
        capacity = 0
        if cells["capacity"]:
            try:
                capacity = int(cells["capacity"])
            except ValueError:
                capacity = 0
            if not 1 <= capacity <= 10000:
                found.append(FieldError("capacity", "import_capacity", line=line, params={"value": cells["capacity"]}))
        latitude = _coordinate(cells, "latitude", 90, found, line)
        longitude = _coordinate(cells, "longitude", 180, found, line)
        if bool(cells["latitude"]) != bool(cells["longitude"]):
            found.append(FieldError("longitude" if cells["latitude"] else "latitude", "import_coordinates_pair",
                                    line=line))
        owner = _owner_of(staff, cells["owner"], owners, line, found)
        errors.extend(found)
        if not found and owner is not None:
            rows.append(ImportRow(line, owner[0], owner[1], cells["name"], cells["address"], cells["area_code"],
                                  cells["kind"], capacity, latitude, longitude))
    errors.extend(await _duplicates(conn, rows))
    return rows, errors


def _owner_of(staff: Staff, named: str, owners: dict[str, tuple[int, str]], line: int,
              found: list[FieldError]) -> tuple[int, str] | None:
    if staff.role != "admin":
        if named and named.lower() != staff.username.lower():
            found.append(FieldError("owner", "import_owner_not_you", line=line, params={"you": staff.username}))
            return None
        return staff.id, staff.username
    if not named:
        found.append(FieldError("owner", "import_owner_required", line=line))
        return None
    if named.lower() not in owners:
        found.append(FieldError("owner", "import_owner_unknown", line=line, params={"value": named}))
        return None
    return owners[named.lower()]


async def _duplicates(conn: asyncpg.Connection, rows: list[ImportRow]) -> list[FieldError]:
    """Names used twice for one owner, within the file or against the owner's dwellings."""
    errors: list[FieldError] = []
    first_line: dict[tuple[int, str], int] = {}
    for row in rows:
        key = (row.owner_id, same_name_key(row.name))
        if key in first_line:
            errors.append(FieldError("name", "import_duplicate_in_file", line=row.line,
                                     params={"value": row.name, "other": first_line[key]}))
        else:
            first_line[key] = row.line
    existing = {(r["owner_id"], same_name_key(r["name"])) for r in await conn.fetch(
        "SELECT owner_id, name FROM dwellings WHERE owner_id = ANY($1::bigint[])", list({r.owner_id for r in rows}))}
    errors.extend(FieldError("name", "import_duplicate_existing", line=row.line, params={"value": row.name})
                  for row in rows if (row.owner_id, same_name_key(row.name)) in existing)
    return sorted(errors, key=lambda e: e.line or 0)


async def import_dwellings(conn: asyncpg.Connection, staff: Staff, data: bytes, dry_run: bool) -> list[ImportRow]:
    """The rows created (or, in a dry run, that would be); 422 with every line's problems, and nothing made."""
    text = decode(data)
    async with conn.transaction():
        rows, errors = await check(conn, staff, text)
        if errors:
            raise invalid(sorted(errors, key=lambda e: e.line or 0))
        if dry_run:
            return rows
        # Two imports for one owner at once would each miss the other's names: one owner, one import at a
        # time, and the names checked again under that lock.
        await conn.execute("SELECT 1 FROM accounts WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE",
                           list({r.owner_id for r in rows}))
        if errors := await _duplicates(conn, rows):
            raise invalid(errors)
        await conn.copy_records_to_table("dwellings", columns=COPY_COLUMNS, records=[
            (r.owner_id, r.name, r.address, r.area_code, r.kind, r.capacity, r.latitude, r.longitude, new_token())
            for r in rows])
    return rows
