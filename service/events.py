"""Live events across all instances: Litestar's channels plugin on PostgreSQL LISTEN/NOTIFY.

The stock asyncpg backend opens a new connection for every publish and does not
listen again after the database restarts; this small subclass publishes through
the application's pool and re-establishes its listening connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Iterable

import anyio
import asyncpg
from litestar.channels import ChannelsPlugin, Subscriber
from litestar.channels.backends.asyncpg import AsyncPgChannelsBackend

log = logging.getLogger(__name__)

RECONNECT_DELAY_SECONDS = 1.0
# A healthy listening connection answers UNLISTEN and closes in milliseconds; a deaf one never does.
LISTENER_ANSWER_SECONDS = 5.0


class PgChannelsBackend(AsyncPgChannelsBackend):
    """Publish through the pool; listen again on a fresh connection after the old one is lost."""

    def __init__(self, dsn: str) -> None:
        super().__init__(dsn)
        self.pool: asyncpg.Pool | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._stopping = False

    async def on_startup(self) -> None:
        await super().on_startup()
        self._listener_conn.add_termination_listener(self._on_listener_lost)

    async def on_shutdown(self) -> None:
        self._stopping = True
        if self._reconnecting:
            self._reconnecting.cancel()
        with contextlib.suppress(TimeoutError):  # asyncpg aborts the connection on the timeout
            await self._listener_conn.close(timeout=LISTENER_ANSWER_SECONDS)
        await super().on_shutdown()

    async def publish(self, data: bytes, channels: Iterable[str]) -> None:
        if self.pool is None:
            await super().publish(data, channels)
            return
        payload = data.decode()
        async with self.pool.acquire() as conn:
            for channel in channels:
                await conn.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        """The stock UNLISTEN, bounded: on a deaf connection it would wait until the watchdog
        replaced it, and at shutdown, when the watchdog has stopped, for ever."""
        async with self._listener_lock:
            leaving = set(channels) & self._subscribed_channels
            self._subscribed_channels -= leaving
            with anyio.move_on_after(LISTENER_ANSWER_SECONDS) as waiting:
                for channel in leaving:
                    await self._listener_conn.remove_listener(channel, self._listener)
        if waiting.cancelled_caught:
            self.listen_again()  # the connection is deaf, or its command was cut short: replace it

    def listen_again(self) -> None:
        """Replace a listening connection that looks open but delivers nothing: after a network
        fault a half-open TCP connection stays silent, and keepalives take hours to notice."""
        if not self._listener_conn.is_closed():
            self._listener_conn.terminate()  # its termination listener starts _listen_again

    def _on_listener_lost(self, _: asyncpg.Connection) -> None:
        if not self._stopping and self._reconnecting is None:
            self._reconnecting = asyncio.get_running_loop().create_task(self._listen_again())

    async def _listen_again(self) -> None:
        while not self._stopping:
            try:
                conn = await self._connect()
                async with self._listener_lock:
                    for channel in self._subscribed_channels:
                        await conn.add_listener(channel, self._listener)
                    self._listener_conn = conn
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await asyncio.sleep(RECONNECT_DELAY_SECONDS)
                continue
            # From here a new loss starts a new attempt, also one that happened a moment ago.
            self._reconnecting = None
            conn.add_termination_listener(self._on_listener_lost)
            if conn.is_closed():
                self._on_listener_lost(conn)
            log.info("listening for events again", extra={"channels": len(self._subscribed_channels)})
            return


@contextlib.asynccontextmanager
async def subscription(channels: ChannelsPlugin, names: str | list[str]) -> AsyncGenerator[Subscriber, None]:
    """``channels.start_subscription``, but a request cancelled meanwhile cannot interrupt it.

    Subscribing runs LISTEN on the one connection every stream of the instance shares; a
    browser going away mid-LISTEN cancelled that command, and asyncpg then stopped handing
    that connection's notifications on: every live view of the instance went silent.
    Cancelled between the plugin's bookkeeping and the backend, it also left a subscriber
    behind. So both ends run shielded; they take a few milliseconds (the backend bounds
    the UNLISTEN of a connection that has gone deaf).
    """
    with anyio.CancelScope(shield=True):
        subscriber = await channels.subscribe(names)
    try:
        yield subscriber
    finally:
        with anyio.CancelScope(shield=True):
            await channels.unsubscribe(subscriber, names)


def channels_plugin(backend: PgChannelsBackend) -> ChannelsPlugin:
    # A slow browser loses its oldest events, never stalls the others: the next event carries fresh counts anyway.
    return ChannelsPlugin(backend=backend, arbitrary_channels_allowed=True,
                          subscriber_max_backlog=100, subscriber_backlog_strategy="dropleft")
