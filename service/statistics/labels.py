"""What a statistics key means to a person, in both languages of the pages: origins (provinces, Hong Kong,
Macao, Taiwan, countries), dwelling kinds, areas. Pages that switch language keep both names of a row."""

from __future__ import annotations

import gettext
from functools import cache
from typing import Literal

import pycountry

from service.stays.documents import PROVINCES

Language = Literal["en", "zh"]
Names = dict[str, str]  # {"en": ..., "zh": ...}

# Origins that are neither a province nor a country (see figures.ORIGIN_KEYS).
REGIONS: dict[str, tuple[str, str]] = {
    "HK": ("Hong Kong", "香港"), "MO": ("Macao", "澳门"), "TW": ("Taiwan", "台湾"),
    "CN": ("China, province unknown", "中国（省份不详）"), "foreign": ("Foreign countries", "境外"),
    "--": ("Not known", "不详"),
}
KINDS: dict[str, tuple[str, str]] = {
    "rental_room": ("Rental room", "出租房"), "homestay": ("Homestay", "民宿"),
    "dormitory": ("Dormitory", "宿舍"), "hotel_room": ("Hotel room", "旅馆客房"),
}
TOTAL: Names = {"en": "Total", "zh": "合计"}

# Country names in Chinese: the ISO 3166-1 translations that pycountry ships (Debian's iso-codes).
_COUNTRIES_ZH = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["zh_CN"])


def _both(en: str, zh: str) -> Names:
    return {"en": en, "zh": zh}


@cache
def origin_names(key: str) -> Names:
    """A province's two digits, HK/MO/TW, a nationality's alpha-3 code, or a group of them."""
    if key in PROVINCES:
        zh, en = PROVINCES[key]
        return _both(en, zh)
    if key in REGIONS:
        return _both(*REGIONS[key])
    if (country := pycountry.countries.get(alpha_3=key)) is not None:
        return _both(getattr(country, "common_name", country.name), _COUNTRIES_ZH.gettext(country.name))
    return _both(key, key)


def kind_names(kind: str) -> Names:
    return _both(*KINDS.get(kind, (kind, kind)))
