"""Retention: registrations past the retention period are removed; the audit log is kept.

A stay ends at its check-out (or, never checked out, at its expected departure);
it is purged ``retention_days`` after that, with its guests, certificates and
alerts. Decided verifications go after the same period (their photos went at the
decision); an application still undecided when its stay would have ended is
closed, so no face waits for review forever. Answers kept for Idempotency-Key
retries go after a day, expired sessions and old failed logins at once.
"""

from __future__ import annotations

import asyncpg

UNDECIDED_PAST_CHECK_OUT = "status = 'pending' AND check_out < current_date"
CLOSE_UNDECIDED = f"""
    UPDATE verifications SET status = 'rejected', decided_at = now(), photo_cipher = NULL,
           rejection_reason = 'expired: not decided before the check-out date'
     WHERE {UNDECIDED_PAST_CHECK_OUT}"""

# (what, the rows): deleted in this order, which respects the foreign keys. $1 is the cutoff.
PURGES = [
    ("alerts of expired stays and verifications",
     """FROM alerts WHERE stay_id IN (SELECT id FROM stays WHERE coalesce(checked_out_at, expected_departure) < $1)
           OR verification_id IN (SELECT id FROM verifications WHERE decided_at < $1)"""),
    ("certificates of expired verifications", "FROM certificates WHERE verification_id IN "
                                              "(SELECT id FROM verifications WHERE decided_at < $1)"),
    ("decided verifications", "FROM verifications WHERE decided_at < $1"),
    ("stays (with their guests)", "FROM stays WHERE coalesce(checked_out_at, expected_departure) < $1"),
    ("idempotency answers", "FROM idempotency_keys WHERE created_at < now() - interval '1 day'"),
    ("expired sessions", "FROM sessions WHERE expires_at < now()"),
    ("old failed logins", "FROM login_failures WHERE failed_at < now() - interval '1 day'"),
]


def _affected(status: str) -> int:
    return int(status.split()[-1])


async def purge(conn: asyncpg.Connection, retention_days: int, dry_run: bool) -> list[tuple[str, int]]:
    """Remove (or, dry, only count) what is past retention; one transaction, all or nothing."""
    cutoff = await conn.fetchval("SELECT now() - make_interval(days => $1)", retention_days)
    async with conn.transaction():
        if dry_run:
            closed = await conn.fetchval(f"SELECT count(*) FROM verifications WHERE {UNDECIDED_PAST_CHECK_OUT}")
        else:
            closed = _affected(await conn.execute(CLOSE_UNDECIDED))
        done = [("undecided verifications past their check-out, closed", closed)]
        for what, rows in PURGES:
            args = (cutoff,) if "$1" in rows else ()
            if dry_run:
                done.append((what, await conn.fetchval(f"SELECT count(*) {rows}", *args)))
            else:
                done.append((what, _affected(await conn.execute(f"DELETE {rows}", *args))))
    return done
