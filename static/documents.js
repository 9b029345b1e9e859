// Data rules for the guest form, mirroring service/stays/documents.py: same rules, codes and texts.
// The server checks everything again; these checks only spare the guest a round trip.
// tests/test_documents.py runs both over the same samples, so change them together.

export const DOCUMENT_TYPES = Object.freeze([
  "resident_id",
  "passport",
  "hk_macao_permit",
  "taiwan_permit",
  "foreign_permanent_residence",
]);

// ISO 3166-1: the 249 officially assigned alpha-3 codes.
export const NATIONALITIES = Object.freeze(`
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
`.trim().split(/\s+/));

// GB/T 2260 province-level divisions: the first two digits of a resident ID.
const PROVINCES = new Set([
  "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
  "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
  "71", "81", "82",
]);

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS = "10X98765432"; // indexed by the weighted sum mod 11
const EARLIEST_BIRTH = "1900-01-01";
const NATIONALITY_REQUIRED = new Set(["passport", "foreign_permanent_residence"]);
// A phone's plausible shape only: digits, after + or 00 for another country, and 10 or 11 of them when it
// starts with 1 (a mainland mobile, or a landline without its 0). Whether the number exists is the
// server's call (the phonenumbers library and its metadata, too large to send to a guest's phone); its
// refusal comes back as this field's error. So this check never refuses what the server accepts.
const PLAUSIBLE_PHONE = /^(?:(?:\+|00)[1-9][0-9]{3,16}|1[0-9]{9,10}|[02-9][0-9]{4,16})$/;

const FORMATS = {
  passport: (n) => /^[A-Z0-9]{5,20}$/.test(n),
  hk_macao_permit: (n) => /^[HM](?:[0-9]{8}|[0-9]{10})$/.test(n),
  taiwan_permit: (n) => /^(?:[0-9]{8}|[0-9]{10})$/.test(n),
  foreign_permanent_residence: (n) =>
    /^9[0-9]{16}[0-9X]$/.test(n) ? n[17] === checkChar(n.slice(0, 17)) : /^[A-Z]{3}[0-9]{12}$/.test(n),
};

// code: [English, Chinese], exactly as registered by the server.
const TEXTS = {
  required: ["This field is required.", "此项必填。"],
  invalid_value: ["This value is not valid.", "此项格式不正确。"],
  id_length: [
    "A resident ID number has 18 characters (15 on old cards): please check that you typed all of them.",
    "身份证号码应为18位（旧证为15位），请检查是否输入完整。",
  ],
  id_format: [
    "A resident ID number is made of digits; only the last character may be X.",
    "身份证号码只能由数字组成，仅最后一位可以是 X。",
  ],
  id_province: [
    "The first two digits are not a province code: please check the number on your card.",
    "前两位不是有效的省级行政区划代码，请核对证件号码。",
  ],
  id_birth_date: [
    "The birth date in the number is not possible: please check the number on your card.",
    "号码中的出生日期无效，请核对证件号码。",
  ],
  id_check_digit: [
    "The last character does not match: please check the number on your card.",
    "最后一位校验码不对，请核对证件号码。",
  ],
  passport_format: [
    "A passport number has 5 to 20 letters and digits: please check the number in your passport.",
    "护照号码应为5至20位字母或数字，请核对护照上的号码。",
  ],
  hk_macao_permit_format: [
    "A Hong Kong and Macao residents' travel permit number is H or M followed by 8 or 10 digits: " +
      "please check the number on your permit.",
    "港澳居民来往内地通行证号码应为 H 或 M 加8位或10位数字，请核对证件号码。",
  ],
  taiwan_permit_format: [
    "A Taiwan residents' travel permit number has 8 or 10 digits: please check the number on your permit.",
    "台湾居民来往大陆通行证号码应为8位或10位数字，请核对证件号码。",
  ],
  foreign_permanent_residence_format: [
    "A Foreign Permanent Resident ID Card number has 18 characters starting with 9 " +
      "(older cards: 3 letters and 12 digits): please check the number on your card.",
    "外国人永久居留身份证号码应为以9开头的18位（旧证为3位字母加12位数字），请核对证件号码。",
  ],
  nationality_required: ["Please choose the nationality shown in your document.", "请选择证件上所载的国籍。"],
  nationality_unknown: [
    "This nationality is not known: please choose it from the list.",
    "无法识别该国籍，请从列表中选择。",
  ],
  phone_invalid: [
    "This phone number does not exist: please enter a mainland number, or + and the country code " +
      "for another country.",
    "该电话号码不存在，请填写中国大陆号码，或以“+国家代码”开头的其他国家号码。",
  ],
  check_in_out_of_range: [
    "The check-in date must be between yesterday and 7 days from today.",
    "入住日期须在昨天至7天后之间。",
  ],
  check_out_before_check_in: ["The check-out date cannot be before the check-in date.", "预计退房日期不能早于入住日期。"],
  stay_too_long: [
    "This stay is longer than allowed: please choose an earlier check-out date and register again " +
      "if you stay on.",
    "入住天数超过上限，请选择更早的预计退房日期，续住时再重新登记。",
  ],
};

export const MESSAGES = Object.freeze({
  en: Object.fromEntries(Object.entries(TEXTS).map(([code, [en]]) => [code, en])),
  zh: Object.fromEntries(Object.entries(TEXTS).map(([code, [, zh]]) => [code, zh])),
});

// The service's calendar is Shanghai's (DESIGN.md: default display zone), not the phone's.
const SHANGHAI = new Intl.DateTimeFormat("en-CA", {
  timeZone: "Asia/Shanghai",
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
});

// The ISO 7064 MOD 11-2 check character of a resident ID's first 17 digits.
function checkChar(first17) {
  const sum = [...first17].reduce((total, digit, i) => total + Number(digit) * WEIGHTS[i], 0);
  return CHECK_CHARS[sum % 11];
}

// A 15-digit resident ID (born 19YY) as its 18-digit form.
function legacyTo18(number15) {
  const first17 = number15.slice(0, 6) + "19" + number15.slice(6);
  return first17 + checkChar(first17);
}

/** null when the document number (and nationality) is acceptable, else the error code. */
export function checkDocument(type, number, nationality, today = new Date()) {
  if (!DOCUMENT_TYPES.includes(type)) return "invalid_value";
  const n = compact(number);
  if (!n) return "required";
  const numberError = type === "resident_id" ? residentIdError(n, isoDay(today)) : formatError(type, n);
  if (numberError) return numberError;
  const nation = compact(nationality);
  if (nation && !NATIONALITIES.includes(nation)) return "nationality_unknown";
  if (!nation && NATIONALITY_REQUIRED.has(type)) return "nationality_required";
  return null;
}

/** null for a plausible phone number (spaces and dashes allowed), else the error code. */
export function checkPhone(phone) {
  const n = String(phone ?? "").normalize("NFKC").replace(/[ \t\r\n-]/g, "");
  if (!n) return "required";
  return PLAUSIBLE_PHONE.test(n) ? null : "phone_invalid";
}

/** null when a stay's "YYYY-MM-DD" dates are acceptable, else {field, code}; an empty checkIn means today. */
export function checkDates(checkIn, checkOut, longestStayDays = 90, today = new Date()) {
  const day = dayNumber(isoDay(today));
  const start = checkIn ? dayNumber(checkIn) : day;
  if (start === null) return { field: "check_in", code: "invalid_value" };
  if (!checkOut) return { field: "check_out", code: "required" };
  const end = dayNumber(checkOut);
  if (end === null) return { field: "check_out", code: "invalid_value" };
  if (start < day - 1 || start > day + 7) return { field: "check_in", code: "check_in_out_of_range" };
  if (end < start) return { field: "check_out", code: "check_out_before_check_in" };
  if (end - start > longestStayDays) return { field: "check_out", code: "stay_too_long" };
  return null;
}

function formatError(type, n) {
  return FORMATS[type](n) ? null : `${type}_format`;
}

function residentIdError(number, today) {
  let n = number;
  const length = [...n].length; // code points, as Python counts them
  if (length === 15) {
    if (!/^[0-9]{15}$/.test(n)) return "id_format";
    n = legacyTo18(n);
  } else if (length !== 18) {
    return "id_length";
  }
  if (!/^[0-9]{17}[0-9X]$/.test(n)) return "id_format";
  if (!PROVINCES.has(n.slice(0, 2))) return "id_province";
  const born = dayNumber(`${n.slice(6, 10)}-${n.slice(10, 12)}-${n.slice(12, 14)}`);
  if (born === null || born < dayNumber(EARLIEST_BIRTH) || born > dayNumber(today)) return "id_birth_date";
  if (n[17] !== checkChar(n.slice(0, 17))) return "id_check_digit";
  return null;
}

// NFKC turns full-width digits and letters from Chinese keyboards into ASCII.
function compact(value) {
  return String(value ?? "").normalize("NFKC").replace(/[ \t\r\n]/g, "").toUpperCase();
}

function isoDay(today) {
  if (typeof today === "string") return today;
  const part = Object.fromEntries(SHANGHAI.formatToParts(today).map(({ type, value }) => [type, value]));
  return `${part.year}-${part.month}-${part.day}`;
}

// Days since 1970-01-01 of a real "YYYY-MM-DD" date, else null.
function dayNumber(iso) {
  const parts = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/.exec(iso);
  if (!parts) return null;
  const [y, m, d] = parts.slice(1).map(Number);
  const t = new Date(0);
  t.setUTCFullYear(y, m - 1, d); // unlike Date.UTC, keeps years below 100 as they are
  const real = t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
  return real ? t.getTime() / 86400000 : null;
}
