"""Live police view: changes are coalesced per instance, fanned out to every instance, then to its streams.

The counts change when the counter applier (service/police/counters.py) has applied a
registration, not when it commits: the instance that holds the applier's lock applies
what is pending twice a second at most (at once when idle and woken by a registration of
its own, OccupancyNotifier.touch) and publishes the areas it changed on the "occupancy"
channel, so the database sees a few NOTIFYs a second, not one per registration. Every
instance's PoliceHub listens, recomputes the counts once per watched area and hands them
to the streams watching it. Alerts travel on the "alerts" channel the same way: a raised
alert wakes the streams of its area, and each reads from the database what it has not had
(service/police/cursor.py); an acknowledgement is read once and handed to them.

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
from service.police.alerts import ALERTS_CHANNEL, alert_area, alert_by_id, alert_event, settle_restored
from service.police.counters import CounterApplier
from service.police.occupancy import occupancy

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
    """Applies the pending changes (while this instance holds the applier's lock) and publishes the areas
    they changed, at most twice a second."""

    def __init__(self, channels: ChannelsPlugin, applier: CounterApplier, heartbeat_seconds: float) -> None:
        self._channels = channels
        self._applier = applier
        self._heartbeat_seconds = heartbeat_seconds
        self._changed: set[str] = set()
        self._wake = asyncio.Event()

    def touch(self) -> None:
        """A stay of this instance's changed: apply it now, if this instance applies and was idle."""
        self._wake.set()

    async def run(self) -> None:
        busy = False
        last_published = -self._heartbeat_seconds
        try:
            while True:
                if busy:  # coalesce: the next batch FLUSH_SECONDS after the last
                    await asyncio.sleep(FLUSH_SECONDS)
                elif self._applier.holds_lock:  # idle: a change of this instance's, or the next poll
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), FLUSH_SECONDS)
                else:  # another instance applies: try for the lock now and then
                    await asyncio.sleep(FLUSH_SECONDS)
                self._wake.clear()
                try:
                    self._changed |= await self._applier.apply()
                except Exception:  # noqa: BLE001 - the changes stay pending; this or another instance applies them
                    log.warning("applying the counters failed; trying again", exc_info=True)
                busy = bool(self._changed)
                if busy or time.monotonic() - last_published >= self._heartbeat_seconds:
                    await self._publish()  # nothing changed for a heartbeat: the empty change
                    last_published = time.monotonic()
        finally:
            await self._applier.release()

    async def _publish(self) -> None:
        changed, self._changed = self._changed, set()
        areas = sorted(changed) if len(changed) <= MAX_AREAS_PER_MESSAGE else [EVERYTHING]
        try:
            await self._channels.wait_published({"areas": areas}, OCCUPANCY_CHANNEL)
        except Exception:  # noqa: BLE001 - whatever failed, this instance must go on publishing
            # Keep the areas for the next try; the counts themselves are safe in the database.
            log.warning("publishing occupancy changes failed; retrying", exc_info=True)
            self._changed |= changed


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
    """One open stream: the latest counts of its area (as an encoded event), whether alerts were raised
    since it last read them, and the acknowledged alerts not yet sent.

    ``jurisdiction``: the officer's, which decides what an alert shows (service/police/alerts.py).
    """

    area_code: str
    jurisdiction: str
    counts: EncodedEvent | None = None
    raised: bool = False
    acknowledged: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def offer_counts(self, counts: EncodedEvent) -> None:
        self.counts = counts
        self.changed.set()

    def offer_raised(self) -> None:
        self.raised = True
        self.changed.set()

    def offer_acknowledged(self, alert: dict[str, Any]) -> None:
        self.acknowledged.append(alert)
        self.changed.set()


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
    async def watch(self, area_code: str, jurisdiction: str) -> AsyncGenerator[Watcher, None]:
        watcher = Watcher(area_code, jurisdiction)
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
                for watcher in self._watchers:
                    watcher.offer_raised()
            event = json.loads(message)
            if "areas" in event:
                await self._on_occupancy(event["areas"])
            elif "acknowledged" in event:
                await self._on_acknowledged(int(event["acknowledged"]))
            else:
                await self._on_raised(int(event["id"]))
        except Exception:  # noqa: BLE001 - one failed update must not end every stream's updates
            log.warning("live update skipped", exc_info=True)

    async def _on_occupancy(self, changed_areas: list[str]) -> None:
        watched = {w.area_code for w in self._watchers}
        affected = {a for a in watched if any(c == EVERYTHING or c.startswith(a) for c in changed_areas)}
        for area_code in affected:
            counts = counts_event(await self.counts(area_code))
            for watcher in [w for w in self._watchers if w.area_code == area_code]:
                watcher.offer_counts(counts)

    async def _on_raised(self, alert_id: int) -> None:
        async with self._pool.acquire() as conn:
            area_code = await alert_area(conn, alert_id)
        for watcher in self._watchers:
            if area_code is not None and area_code.startswith(watcher.area_code):
                watcher.offer_raised()

    async def _on_acknowledged(self, alert_id: int) -> None:
        async with self._pool.acquire() as conn:
            row = await alert_by_id(conn, alert_id)
        if row is None:
            return
        for watcher in self._watchers:
            if row["area_code"].startswith(watcher.area_code):
                watcher.offer_acknowledged(alert_event(row, watcher.jurisdiction))


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
        async with app.state.pool.acquire() as conn:
            await settle_restored(conn)
        app.state.occupancy = notifier = OccupancyNotifier(self._channels, CounterApplier(app.state.pool),
                                                           self._heartbeat_seconds)
        app.state.police_hub = hub = PoliceHub(app.state.pool, self._channels, self._grace_hours,
                                               self._heartbeat_seconds, self._backend.listen_again)
        tasks = [asyncio.create_task(work) for work in (notifier.run(), hub.run(), hub.check_hearing())]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
