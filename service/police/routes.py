"""HTTP routes of the police domain: counts, live stream, map, search, watchlist, alert inbox."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator
from typing import Annotated

import asyncpg
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from service.areas.domain import within
from service.auth import domain as auth_domain
from service.auth.guards import police_only
from service.auth.schemas import Staff
from service.police import alerts, dwellings, search, watchlist
from service.police.cursor import AlertCursor
from service.police.live import PoliceHub, counts_event
from service.police.occupancy import occupancy
from service.police.schemas import (
    Alert,
    AlertPage,
    DwellingOnMap,
    HourCounts,
    Occupancy,
    SearchResult,
    WatchlistEntry,
    WatchlistIn,
)
from service.problems import Problem

NO_STORE = {"Cache-Control": "no-store"}
# A bigint: larger ids are refused (400), not a database error.
RowId = Annotated[int, Parameter(ge=1, le=2**63 - 1)]
OptionalRowId = Annotated[int | None, Parameter(ge=1, le=2**63 - 1)]
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

    # Counts, the map and the timeline come from the replica (read_db): an officer changes none of them,
    # and a second's lag is within what a refreshed page can show. The live stream's counts are the
    # primary's: it recomputes them when told of a change, which the replica may not have replayed yet.
    @get("/occupancy", name="police:occupancy", description="Counts of the area (default: the jurisdiction) and its children.")
    async def occupancy(self, state: State, read_db: asyncpg.Connection, staff: Staff, area: str | None = None) -> Occupancy:
        counts = await occupancy(read_db, area_in_jurisdiction(staff, area), state.settings.overdue_grace_hours)
        return Occupancy.model_validate(counts)

    @get("/stream", name="police:stream", media_type="text/event-stream",
         description="Server-sent events: `counts` on connect and on change (at most 2 a second), `alert` when "
                     "one is raised or acknowledged (the inbox's item shape), heartbeat comments. A raised "
                     "alert's event id is the stream's position: sent back as Last-Event-ID, the stream resumes "
                     "with every alert of the area not yet sent, once.")
    async def stream(self, request: Request, state: State, staff: Staff, area: str | None = None) -> ServerSentEvent:
        area_code = area_in_jurisdiction(staff, area)
        hub: PoliceHub = state.police_hub
        counts = await hub.counts(area_code)  # also answers 404 for an unknown area before the stream opens
        # Anything but a cursor (or an alert id of before it) resumes nothing.
        resume = AlertCursor.parse(request.headers.get("last-event-id", ""))
        events = state.streams_by_account.hold(
            f"account:{staff.id}",
            # state.pool: the primary; a lagging replica would drop alerts the stream missed
            _events(hub, state.pool, area_code, staff.area_code or "", counts, resume, request.auth))
        return ServerSentEvent(events, headers=NO_STORE)

    @get("/dwellings", name="police:dwellings", description="Dwellings of the area with coordinates and risk colour.")
    async def dwellings(self, state: State, read_db: asyncpg.Connection, staff: Staff,
                        area: str | None = None) -> list[DwellingOnMap]:
        rows = await dwellings.dwellings_with_risk(read_db, area_in_jurisdiction(staff, area),
                                                   state.settings.overdue_grace_hours)
        return [DwellingOnMap.model_validate(dict(r)) for r in rows]

    @get("/timeline", name="police:timeline", description="Arrivals and departures per hour over the last 24 hours.")
    async def timeline(self, read_db: asyncpg.Connection, staff: Staff, area: str | None = None) -> list[HourCounts]:
        return [HourCounts.model_validate(dict(r))
                for r in await dwellings.timeline(read_db, area_in_jurisdiction(staff, area))]

    # The primary: a search often follows an alert, and must find the stay that raised it; its audit entries
    # are written in the transaction that reads the results, so they record exactly what was revealed.
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
        entry, raised = await watchlist.add_entry(db, state.keyring, staff, data.document_number, data.note,
                                                  data.expires_at)
        alerts.announce(state.channels, raised)
        return WatchlistEntry.model_validate(dict(entry))

    # The watchlist and the inbox from the primary: an officer lists them right after adding, removing or
    # acknowledging, and must see that change.
    @get("/watchlist", name="police:watchlist",
         description="Entries in force (not removed, not expired) at or below your jurisdiction.")
    async def list_watchlist(self, db: asyncpg.Connection, staff: Staff) -> list[WatchlistEntry]:
        return [WatchlistEntry.model_validate(dict(r)) for r in await watchlist.entries(db, staff)]

    @delete("/watchlist/{entry_id:int}", name="police:watchlist-remove",
            description="Stop watching; the entry is kept for the record with who removed it (audited).")
    async def remove_from_watchlist(self, db: asyncpg.Connection, staff: Staff, entry_id: RowId) -> None:
        await watchlist.remove_entry(db, staff, entry_id)

    @get("/alerts", name="police:alerts",
         description="The alert inbox of the area (default: the jurisdiction), newest first; `before` pages on.")
    async def list_alerts(self, db: asyncpg.Connection, staff: Staff, area: str | None = None,
                          before: OptionalRowId = None,
                          limit: int = Parameter(default=50, ge=1, le=alerts.MAX_PAGE),
                          unacknowledged: bool = False) -> Response[AlertPage]:
        page = await alerts.inbox(db, staff, area_in_jurisdiction(staff, area), before, limit, unacknowledged)
        return Response(AlertPage.model_validate(page), headers=NO_STORE)

    @post("/alerts/{alert_id:int}/acknowledge", name="police:alert-acknowledge", status_code=200,
          description="Record who acknowledged the alert and when (audited); the first acknowledgement stands.")
    async def acknowledge_alert(self, state: State, db: asyncpg.Connection, staff: Staff, alert_id: RowId) -> Alert:
        alert, changed = await alerts.acknowledge(db, staff, alert_id)
        if changed:  # the other open police views drop it from their inbox
            alerts.announce_acknowledged(state.channels, alert)
        return Alert.model_validate(alert)


async def _session_ended(pool: asyncpg.Pool, token: str) -> bool:
    """The stream's session is no longer valid; a database that cannot answer ends no stream (its
    heartbeats go on through an outage, as they did before)."""
    try:
        async with pool.acquire() as conn:
            return await auth_domain.staff_for_token(conn, token) is None
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False


def _message(event: str, data: dict, event_id: str | None = None) -> ServerSentEventMessage:
    return ServerSentEventMessage(event=event, data=json.dumps(data, default=str, ensure_ascii=False), id=event_id)


async def _raised(pool: asyncpg.Pool, area_code: str, jurisdiction: str,
                  cursor: AlertCursor | None) -> tuple[list[ServerSentEventMessage], AlertCursor]:
    """The alerts a stream at ``cursor`` has not had, each event naming the cursor once it is sent."""
    async with pool.acquire() as conn:
        raised, cursor_after = await alerts.alerts_after(conn, area_code, cursor, jurisdiction)
    return [_message("alert", alert, after.event_id()) for alert, after in raised], cursor_after


async def _events(hub: PoliceHub, pool: asyncpg.Pool, area_code: str, jurisdiction: str, counts: dict,
                  resume: AlertCursor | None, session_token: str) -> AsyncGenerator[ServerSentEventMessage, None]:
    async with hub.watch(area_code, jurisdiction) as watcher:
        # Watching before reading the cursor: an alert committed in between wakes the watcher, and the next
        # read from the cursor has it (a stream resuming through a balancer lands on another instance).
        missed, cursor = await _raised(pool, area_code, jurisdiction, resume)
        for message in missed:
            yield message
        yield counts_event(counts)
        last_counts = session_checked = time.monotonic()
        while True:
            try:
                # asyncio.timeout, not wait_for: no task and future per wait, so a thousand streams leave the
                # garbage collector less to do after each change.
                async with asyncio.timeout(HEARTBEAT_SECONDS):
                    await watcher.changed.wait()
            except TimeoutError:
                changed = False
            else:
                changed = True
            # A session ended since (logout, a password change, the account disabled) ends the stream too, at
            # the latest a heartbeat later: a screen left open would otherwise go on receiving alerts for hours.
            # Checked at each heartbeat, and as often on a stream too busy to have one.
            if not changed or time.monotonic() - session_checked >= HEARTBEAT_SECONDS:
                if await _session_ended(pool, session_token):
                    return
                session_checked = time.monotonic()
            if not changed:
                yield ServerSentEventMessage(comment="heartbeat")
                continue
            watcher.changed.clear()
            if watcher.raised:
                watcher.raised = False
                raised, cursor = await _raised(pool, area_code, jurisdiction, cursor)
                for message in raised:
                    yield message
            acknowledged, watcher.acknowledged = watcher.acknowledged, []
            for alert in acknowledged:  # no event id: an acknowledgement does not move the cursor
                yield _message("alert", alert)
            if watcher.counts is not None:
                # Coalesce: counts that arrive within the interval are sent once, the latest.
                await asyncio.sleep(max(0.0, COUNTS_INTERVAL_SECONDS - (time.monotonic() - last_counts)))
                latest, watcher.counts = watcher.counts, None
                yield latest
                last_counts = time.monotonic()
