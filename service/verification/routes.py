"""HTTP routes of remote verification: the guest's application and certificate, the police review,
the identity registry, certificate checks and revocation, the published keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import asyncpg
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.openapi import ResponseSpec
from litestar.params import Body, Parameter
from litestar.response import ServerSentEvent

from service.auth.guards import admin_only, police_only
from service.auth.schemas import Staff
from service.dwellings.domain import dwelling_for_token
from service.dwellings.routes import qr_response
from service.idempotency import require_key
from service.privacy.crypto import mask_document
from service.problems import FieldError, Problem
from service.stays.documents import DocumentError
from service.net import client_address
from service.stays.routes import NO_STORE, IdempotencyKey
from service.verification import certificates, domain, photos
from service.csvfile import read_upload
from service.privacy import audit
from service.verification.registry import (
    IdentityRegistry,
    add_person,
    checked_person,
    import_file,
    provide_registry,
)
from service.verification.schemas import (
    ApplicationAccepted,
    ApplicationForm,
    CertificateOut,
    Jwks,
    PersonIn,
    PersonOut,
    RegistryImportOut,
    RegistryPreviewLine,
    RejectIn,
    RevocationOut,
    RevokeIn,
    ReviewItem,
    SigningKeyOut,
    Status,
    VerificationStatus,
    VerifyIn,
    VerifyOut,
)

Secret = Parameter(query="secret", min_length=1, max_length=100, description="the secret of the application's 202")
MultipartForm = Body(media_type=RequestEncodingType.MULTI_PART)


class PublicVerificationController(Controller):
    """What a guest without their document may do: apply, follow the decision, show the certificate."""

    path = "/api/v1/public"
    tags = ["public"]
    dependencies = {"registry": Provide(provide_registry, sync_to_thread=False)}

    @post("/dwellings/{token:str}/verifications", name="public:apply", status_code=202,
          request_max_body_size=photos.MAX_PHOTO_BYTES + domain.FORM_ALLOWANCE_BYTES,
          description="Multipart. Approved at once only when the identity registry confirms name, number and face "
                      "and no watchlist entry matches (the default registry compares no faces); otherwise pending "
                      "until the police of the area decide. A pending answer says nothing of what the registry found.")
    async def apply(self, state: State, db: asyncpg.Connection, registry: IdentityRegistry, token: str,
                    data: Annotated[ApplicationForm, MultipartForm],
                    idempotency_key: str | None = IdempotencyKey) -> Response[ApplicationAccepted]:
        key = require_key(idempotency_key)
        dwelling = await dwelling_for_token(db, token)
        applied = await domain.apply(db, state.keyring, state.settings, registry, dwelling, data, key)
        domain.announce_applied(state, applied)
        return Response(ApplicationAccepted.model_validate(applied.body), status_code=applied.status_code,
                        headers=NO_STORE)

    @get("/verifications/{verification_id:uuid}", name="public:verification")
    async def status(self, db: asyncpg.Connection, verification_id: UUID,
                     secret: str = Secret) -> Response[VerificationStatus]:
        row = await domain.guest_status(db, verification_id, secret)
        return Response(VerificationStatus.model_validate(row), headers=NO_STORE)

    @get("/verifications/{verification_id:uuid}/events", name="public:verification-events",
         media_type="text/event-stream",
         description="Server-sent events `status` (same shape as the status): the current one first, then each "
                     "change; the stream ends with the decision.")
    async def events(self, request: Request, state: State, db: asyncpg.Connection, verification_id: UUID,
                     secret: str = Secret) -> ServerSentEvent:
        await domain.guest_status(db, verification_id, secret)  # a wrong secret is refused before the stream opens
        client = client_address(request, state.settings.trusted_proxies)
        events = state.streams_by_address.hold(
            f"address:{client}", domain.status_events(state.pool, state.channels, verification_id))
        return ServerSentEvent(events, headers={**NO_STORE, "X-Accel-Buffering": "no"})

    @get("/certificates/{number:str}", name="public:certificate")
    async def certificate(self, state: State, db: asyncpg.Connection, number: str,
                          secret: str = Secret) -> Response[CertificateOut]:
        row = await domain.guest_certificate(db, state.settings, number, secret)
        return Response(CertificateOut.model_validate(row), headers=NO_STORE)

    @get("/certificates/{number:str}/qr.svg", name="public:certificate-qr-svg", media_type="image/svg+xml")
    async def qr_svg(self, request: Request, state: State, db: asyncpg.Connection, number: str,
                     secret: str = Secret) -> Response[bytes]:
        row = await domain.guest_certificate(db, state.settings, number, secret)
        return qr_response(request, row["verify_url"], "svg")

    @get("/certificates/{number:str}/qr.png", name="public:certificate-qr-png", media_type="image/png")
    async def qr_png(self, request: Request, state: State, db: asyncpg.Connection, number: str,
                     secret: str = Secret) -> Response[bytes]:
        row = await domain.guest_certificate(db, state.settings, number, secret)
        return qr_response(request, row["verify_url"], "png")


class VerificationReviewController(Controller):
    """The police review queue of their jurisdiction; anyone else's applications answer 404."""

    path = "/api/v1/verifications"
    tags = ["verification"]
    guards = [police_only]

    @get(name="verifications:list", description="`status=pending` (default): the queue, oldest first.")
    async def list_verifications(self, db: asyncpg.Connection, staff: Staff,
                                 status: Status = "pending") -> Response[list[ReviewItem]]:
        rows = await domain.review_list(db, staff, status)
        return Response([ReviewItem.model_validate(dict(r)) for r in rows], headers=NO_STORE)

    @get("/{verification_id:uuid}/photo", name="verifications:photo", media_type="image/jpeg",
         description="The applicant's photo, re-encoded without metadata; gone once the application is decided.")
    async def photo(self, state: State, db: asyncpg.Connection, staff: Staff, verification_id: UUID) -> Response[bytes]:
        jpeg = await domain.photo(db, state.keyring, staff, verification_id)
        return Response(jpeg, media_type="image/jpeg", headers=NO_STORE)

    @post("/{verification_id:uuid}/approve", name="verifications:approve", status_code=200,
          description="Stores the stay (registered by remote verification) and issues the certificate.")
    async def approve(self, state: State, db: asyncpg.Connection, staff: Staff,
                      verification_id: UUID) -> Response[ReviewItem]:
        decided = await domain.approve(db, state.keyring, state.settings, staff, verification_id)
        domain.announce_decision(state, decided)
        return await _review_item(db, staff, verification_id)

    @post("/{verification_id:uuid}/reject", name="verifications:reject", status_code=200)
    async def reject(self, state: State, db: asyncpg.Connection, staff: Staff,
                     verification_id: UUID, data: RejectIn) -> Response[ReviewItem]:
        decided = await domain.reject(db, staff, verification_id, data.reason)
        domain.announce_decision(state, decided)
        return await _review_item(db, staff, verification_id)


async def _review_item(db: asyncpg.Connection, staff: Staff, verification_id: UUID) -> Response[ReviewItem]:
    row = await domain.review_item(db, staff, verification_id)
    return Response(ReviewItem.model_validate(dict(row)), headers=NO_STORE)


class RegistryController(Controller):
    """The default identity registry adapter's table, filled by administrators."""

    path = "/api/v1/registry"
    tags = ["verification"]
    guards = [admin_only]

    @post("/persons", name="registry:add-person", status_code=201,
          responses={200: ResponseSpec(PersonOut, description="An entry with this number existed and was updated")},
          description="Enter a person; the same document number again updates the entry (200).")
    async def enter_person(self, state: State, db: asyncpg.Connection, data: PersonIn) -> Response[PersonOut]:
        try:
            identity = checked_person(data, datetime.now(state.settings.zone).date())
        except DocumentError as exc:
            raise Problem(400, "invalid_input", errors=[FieldError(exc.field, exc.code)]) from None
        created = await add_person(db, state.keyring, data.full_name, identity)
        out = PersonOut(full_name=data.full_name, document_type=identity.document_type,
                        document_masked=mask_document(identity.document_type, identity.number), created=created)
        return Response(out, status_code=201 if created else 200)


    @post("/import", name="registry:import", status_code=201, request_max_body_size=16 * 1024 * 1024,
          description="A CSV file (multipart field `file`, or the body as text/csv; UTF-8 or GB18030) with the "
                      "columns full_name, document_number [, document_type, nationality]. All lines or none: 422 "
                      "lists every refused line (never its number). `dry_run=true` checks only and previews the "
                      "lines, masked (200).")
    async def import_persons(self, request: Request, state: State, db: asyncpg.Connection, staff: Staff,
                             dry_run: bool = False) -> Response[RegistryImportOut]:
        data = await read_upload(request)
        today = datetime.now(state.settings.zone).date()
        async with db.transaction():
            rows = await import_file(db, state.keyring, data, today, dry_run)
            if not dry_run:
                await audit.append(db, staff, "registry.import", details={"persons": len(rows)})
        preview = [RegistryPreviewLine(line=r.line, full_name=r.full_name, document_type=r.document_type,
                                       document_masked=r.document_masked) for r in rows] if dry_run else []
        out = RegistryImportOut(dry_run=dry_run, imported=0 if dry_run else len(rows), lines=len(rows), preview=preview)
        return Response(out, status_code=200 if dry_run else 201, headers=NO_STORE)


class KeyController(Controller):
    """The certificate signing keys, for administrators; the public halves are at /.well-known/jwks.json."""

    path = "/api/v1/keys"
    tags = ["certificates"]
    guards = [admin_only]

    @get(name="keys:list", description="Newest first: the active key and the retired ones, with until when each "
                                       "retired key stays published (its last certificate's expiry).")
    async def list_keys(self, state: State, db: asyncpg.Connection) -> list[SigningKeyOut]:
        return [SigningKeyOut(**dict(r)) for r in await certificates.signing_keys(db, state.keyring)]

    @post("/rotate", name="keys:rotate", status_code=200,
          description="Retire the active key and make a new one; certificates already issued keep verifying.")
    async def rotate(self, state: State, db: asyncpg.Connection, staff: Staff) -> list[SigningKeyOut]:
        async with db.transaction():
            kid = await certificates.rotate_key(db, state.keyring)
            await audit.append(db, staff, "keys.rotate", details={"kid": kid})
        return [SigningKeyOut(**dict(r)) for r in await certificates.signing_keys(db, state.keyring)]


class CertificateController(Controller):
    path = "/api/v1/certificates"
    tags = ["certificates"]

    @post("/verify", name="certificates:verify", status_code=200,
          description="Anyone: is this token a certificate of ours, and is it valid, expired or revoked?")
    async def verify(self, state: State, db: asyncpg.Connection, data: VerifyIn) -> Response[VerifyOut]:
        verdict = await certificates.check(db, state.settings, data.token)
        return Response(VerifyOut.model_validate({**verdict, "timezone": state.settings.timezone}), headers=NO_STORE)

    @post("/{number:str}/revoke", name="certificates:revoke", guards=[police_only], status_code=200)
    async def revoke(self, db: asyncpg.Connection, staff: Staff, number: str, data: RevokeIn) -> RevocationOut:
        row = await certificates.revoke(db, staff, number, data.reason)
        return RevocationOut.model_validate(dict(row))


@get("/.well-known/jwks.json", name="certificates:jwks", tags=["certificates"],
     description="The public keys that certificates are signed with, old ones until their certificates expire.")
async def jwks(state: State, db: asyncpg.Connection) -> Response[Jwks]:
    keys = await certificates.published_keys(db, state.keyring)
    # Verifiers cache the keys (the /verify page keeps them for offline use); a new key is fetched on an unknown kid.
    return Response(Jwks(keys=keys), headers={"Cache-Control": "public, max-age=300"})
