"""Request and response shapes of the stays domain."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, Field

from service.i18n import add_messages
from service.inputs import JsonDate, StrictBody

DocumentTypeName = Literal["resident_id", "passport", "hk_macao_permit", "taiwan_permit", "foreign_permanent_residence"]
Relationship = Literal["child", "grandchild", "sibling", "ward", "other"]
MAX_COMPANIONS = 19


# Control and formatting characters (RLO, zero-width joiners) hide or reorder text on the police screens;
# symbols, emoji among them, are on no identity document, so a name holding one matches no document, no
# search and no registry entry. A name is letters, marks, digits, spaces and punctuation (·, -, ', .).
REFUSED_IN_NAMES = ("Cc", "Cf", "Cs", "Co", "Cn", "Sc", "Sk", "Sm", "So")

add_messages({"full_name:invalid_value": (
    "Write the name as on the identity document: at most 100 letters, spaces and marks such as · - ' "
    "(no emoji, symbols or invisible characters).",
    "请按证件填写姓名：不超过 100 个字，可含空格及 · - ' 等符号，不能有表情符号、特殊符号或不可见字符。",
)})


def _clean_name(value: str) -> str:
    """NFC, single spaces, none of REFUSED_IN_NAMES."""
    value = " ".join(unicodedata.normalize("NFC", value).split())
    if not value or any(unicodedata.category(ch) in REFUSED_IN_NAMES for ch in value):
        raise ValueError("a name of letters, spaces and punctuation")
    return value


PersonName = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_clean_name)]
DocumentNumber = Annotated[str, Field(max_length=40)]
Nationality = Annotated[str, Field(max_length=3)]


class CompanionIn(StrictBody):
    """A fellow guest: with a document, or a minor without one, by relationship to the registrant."""

    full_name: PersonName
    document_type: DocumentTypeName | None = None
    document_number: DocumentNumber | None = None
    nationality: Nationality | None = None
    relationship: Relationship | None = None


class StayIn(StrictBody):
    full_name: PersonName
    document_type: DocumentTypeName
    document_number: DocumentNumber
    nationality: Nationality | None = Field(default=None, description="ISO 3166-1 alpha-3; for passports and permanent residence cards")
    phone: str = Field(max_length=32, description="mainland mobile (11 digits) or E.164")
    check_in: JsonDate | None = Field(default=None, description="default: today in the display time zone")
    check_out: JsonDate
    companions: list[CompanionIn] = Field(default_factory=list, max_length=MAX_COMPANIONS)


class DwellingBrief(BaseModel):
    name: str
    address: str


class ReceiptGuest(BaseModel):
    full_name: str
    document_masked: str | None


class Notice(BaseModel):
    """Something the person registering should know; the stay is stored all the same."""

    code: Literal["already_present"]
    message: str = Field(description="in the request's language")


class Receipt(BaseModel):
    """What the guest keeps: the receipt code opens this view and the guest's check-out."""

    id: UUID
    receipt_code: str
    dwelling: DwellingBrief
    check_in: date
    check_out: date
    guests: list[ReceiptGuest]
    capacity_anomaly: bool
    checked_out_at: datetime | None
    notices: list[Notice] = Field(default_factory=list, description="only in the answer to a registration")


class GuestOut(BaseModel):
    full_name: str
    document_type: DocumentTypeName | None
    document_masked: str | None
    nationality: str | None
    relationship: Relationship | None


class StayOut(BaseModel):
    """A stay as landlords, desks and police see it: numbers masked."""

    id: UUID
    dwelling_id: int
    check_in: date
    check_out: date
    phone_masked: str
    registered_by: Literal["guest", "desk", "remote"]
    capacity_anomaly: bool
    overdue: bool
    created_at: datetime
    checked_out_at: datetime | None
    guests: list[GuestOut]
