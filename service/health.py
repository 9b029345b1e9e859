"""Operator endpoints: liveness and readiness."""

from __future__ import annotations

import asyncio

from litestar import Response, get
from litestar.datastructures import State
from litestar.plugins.prometheus import PrometheusController

from service.problems import database_away


@get("/healthz", name="health:live", tags=["operations"], include_in_schema=True)
async def healthz() -> dict[str, str]:
    """The process answers; says nothing about the database."""
    return {"status": "ok"}


@get("/readyz", name="health:ready", tags=["operations"])
async def readyz(state: State) -> dict[str, str]:
    """Ready when the database answers within two seconds."""
    try:
        async with asyncio.timeout(2):
            async with state.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure of the pool means not ready
        raise database_away() from exc
    return {"status": "ready"}


class MetricsController(PrometheusController):
    """Litestar's Prometheus endpoint, documented as the text it answers (not as JSON)."""

    tags = ["operations"]

    @get(name="metrics", media_type="text/plain", description="Prometheus text exposition format.")
    async def get(self) -> Response[str]:
        return await PrometheusController.get.fn(self)
