"""Remote verification: the guest's application, the automatic decision, the police review, as SQL.

An application whose name, number and face the identity registry confirms, and whose number
no watchlist entry holds, is approved inside the request that brings it: the stay is
stored (registered by 'remote') and the certificate signed before the 202 answers. Any
other joins the review queue of the dwelling's jurisdiction, with the registry's finding for
the officer. The default registry holds no faces, so by default every application is
reviewed. The applicant's answer is "pending" whatever the registry found: it must not tell
a stranger whether a name and a number belong together. Every decision drops the
photo and is announced on the channel "verification:{id}", so the guest's page hears it
whichever instance it is connected to.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
from litestar.channels import ChannelsPlugin
from litestar.datastructures import State
from litestar.response import ServerSentEventMessage
from prometheus_client import Histogram

from service.areas.domain import jurisdiction_of, within
from service.events import subscription
from service.auth.schemas import Staff
from service.i18n import add_messages
from service.idempotency import claim, fingerprint, record
from service.police.alerts import announce
from service.police.watchlist import record_hits
from service.privacy import audit
from service.privacy.crypto import Keyring, mask, mask_document
from service.problems import FieldError, Problem
from service.settings import Settings
from service.stays.documents import parse_document
from service.stays.domain import CheckedGuest, CheckedStay, check_stay, lock_dwelling, store_stay
from service.stays.schemas import StayIn
from service.verification import certificates, photos
from service.verification.registry import IdentityRegistry
from service.verification.schemas import ApplicationForm, Status, VerificationStatus

add_messages(
    {
        "consent_required": (
            "Please agree to the identity check and to the photo being kept until the decision.",
            "请同意身份核验以及在审核完成前保存您的照片。",
        ),
        "verification_not_found": (
            "No application matches this link. Please open the link you were given when you applied.",
            "没有找到对应的申请，请使用申请时获得的链接。",
        ),
        "verification_decided": (
            "This application has been decided already.",
            "该申请已处理。",
        ),
        "verification_stay_over": (
            "The guest's stay ended before this decision: a certificate would be expired. Reject it instead.",
            "该住客的入住期已结束，凭证签发即过期，请驳回该申请。",
        ),
        "photo_gone": (
            "The photo was deleted when the application was decided.",
            "申请处理后照片已删除。",
        ),
    }
)

SECONDS_TO_CERTIFICATE = Histogram(
    "vhotel_verification_seconds_to_certificate",
    "Seconds from a guest's remote verification application to the issued certificate",
    ["decision"],  # automatic or review
    buckets=(0.25, 0.5, 1, 2, 5, 15, 60, 300, 900, 1800, 3600, 3 * 3600, 12 * 3600, 24 * 3600),
)
# An open status stream re-reads the state this often even without a notification,
# and the comment it sends then keeps proxies from closing an idle connection.
KEEPALIVE_SECONDS = 15.0
# Headroom in a request for the form fields beside the photo.
FORM_ALLOWANCE_BYTES = 64 * 1024


def channel_of(verification_id: uuid.UUID | str) -> str:
    return f"verification:{verification_id}"


# ---- the guest's secret ----


def guest_secret(keyring: Keyring, verification_id: uuid.UUID | str, idempotency_key: str) -> str:
    """Derived, not stored: a retry with the same Idempotency-Key gets the same secret back,
    while the database keeps only its hash (the idempotency table never sees it)."""
    mac = hmac.new(keyring.derive("verification-secret"), f"{verification_id}:{idempotency_key}".encode(),
                   hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _holds_secret(row: asyncpg.Record | None, secret: str) -> asyncpg.Record:
    """The row when ``secret`` is its secret; an unknown id and a wrong secret both answer 404."""
    if row is None or not hmac.compare_digest(row["secret_hash"], secret_hash(secret)):
        raise Problem(404, "verification_not_found")
    return row


# ---- applying ----


def check_application(form: ApplicationForm, today: date, longest_stay_days: int) -> CheckedStay:
    """The stay rules of a registration, plus consent and a photo; every offending field named at once."""
    errors: list[FieldError] = []
    checked = None
    stay = StayIn(full_name=form.full_name, document_type=form.document_type, document_number=form.document_number,
                  nationality=form.nationality, phone=form.phone, check_out=form.check_out)
    try:
        checked = check_stay(stay, today, longest_stay_days)
    except Problem as problem:
        errors.extend(problem.errors)
    if not form.consent:
        errors.append(FieldError("consent", "consent_required"))
    if form.photo is None:
        errors.append(FieldError("photo", "required"))
    if errors:
        raise Problem(400, "invalid_input", errors=errors)
    return checked


def application_fingerprint(keyring: Keyring, form: ApplicationForm, photo: bytes) -> bytes:
    fields = form.model_dump(mode="json", exclude={"photo"})
    return fingerprint(keyring, {**fields, "photo_sha256": hashlib.sha256(photo).hexdigest()})


@dataclass(frozen=True)
class Decided:
    """A decision, to announce once its transaction has committed."""

    verification_id: uuid.UUID
    status: Status
    certificate_number: str | None = None
    seconds_to_certificate: float | None = None
    automatic: bool = False
    stay_area: str | None = None  # where a stay was added: the police counts there changed
    alerts: list[dict[str, Any]] = field(default_factory=list)  # the new stay's watchlist hits


@dataclass(frozen=True)
class Applied:
    status_code: int
    body: dict[str, Any]
    alerts: list[dict[str, Any]]
    decided: Decided | None


async def apply(
    conn: asyncpg.Connection,
    keyring: Keyring,
    settings: Settings,
    registry: IdentityRegistry,
    dwelling: asyncpg.Record,
    form: ApplicationForm,
    idempotency_key: str,
) -> Applied:
    """Check, decide what can be decided at once, store; (202, answer), or the first answer for a repeated key.

    Nothing is stored when a rule or the photo refuses the application.
    """
    now = datetime.now(UTC)
    today = now.astimezone(settings.zone).date()
    checked = check_application(form, today, settings.longest_stay_days)
    photo = await photos.read_upload(form.photo)
    jpeg = await photos.prepare(photo)
    guest = checked.guests[0]
    finding = await registry.check(guest.full_name, guest.identity, jpeg)
    scope = f"verifications:{dwelling['id']}"
    async with conn.transaction():
        replay = await claim(conn, scope, idempotency_key, application_fingerprint(keyring, form, photo))
        if replay is not None:
            secret = guest_secret(keyring, replay.body["id"], idempotency_key)
            return Applied(replay.status_code, {**replay.body, "secret": secret}, [], None)
        verification_id = uuid.uuid4()
        secret = guest_secret(keyring, verification_id, idempotency_key)
        index = keyring.blind_index("document", guest.identity.number)
        alerts = await record_hits(conn, [index], dwelling["id"], dwelling["area_code"], verification_id=verification_id)
        automatic = finding.confirms and not alerts
        await conn.execute(
            """INSERT INTO verifications (id, dwelling_id, area_code, secret_hash, full_name, document_type,
                                          document_cipher, document_index, document_masked, nationality, phone_cipher,
                                          phone_masked, check_in, check_out, registry_match, registry_number_known,
                                          registry_face, watchlist_hit, photo_cipher, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)""",
            verification_id, dwelling["id"], dwelling["area_code"], secret_hash(secret), guest.full_name,
            guest.identity.document_type,
            keyring.seal(guest.identity.number, f"verifications.document.{verification_id}"), index,
            mask_document(guest.identity.document_type, guest.identity.number), guest.identity.nationality,
            keyring.seal(checked.phone, f"verifications.phone.{verification_id}"), mask(checked.phone),
            checked.check_in, checked.check_out, finding.number_known and finding.name_matches,
            finding.number_known, finding.face, bool(alerts),
            # An application decided at once never stores the face at all.
            None if automatic else photos.seal(keyring, verification_id, jpeg), now,
        )
        decided = await _approve(conn, keyring, settings, verification_id, None) if automatic else None
        body = {"id": str(verification_id), "status": decided.status if decided else "pending",
                "certificate_number": decided.certificate_number if decided else None}
        await record(conn, scope, idempotency_key, 202, body)
    return Applied(202, {**body, "secret": secret}, alerts, decided)


def announce_applied(state: State, applied: Applied) -> None:
    announce(state.channels, applied.alerts)
    if applied.decided:
        announce_decision(state, applied.decided)


def announce_decision(state: State, decided: Decided) -> None:
    """After the commit: tell the police view, measure the time to the certificate, wake the guest's streams."""
    if decided.stay_area:
        state.occupancy.touch()
    announce(state.channels, decided.alerts)
    if decided.seconds_to_certificate is not None:
        SECONDS_TO_CERTIFICATE.labels("automatic" if decided.automatic else "review").observe(
            decided.seconds_to_certificate)
    # A wake-up only: the streams read the state itself from the database.
    state.channels.publish({"status": decided.status}, channel_of(decided.verification_id))


# ---- deciding ----


async def _approve(
    conn: asyncpg.Connection, keyring: Keyring, settings: Settings, verification_id: uuid.UUID, decided_by: int | None
) -> Decided:
    """Store the stay, sign the certificate, drop the photo; inside the caller's transaction, the row pending."""
    row = await conn.fetchrow("SELECT * FROM verifications WHERE id = $1", verification_id)
    dwelling = await lock_dwelling(conn, row["dwelling_id"])
    number = keyring.open(row["document_cipher"], f"verifications.document.{verification_id}")
    identity = parse_document(row["document_type"], number, row["nationality"], row["check_in"])
    phone = keyring.open(row["phone_cipher"], f"verifications.phone.{verification_id}")
    checked = CheckedStay([CheckedGuest(row["full_name"], identity, None)], phone, row["check_in"], row["check_out"])
    stay = await store_stay(conn, keyring, settings, dwelling, checked, "remote")
    now = datetime.now(UTC)
    issued = await certificates.issue(
        conn, keyring, settings, verification_id=verification_id, stay_id=stay.id, holder=row["full_name"],
        document_masked=row["document_masked"], birth_year=identity.birth_date and identity.birth_date.year,
        dwelling=dwelling, check_in=row["check_in"],
        check_out=row["check_out"], now=now,
    )
    await conn.execute(
        """UPDATE verifications SET status = 'approved', decided_at = $2, decided_by = $3, photo_cipher = NULL,
                                    stay_id = $4,
                                    decided_path = CASE WHEN $3::bigint IS NULL THEN 'automatic' ELSE 'police_review' END
            WHERE id = $1""",
        verification_id, now, decided_by, stay.id,
    )
    return Decided(verification_id, "approved", issued.number, (now - row["created_at"]).total_seconds(),
                   automatic=decided_by is None, stay_area=dwelling["area_code"], alerts=stay.alerts)


async def _pending_in_jurisdiction(conn: asyncpg.Connection, staff: Staff, verification_id: uuid.UUID) -> asyncpg.Record:
    """Lock a pending application of the officer's jurisdiction; others' answer 404, as if absent."""
    row = await conn.fetchrow(
        "SELECT id, area_code, status, check_out, document_index FROM verifications WHERE id = $1 FOR UPDATE",
        verification_id)
    if row is None or not within(row["area_code"], jurisdiction_of(staff)):
        raise Problem(404, "verification_not_found")
    if row["status"] != "pending":
        raise Problem(409, "verification_decided")
    return row


async def approve(
    conn: asyncpg.Connection, keyring: Keyring, settings: Settings, staff: Staff, verification_id: uuid.UUID
) -> Decided:
    async with conn.transaction():
        row = await _pending_in_jurisdiction(conn, staff, verification_id)
        if row["check_out"] < datetime.now(settings.zone).date():
            raise Problem(409, "verification_stay_over")
        decided = await _approve(conn, keyring, settings, verification_id, staff.id)
        await audit.append(conn, staff, "verification_approve", None, row["document_index"],
                           {"verification_id": str(verification_id), "certificate": decided.certificate_number})
        return decided


async def reject(conn: asyncpg.Connection, staff: Staff, verification_id: uuid.UUID, reason: str) -> Decided:
    async with conn.transaction():
        row = await _pending_in_jurisdiction(conn, staff, verification_id)
        await conn.execute(
            """UPDATE verifications SET status = 'rejected', decided_at = now(), decided_by = $2,
                                        decided_path = 'police_review', rejection_reason = $3, photo_cipher = NULL
                WHERE id = $1""",
            verification_id, staff.id, reason,
        )
        await audit.append(conn, staff, "verification_reject", reason, row["document_index"],
                           {"verification_id": str(verification_id)})
    return Decided(verification_id, "rejected")


# ---- the review queue ----

REVIEW_QUERY = """
    SELECT v.id, v.status, v.full_name, v.document_type, v.document_masked, v.nationality, v.phone_masked,
           v.dwelling_id, json_build_object('name', d.name, 'address', d.address) AS dwelling, v.area_code,
           ar.name AS area_name, v.check_in, v.check_out, v.registry_match, v.watchlist_hit, v.photo_cipher IS NOT NULL AS has_photo,
           json_build_object('number_known', v.registry_number_known,
                             'name_matches', v.registry_match, 'face', v.registry_face) AS registry,
           v.decided_path,
           v.created_at, extract(epoch FROM coalesce(v.decided_at, now()) - v.created_at)::float8 AS waiting_seconds,
           v.decided_at, coalesce(nullif(a.display_name, ''), a.username) AS decided_by, v.rejection_reason,
           c.number AS certificate_number, c.revoked_at IS NOT NULL AS certificate_revoked,
           extract(epoch FROM c.issued_at - v.created_at)::float8 AS seconds_to_certificate
      FROM verifications v
      JOIN dwellings d ON d.id = v.dwelling_id
      JOIN areas ar ON ar.code = v.area_code
      LEFT JOIN accounts a ON a.id = v.decided_by
      LEFT JOIN certificates c ON c.verification_id = v.id"""
QUEUE_LIMIT = 200


async def review_list(conn: asyncpg.Connection, staff: Staff, status: Status) -> list[asyncpg.Record]:
    """Pending: oldest first, as they are to be worked through; decided: newest first."""
    order = "v.created_at" if status == "pending" else "v.decided_at DESC"
    return await conn.fetch(
        REVIEW_QUERY + f" WHERE v.status = $1 AND v.area_code LIKE $2 || '%' ORDER BY {order} LIMIT {QUEUE_LIMIT}",
        status, jurisdiction_of(staff),
    )


async def review_item(conn: asyncpg.Connection, staff: Staff, verification_id: uuid.UUID) -> asyncpg.Record:
    row = await conn.fetchrow(REVIEW_QUERY + " WHERE v.id = $1", verification_id)
    if row is None or not within(row["area_code"], jurisdiction_of(staff)):
        raise Problem(404, "verification_not_found")
    return row


async def photo(conn: asyncpg.Connection, keyring: Keyring, staff: Staff, verification_id: uuid.UUID) -> bytes:
    """The applicant's face, for an officer of the jurisdiction; each look is audited."""
    async with conn.transaction():
        row = await conn.fetchrow("SELECT area_code, photo_cipher, document_index FROM verifications WHERE id = $1",
                                  verification_id)
        if row is None or not within(row["area_code"], jurisdiction_of(staff)):
            raise Problem(404, "verification_not_found")
        if row["photo_cipher"] is None:
            raise Problem(404, "photo_gone")
        await audit.append(conn, staff, "verification_photo_view", None, row["document_index"],
                           {"verification_id": str(verification_id)})
    return photos.open_sealed(keyring, verification_id, row["photo_cipher"])


# ---- the guest's view ----

STATUS_QUERY = """
    SELECT v.id, v.secret_hash, v.status, c.number AS certificate_number, v.rejection_reason,
           json_build_object('name', d.name, 'address', d.address) AS dwelling, v.check_in, v.check_out,
           v.created_at, v.decided_at
      FROM verifications v
      JOIN dwellings d ON d.id = v.dwelling_id
      LEFT JOIN certificates c ON c.verification_id = v.id
     WHERE v.id = $1"""


def _status_of(row: asyncpg.Record) -> dict[str, Any]:
    return {k: v for k, v in dict(row).items() if k != "secret_hash"}


async def guest_status(conn: asyncpg.Connection, verification_id: uuid.UUID, secret: str) -> dict[str, Any]:
    return _status_of(_holds_secret(await conn.fetchrow(STATUS_QUERY, verification_id), secret))


async def status_events(
    pool: asyncpg.Pool, channels: ChannelsPlugin, verification_id: uuid.UUID
) -> AsyncGenerator[ServerSentEventMessage, None]:
    """The current status first, then every change until the decision.

    A notification only wakes the loop: the state is read from the database, so a
    notification lost (say, while the listener reconnects) delays an update by
    KEEPALIVE_SECONDS at most. Connections are taken from the pool per read, never
    held by an idle stream.
    """
    changed = asyncio.Event()

    async def wake(_: bytes) -> None:
        changed.set()

    async with subscription(channels, channel_of(verification_id)) as subscriber, \
            subscriber.run_in_background(wake):
        sent = None
        while True:
            changed.clear()
            async with pool.acquire() as conn:
                current = _status_of(await conn.fetchrow(STATUS_QUERY, verification_id))
            if current != sent:
                yield ServerSentEventMessage(event="status",
                                             data=VerificationStatus.model_validate(current).model_dump_json())
                sent = current
            else:
                yield ServerSentEventMessage(comment="keep-alive")
            if current["status"] != "pending":
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), KEEPALIVE_SECONDS)


CERTIFICATE_QUERY = """
    SELECT c.number, c.token, v.full_name AS holder, v.document_masked,
           json_build_object('name', d.name, 'address', d.address) AS dwelling, c.area_code, v.check_in, v.check_out,
           c.issued_at, c.not_before, c.expires_at, c.revoked_at IS NOT NULL AS revoked, v.secret_hash
      FROM certificates c
      JOIN verifications v ON v.id = c.verification_id
      JOIN dwellings d ON d.id = v.dwelling_id
     WHERE c.number = $1"""


async def guest_certificate(conn: asyncpg.Connection, settings: Settings, number: str, secret: str) -> dict[str, Any]:
    """The certificate, for the guest holding its application's secret."""
    row = await conn.fetchrow(CERTIFICATE_QUERY, number.strip().upper())
    if row is None or not hmac.compare_digest(row["secret_hash"], secret_hash(secret)):
        raise Problem(404, "certificate_not_found")
    return {**_status_of(row), "verify_url": certificates.verify_url(settings, row["token"])}
