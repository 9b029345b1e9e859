"""A statistics report as a reader sees it: the figures, and for analysts the disclosure control.

Analysts (other departments) get aggregates that protect people (docs/statistics.md):
* the period grid is fixed: from/to snap to whole periods, so two queries never differ by part of one;
* primary suppression: a count from 1 to VH_STATS_MIN_CELL - 1, or a cell to which fewer than three
  dwellings contribute (on its busiest day), is null and flagged;
* complementary suppression: in every period (across keys) and every key (across periods) a lone
  suppressed cell takes a second one with it, so a row or column sum never isolates it;
* every count an analyst sees, cells and totals, is rounded to base 5 (rates from the rounded
  figures), so the totals minus the visible cells, or the difference of two neighbouring queries,
  gives a range that holds any small count, never the count.
Police and administrators see exact figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from service.auth.schemas import Staff
from service.statistics import figures
from service.statistics.figures import Breakdown, Cell, Period, Totals
from service.statistics.labels import Language

DEFINITIONS_VERSION = "2026-11"
MEASURES = ("arrivals", "guest_nights")
DOMINANCE_DWELLINGS = 3
ROUNDING_BASE = 5


@dataclass(frozen=True)
class Query:
    area_code: str
    first: date
    last: date
    period: Period
    by: Breakdown


def _ratio(part: int | None, whole: int | None, digits: int = 4) -> float | None:
    return round(part / whole, digits) if part is not None and whole else None


def _round(value: int) -> int:
    return ROUNDING_BASE * round(value / ROUNDING_BASE)


def suppress(cells: list[Cell], min_cell: int) -> list[dict[str, Any]]:
    """The cells as rows, with small and dominated counts hidden and their complements."""
    hidden: dict[str, set[int]] = {m: set() for m in MEASURES}
    for measure in MEASURES:
        for i, c in enumerate(cells):
            value = getattr(c, measure)
            if value and (value < min_cell or c.dwellings < DOMINANCE_DWELLINGS):
                hidden[measure].add(i)
        # A lone hidden cell in a period or a key would be its line's sum minus the rest: hide the
        # smallest other non-zero cell of that line too, until no line has exactly one.
        lines = [[i for i, c in enumerate(cells) if c.period == p] for p in {c.period for c in cells}]
        lines += [[i for i, c in enumerate(cells) if c.key == k] for k in {c.key for c in cells}]
        changed = True
        while changed:
            changed = False
            for line in lines:
                lone = [i for i in line if i in hidden[measure]]
                rest = [i for i in line if i not in hidden[measure] and getattr(cells[i], measure)]
                if len(lone) == 1 and rest:
                    hidden[measure].add(min(rest, key=lambda i: getattr(cells[i], measure)))
                    changed = True
    rows = []
    for i, c in enumerate(cells):
        row: dict[str, Any] = {"period": c.period.isoformat(), "key": c.key, "suppressed": False}
        for measure in MEASURES:
            row[measure] = None if i in hidden[measure] else _round(getattr(c, measure))
            row["suppressed"] = row["suppressed"] or i in hidden[measure]
        rows.append(row)
    return rows


def totals_out(t: Totals, rounded: bool) -> dict[str, Any]:
    arrivals, nights = (_round(t.arrivals), _round(t.guest_nights)) if rounded else (t.arrivals, t.guest_nights)
    occupied = _round(t.occupied_dwelling_nights) if rounded else t.occupied_dwelling_nights
    return {
        "arrivals": arrivals,
        "guest_nights": nights,
        "beds": t.beds,
        "bed_nights": t.bed_nights,
        "nights": t.nights,
        "bed_occupancy": _ratio(nights, t.bed_nights),
        "dwelling_occupancy": _ratio(occupied, t.dwelling_nights),
        "average_stay": _ratio(nights, arrivals, 2),
        "rounded": rounded,
    }


async def report(conn: asyncpg.Connection, staff: Staff, query: Query, today: date, min_cell: int,
                 language: Language) -> dict[str, Any]:
    """The report, each row's ``label`` in ``language`` and ``labels`` in both (a page switching language
    draws it again); ``conn`` may be the replica's (figures a moment old are still the figures)."""
    async with figures.reading(conn) as closed:
        cells = await figures.cells(conn, closed, query.area_code, query.first, query.last, today, query.period,
                                    query.by)
        totals = await figures.totals(conn, closed, query.area_code, query.first, query.last, today)
    protect = staff.role == "analyst"
    if protect:
        rows = suppress(cells, min_cell)
    else:
        rows = [{"period": c.period.isoformat(), "key": c.key, "arrivals": c.arrivals,
                 "guest_nights": c.guest_nights, "suppressed": False} for c in cells]
    suppressed = sum(r["suppressed"] for r in rows)
    names = await figures.labels(conn, query.by, {r["key"] for r in rows})
    for r in rows:
        r["labels"] = names.get(r["key"]) or {"en": r["key"], "zh": r["key"]}
        r["label"] = r["labels"][language]
    area_name = await conn.fetchval("SELECT name FROM areas WHERE code = $1", query.area_code)
    return {
        "area": {"code": query.area_code, "name": area_name},
        "from": query.first.isoformat(),
        "to": query.last.isoformat(),
        "period": query.period,
        "by": query.by,
        "language": language,
        "definitions_version": DEFINITIONS_VERSION,
        "min_cell": min_cell if protect else None,
        "suppression_applied": protect,
        "suppressed_cells": suppressed,
        "rows": rows,
        "totals": totals_out(totals, rounded=protect),
    }


async def log_access(conn: asyncpg.Connection, staff: Staff, query: Query, answer: dict[str, Any]) -> None:
    """Who asked for which report: on the primary (``conn``), wherever the figures were read."""
    await conn.execute(
        """INSERT INTO stats_access_log (actor_id, actor, role, area_code, query, suppressed)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        staff.id, staff.username, staff.role, query.area_code,
        {"from": query.first.isoformat(), "to": query.last.isoformat(), "period": query.period, "by": query.by},
        answer["suppressed_cells"])
