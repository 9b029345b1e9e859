"""Operator endpoints: liveness and readiness."""

from __future__ import annotations

import asyncio

import asyncpg
from litestar import Response, get
from litestar.datastructures import State
from litestar.plugins.prometheus import PrometheusController

from service.problems import database_away


@get("/healthz", name="health:live", tags=["operations"], include_in_schema=True)
async def healthz() -> dict[str, str]:
    """The process answers; says nothing about the database."""
    return {"status": "ok"}


async def answers(pool: asyncpg.Pool) -> bool:
    """Whether a connection of the pool answers within two seconds."""
    try:
        async with asyncio.timeout(2):
            async with pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
    except Exception:  # noqa: BLE001 - any failure of the pool means it does not answer
        return False
    return True


@get("/readyz", name="health:ready", tags=["operations"])
async def readyz(state: State) -> dict[str, str]:
    """Ready when the database answers within two seconds; with a replica, says whether it answers too.

    A replica that does not answer leaves the instance ready: its reads go to the primary meanwhile
    (service/db/pool.py). Every instance shares the replica, so failing readiness for it would take
    them all out of the load balancer, registrations too, for reads the primary can still serve.
    """
    if not await answers(state.pool):
        raise database_away()
    if not state.settings.read_database_url:
        return {"status": "ready"}
    return {"status": "ready", "replica": "ok" if await answers(state.read_pool) else "away"}


class MetricsController(PrometheusController):
    """Litestar's Prometheus endpoint, documented as the text it answers (not as JSON)."""

    tags = ["operations"]

    @get(name="metrics", media_type="text/plain", description="Prometheus text exposition format.")
    async def get(self) -> Response[str]:
        return await PrometheusController.get.fn(self)
