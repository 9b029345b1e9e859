"""Retention: registrations past the retention period are removed; the audit log is kept.

A stay ends at its check-out (or, never checked out, at its expected departure);
it is purged ``retention_days`` after that, with its guests, certificates and
alerts. Decided verifications go after the same period (their photos went at the
decision); an application still undecided when its stay would have ended is
closed, so no face waits for review forever. Answers kept for Idempotency-Key
retries go after a day, expired sessions and old failed logins at once.

Stays and their guests are kept in month partitions by check-in (0014_stay_partitions.sql): the oldest
months whose stays all ended before the cutoff are dropped whole (no row-by-row deletion, next to no
WAL), and only the stays of the months after them are deleted one by one (the edges: the month the
cutoff falls in, a month kept by one long or never checked-out stay, the DEFAULT partition). Dropping
a month locks stays and stay_guests from the drop to the commit: it comes last, so registrations wait
for it a moment, but it waits for any transaction still reading them (a long report) before it starts.
"""

from __future__ import annotations

from datetime import date, datetime

import asyncpg

from service.progress import SILENT, Progress

UNDECIDED_PAST_CHECK_OUT = "status = 'pending' AND check_out < current_date"
CLOSE_UNDECIDED = f"""
    UPDATE verifications SET status = 'rejected', decided_at = now(), photo_cipher = NULL,
           rejection_reason = 'expired: not decided before the check-out date'
     WHERE {UNDECIDED_PAST_CHECK_OUT}"""

ENDED = "coalesce(checked_out_at, expected_departure) < $1"
# (what, the rows): deleted in this order, which respects the references. $1 is the cutoff, $2 the first
# check-in of the months kept (the months before it are dropped whole after these).
PURGES = [
    ("alerts of expired stays and verifications",
     f"""FROM alerts WHERE stay_id IN (SELECT id FROM stays WHERE {ENDED})
           OR verification_id IN (SELECT id FROM verifications WHERE decided_at < $1)"""),
    ("certificates of expired verifications", "FROM certificates WHERE verification_id IN "
                                              "(SELECT id FROM verifications WHERE decided_at < $1)"),
    ("decided verifications", "FROM verifications WHERE decided_at < $1"),
    ("stays (with their guests)", f"FROM stays WHERE {ENDED} AND check_in >= $2"),
    ("idempotency answers", "FROM idempotency_keys WHERE created_at < now() - interval '1 day'"),
    ("expired sessions", "FROM sessions WHERE expires_at < now()"),
    ("old failed logins", "FROM login_failures WHERE failed_at < now() - interval '1 day'"),
]


def _affected(status: str) -> int:
    return int(status.split()[-1])


# The month partitions, oldest first, of months wholly before the cutoff's (the service still writes
# the later ones); a month goes when none of its stays ended after the cutoff, and the first that
# cannot go keeps every later one (so the months kept start at one check-in date).
MONTHS_BEFORE_CUTOFF = r"""
    SELECT to_date(substr(c.relname, 7), 'YYYY_MM') AS month
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'stays'::regclass AND c.relname ~ '^stays_\d{4}_\d{2}$'
       AND to_date(substr(c.relname, 7), 'YYYY_MM') + interval '1 month' <= $1::timestamptz
     ORDER BY 1"""
STILL_KEPT = f"""
    SELECT EXISTS (SELECT 1 FROM stays WHERE check_in >= $2 AND check_in < $2 + interval '1 month' AND NOT {ENDED})"""
MONTH_STAYS = "SELECT count(*) FROM stays WHERE check_in >= $1 AND check_in < $1 + interval '1 month'"


async def months_to_drop(conn: asyncpg.Connection, cutoff: datetime) -> list[date]:
    months = []
    for month in [r["month"] for r in await conn.fetch(MONTHS_BEFORE_CUTOFF, cutoff)]:
        if await conn.fetchval(STILL_KEPT, cutoff, month):
            break
        months.append(month)
    return months


async def purge(conn: asyncpg.Connection, retention_days: int, dry_run: bool,
                progress: Progress = SILENT) -> list[tuple[str, int]]:
    """Remove (or, dry, only count) what is past retention; one transaction, all or nothing."""
    cutoff = await conn.fetchval("SELECT now() - make_interval(days => $1)", retention_days)
    async with conn.transaction():
        months = await months_to_drop(conn, cutoff)
        last = months[-1] if months else None
        kept_from = date(last.year + last.month // 12, last.month % 12 + 1, 1) if last else date.min
        progress.phase("counting" if dry_run else "removing", 1 + len(PURGES) + len(months), "steps")
        if dry_run:
            closed = await conn.fetchval(f"SELECT count(*) FROM verifications WHERE {UNDECIDED_PAST_CHECK_OUT}")
        else:
            closed = _affected(await conn.execute(CLOSE_UNDECIDED))
        done = [("undecided verifications past their check-out, closed", closed)]
        progress.advance()
        for what, rows in PURGES:
            args = [value for value, mark in ((cutoff, "$1"), (kept_from, "$2")) if mark in rows]
            if dry_run:
                done.append((what, await conn.fetchval(f"SELECT count(*) {rows}", *args)))
            else:
                done.append((what, _affected(await conn.execute(f"DELETE {rows}", *args))))
            progress.advance()
        # Last: dropping a month locks the tables of stays until the commit, right after.
        whole = 0
        for month in months:
            whole += await conn.fetchval(MONTH_STAYS, month)
            if not dry_run:
                await conn.execute("SELECT stays_drop_month($1)", month)
            progress.advance()
        done.append(("stays (with their guests) in months dropped whole: "
                     + (", ".join(f"{m:%Y-%m}" for m in months) or "none"), whole))
    return done
