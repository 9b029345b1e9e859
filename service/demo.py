"""Demo data: Guanlin village (Luqiao district, Taizhou, Zhejiang) as one virtual hotel."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import asyncpg

from service.areas.domain import create_area
from service.areas.schemas import AreaIn
from service.auth.domain import create_account
from service.auth.schemas import AccountIn, Staff
from service.dwellings.domain import create_dwelling
from service.dwellings.schemas import DwellingIn
from service.privacy.crypto import Keyring
from service.settings import Settings
from service.stays.documents import check_char, parse_document
from service.stays.domain import check_stay, lock_dwelling, store_stay
from service.statistics.demo_history import seed_history
from service.stays.schemas import StayIn
from service.verification.registry import add_person

AREAS = [
    AreaIn(code="331004", name="路桥区 Luqiao District", parent_code=None),
    AreaIn(code="331004001", name="路桥街道 Luqiao Subdistrict", parent_code="331004"),
    AreaIn(code="331004001201", name="官林村 Guanlin Village", parent_code="331004001"),
    AreaIn(code="331004001202", name="新安村 Xin'an Village", parent_code="331004001"),
]

# Demo passwords are printed and in README.md; a real deployment creates its own accounts.
ACCOUNTS = [
    AccountIn(username="admin", password="guanlin-admin", role="admin", display_name="管理员 Administrator"),
    AccountIn(username="wang", password="guanlin-landlord", role="landlord", display_name="王房东 Landlord Wang"),
    AccountIn(username="inn-desk", password="guanlin-desk", role="desk", display_name="官林客栈前台 Guanlin Inn desk"),
    AccountIn(username="police", password="guanlin-police", role="police", display_name="路桥分局 Luqiao police",
              area_code="331004"),
    AccountIn(username="police-guanlin", password="guanlin-police", role="police",
              display_name="官林警务室 Guanlin police post", area_code="331004001201"),
    AccountIn(username="tourism", password="guanlin-analyst", role="analyst",
              display_name="路桥区文旅局 Luqiao tourism bureau", area_code="331004"),
]

# The village centre; dwellings are laid out on a small grid of lanes around it.
CENTRE = (28.5830, 121.3790)


# Where the demo's guests come from: Luqiao itself (local), elsewhere in China (floating), abroad.
ORIGINS = ["331004", "331004", "331082", "330106", "510104", "440305", "420106", "410105", "350102"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林"
GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "涛", "明", "超", "霞"]
# People in the demo's identity registry. The table holds no faces, so an application "without a
# document" is never approved at once: the police review it at /police/review, the registry's finding shown.
REGISTRY = [("李雷", "330106199001011234"), ("韩梅梅", "110105199205052222")]


def demo_resident_id(rng: random.Random, division: str) -> str:
    first17 = f"{division}{rng.randint(1955, 2004)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    return first17 + check_char(first17)


def _registry_number(seed: str) -> str:
    return seed[:17] + check_char(seed[:17])


async def seed_demo(conn: asyncpg.Connection, keyring: Keyring, settings: Settings) -> str:
    """Create the demo once; a second run leaves existing data alone."""
    if await conn.fetchval("SELECT 1 FROM areas WHERE code = '331004'"):
        return "demo data present: " + _logins() + await _guest_page(conn, settings)
    rng = random.Random(331004)
    async with conn.transaction():
        for area in AREAS:
            await create_area(conn, area)
        owners: dict[str, Staff] = {}
        for account in ACCOUNTS:
            if account.role == "admin" and await conn.fetchval("SELECT 1 FROM accounts WHERE role = 'admin'"):
                continue
            row = await create_account(conn, account)
            owners[row["username"]] = Staff(row["id"], row["username"], row["role"], row["display_name"], row["area_code"])
        for n in range(1, 41):
            lane, house = divmod(n - 1, 8)
            await create_dwelling(conn, owners["wang"], DwellingIn(
                name=f"官林{lane + 1}巷{house + 1}号 出租屋 Room {n}",
                address=f"浙江省台州市路桥区官林村{lane + 1}巷{house + 1}号",
                area_code="331004001201",
                kind=rng.choice(["rental_room", "rental_room", "homestay", "dormitory"]),
                capacity=rng.choice([1, 2, 2, 3, 4, 6]),
                latitude=round(CENTRE[0] + lane * 0.0009 + rng.uniform(-0.0002, 0.0002), 6),
                longitude=round(CENTRE[1] + house * 0.0008 + rng.uniform(-0.0002, 0.0002), 6),
            ))
        for room in range(1, 9):
            await create_dwelling(conn, owners["inn-desk"], DwellingIn(
                name=f"官林客栈 {200 + room} 房 Guanlin Inn room {200 + room}",
                address="浙江省台州市路桥区官林村中心路1号 Guanlin Inn",
                area_code="331004001201", kind="hotel_room", capacity=2,
                latitude=CENTRE[0] - 0.0006, longitude=CENTRE[1] - 0.0005 + room * 0.00005,
            ))
        for n in range(1, 5):
            await create_dwelling(conn, owners["wang"], DwellingIn(
                name=f"新安村{n}号 民宿 Xin'an homestay {n}",
                address=f"浙江省台州市路桥区新安村{n}号",
                area_code="331004001202", kind="homestay", capacity=4,
                latitude=CENTRE[0] + 0.006 + n * 0.0005, longitude=CENTRE[1] + 0.004,
            ))
        await _seed_guests(conn, keyring, settings, rng)
        await _seed_tour_group(conn, keyring, settings, rng)
        await seed_history(conn, keyring, settings, rng)
        today = datetime.now(settings.zone).date()
        for name, seed in REGISTRY:
            await add_person(conn, keyring, name, parse_document("resident_id", _registry_number(seed), None, today))
    return "demo data created: " + _logins() + await _guest_page(conn, settings)


async def _seed_guests(conn: asyncpg.Connection, keyring: Keyring, settings: Settings, rng: random.Random) -> None:
    """Guests in about half of the dwellings: local, floating and foreign, two of them overdue."""
    today = datetime.now(settings.zone).date()
    dwellings = await conn.fetch("SELECT id FROM dwellings ORDER BY id")
    for n, dwelling in enumerate(rng.sample(list(dwellings), k=len(dwellings) // 2)):
        overdue = n < 2
        if rng.random() < 0.15:
            document = {"document_type": "passport", "nationality": rng.choice(["USA", "DEU", "KOR", "JPN"]),
                        "document_number": f"X{rng.randint(10**7, 10**8 - 1)}"}
        else:
            document = {"document_type": "resident_id", "document_number": demo_resident_id(rng, rng.choice(ORIGINS))}
        companions = [{"full_name": rng.choice(SURNAMES) + "小" + rng.choice(GIVEN), "relationship": "child"}
                      ] if rng.random() < 0.2 else []
        check_in = today - timedelta(days=1) if overdue else today
        data = StayIn(full_name=rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                      phone=f"13{rng.randint(0, 9)}{rng.randint(10**7, 10**8 - 1)}", check_in=check_in,
                      check_out=check_in if overdue else today + timedelta(days=rng.randint(1, 5)),
                      companions=companions, **document)
        checked = check_stay(data, today, settings.longest_stay_days)
        await store_stay(conn, keyring, settings, await lock_dwelling(conn, dwelling["id"]), checked, "guest")


async def _seed_tour_group(conn: asyncpg.Connection, keyring: Keyring, settings: Settings, rng: random.Random) -> None:
    """A tour group from Shanghai fills Xin'an's homestays to 14 of 16 beds: a capacity warning (yellow, 80%)."""
    today = datetime.now(settings.zone).date()
    homestays = await conn.fetch("SELECT id FROM dwellings WHERE area_code = '331004001202' ORDER BY id")
    for n, dwelling in enumerate(homestays):
        people = [demo_resident_id(rng, "310101") for _ in range(4 if n < 2 else 3)]
        data = StayIn(full_name=rng.choice(SURNAMES) + rng.choice(GIVEN), document_type="resident_id",
                      document_number=people[0], phone=f"139{rng.randint(10**7, 10**8 - 1)}", check_in=today,
                      check_out=today + timedelta(days=2),
                      companions=[{"full_name": rng.choice(SURNAMES) + rng.choice(GIVEN), "document_type": "resident_id",
                                   "document_number": number} for number in people[1:]])
        checked = check_stay(data, today, settings.longest_stay_days)
        await store_stay(conn, keyring, settings, await lock_dwelling(conn, dwelling["id"]), checked, "guest")


async def _guest_page(conn: asyncpg.Connection, settings: Settings) -> str:
    """The page a guest reaches by scanning the first rental's poster, to try without a phone."""
    row = await conn.fetchrow("SELECT name, qr_token FROM dwellings WHERE active ORDER BY id LIMIT 1")
    return f"\na guest's registration page ({row['name']}): {settings.public_base_url}/r/{row['qr_token']}" if row else ""


def _logins() -> str:
    # Names only: a log is no place for identity numbers, even made-up ones.
    registry = ", ".join(name for name, _ in REGISTRY)
    return ("logins " + ", ".join(f"{a.username} / {a.password} ({a.role})" for a in ACCOUNTS)
            + f"\nin the identity registry (remote verifications go to the police review at /police/review): {registry}")
