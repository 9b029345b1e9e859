"""Request and response shapes of remote verification and certificates."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from litestar.datastructures import UploadFile
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service.inputs import StrictBody
from service.stays.schemas import DocumentNumber, DocumentTypeName, DwellingBrief, Nationality, PersonName

Status = Literal["pending", "approved", "rejected"]
Verdict = Literal["valid", "expired", "not_yet_valid", "revoked", "forged", "unknown_certificate"]
FaceVerdict = Literal["match", "mismatch", "unavailable"]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ApplicationForm(BaseModel):
    """The guest's multipart application: who they are, how long they stay, their photo, their consent."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    full_name: PersonName
    document_type: DocumentTypeName = "resident_id"
    document_number: DocumentNumber
    nationality: Nationality | None = Field(default=None, description="ISO 3166-1 alpha-3; for passports")
    phone: str = Field(max_length=32, description="mainland mobile (11 digits) or E.164")
    check_out: date
    consent: bool = Field(default=False, description="must be true: the guest agrees to the check and the photo")
    photo: UploadFile | None = Field(default=None, description="JPEG, PNG or WebP, at most 8 MB")


class ApplicationAccepted(BaseModel):
    id: UUID
    status: Status
    secret: str = Field(description="keep it: it opens the status and the certificate")
    certificate_number: str | None = None


class VerificationStatus(BaseModel):
    """What the guest holding the secret sees of their application."""

    id: UUID
    status: Status
    certificate_number: str | None
    rejection_reason: str | None
    dwelling: DwellingBrief
    check_in: date
    check_out: date
    created_at: datetime
    decided_at: datetime | None


class RegistryFindingOut(BaseModel):
    """What the identity registry found; the officer sees it, the applicant never does."""

    number_known: bool
    name_matches: bool
    face: FaceVerdict = Field(description="`unavailable`: the registry has no photo to compare (the default table)")


class ReviewItem(BaseModel):
    """An application as the police of its jurisdiction see it: numbers masked, the photo behind its own route."""

    id: UUID
    status: Status
    full_name: str
    document_type: DocumentTypeName
    document_masked: str
    nationality: str | None
    phone_masked: str
    dwelling_id: int
    dwelling: DwellingBrief
    area_code: str
    area_name: str
    check_in: date
    check_out: date
    registry_match: bool = Field(description="name and number found together in the identity registry")
    registry: RegistryFindingOut
    decided_path: Literal["automatic", "police_review"] | None = Field(
        description="who decided: the registry's full match (name, number, face), or an officer")
    watchlist_hit: bool
    has_photo: bool
    created_at: datetime
    waiting_seconds: float = Field(description="from the application to the decision, or to now while pending")
    decided_at: datetime | None
    decided_by: str | None = Field(description="the officer; null for an automatic decision")
    rejection_reason: str | None
    certificate_number: str | None
    certificate_revoked: bool
    seconds_to_certificate: float | None


class RejectIn(StrictBody):
    reason: Reason = Field(description="shown to the guest")


class PersonIn(StrictBody):
    """An entry of the default identity registry."""

    full_name: PersonName
    document_number: DocumentNumber
    document_type: DocumentTypeName = "resident_id"
    nationality: Nationality | None = None


class PersonOut(BaseModel):
    full_name: str
    document_type: DocumentTypeName
    document_masked: str
    created: bool = Field(description="false when an entry with this number was updated")


class CertificateOut(BaseModel):
    number: str
    token: str = Field(description="the certificate: a compact JWS (EdDSA, Ed25519)")
    verify_url: str = Field(description="what the certificate's QR code encodes")
    holder: str
    document_masked: str
    dwelling: DwellingBrief
    area_code: str
    check_in: date
    check_out: date
    issued_at: datetime
    not_before: datetime
    expires_at: datetime
    revoked: bool


class VerifyIn(StrictBody):
    token: str = Field(min_length=1, max_length=8192)


class VerifyOut(BaseModel):
    status: Verdict
    valid: bool
    revoked: bool
    expired: bool
    claims: dict[str, Any] | None = Field(description="null unless the signature holds and the certificate is ours")
    reason: Verdict | None = Field(default=None, description="why it is not valid; `unknown_certificate`: signed with "
                                                             "our key, but no certificate of ours has this number")
    area_name: str | None = Field(None, description="the name of the claims' area, also for certificates whose claims lack it")
    timezone: str = Field(description="the service's display zone, for showing the claims' times (IANA name)")


class RevokeIn(StrictBody):
    reason: Reason


class RevocationOut(BaseModel):
    number: str
    revoked_at: datetime
    revocation_reason: str


class Jwks(BaseModel):
    keys: list[dict[str, str]]


class RegistryPreviewLine(BaseModel):
    line: int
    full_name: str
    document_type: DocumentTypeName
    document_masked: str


class RegistryImportOut(BaseModel):
    dry_run: bool
    imported: int = Field(description="persons entered or updated (0 in a dry run)")
    lines: int = Field(description="persons the file holds, all checked")
    preview: list[RegistryPreviewLine] = Field(default_factory=list, description="in a dry run: the lines, masked")


class SigningKeyOut(BaseModel):
    kid: str
    created_at: datetime
    retired_at: datetime | None
    active: bool
    published_until: datetime | None = Field(
        description="a retired key stays in the JWKS until its last certificate expires; null: no longer published "
                    "(or, for the active key, for as long as it is active)")
    certificates: int = Field(description="certificates it signed")
