"""HTTP routes of the police domain: counts, live stream, map, search, watchlist."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator

import asyncpg
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.response import ServerSentEvent, ServerSentEventMessage

from service.areas.domain import within
from service.auth.guards import police_only
from service.auth.schemas import Staff
from service.police import dwellings, search, watchlist
from service.police.live import PoliceHub, alerts_since, counts_event
from service.police.occupancy import occupancy
from service.police.schemas import DwellingOnMap, HourCounts, Occupancy, SearchResult, WatchlistEntry, WatchlistIn
from service.problems import Problem

NO_STORE = {"Cache-Control": "no-store"}
COUNTS_INTERVAL_SECONDS = 0.5  # at most two `counts` events a second per stream
HEARTBEAT_SECONDS = 15


def area_in_jurisdiction(staff: Staff, area: str | None) -> str:
    """The area asked for, or the whole jurisdiction; outside it answers 404, as if absent."""
    area_code = area or staff.area_code or ""
    if not within(area_code, staff.area_code or ""):
        raise Problem(404, "area_not_found")
    return area_code


class PoliceController(Controller):
    path = "/api/v1/police"
    tags = ["police"]
    guards = [police_only]

    @get("/occupancy", name="police:occupancy", description="Counts of the area (default: the jurisdiction) and its children.")
    async def occupancy(self, state: State, db: asyncpg.Connection, staff: Staff, area: str | None = None) -> Occupancy:
        counts = await occupancy(db, area_in_jurisdiction(staff, area), state.settings.overdue_grace_hours)
        return Occupancy.model_validate(counts)

    @get("/stream", name="police:stream", media_type="text/event-stream",
         description="Server-sent events: `counts` on connect and on change (at most 2 a second), `alert` on "
                     "watchlist hits (with an id; Last-Event-ID resumes them), heartbeat comments.")
    async def stream(self, request: Request, state: State, staff: Staff, area: str | None = None) -> ServerSentEvent:
        area_code = area_in_jurisdiction(staff, area)
        hub: PoliceHub = state.police_hub
        counts = await hub.counts(area_code)  # also answers 404 for an unknown area before the stream opens
        # An alert id is a bigint in ASCII digits; any other Last-Event-ID resumes nothing (str.isdigit alone
        # admits "²" and numbers past bigint, which failed as 500s).
        last_alert = request.headers.get("last-event-id", "")
        resumable = last_alert.isascii() and last_alert.isdigit() and len(last_alert) <= 18
        async with state.pool.acquire() as conn:
            missed = await alerts_since(conn, area_code, int(last_alert)) if resumable else []
        return ServerSentEvent(_events(hub, area_code, counts, missed), headers=NO_STORE)

    @get("/dwellings", name="police:dwellings", description="Dwellings of the area with coordinates and risk colour.")
    async def dwellings(self, state: State, db: asyncpg.Connection, staff: Staff, area: str | None = None) -> list[DwellingOnMap]:
        rows = await dwellings.dwellings_with_risk(db, area_in_jurisdiction(staff, area), state.settings.overdue_grace_hours)
        return [DwellingOnMap.model_validate(dict(r)) for r in rows]

    @get("/timeline", name="police:timeline", description="Arrivals and departures per hour over the last 24 hours.")
    async def timeline(self, db: asyncpg.Connection, staff: Staff, area: str | None = None) -> list[HourCounts]:
        return [HourCounts.model_validate(dict(r)) for r in await dwellings.timeline(db, area_in_jurisdiction(staff, area))]

    @get("/search", name="police:search",
         description="Stays of one person in the jurisdiction, by exactly one of document_number, name, phone; "
                     "`reason` is required and the search and every result are written to the audit log.")
    async def search(self, state: State, db: asyncpg.Connection, staff: Staff, reason: str | None = None,
                     document_number: str | None = None, name: str | None = None,
                     phone: str | None = None) -> Response[list[SearchResult]]:
        results = await search.search(db, state.keyring, staff, reason, document_number, name, phone)
        return Response([SearchResult.model_validate(r) for r in results], headers=NO_STORE)

    @post("/watchlist", name="police:watchlist-add",
          description="Watch a document number in your jurisdiction: a registration or verification of it raises an alert.")
    async def add_to_watchlist(self, state: State, db: asyncpg.Connection, staff: Staff,
                               data: WatchlistIn) -> WatchlistEntry:
        entry, alerts = await watchlist.add_entry(db, state.keyring, staff, data.document_number, data.note)
        watchlist.announce(state.channels, alerts)
        return WatchlistEntry.model_validate(dict(entry))

    @get("/watchlist", name="police:watchlist")
    async def list_watchlist(self, db: asyncpg.Connection, staff: Staff) -> list[WatchlistEntry]:
        return [WatchlistEntry.model_validate(dict(r)) for r in await watchlist.entries(db, staff)]


def _message(event: str, data: dict, event_id: int | None = None) -> ServerSentEventMessage:
    return ServerSentEventMessage(event=event, data=json.dumps(data, default=str, ensure_ascii=False), id=event_id)


async def _events(hub: PoliceHub, area_code: str, counts: dict, missed: list[dict]) -> AsyncGenerator[ServerSentEventMessage, None]:
    async with hub.watch(area_code) as watcher:
        for alert in missed:
            yield _message("alert", alert, alert["id"])
        yield counts_event(counts)
        last_counts = time.monotonic()
        while True:
            try:
                # asyncio.timeout, not wait_for: no task and future per wait, so a thousand streams leave the
                # garbage collector less to do after each change.
                async with asyncio.timeout(HEARTBEAT_SECONDS):
                    await watcher.changed.wait()
            except TimeoutError:
                yield ServerSentEventMessage(comment="heartbeat")
                continue
            watcher.changed.clear()
            alerts, watcher.alerts = watcher.alerts, []
            for alert in alerts:
                yield _message("alert", alert, alert["id"])
            if watcher.counts is not None:
                # Coalesce: counts that arrive within the interval are sent once, the latest.
                await asyncio.sleep(max(0.0, COUNTS_INTERVAL_SECONDS - (time.monotonic() - last_counts)))
                latest, watcher.counts = watcher.counts, None
                yield latest
                last_counts = time.monotonic()
