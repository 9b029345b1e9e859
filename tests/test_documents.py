"""Identity documents, phones and stay dates: the server's rules, and the guest form's copy of them."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.i18n import CATALOGUE
from service.stays.documents import (
    DOCUMENT_TYPES,
    NATIONALITIES,
    DocumentError,
    check_stay_dates,
    legacy_to_18,
    normalise_phone,
    parse_document,
)

TODAY = date(2026, 11, 25)
JS_MODULE = Path(__file__).resolve().parent.parent / "static" / "documents.js"

# GB/T 2260 province-level codes, written out again so that the tests do not trust the module's table.
PROVINCE_CODES = "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82"

# The codes of stays-api.md that these rules produce, besides "required" and "invalid_value".
OWN_CODES = [
    "id_length",
    "id_format",
    "id_check_digit",
    "id_birth_date",
    "id_province",
    "passport_format",
    "hk_macao_permit_format",
    "taiwan_permit_format",
    "foreign_permanent_residence_format",
    "nationality_required",
    "nationality_unknown",
    "phone_invalid",
    "check_in_out_of_range",
    "check_out_before_check_in",
    "stay_too_long",
]


def mod11_2(first17: str) -> str:
    """ISO 7064 MOD 11-2 from its definition: weights 2^(17-i) mod 11, and the full sum is 1 mod 11."""
    total = sum(int(digit) * pow(2, 17 - i, 11) for i, digit in enumerate(first17))
    value = (1 - total) % 11
    return "X" if value == 10 else str(value)


def resident_id(division: str = "110105", born: str = "19491231", sequence: str = "002") -> str:
    first17 = division + born + sequence
    return first17 + mod11_2(first17)


def error_code(document_type: str, number: str | None, nationality: str | None = None) -> str:
    with pytest.raises(DocumentError) as caught:
        parse_document(document_type, number, nationality, TODAY)  # type: ignore[arg-type]
    return caught.value.code


# --- resident identity cards -------------------------------------------------------------------


def test_reference_check_matches_the_published_example():
    assert resident_id() == "11010519491231002X"


def test_valid_number_with_x_check_char_gives_birth_date_sex_and_division():
    identity = parse_document("resident_id", " 11010519491231002x ", None, TODAY)
    assert identity.number == "11010519491231002X"
    assert identity.birth_date == date(1949, 12, 31)
    assert identity.sex == "F"  # 17th digit 2
    assert identity.origin_division == "110105"
    assert identity.is_foreign is False


def test_odd_17th_digit_is_male():
    assert parse_document("resident_id", resident_id(sequence="013"), None, TODAY).sex == "M"


def test_full_width_digits_from_a_chinese_keyboard_are_accepted():
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "11010519491231002x")
    assert parse_document("resident_id", full_width, None, TODAY).number == "11010519491231002X"


def test_legacy_15_digit_number_becomes_18_digits():
    assert legacy_to_18("110105491231002") == "11010519491231002X"
    identity = parse_document("resident_id", "110105491231002", None, TODAY)
    assert identity.number == "11010519491231002X"
    assert identity.birth_date == date(1949, 12, 31)


def test_legacy_number_with_an_impossible_date_fails():
    assert error_code("resident_id", "110105490231002") == "id_birth_date"


@pytest.mark.parametrize("number", ["1101051949123100", "1101051949123100201", "12345"])
def test_wrong_length_fails(number):
    assert error_code("resident_id", number) == "id_length"


@pytest.mark.parametrize(
    "number",
    ["1101051949123100AX", "110105194912310X2X", "11010549123100X", "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X"],
    ids=["letter", "x-not-last", "legacy-with-x", "arabic-indic-digits"],
)
def test_non_digits_fail(number):
    assert error_code("resident_id", number) == "id_format"


@pytest.mark.parametrize("province", ["99", "10", "16", "72", "83", "91"])
def test_unknown_province_fails(province):
    assert error_code("resident_id", resident_id(division=province + "0105")) == "id_province"


def test_wrong_check_char_fails():
    assert error_code("resident_id", "110105194912310021") == "id_check_digit"


def test_feb_29_of_a_leap_year_passes():
    assert parse_document("resident_id", resident_id(born="20000229"), None, TODAY).birth_date == date(2000, 2, 29)


@pytest.mark.parametrize("born", ["20010229", "19000229", "19491301", "19490431", "19490100"])
def test_impossible_birth_date_fails(born):
    assert error_code("resident_id", resident_id(born=born)) == "id_birth_date"


def test_born_today_passes_and_born_tomorrow_fails():
    assert parse_document("resident_id", resident_id(born=TODAY.strftime("%Y%m%d")), None, TODAY)
    tomorrow = (TODAY + timedelta(days=1)).strftime("%Y%m%d")
    assert error_code("resident_id", resident_id(born=tomorrow)) == "id_birth_date"


def test_born_before_1900_fails():
    assert parse_document("resident_id", resident_id(born="19000101"), None, TODAY)
    assert error_code("resident_id", resident_id(born="18991231")) == "id_birth_date"


@given(
    province=st.sampled_from(PROVINCE_CODES.split()),
    county=st.from_regex(r"[0-9]{4}", fullmatch=True),
    born=st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
    sequence=st.from_regex(r"[0-9]{3}", fullmatch=True),
)
def test_any_valid_number_is_read_right_and_any_changed_digit_is_caught(province, county, born, sequence):
    number = resident_id(province + county, born.strftime("%Y%m%d"), sequence)
    identity = parse_document("resident_id", number, None, TODAY)
    assert (identity.number, identity.birth_date, identity.origin_division) == (number, born, province + county)
    assert identity.sex == ("M" if int(sequence[2]) % 2 else "F")
    if born.year < 2000:
        legacy = number[:6] + number[8:17]
        assert parse_document("resident_id", legacy, None, TODAY) == identity

    for position in range(17):
        for digit in "0123456789".replace(number[position], ""):
            changed = number[:position] + digit + number[position + 1 :]
            assert error_code("resident_id", changed) == expected_code_after_change(changed)


def expected_code_after_change(number: str) -> str:
    if number[:2] not in PROVINCE_CODES.split():
        return "id_province"
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "id_birth_date"
    return "id_birth_date" if not date(1900, 1, 1) <= born <= TODAY else "id_check_digit"


# --- other documents ---------------------------------------------------------------------------


@pytest.mark.parametrize("document_type", ["resident_id", "passport", "hk_macao_permit", "taiwan_permit"])
@pytest.mark.parametrize("number", [None, "", "   "])
def test_missing_number_is_required(document_type, number):
    assert error_code(document_type, number, "USA") == "required"


def test_unknown_document_type_is_invalid():
    with pytest.raises(DocumentError) as caught:
        parse_document("driving_licence", "123456", None, TODAY)  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.code) == ("document_type", "invalid_value")


def test_passport_is_normalised_and_foreign_unless_chinese():
    identity = parse_document("passport", " e1234 5678 ", "usa", TODAY)
    assert (identity.number, identity.nationality, identity.is_foreign) == ("E12345678", "USA", True)
    assert identity.birth_date is None and identity.sex is None and identity.origin_division is None
    assert parse_document("passport", "E12345678", "CHN", TODAY).is_foreign is False


@pytest.mark.parametrize("number", ["E123", "A" * 21, "E1234567-8", "E12345678.", "护照12345"])
def test_bad_passport_number_fails(number):
    assert error_code("passport", number, "USA") == "passport_format"


def test_passport_without_nationality_fails():
    with pytest.raises(DocumentError) as caught:
        parse_document("passport", "E12345678", None, TODAY)
    assert (caught.value.field, caught.value.code) == ("nationality", "nationality_required")


@pytest.mark.parametrize("nationality", ["XYZ", "US", "UK", "GER"])
def test_passport_with_unknown_nationality_fails(nationality):
    assert error_code("passport", "E12345678", nationality) == "nationality_unknown"


@pytest.mark.parametrize("number", ["H12345678", "M1234567890", "h 1234 5678"])
def test_hk_macao_permit_passes(number):
    identity = parse_document("hk_macao_permit", number, None, TODAY)
    assert identity.number == number.replace(" ", "").upper() and identity.is_foreign is False


@pytest.mark.parametrize("number", ["H1234567", "H123456789", "H12345678901", "C12345678", "12345678"])
def test_bad_hk_macao_permit_fails(number):
    assert error_code("hk_macao_permit", number) == "hk_macao_permit_format"


@pytest.mark.parametrize("number", ["12345678", "1234567890"])
def test_taiwan_permit_passes(number):
    assert parse_document("taiwan_permit", number, None, TODAY).is_foreign is False


@pytest.mark.parametrize("number", ["1234567", "123456789", "12345678901", "T12345678"])
def test_bad_taiwan_permit_fails(number):
    assert error_code("taiwan_permit", number) == "taiwan_permit_format"


PERMANENT_2017 = "9" + "31840201501010" + "12"  # 17 digits: 9, office, country, date, sequence


@pytest.mark.parametrize("number", [PERMANENT_2017 + mod11_2(PERMANENT_2017), "USA310012345678"])
def test_foreign_permanent_residence_card_passes_and_is_foreign(number):
    assert parse_document("foreign_permanent_residence", number, "USA", TODAY).is_foreign is True


@pytest.mark.parametrize(
    "number",
    [
        PERMANENT_2017 + ("1" if mod11_2(PERMANENT_2017) != "1" else "2"),  # wrong check char
        "8" + PERMANENT_2017[1:] + mod11_2("8" + PERMANENT_2017[1:]),  # does not start with 9
        "US3100123456789",
        "USA31001234567",
    ],
    ids=["check", "not-9", "two-letters", "short"],
)
def test_bad_foreign_permanent_residence_card_fails(number):
    assert error_code("foreign_permanent_residence", number, "USA") == "foreign_permanent_residence_format"


def test_foreign_permanent_residence_card_needs_nationality():
    assert error_code("foreign_permanent_residence", "USA310012345678") == "nationality_required"


def test_nationality_list_is_iso_3166_1():
    assert len(NATIONALITIES) == 249 and {"CHN", "USA", "DEU", "SSD", "BES"} <= NATIONALITIES
    iso_codes = Path("/usr/share/iso-codes/json/iso_3166-1.json")
    if iso_codes.exists():  # Debian's iso-codes, when installed, as an independent source
        assert NATIONALITIES == {c["alpha_3"] for c in json.loads(iso_codes.read_text())["3166-1"]}


# --- phones ------------------------------------------------------------------------------------

# Mainland mobile prefixes no operator has been given (phonenumbers' metadata, as MIIT allocates them).
UNALLOCATED_MOBILE_PREFIXES = ("140", "141", "142", "143", "144", "146", "148", "149", "154", "160", "163", "164",
                               "168", "169", "174", "179", "194")


@pytest.mark.parametrize(
    ("phone", "normalised"),
    [
        ("13800138000", "13800138000"),
        ("138 0013 8000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("0086 13800138000", "13800138000"),
        ("+4915112345678", "+4915112345678"),
        ("+49 151 1234 5678", "+4915112345678"),
        ("+1 415-555-2671", "+14155552671"),
        ("+861065529988", "+861065529988"),  # a Beijing landline in E.164
        ("+86 10 6552 9988", "+861065529988"),
        ("010 6552 9988", "+861065529988"),  # the same, dialled within the mainland
        ("+6837012", "+6837012"),  # Niue: four-digit numbers
        ("19912345678", "19912345678"),  # 199: an allocated mobile prefix
    ],
)
def test_phone_passes(phone, normalised):
    assert normalise_phone(phone) == normalised


@pytest.mark.parametrize(
    "phone",
    [
        "12800138000",  # 12x is not a mobile prefix
        "1380013800",  # 10 digits
        "138001380001",
        "4915112345678",  # international without +
        "+9991234567",  # no country has the code 999
        *(f"{prefix}12345678" for prefix in UNALLOCATED_MOBILE_PREFIXES),
        *(f"+86 {prefix}12345678" for prefix in UNALLOCATED_MOBILE_PREFIXES),
        "+0123456789",  # country codes do not start with 0
        "+1234567",  # too short
        "+1234567890123456",  # too long
        "138-0013-800O",
        "(0)13800138000",
    ],
)
def test_phone_fails(phone):
    with pytest.raises(DocumentError) as caught:
        normalise_phone(phone)
    assert (caught.value.field, caught.value.code) == ("phone", "phone_invalid")


def test_missing_phone_is_required():
    with pytest.raises(DocumentError) as caught:
        normalise_phone("  ")
    assert (caught.value.field, caught.value.code) == ("phone", "required")


# --- stay dates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check_in", "check_out"),
    [(-1, -1), (0, 0), (0, 2), (7, 97)],
)
def test_stay_dates_pass(check_in, check_out):
    check_stay_dates(TODAY + timedelta(check_in), TODAY + timedelta(check_out), TODAY)


@pytest.mark.parametrize(
    ("check_in", "check_out", "field", "code"),
    [
        (-2, 0, "check_in", "check_in_out_of_range"),
        (8, 9, "check_in", "check_in_out_of_range"),
        (2, 1, "check_out", "check_out_before_check_in"),
        (0, 91, "check_out", "stay_too_long"),
    ],
)
def test_stay_dates_fail(check_in, check_out, field, code):
    with pytest.raises(DocumentError) as caught:
        check_stay_dates(TODAY + timedelta(check_in), TODAY + timedelta(check_out), TODAY)
    assert (caught.value.field, caught.value.code) == (field, code)


def test_longest_stay_is_configurable():
    check_stay_dates(TODAY, TODAY + timedelta(30), TODAY, longest_stay_days=30)
    with pytest.raises(DocumentError, match="stay_too_long"):
        check_stay_dates(TODAY, TODAY + timedelta(31), TODAY, longest_stay_days=30)


def test_every_code_has_english_and_chinese_messages():
    for code in OWN_CODES:
        assert CATALOGUE[code]["en"] and CATALOGUE[code]["zh"], code
        assert CATALOGUE[code]["en"] != CATALOGUE[code]["zh"], code


def test_the_check_out_errors_call_the_field_by_its_label():
    """The form labels the field 预计退房日期 / Check-out date (static/stay-form.js); its errors say the same."""
    labels = (JS_MODULE.parent / "stay-form.js").read_text(encoding="utf-8")
    assert 'check_out: "预计退房日期"' in labels and 'check_out: "Check-out date"' in labels
    for code in ("check_out_before_check_in", "stay_too_long"):
        assert "预计退房日期" in CATALOGUE[code]["zh"] and "离店" not in CATALOGUE[code]["zh"], code
        assert "check-out date" in CATALOGUE[code]["en"], code


# --- the guest form's copy: static/documents.js ------------------------------------------------


@pytest.fixture(scope="module")
def run_js(tmp_path_factory: pytest.TempPathFactory):
    """Call functions of static/documents.js in node: [[name, *args], ...] -> (results, module constants)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: cannot compare static/documents.js with the Python rules")
    folder = tmp_path_factory.mktemp("js")
    shutil.copy(JS_MODULE, folder / "documents.mjs")  # .mjs: an ES module whatever package.json says
    runner = folder / "run.mjs"
    runner.write_text(
        """
import { readFileSync } from "node:fs";
import * as documents from "./documents.mjs";
const calls = JSON.parse(readFileSync(0, "utf8"));
const results = calls.map(([name, ...args]) => {
  const result = documents[name](...args);
  return result && typeof result === "object" ? [result.field, result.code] : result;
});
const { MESSAGES, NATIONALITIES, DOCUMENT_TYPES } = documents;
process.stdout.write(JSON.stringify({ results, MESSAGES, NATIONALITIES, DOCUMENT_TYPES }));
"""
    )

    def run(calls: list[list[object]]) -> dict:
        done = subprocess.run(
            [node, str(runner)], input=json.dumps(calls), capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    return run


def python_result(name: str, *args):
    """What the Python rules answer for a call of the JS function ``name``."""
    try:
        if name == "checkDocument":
            document_type, number, nationality, today = args
            parse_document(document_type, number, nationality, date.fromisoformat(today))
        elif name == "checkPhone":
            normalise_phone(*args)
        else:
            check_in, check_out, longest, today = args
            check_in, check_out, today = map(date.fromisoformat, (check_in, check_out, today))
            check_stay_dates(check_in, check_out, today, longest)
    except DocumentError as error:
        return [error.field, error.code] if name == "checkDates" else error.code
    return None


def document(document_type: str, number: str | None, nationality: str | None = None) -> list[object]:
    return ["checkDocument", document_type, number, nationality, TODAY.isoformat()]


def days(check_in: int, check_out: int, longest: int = 90) -> list[object]:
    day = lambda offset: (TODAY + timedelta(offset)).isoformat()  # noqa: E731
    return ["checkDates", day(check_in), day(check_out), longest, TODAY.isoformat()]


SAMPLES = [
    document("resident_id", "11010519491231002X"),
    document("resident_id", " 11010519491231002x "),
    document("resident_id", "１１０１０５１９４９１２３１００２ｘ"),
    document("resident_id", "110105491231002"),
    document("resident_id", "110105490231002"),
    document("resident_id", "110105194912310021"),
    document("resident_id", "1101051949123100"),
    document("resident_id", "1101051949123100AX"),
    document("resident_id", "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X"),
    document("resident_id", resident_id(division="990105")),
    document("resident_id", resident_id(born="20000229")),
    document("resident_id", resident_id(born="20010229")),
    document("resident_id", resident_id(born="20261126")),
    document("resident_id", resident_id(born="18991231")),
    document("resident_id", "11010519491231002X", "XYZ"),
    document("resident_id", "   "),
    document("resident_id", None),
    document("driving_licence", "123456"),
    document("passport", "e1234 5678", "usa"),
    document("passport", "E12345678"),
    document("passport", "E123", "USA"),
    document("passport", "E12345678", "GER"),
    document("hk_macao_permit", "H12345678"),
    document("hk_macao_permit", "M1234567890"),
    document("hk_macao_permit", "H123456789"),
    document("taiwan_permit", "12345678"),
    document("taiwan_permit", "T12345678"),
    document("foreign_permanent_residence", PERMANENT_2017 + mod11_2(PERMANENT_2017), "CAN"),
    document("foreign_permanent_residence", PERMANENT_2017 + "0", "CAN"),
    document("foreign_permanent_residence", "USA310012345678"),
    ["checkPhone", "13800138000"],
    ["checkPhone", "+86 138-0013-8000"],
    ["checkPhone", "0086 13800138000"],
    ["checkPhone", "+49 151 1234 5678"],
    ["checkPhone", "12800138000"],
    ["checkPhone", "+86 10 1234 5678"],
    ["checkPhone", "+0123456789"],
    ["checkPhone", "4915112345678"],
    ["checkPhone", ""],
    ["checkPhone", "+6837012"],
    ["checkPhone", "010 6552 9988"],
    ["checkPhone", "1380013800"],
    ["checkPhone", "12"],
    ["checkPhone", "138-0013-800O"],
    days(-1, -1),
    days(7, 97),
    days(-2, 0),
    days(8, 9),
    days(2, 1),
    days(0, 91),
    days(0, 31, longest=30),
]


def test_js_gives_the_same_codes_as_python_on_samples(run_js):
    samples = [call for call in SAMPLES if call[0] != "checkPhone"]
    answers = run_js(samples)["results"]
    differences = [
        (call, js, python_result(*call))
        for call, js in zip(samples, answers, strict=True)
        if js != python_result(*call)
    ]
    assert differences == []


def test_the_pages_phone_check_is_lighter_than_the_servers_and_never_stricter(run_js):
    """The page checks only a phone's shape (the phonenumbers metadata stays on the server, off the guest's
    first load): what it refuses the server refuses with the same code; what the server refuses it may let
    through, and the server's answer shows at the field."""
    phones = [call[1] for call in SAMPLES if call[0] == "checkPhone"] + [
        "+861065529988", "+4915112345678", "+14155552671", "19912345678", "1065529988", "+9991234567",
        *(f"{prefix}12345678" for prefix in UNALLOCATED_MOBILE_PREFIXES)]
    calls = [["checkPhone", phone] for phone in phones]
    answers = dict(zip(phones, run_js(calls)["results"], strict=True))
    server = {phone: python_result("checkPhone", phone) for phone in phones}
    assert {phone: code for phone, code in answers.items() if code is not None and code != server[phone]} == {}
    # Only the server knows which prefixes and country codes are allocated.
    assert answers["+9991234567"] is None and server["+9991234567"] == "phone_invalid"
    assert all(answers[f"{p}12345678"] is None and server[f"{p}12345678"] == "phone_invalid"
               for p in UNALLOCATED_MOBILE_PREFIXES)


def test_js_gives_the_same_codes_as_python_on_random_and_damaged_numbers(run_js):
    rng = random.Random(20261125)
    calls = []
    for _ in range(300):
        first17 = rng.choice(PROVINCE_CODES.split()) + "".join(rng.choices("0123456789", k=15))
        number = first17 + mod11_2(first17)
        position = rng.randrange(18)
        damaged = number[:position] + rng.choice("0123456789X") + number[position + 1 :]
        calls += [document("resident_id", number), document("resident_id", damaged)]
        calls.append(document("resident_id", damaged[:6] + damaged[8:17]))  # as a 15-digit number
    answers = run_js(calls)["results"]
    assert [python_result(*call) for call in calls] == answers
    assert {None, "id_check_digit", "id_birth_date"} <= set(answers)  # the samples reach the rules


def test_js_messages_are_the_server_messages(run_js):
    messages = run_js([])["MESSAGES"]
    codes = [*OWN_CODES, "required", "invalid_value"]
    assert sorted(messages["en"]) == sorted(messages["zh"]) == sorted(codes)
    for code in codes:
        assert (messages["en"][code], messages["zh"][code]) == (CATALOGUE[code]["en"], CATALOGUE[code]["zh"]), code


def test_js_nationalities_and_document_types_are_the_servers(run_js):
    constants = run_js([])
    assert sorted(constants["NATIONALITIES"]) == sorted(NATIONALITIES)
    assert tuple(constants["DOCUMENT_TYPES"]) == DOCUMENT_TYPES
