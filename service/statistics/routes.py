"""HTTP routes of the statistics domain: reports (JSON, CSV, XLSX), the access log, thresholds, warnings."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

import asyncpg
from litestar import Controller, Request, Response, get, put
from litestar.datastructures import State
from litestar.params import Parameter

from service.areas.domain import within
from pydantic import Field

from service.auth.guards import admin_only, police_only, statistics_readers
from service.auth.schemas import Staff
from service.db.pool import primary_connection
from service.i18n import add_messages, language_of
from service.inputs import StrictBody
from service.problems import FieldError, Problem
from service.statistics import exports, warnings
from service.statistics.figures import Breakdown, Period, period_end, period_start
from service.statistics.report import Query, log_access, report

add_messages({
    "stats_range": ("The period must start on or before its end and span at most 3 years.",
                    "起止日期有误：开始不能晚于结束，跨度最长 3 年。"),
    "threshold_order": ("The red threshold must be at least the yellow one.", "红色阈值不能低于黄色阈值。"),
})

NO_STORE = {"Cache-Control": "no-store"}
LONGEST_RANGE = timedelta(days=3 * 366)


def readable_area(staff: Staff, area: str | None) -> str:
    """The area asked for, or the reader's own; police and analysts only inside theirs (else 404, as if absent)."""
    area_code = area or staff.area_code
    if area_code is None:
        raise Problem(400, "invalid_input", errors=[FieldError("area", "required")])
    if staff.role != "admin" and not within(area_code, staff.area_code or ""):
        raise Problem(404, "area_not_found")
    return area_code


def query_of(staff: Staff, area_code: str, first: date | None, last: date | None, period: Period,
             by: Breakdown, today: date) -> Query:
    last = last or today
    first = first or last - timedelta(days=29)
    if first > last or last - first > LONGEST_RANGE:
        raise Problem(400, "stats_range", errors=[FieldError("from", "stats_range")])
    if staff.role == "analyst":
        # Whole periods of a fixed grid only: no two analysts' queries differ by part of a period.
        first, last = period_start(first, period), period_end(last, period)
    return Query(area_code, first, last, period, by)


class StatisticsController(Controller):
    path = "/api/v1/statistics"
    tags = ["statistics"]
    guards = [statistics_readers]

    # Reports from the replica (read_db), CSV and XLSX too: no reader changes the figures. The access
    # log is written on the primary, wherever the figures came from.
    @get(name="statistics:report",
         description="Arrivals and guest-nights of an area per period and breakdown, with totals and "
                     "occupancy (docs/statistics.md). `format=csv` or `xlsx` gives the same table as a file. "
                     "Each row's `label` is in the request's language (`lang=en|zh`, else Accept-Language; "
                     "English otherwise), `labels` has both. "
                     "For analysts, small counts are suppressed and counts rounded to base 5.")
    async def statistics(
        self, request: Request, state: State, read_db: asyncpg.Connection, staff: Staff, area: str | None = None,
        from_: Annotated[date | None, Parameter(query="from")] = None,
        to: date | None = None, period: Period = "day", by: Breakdown = "none",
        format: Literal["json", "csv", "xlsx"] = "json",
    ) -> Response[Any]:
        settings = state.settings
        today = datetime.now(settings.zone).date()
        area_code = readable_area(staff, area)
        if not await read_db.fetchval("SELECT 1 FROM areas WHERE code = $1", area_code):
            raise Problem(404, "area_not_found")
        query = query_of(staff, area_code, from_, to, period, by, today)
        answer = await report(read_db, staff, query, today, settings.stats_min_cell, language_of(request))
        async with primary_connection(state, read_db) as db:
            await log_access(db, staff, query, answer)
        if format == "json":
            return Response(answer, headers=NO_STORE)
        return exports.as_file(answer, format)


class ThresholdIn(StrictBody):
    yellow: float = Field(gt=0, le=10)
    red: float = Field(gt=0, le=10)


class ThresholdController(Controller):
    path = "/api/v1/statistics"
    tags = ["statistics"]

    # Thresholds and the access log from the primary: an administrator lists them after setting one,
    # or to see who asked just now.
    @get("/thresholds", name="statistics:thresholds", guards=[admin_only],
         description="Bed-occupancy warning thresholds of every area, as fractions (defaults 0.8 and 1.0).")
    async def list_thresholds(self, db: asyncpg.Connection) -> list[dict[str, Any]]:
        return await warnings.thresholds(db)

    @put("/thresholds/{area_code:str}", name="statistics:threshold-set", guards=[admin_only])
    async def set_threshold(self, db: asyncpg.Connection, staff: Staff, area_code: str,
                            data: ThresholdIn) -> dict[str, Any]:
        if data.red < data.yellow:
            raise Problem(400, "invalid_input", errors=[FieldError("red", "threshold_order")])
        if not await warnings.set_thresholds(db, area_code, data.yellow, data.red, staff.id):
            raise Problem(404, "area_not_found")
        return {"area_code": area_code, "yellow": data.yellow, "red": data.red}

    @get("/warnings", name="statistics:warnings", guards=[police_only],
         description="Current capacity and unusual-arrivals warnings of the area (default: the jurisdiction).")
    async def current_warnings(self, read_db: asyncpg.Connection, staff: Staff,
                               area: str | None = None) -> list[dict[str, Any]]:
        return await warnings.current_warnings(read_db, readable_area(staff, area))

    @get("/access-log", name="statistics:access-log", guards=[admin_only],
         description="Who asked which statistics when (aggregate accesses), newest first.")
    async def access_log(self, db: asyncpg.Connection, limit: int = 100) -> list[dict[str, Any]]:
        rows = await db.fetch("SELECT id, at, actor, role, area_code, query, suppressed FROM stats_access_log "
                              "ORDER BY id DESC LIMIT $1", min(max(limit, 1), 1000))
        return [{**dict(r), "at": r["at"].isoformat()} for r in rows]
