"""Live police view: changes are coalesced per instance, fanned out to every instance, then to its streams.

A registration marks its area as changed (OccupancyNotifier.touch); twice a second at
most, each instance publishes the changed areas on the "occupancy" channel, so the
database sees a few NOTIFYs a second, not one per registration. Every instance's
PoliceHub listens, recomputes the counts once per watched area and hands them to
the streams watching it. Alerts travel on the "alerts" channel the same way.

With nothing changed, the notifier still publishes an empty change every heartbeat.
A hub that hears nothing at all for a few heartbeats (not even its own instance's,
which are sent on another connection) is deaf, and has the listening connection replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from litestar import Litestar
from litestar.channels import ChannelsPlugin
from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol
from litestar.response import ServerSentEventMessage

from service.events import PgChannelsBackend, subscription
from service.police.occupancy import occupancy
from service.police.watchlist import ALERTS_CHANNEL

log = logging.getLogger(__name__)

OCCUPANCY_CHANNEL = "occupancy"
FLUSH_SECONDS = 0.5
# NOTIFY payloads are limited to 8000 bytes: past this many areas, say "everything changed".
MAX_AREAS_PER_MESSAGE = 200
EVERYTHING = ""  # the empty prefix: every area
RESUBSCRIBE_SECONDS = 1.0
POOL_WAIT_SECONDS = 5.0
MISSED_AFTER_HEARTBEATS = 2
DEAF_AFTER_HEARTBEATS = 3


class OccupancyNotifier:
    """Collects the areas changed on this instance and publishes them at most twice a second."""

    def __init__(self, channels: ChannelsPlugin, heartbeat_seconds: float) -> None:
        self._channels = channels
        self._heartbeat_seconds = heartbeat_seconds
        self._changed: set[str] = set()
        self._wake = asyncio.Event()

    def touch(self, area_code: str) -> None:
        self._changed.add(area_code)
        self._wake.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):  # no change for a heartbeat: publish the empty change
                await asyncio.wait_for(self._wake.wait(), self._heartbeat_seconds)
            self._wake.clear()
            changed, self._changed = self._changed, set()
            areas = sorted(changed) if len(changed) <= MAX_AREAS_PER_MESSAGE else [EVERYTHING]
            try:
                await self._channels.wait_published({"areas": areas}, OCCUPANCY_CHANNEL)
            except Exception:  # noqa: BLE001 - whatever failed, this instance must go on publishing
                # Keep the areas for the next try; the counts themselves are safe in the database.
                log.warning("publishing occupancy changes failed; retrying", exc_info=True)
                self._changed |= changed
                self._wake.set()
            await asyncio.sleep(FLUSH_SECONDS)


@dataclass
class EncodedEvent(ServerSentEventMessage):
    """An event encoded once however many streams send it: with a thousand streams on an area,
    encoding the counts per stream (json.dumps and the SSE framing) took most of the fan-out's time."""

    def __post_init__(self) -> None:
        self.encoded = super().encode()

    def encode(self) -> bytes:
        return self.encoded


def counts_event(counts: dict[str, Any]) -> EncodedEvent:
    return EncodedEvent(event="counts", data=json.dumps(counts, default=str, ensure_ascii=False))


@dataclass(eq=False)
class Watcher:
    """One open stream: the latest counts of its area (as an encoded event) and the alerts not yet sent."""

    area_code: str
    counts: EncodedEvent | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def offer_counts(self, counts: EncodedEvent) -> None:
        self.counts = counts
        self.changed.set()

    def offer_alert(self, alert: dict[str, Any]) -> None:
        self.alerts.append(alert)
        self.changed.set()


ALERT_QUERY = """
    SELECT a.id, a.created_at, a.area_code, a.dwelling_id, a.stay_id, a.verification_id,
           d.name AS dwelling_name, d.address AS dwelling_address, w.note, w.document_masked
      FROM alerts a JOIN dwellings d ON d.id = a.dwelling_id JOIN watchlist w ON w.id = a.watchlist_id"""


def alert_event(row: asyncpg.Record) -> dict[str, Any]:
    return {k: (str(v) if k in ("created_at", "stay_id", "verification_id") and v is not None else v)
            for k, v in dict(row).items()}


class PoliceHub:
    """This instance's fan-out of counts and alerts to its open police streams."""

    def __init__(self, pool: asyncpg.Pool, channels: ChannelsPlugin, grace_hours: int,
                 heartbeat_seconds: float, listen_again: Callable[[], None]) -> None:
        self._pool = pool
        self._channels = channels
        self._grace_hours = grace_hours
        self._heartbeat_seconds = heartbeat_seconds
        self._listen_again = listen_again
        self._last_heard = self._replaced_at = time.monotonic()
        self._watchers: set[Watcher] = set()

    @contextlib.asynccontextmanager
    async def watch(self, area_code: str) -> AsyncGenerator[Watcher, None]:
        watcher = Watcher(area_code)
        self._watchers.add(watcher)
        try:
            yield watcher
        finally:
            self._watchers.discard(watcher)

    async def counts(self, area_code: str) -> dict[str, Any]:
        # Bounded: a pool exhausted for a moment costs one update, never the hub.
        async with self._pool.acquire(timeout=POOL_WAIT_SECONDS) as conn:
            return await occupancy(conn, area_code, self._grace_hours)

    async def run(self) -> None:
        while True:
            try:
                async with subscription(self._channels, [OCCUPANCY_CHANNEL, ALERTS_CHANNEL]) as subscriber:
                    async for message in subscriber.iter_events():
                        await self._handle(message)
            except Exception:  # noqa: BLE001 - the streams of this instance depend on this loop going on
                log.warning("police hub lost its subscription; subscribing again", exc_info=True)
            await asyncio.sleep(RESUBSCRIBE_SECONDS)

    async def check_hearing(self) -> None:
        """Replace the listening connection when no message, not even a heartbeat, came for a while."""
        deaf_after = DEAF_AFTER_HEARTBEATS * self._heartbeat_seconds
        while True:
            await asyncio.sleep(self._heartbeat_seconds)
            now = time.monotonic()
            if now - self._last_heard > deaf_after and now - self._replaced_at > deaf_after:
                log.warning("no live events for %.1f s; listening on a new connection", now - self._last_heard)
                self._replaced_at = now
                self._listen_again()

    async def _handle(self, message: bytes) -> None:
        # After a gap longer than the heartbeats allow (a deaf connection, a database restart),
        # changes may have been missed: every watched area gets fresh counts.
        now = time.monotonic()
        missed_some = now - self._last_heard > MISSED_AFTER_HEARTBEATS * self._heartbeat_seconds
        self._last_heard = now
        try:
            if missed_some:
                await self._on_occupancy([EVERYTHING])
            event = json.loads(message)
            if "areas" in event:
                await self._on_occupancy(event["areas"])
            else:
                await self._on_alert(int(event["id"]))
        except Exception:  # noqa: BLE001 - one failed update must not end every stream's updates
            log.warning("live update skipped", exc_info=True)

    async def _on_occupancy(self, changed_areas: list[str]) -> None:
        watched = {w.area_code for w in self._watchers}
        affected = {a for a in watched if any(c == EVERYTHING or c.startswith(a) for c in changed_areas)}
        for area_code in affected:
            counts = counts_event(await self.counts(area_code))
            for watcher in [w for w in self._watchers if w.area_code == area_code]:
                watcher.offer_counts(counts)

    async def _on_alert(self, alert_id: int) -> None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(ALERT_QUERY + " WHERE a.id = $1", alert_id)
        if row is None:
            return
        for watcher in self._watchers:
            if row["area_code"].startswith(watcher.area_code):
                watcher.offer_alert(alert_event(row))


async def alerts_since(conn: asyncpg.Connection, area_code: str, last_id: int) -> list[dict[str, Any]]:
    """Alerts a reconnecting stream missed (its Last-Event-ID), oldest first."""
    rows = await conn.fetch(ALERT_QUERY + " WHERE a.area_code LIKE $1 || '%' AND a.id > $2 ORDER BY a.id LIMIT 100",
                            area_code, last_id)
    return [alert_event(r) for r in rows]


class LiveViewPlugin(InitPluginProtocol):
    """Runs the notifier and the hub of this instance.

    Listed after the channels plugin, its lifespan starts after the channels are
    up and ends before they go down.
    """

    def __init__(self, channels: ChannelsPlugin, backend: PgChannelsBackend, grace_hours: int,
                 heartbeat_seconds: float) -> None:
        self._channels = channels
        self._backend = backend
        self._grace_hours = grace_hours
        self._heartbeat_seconds = heartbeat_seconds

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.lifespan.append(self._lifespan)
        return app_config

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Litestar) -> AsyncGenerator[None, None]:
        app.state.occupancy = notifier = OccupancyNotifier(self._channels, self._heartbeat_seconds)
        app.state.police_hub = hub = PoliceHub(app.state.pool, self._channels, self._grace_hours,
                                               self._heartbeat_seconds, self._backend.listen_again)
        tasks = [asyncio.create_task(work) for work in (notifier.run(), hub.run(), hub.check_hearing())]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
