"""Two years of past stays for the demo, so the command centre's first look shows trends beside the same
period a year before (its 30-day and 12-month charts) and origins.

Seeded and shaped like a Zhejiang village's year: busier weekends, the Spring Festival, the May Day
and National Day holidays and the summer; guests mostly from Zhejiang and its neighbours (Jiangsu,
Shanghai, Anhui, Jiangxi, Fujian), some from further away, a few from Hong Kong, Taiwan and abroad.
The stays are bulk-inserted (COPY, numbers encrypted as any registration's) already checked out;
the statistics triggers book them and the first close builds the rollups.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from datetime import date, datetime, time, timedelta

import asyncpg

from service.police.counters import apply_pending
from service.privacy.crypto import Keyring, mask, mask_document
from service.settings import Settings
from service.stays.documents import check_char
from service.stays.partitions import make_months

# (weight, how the guest's document is made)
ORIGINS = [
    (30, ("resident_id", "331004")), (6, ("resident_id", "330106")), (4, ("resident_id", "330203")),
    (12, ("resident_id", "320102")), (11, ("resident_id", "310101")), (9, ("resident_id", "340102")),
    (7, ("resident_id", "360102")), (7, ("resident_id", "350102")), (3, ("resident_id", "440305")),
    (3, ("resident_id", "510104")), (2, ("resident_id", "420106")), (2, ("resident_id", "110105")),
    (1, ("hk_macao_permit", "H")), (1, ("taiwan_permit", "")), (1, ("passport", "USA")),
    (1, ("passport", "KOR")), (1, ("passport", "JPN")), (1, ("passport", "DEU")),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林"
GIVEN = "伟芳娜敏静磊洋艳勇军杰涛明超霞"
ARRIVALS_PER_DAY = 5  # stays starting on an ordinary weekday


# The first day of the Spring Festival holiday (the lunar new year's eve) in the years the history may reach.
SPRING_FESTIVAL = {2024: date(2024, 2, 9), 2025: date(2025, 1, 28), 2026: date(2026, 2, 15), 2027: date(2027, 2, 5),
                   2028: date(2028, 1, 25), 2029: date(2029, 2, 12), 2030: date(2030, 2, 2)}


def _holiday_factor(day: date) -> float:
    eve = SPRING_FESTIVAL.get(day.year)
    if eve is not None and eve <= day <= eve + timedelta(days=8):
        return 3.2
    if date(day.year, 10, 1) <= day <= date(day.year, 10, 8):
        return 3.0  # National Day week
    if date(day.year, 5, 1) <= day <= date(day.year, 5, 5):
        return 2.2  # May Day
    if day.month in (7, 8):
        return 1.4
    return 1.0


def _document(rng: random.Random, kind: tuple[str, str]) -> tuple[str, str, str | None, str | None, bool]:
    """(type, number, nationality, origin division, foreign)."""
    document_type, detail = kind
    if document_type == "resident_id":
        first17 = f"{detail}{rng.randint(1955, 2006)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
        return document_type, first17 + check_char(first17), None, detail, False
    if document_type == "hk_macao_permit":
        return document_type, f"H{rng.randint(10**7, 10**8 - 1)}", None, None, False
    if document_type == "taiwan_permit":
        return document_type, f"{rng.randint(10**7, 10**8 - 1)}", None, None, False
    return document_type, f"E{rng.randint(10**7, 10**8 - 1)}", detail, None, True


async def seed_history(conn: asyncpg.Connection, keyring: Keyring, settings: Settings, rng: random.Random,
                       days: int = 2 * 365) -> int:
    """Insert ``days`` of checked-out stays in the demo's dwellings; returns how many."""
    today = datetime.now(settings.zone).date()
    dwellings = await conn.fetch("SELECT id, area_code, capacity FROM dwellings ORDER BY id")
    await conn.execute("UPDATE dwellings SET created_at = $1", datetime.combine(
        today - timedelta(days=days + 30), time(9), tzinfo=settings.zone))
    weights, kinds = zip(*ORIGINS, strict=True)
    stays, guests = [], []
    for back in range(days, 0, -1):
        day = today - timedelta(days=back)
        weekend = 1.9 if day.weekday() in (4, 5) else 1.0
        for _ in range(round(rng.gauss(ARRIVALS_PER_DAY * weekend * _holiday_factor(day), 1.5)) or 1):
            dwelling = rng.choice(dwellings)
            nights = rng.choice([1, 1, 1, 2, 2, 3, 4, 7]) if weekend == 1 else rng.choice([1, 2])
            party = [_document(rng, rng.choices(kinds, weights)[0])
                     for _ in range(min(dwelling["capacity"] + 1, rng.choice([1, 1, 2, 2, 2, 3, 4])))]
            stay_id = uuid.uuid4()
            left = datetime.combine(day + timedelta(days=nights), time(rng.randint(7, 13), rng.randint(0, 59)),
                                    tzinfo=settings.zone)
            phone = f"13{rng.randint(0, 9)}{rng.randint(10**7, 10**8 - 1)}"
            county = dwelling["area_code"][:6]
            floating = [p[3][:2] for p in party if p[3] and p[3] != county]
            stays.append((
                stay_id, dwelling["id"], dwelling["area_code"], hashlib.sha256(stay_id.bytes).digest(), day,
                day + timedelta(days=nights), datetime.combine(day + timedelta(days=nights), time(12), tzinfo=settings.zone),
                keyring.seal(phone, f"stays.phone.{stay_id}"), keyring.blind_index("phone", phone), mask(phone),
                len(party), "guest", datetime.combine(day, time(rng.randint(12, 22)), tzinfo=settings.zone), left,
                "guest", len(floating), sum(p[4] for p in party), floating,
            ))
            for position, (document_type, number, nationality, division, foreign) in enumerate(party):
                guest_id = uuid.uuid4()
                guests.append((
                    guest_id, stay_id, day, position, rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                    document_type, keyring.seal(number, f"stay_guests.document.{guest_id}"),
                    keyring.blind_index("document", number), mask_document(document_type, number), nationality, division,
                    foreign,
                ))
    # The history in its own months rather than the DEFAULT partition.
    await make_months(conn, min(stay[4] for stay in stays), today)
    await conn.copy_records_to_table("stays", records=stays, columns=[
        "id", "dwelling_id", "area_code", "receipt_hash", "check_in", "check_out", "expected_departure",
        "phone_cipher", "phone_index", "phone_masked", "guest_count", "registered_by", "created_at",
        "checked_out_at", "checked_out_by", "floating_count", "foreign_count", "origin_provinces"])
    await conn.copy_records_to_table("stay_guests", records=guests, columns=[
        "id", "stay_id", "check_in", "position", "full_name", "document_type", "document_cipher", "document_index",
        "document_masked", "nationality", "origin_division", "is_foreign"])
    await apply_pending(conn)  # the demo's guests and history booked before its nights close, and counted
    await conn.execute("SELECT stats_close($1)", today - timedelta(days=1))
    return len(stays)
