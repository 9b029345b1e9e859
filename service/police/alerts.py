"""The alert inbox: alerts kept until an officer acknowledges them, in the shape the live stream sends too.

What an alert shows follows what the officer may list. A watchlist entry's note and
masked number belong to the entry: an officer sees them only where the entry is in
their jurisdiction (where ``GET /watchlist`` lists it). A village post alerted by its
district's entry sees where and when, and which office's entry it was, not the note.
Likewise the other stay of a duplicate presence: its dwelling only inside the
officer's jurisdiction, else just the area it lies in.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from litestar.channels import ChannelsPlugin

from service.areas.domain import within
from service.auth.schemas import Staff
from service.i18n import add_messages
from service.police.cursor import AlertCursor
from service.police.schemas import Alert
from service.privacy import audit
from service.problems import Problem

add_messages({"alert_not_found": ("No such alert in your jurisdiction.", "您的辖区内没有这条预警。")})

ALERTS_CHANNEL = "alerts"
MAX_PAGE = 200

ALERT_QUERY = """
    SELECT a.id, a.xid::text AS xid, a.kind, a.created_at, a.area_code, ar.name AS area_name, a.dwelling_id,
           a.stay_id, a.verification_id, d.name AS dwelling_name, d.address AS dwelling_address, a.details,
           a.acknowledged_at, nullif(ack.display_name, '') AS acknowledged_by_name, ack.username AS acknowledged_by_username,
           w.note, w.document_masked, w.area_code AS watchlist_area_code, wa.name AS watchlist_area_name,
           od.id AS other_dwelling_id, od.name AS other_dwelling_name, od.area_code AS other_area_code,
           oa.name AS other_area_name
      FROM alerts a
      JOIN areas ar ON ar.code = a.area_code
      LEFT JOIN dwellings d ON d.id = a.dwelling_id
      LEFT JOIN accounts ack ON ack.id = a.acknowledged_by
      LEFT JOIN watchlist w ON w.id = a.watchlist_id
      LEFT JOIN areas wa ON wa.code = w.area_code
      LEFT JOIN dwellings od ON od.id = (a.details ->> 'other_dwelling_id')::bigint
      LEFT JOIN areas oa ON oa.code = od.area_code"""


def alert_event(row: asyncpg.Record, jurisdiction: str) -> dict[str, Any]:
    """The alert as the officer of ``jurisdiction`` may see it, JSON-ready (the API's and the stream's shape)."""
    entry_visible = row["watchlist_area_code"] is not None and within(row["watchlist_area_code"], jurisdiction)
    details = dict(row["details"] or {})
    if row["kind"] == "duplicate_presence":
        other_visible = row["other_area_code"] is not None and within(row["other_area_code"], jurisdiction)
        details = {"other_stay": {
            "area_code": row["other_area_code"], "area_name": row["other_area_name"],
            **({"stay_id": details.get("other_stay_id"), "dwelling_id": row["other_dwelling_id"],
                "dwelling_name": row["other_dwelling_name"]} if other_visible else {}),
        }}
    return Alert(
        id=row["id"], kind=row["kind"], area_code=row["area_code"], area_name=row["area_name"],
        dwelling_id=row["dwelling_id"], dwelling_name=row["dwelling_name"], dwelling_address=row["dwelling_address"],
        stay_id=row["stay_id"], verification_id=row["verification_id"], created_at=row["created_at"],
        acknowledged_at=row["acknowledged_at"],
        acknowledged_by=row["acknowledged_by_name"] or row["acknowledged_by_username"],
        watchlist_area_name=row["watchlist_area_name"],
        note=row["note"] if entry_visible else None,
        document_masked=row["document_masked"] if entry_visible else None,
        details=details,
    ).model_dump(mode="json")


async def alert_by_id(conn: asyncpg.Connection, alert_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(ALERT_QUERY + " WHERE a.id = $1", alert_id)


async def alerts_after(conn: asyncpg.Connection, area_code: str, cursor: AlertCursor | None,
                       jurisdiction: str) -> tuple[list[tuple[dict[str, Any], AlertCursor]], AlertCursor]:
    """The alerts of the area a stream at ``cursor`` has not had (None: a new stream, which has had all
    before it), each with the cursor once it is sent, and the cursor after them all.

    One snapshot (repeatable read) for the horizon, the ids above it and the alerts: an alert the
    snapshot cannot see yet lies at or above the horizon and outside the ids, so the next call finds it.
    """
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        snapshot = await conn.fetchrow(
            """SELECT pg_snapshot_xmin(s)::text AS horizon,
                      ARRAY(SELECT id FROM alerts WHERE xid >= pg_snapshot_xmin(s)) AS above
                 FROM pg_current_snapshot() AS s""")
        horizon = int(snapshot["horizon"])
        settled = AlertCursor.of(horizon, snapshot["above"])
        if cursor is None:
            return [], settled
        # A horizon this database has not reached: the cursor is of the database this one was restored
        # from, whose transaction ids mean nothing here; the restored alerts are settled (0).
        start = cursor.horizon if cursor.horizon <= horizon else 1
        rows = await conn.fetch(
            ALERT_QUERY + """ WHERE a.area_code LIKE $1 || '%' AND a.xid >= $2::text::xid8 AND a.id > $3
                                AND NOT EXISTS (SELECT FROM unnest($4::bigint[], $5::bigint[]) AS d (lo, hi)
                                                 WHERE a.id BETWEEN d.lo AND d.hi)
                              ORDER BY a.xid, a.id""",
            area_code, str(start), cursor.floor, [lo for lo, _ in cursor.delivered],
            [hi for _, hi in cursor.delivered])
    # In transaction order, every alert below the current one's transaction (and below the snapshot's
    # horizon) has been sent once it is: that is the cursor's horizon, with the ids sent at or above it.
    missed: list[tuple[dict[str, Any], AlertCursor]] = []
    reached, sent_above = start, []
    for row in rows:
        if (settles := min(int(row["xid"]), horizon)) > reached:
            reached, sent_above = settles, []
        sent_above.append(row["id"])
        missed.append((alert_event(row, jurisdiction), AlertCursor.of(reached, sent_above, cursor.delivered)))
    if missed:
        missed[-1] = (missed[-1][0], settled)
    return missed, settled


async def alert_area(conn: asyncpg.Connection, alert_id: int) -> str | None:
    return await conn.fetchval("SELECT area_code FROM alerts WHERE id = $1", alert_id)


async def settle_restored(conn: asyncpg.Connection) -> None:
    """Alerts restored from a backup keep the transaction ids of the database they were made in, which
    may lie ahead of this one's: they are past, settled (0), or new alerts would wait behind them."""
    await conn.execute("UPDATE alerts SET xid = '0' WHERE xid >= pg_snapshot_xmax(pg_current_snapshot())")


async def inbox(conn: asyncpg.Connection, staff: Staff, area_code: str, before: int | None, limit: int,
                unacknowledged: bool) -> dict[str, Any]:
    """Alerts of the area, newest first, a page at a time: ``next`` is the ``before`` of the next page."""
    rows = await conn.fetch(
        ALERT_QUERY + """ WHERE a.area_code LIKE $1 || '%' AND ($2::bigint IS NULL OR a.id < $2)
                            AND (NOT $3 OR a.acknowledged_at IS NULL)
                          ORDER BY a.id DESC LIMIT $4""",
        area_code, before, unacknowledged, limit + 1,
    )
    page = rows[:limit]
    return {"items": [alert_event(r, staff.area_code or "") for r in page],
            "next": page[-1]["id"] if len(rows) > limit else None}


async def acknowledge(conn: asyncpg.Connection, staff: Staff, alert_id: int) -> tuple[dict[str, Any], bool]:
    """Record who saw the alert and when (the first acknowledgement stands); (the alert, whether it changed)."""
    async with conn.transaction():
        acknowledged = await conn.fetchrow(
            """UPDATE alerts SET acknowledged_at = now(), acknowledged_by = $2
                WHERE id = $1 AND area_code LIKE $3 || '%' AND acknowledged_at IS NULL
               RETURNING id, kind, stay_id""",
            alert_id, staff.id, staff.area_code,
        )
        if acknowledged is not None:
            # An officer's decision about a person's alert: accountable like a search.
            await audit.append(conn, staff, "alert_acknowledge", None, None,
                               {"alert_id": alert_id, "kind": acknowledged["kind"],
                                "stay_id": str(acknowledged["stay_id"]) if acknowledged["stay_id"] else None})
        row = await alert_by_id(conn, alert_id)
    if row is None or not within(row["area_code"], staff.area_code or ""):
        raise Problem(404, "alert_not_found")
    return alert_event(row, staff.area_code or ""), acknowledged is not None


def announce(channels: ChannelsPlugin, alerts: list[dict[str, Any]]) -> None:
    """Tell every instance's police streams that these alerts were committed: each stream reads what it
    has not had yet (service/police/cursor.py)."""
    for alert in alerts:
        channels.publish({"id": alert["id"]}, ALERTS_CHANNEL)


def announce_acknowledged(channels: ChannelsPlugin, alert: dict[str, Any]) -> None:
    """Tell every instance's police streams that this alert was acknowledged: each reads it in its new state."""
    channels.publish({"acknowledged": alert["id"]}, ALERTS_CHANNEL)
