"""Identity documents, phone numbers and stay dates: the data rules of DESIGN.md section 4.

Pure functions, no I/O. static/documents.js mirrors every rule and message here for the
guest form; tests/test_documents.py runs both over the same samples.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal, get_args

import phonenumbers

from service.i18n import add_messages

DocumentType = Literal["resident_id", "passport", "hk_macao_permit", "taiwan_permit", "foreign_permanent_residence"]
DOCUMENT_TYPES: tuple[DocumentType, ...] = get_args(DocumentType)
Sex = Literal["M", "F"]

# GB/T 2260 province-level divisions (the first two digits of a resident ID): (Chinese name, English name).
PROVINCES: dict[str, tuple[str, str]] = {
    "11": ("北京市", "Beijing"), "12": ("天津市", "Tianjin"), "13": ("河北省", "Hebei"), "14": ("山西省", "Shanxi"),
    "15": ("内蒙古自治区", "Inner Mongolia"),
    "21": ("辽宁省", "Liaoning"), "22": ("吉林省", "Jilin"), "23": ("黑龙江省", "Heilongjiang"),
    "31": ("上海市", "Shanghai"), "32": ("江苏省", "Jiangsu"), "33": ("浙江省", "Zhejiang"), "34": ("安徽省", "Anhui"),
    "35": ("福建省", "Fujian"), "36": ("江西省", "Jiangxi"), "37": ("山东省", "Shandong"),
    "41": ("河南省", "Henan"), "42": ("湖北省", "Hubei"), "43": ("湖南省", "Hunan"), "44": ("广东省", "Guangdong"),
    "45": ("广西壮族自治区", "Guangxi"), "46": ("海南省", "Hainan"),
    "50": ("重庆市", "Chongqing"), "51": ("四川省", "Sichuan"), "52": ("贵州省", "Guizhou"), "53": ("云南省", "Yunnan"),
    "54": ("西藏自治区", "Tibet"),
    "61": ("陕西省", "Shaanxi"), "62": ("甘肃省", "Gansu"), "63": ("青海省", "Qinghai"), "64": ("宁夏回族自治区", "Ningxia"),
    "65": ("新疆维吾尔自治区", "Xinjiang"),
    "71": ("台湾省", "Taiwan"),
    "81": ("香港特别行政区", "Hong Kong"), "82": ("澳门特别行政区", "Macao"),
}  # fmt: skip

# ISO 3166-1: the 249 officially assigned alpha-3 codes.
NATIONALITIES: frozenset[str] = frozenset(
    """
    ABW AFG AGO AIA ALA ALB AND ARE ARG ARM ASM ATA ATF ATG AUS AUT AZE BDI BEL BEN BES BFA BGD BGR BHR
    BHS BIH BLM BLR BLZ BMU BOL BRA BRB BRN BTN BVT BWA CAF CAN CCK CHE CHL CHN CIV CMR COD COG COK COL
    COM CPV CRI CUB CUW CXR CYM CYP CZE DEU DJI DMA DNK DOM DZA ECU EGY ERI ESH ESP EST ETH FIN FJI FLK
    FRA FRO FSM GAB GBR GEO GGY GHA GIB GIN GLP GMB GNB GNQ GRC GRD GRL GTM GUF GUM GUY HKG HMD HND HRV
    HTI HUN IDN IMN IND IOT IRL IRN IRQ ISL ISR ITA JAM JEY JOR JPN KAZ KEN KGZ KHM KIR KNA KOR KWT LAO
    LBN LBR LBY LCA LIE LKA LSO LTU LUX LVA MAC MAF MAR MCO MDA MDG MDV MEX MHL MKD MLI MLT MMR MNE MNG
    MNP MOZ MRT MSR MTQ MUS MWI MYS MYT NAM NCL NER NFK NGA NIC NIU NLD NOR NPL NRU NZL OMN PAK PAN PCN
    PER PHL PLW PNG POL PRI PRK PRT PRY PSE PYF QAT REU ROU RUS RWA SAU SDN SEN SGP SGS SHN SJM SLB SLE
    SLV SMR SOM SPM SRB SSD STP SUR SVK SVN SWE SWZ SXM SYC SYR TCA TCD TGO THA TJK TKL TKM TLS TON TTO
    TUN TUR TUV TWN TZA UGA UKR UMI URY USA UZB VAT VCT VEN VGB VIR VNM VUT WLF WSM YEM ZAF ZMB ZWE
    """.split()
)

# Residents of Hong Kong, Macao and Taiwan are counted as compatriots, not as foreigners.
NOT_FOREIGN = frozenset({"CHN", "HKG", "MAC", "TWN"})
NATIONALITY_REQUIRED = frozenset({"passport", "foreign_permanent_residence"})

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"  # indexed by the weighted sum mod 11
EARLIEST_BIRTH = date(1900, 1, 1)

_RESIDENT_18 = re.compile(r"[0-9]{17}[0-9X]")
_LEGACY_15 = re.compile(r"[0-9]{15}")
_PASSPORT = re.compile(r"[A-Z0-9]{5,20}")
_HK_MACAO = re.compile(r"[HM](?:[0-9]{8}|[0-9]{10})")
_TAIWAN = re.compile(r"[0-9]{8}|[0-9]{10}")
_PERMANENT_2017 = re.compile(r"9[0-9]{16}[0-9X]")
_PERMANENT_OLD = re.compile(r"[A-Z]{3}[0-9]{12}")
_PHONE_CHARACTERS = re.compile(r"\+?[0-9]{1,32}")
_BLANKS = re.compile(r"[ \t\r\n]")
_PHONE_SEPARATORS = re.compile(r"[ \t\r\n-]")

add_messages(
    {
        "id_length": (
            "A resident ID number has 18 characters (15 on old cards): please check that you typed all of them.",
            "身份证号码应为18位（旧证为15位），请检查是否输入完整。",
        ),
        "id_format": (
            "A resident ID number is made of digits; only the last character may be X.",
            "身份证号码只能由数字组成，仅最后一位可以是 X。",
        ),
        "id_province": (
            "The first two digits are not a province code: please check the number on your card.",
            "前两位不是有效的省级行政区划代码，请核对证件号码。",
        ),
        "id_birth_date": (
            "The birth date in the number is not possible: please check the number on your card.",
            "号码中的出生日期无效，请核对证件号码。",
        ),
        "id_check_digit": (
            "The last character does not match: please check the number on your card.",
            "最后一位校验码不对，请核对证件号码。",
        ),
        "passport_format": (
            "A passport number has 5 to 20 letters and digits: please check the number in your passport.",
            "护照号码应为5至20位字母或数字，请核对护照上的号码。",
        ),
        "hk_macao_permit_format": (
            "A Hong Kong and Macao residents' travel permit number is H or M followed by 8 or 10 digits: "
            "please check the number on your permit.",
            "港澳居民来往内地通行证号码应为 H 或 M 加8位或10位数字，请核对证件号码。",
        ),
        "taiwan_permit_format": (
            "A Taiwan residents' travel permit number has 8 or 10 digits: please check the number on your permit.",
            "台湾居民来往大陆通行证号码应为8位或10位数字，请核对证件号码。",
        ),
        "foreign_permanent_residence_format": (
            "A Foreign Permanent Resident ID Card number has 18 characters starting with 9 "
            "(older cards: 3 letters and 12 digits): please check the number on your card.",
            "外国人永久居留身份证号码应为以9开头的18位（旧证为3位字母加12位数字），请核对证件号码。",
        ),
        "nationality_required": (
            "Please choose the nationality shown in your document.",
            "请选择证件上所载的国籍。",
        ),
        "nationality_unknown": (
            "This nationality is not known: please choose it from the list.",
            "无法识别该国籍，请从列表中选择。",
        ),
        "phone_invalid": (
            "This phone number does not exist: please enter a mainland number, or + and the country code "
            "for another country.",
            "该电话号码不存在，请填写中国大陆号码，或以“+国家代码”开头的其他国家号码。",
        ),
        "check_in_out_of_range": (
            "The check-in date must be between yesterday and 7 days from today.",
            "入住日期须在昨天至7天后之间。",
        ),
        "check_out_before_check_in": (
            "The check-out date cannot be before the check-in date.",
            "预计退房日期不能早于入住日期。",
        ),
        "stay_too_long": (
            "This stay is longer than allowed: please choose an earlier check-out date and register again "
            "if you stay on.",
            "入住天数超过上限，请选择更早的预计退房日期，续住时再重新登记。",
        ),
    }
)


class DocumentError(ValueError):
    """A guest's entry breaks a data rule: ``code`` names the message, ``field`` the entry."""

    def __init__(self, code: str, field: str = "document_number") -> None:
        super().__init__(code)
        self.code = code
        self.field = field


@dataclass(frozen=True)
class Identity:
    """A checked document: its normalised number and what the number tells about its holder."""

    document_type: DocumentType
    number: str
    birth_date: date | None
    sex: Sex | None
    origin_division: str | None  # GB/T 2260 county-level code of registered residence
    is_foreign: bool
    nationality: str | None  # upper-case alpha-3, or None when not given


def check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of a resident ID's first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("check_char needs exactly 17 digits")
    return CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def legacy_to_18(number15: str) -> str:
    """A 15-digit resident ID (born 19YY) as its 18-digit form."""
    if len(number15) != 15:
        raise DocumentError("id_length")
    if not _LEGACY_15.fullmatch(number15):
        raise DocumentError("id_format")
    first17 = number15[:6] + "19" + number15[6:]
    return first17 + check_char(first17)


def parse_document(
    document_type: DocumentType, number: str | None, nationality: str | None, today: date
) -> Identity:
    """Check a document number (and nationality) and read what it tells; raise DocumentError if wrong.

    ``today`` is the local date of the dwelling (Asia/Shanghai by default): no one is born after it.
    """
    if document_type not in DOCUMENT_TYPES:
        raise DocumentError("invalid_value", "document_type")
    compact = compact_number(number)
    if not compact:
        raise DocumentError("required")
    birth_date: date | None = None
    sex: Sex | None = None
    division: str | None = None
    if document_type == "resident_id":
        compact, birth_date, sex = _resident_id(compact, today)
        division = compact[:6]
    elif not _FORMATS[document_type](compact):
        raise DocumentError(f"{document_type}_format")
    nation = _nationality(nationality)
    if nation is None and document_type in NATIONALITY_REQUIRED:
        raise DocumentError("nationality_required", "nationality")
    foreign = document_type == "foreign_permanent_residence" or (
        document_type == "passport" and nation not in NOT_FOREIGN
    )
    return Identity(document_type, compact, birth_date, sex, division, foreign, nation)


def normalise_phone(phone: str | None) -> str:
    """A mainland mobile as its 11 digits, any other number as E.164 ``+digits``; else DocumentError.

    Whether a number exists is the phonenumbers library's call, with its metadata of every country's
    numbering plan (allocated mobile prefixes, lengths, country codes). Without a + (or 00) the number is
    read as a mainland one. Mobiles keep the 11-digit form they had before, which their blind index
    (police search by phone) is made of."""
    compact = _PHONE_SEPARATORS.sub("", unicodedata.normalize("NFKC", phone or ""))
    if not compact:
        raise DocumentError("required", "phone")
    if not _PHONE_CHARACTERS.fullmatch(compact):
        raise DocumentError("phone_invalid", "phone")
    try:
        number = phonenumbers.parse(compact, "CN")
    except phonenumbers.NumberParseException:
        raise DocumentError("phone_invalid", "phone") from None
    # A valid number is one of a known type: is_valid_number would match the number against its
    # country's patterns once more (a third of a registration's phone check).
    kind = phonenumbers.number_type(number)
    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
        raise DocumentError("phone_invalid", "phone")
    if number.country_code == 86 and kind == phonenumbers.PhoneNumberType.MOBILE:
        return str(number.national_number)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_stay_dates(check_in: date, check_out: date, today: date, longest_stay_days: int = 90) -> None:
    """Raise DocumentError (field check_in or check_out) when the stay's dates break the rules."""
    if not today - timedelta(days=1) <= check_in <= today + timedelta(days=7):
        raise DocumentError("check_in_out_of_range", "check_in")
    if check_out < check_in:
        raise DocumentError("check_out_before_check_in", "check_out")
    if (check_out - check_in).days > longest_stay_days:
        raise DocumentError("stay_too_long", "check_out")


def compact_number(value: str | None) -> str:
    # NFKC turns full-width digits and letters from Chinese keyboards into ASCII.
    return _BLANKS.sub("", unicodedata.normalize("NFKC", value or "")).upper()


def _nationality(value: str | None) -> str | None:
    compact = compact_number(value)
    if not compact:
        return None
    if compact not in NATIONALITIES:
        raise DocumentError("nationality_unknown", "nationality")
    return compact


def _resident_id(number: str, today: date) -> tuple[str, date, Sex]:
    """The 18-digit number, birth date and sex of a resident ID."""
    if len(number) == 15:
        number = legacy_to_18(number)
    elif len(number) != 18:
        raise DocumentError("id_length")
    if not _RESIDENT_18.fullmatch(number):
        raise DocumentError("id_format")
    if number[:2] not in PROVINCES:
        raise DocumentError("id_province")
    birth_date = _birth_date(number[6:14], today)
    if number[17] != check_char(number[:17]):
        raise DocumentError("id_check_digit")
    return number, birth_date, "M" if int(number[16]) % 2 else "F"


def _birth_date(yyyymmdd: str, today: date) -> date:
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        raise DocumentError("id_birth_date") from None
    if not EARLIEST_BIRTH <= born <= today:
        raise DocumentError("id_birth_date")
    return born


def _permanent_residence(number: str) -> bool:
    if _PERMANENT_2017.fullmatch(number):
        return number[17] == check_char(number[:17])
    return bool(_PERMANENT_OLD.fullmatch(number))


_FORMATS: dict[str, Callable[[str], object]] = {
    "passport": _PASSPORT.fullmatch,
    "hk_macao_permit": _HK_MACAO.fullmatch,
    "taiwan_permit": _TAIWAN.fullmatch,
    "foreign_permanent_residence": _permanent_residence,
}


def searchable_number(number: str) -> str:
    """A number as stays store it, whatever its document type: compacted, a legacy 15-digit ID as 18."""
    compacted = compact_number(number)
    return legacy_to_18(compacted) if _LEGACY_15.fullmatch(compacted) else compacted
