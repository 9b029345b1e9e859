"""Guests for the registration benchmark: every request a new person, a new key, valid data.

Each request is a line ``path<TAB>Idempotency-Key<TAB>client address<TAB>JSON body`` in a
file that ``registrations.lua`` (wrk) reads; dwelling tokens are used round-robin, and each
guest comes from an address of its own (sent as X-Forwarded-For, as a load balancer would).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

# Real county-level divisions (the service may check the province): Beijing Chaoyang,
# Shanghai Huangpu, Guangzhou Tianhe, Shenzhen Futian, Chengdu Jinjiang, Hefei Luyang,
# Wuhan Jiang'an, Luqiao itself (a local guest, not floating population), Huangyan, Linhai.
DIVISIONS = ("110105", "310101", "440106", "440304", "510104", "340103", "420102", "331004", "331003", "331082")
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
FIRST_BIRTH = date(1950, 1, 1)
BIRTH_DAYS = 20_072  # birth dates from 1950 to 2004 (adults); 20,073 is coprime to 1,000, see resident_id
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建"


def check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2, as GB 11643 defines it."""
    return CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, WEIGHTS)) % 11]


def resident_id(n: int) -> str:
    """The n-th of 10 x 20,072 x 1,000 distinct valid numbers: division, birth date, sequence, check.

    The sequence (its last digit is the sex) turns with n, q + q*BIRTH_DAYS + day (mod 1000),
    one-to-one because BIRTH_DAYS + 1 is coprime to 1,000.
    """
    division = DIVISIONS[n % len(DIVISIONS)]
    n //= len(DIVISIONS)
    day, q = n % BIRTH_DAYS, n // BIRTH_DAYS % 1000
    born = FIRST_BIRTH + timedelta(days=day)
    first17 = f"{division}{born:%Y%m%d}{(n + q) % 1000:03d}"
    return first17 + check_char(first17)


assert check_char("11010519491231002") == "X"  # the example of GB 11643


def body(n: int, today: date) -> dict:
    return {
        "full_name": SURNAMES[n % len(SURNAMES)] + GIVEN[n // len(SURNAMES) % len(GIVEN)] + GIVEN[n % 7],
        "document_type": "resident_id",
        "document_number": resident_id(n),
        "nationality": None,
        "phone": f"138{n % 100_000_000:08d}",
        "check_in": today.isoformat(),
        "check_out": (today + timedelta(days=2)).isoformat(),
    }


def write_requests(path: Path, tokens: list[str], first: int, count: int, tag: str) -> None:
    """Requests ``first`` .. ``first + count - 1``; ``tag`` makes the keys unique to this run."""
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    with path.open("w", encoding="utf-8") as file:
        for n in range(first, first + count):
            token = tokens[n % len(tokens)]
            text = json.dumps(body(n, today), ensure_ascii=False, separators=(",", ":"))
            address = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
            file.write(f"/api/v1/public/dwellings/{token}/stays\tbench-{tag}-{n:09d}\t{address}\t{text}\n")
