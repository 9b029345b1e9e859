"""HTTP routes of the stays domain: the guest's registration and receipt, the owners' guest lists."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import Parameter

from service.auth.guards import owners, owners_and_police
from service.auth.schemas import Staff
from service.dwellings.domain import visible_dwelling
from service.dwellings.schemas import DwellingId
from service.i18n import add_messages, language_of, translate
from service.idempotency import HEADER, require_key
from service.police.alerts import announce
from service.stays import domain
from service.stays.schemas import Receipt, StayIn, StayOut

IdempotencyKey = Parameter(header=HEADER, required=False, description="8 to 100 of [A-Za-z0-9_-]; a retry sends the same key")
NO_STORE = {"Cache-Control": "no-store"}  # personal data: no copies in shared or browser caches

# Never where: the other stay is none of the guest's (or the desk's) business.
add_messages({"already_present": (
    "This document number is already registered as staying somewhere else right now. Your registration is "
    "recorded; if you have left the other place, please check out there with its receipt code.",
    "该证件号码目前已登记在其他住处入住。本次登记已保存；如您已离开另一处，请用那里的回执码办理退房。",
)})


def _receipt_response(request: Request, status_code: int, body: dict) -> Response[Receipt]:
    language = language_of(request)
    notices = [{**n, "message": translate(n["code"], language)} for n in body.get("notices", [])]
    return Response(Receipt.model_validate({**body, "notices": notices}), status_code=status_code, headers=NO_STORE)


def _announce(request: Request, state: State, registration: domain.Registration) -> Response[Receipt]:
    """Tell the police view, once the stay is committed, then answer the guest."""
    if registration.stored is not None:
        state.occupancy.touch()
        announce(state.channels, registration.stored.alerts)
    return _receipt_response(request, registration.status_code, registration.body)


class PublicStayController(Controller):
    """What a guest holding a QR code or a receipt code may do."""

    path = "/api/v1/public"
    tags = ["public"]

    @post("/dwellings/{token:str}/stays", name="public:register", status_code=201)
    async def register(self, request: Request, state: State, db: asyncpg.Connection, token: str,
                       data: StayIn, idempotency_key: str | None = IdempotencyKey) -> Response[Receipt]:
        key = require_key(idempotency_key)
        registration = await domain.register_stay(db, state.keyring, state.settings, data, key, "guest",
                                                  token=token)
        return _announce(request, state, registration)

    @get("/receipts/{code:str}", name="public:receipt")
    async def receipt(self, request: Request, db: asyncpg.Connection, code: str) -> Response[Receipt]:
        return _receipt_response(request, 200, await domain.receipt(db, code))

    @post("/receipts/{code:str}/checkout", name="public:checkout", status_code=200)
    async def checkout(self, request: Request, state: State, db: asyncpg.Connection, code: str) -> Response[Receipt]:
        receipt, changed_area = await domain.guest_checkout(db, code)
        if changed_area:
            state.occupancy.touch()
        return _receipt_response(request, 200, receipt)


class DwellingStayController(Controller):
    """A dwelling's guests, for its owner and for the police of its area."""

    path = "/api/v1/dwellings/{dwelling_id:int}/stays"
    tags = ["stays"]

    # The primary, for the police too: owners list what they just changed, and an officer comes here from
    # an alert about a stay the replica may not have yet.
    @get(name="stays:list", guards=[owners_and_police], description="Numbers masked. `current=true`: not checked out.")
    async def list_stays(self, state: State, db: asyncpg.Connection, staff: Staff, dwelling_id: DwellingId,
                         current: bool = False) -> Response[list[StayOut]]:
        await visible_dwelling(db, staff, dwelling_id)
        rows = await domain.dwelling_stays(db, dwelling_id, current, state.settings.overdue_grace_hours)
        return Response([StayOut.model_validate(dict(r)) for r in rows], headers=NO_STORE)

    @post(name="stays:walk-in", guards=[owners], status_code=201,
          description="The desk registers a walk-in guest; same body and answer as the guest's registration.")
    async def register_walk_in(self, request: Request, state: State, db: asyncpg.Connection, staff: Staff,
                               dwelling_id: DwellingId, data: StayIn,
                               idempotency_key: str | None = IdempotencyKey) -> Response[Receipt]:
        key = require_key(idempotency_key)
        registration = await domain.register_stay(db, state.keyring, state.settings, data, key, "desk",
                                                  owned=(dwelling_id, staff.id))
        return _announce(request, state, registration)


class StayController(Controller):
    path = "/api/v1/stays"
    tags = ["stays"]

    @post("/{stay_id:uuid}/checkout", name="stays:checkout", guards=[owners], status_code=200)
    async def checkout(self, state: State, db: asyncpg.Connection, staff: Staff, stay_id: UUID) -> Response[StayOut]:
        row = await domain.owner_checkout(db, staff, stay_id, state.settings.overdue_grace_hours)
        state.occupancy.touch()
        return Response(StayOut.model_validate(dict(row)), headers=NO_STORE)
