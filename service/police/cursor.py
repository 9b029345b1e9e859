"""Where a police stream stands in the alerts: the `id` of its `alert` events, sent back as Last-Event-ID.

Alert ids come from a sequence, and transactions commit in any order: alert 3 can be
seen before alert 2 commits, so "every id up to the last one sent" is no position. Each
alert records the transaction that raised it (``alerts.xid``, ``pg_current_xact_id()``),
and a snapshot's xmin is the oldest transaction still running: every transaction below it
has ended, so no alert below it can appear any more. A cursor is that settled ``horizon``
and the ids at or above it already accounted for (``delivered``, as ranges): the stream
has sent every alert of its area below the horizon and those ids. Ids of other areas may
be among them (they make the ranges contiguous); they are never the stream's to send.

A bare number is an alert id sent before the cursor existed: every id up to it counts
as delivered.

Transaction ids belong to one PostgreSQL server. Alerts restored from a backup keep the
ids of the server they were made on; the service settles them (0) when it starts
(alerts.settle_restored). A cursor whose horizon lies beyond this server's is of the
server restored from, and resumes with every alert raised here since (horizon 1). One
whose horizon happens to lie below this server's is taken as it is: a police page kept
open across a restore onto another server may miss alerts raised there before its
horizon, and should be reloaded (README, "Backups").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

MAX_XID8 = 2**64 - 1
MAX_ID = 2**63 - 1
# Past this an event goes without an id: the browser keeps the previous cursor, and a
# resume may send alerts twice, never miss one. Far above what a cursor holds in practice
# (the alerts committed while the oldest running transaction was open).
MAX_ENCODED = 2000
# ASCII digits only: str.isdigit and a Unicode \d admit other scripts' digits.
CURSOR = re.compile(r"(\d{1,20}):((?:\d{1,19}(?:-\d{1,19})?)(?:,\d{1,19}(?:-\d{1,19})?)*)?", re.ASCII)
LEGACY_ID = re.compile(r"\d{1,19}", re.ASCII)


@dataclass(frozen=True)
class AlertCursor:
    horizon: int
    delivered: tuple[tuple[int, int], ...] = ()

    @classmethod
    def of(cls, horizon: int, ids: Iterable[int], ranges: Iterable[tuple[int, int]] = ()) -> AlertCursor:
        """The cursor at ``horizon`` with these ids and ranges delivered, merged into the fewest ranges."""
        merged: list[list[int]] = []
        for lo, hi in sorted([*((i, i) for i in ids), *ranges]):
            if merged and lo <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        return cls(horizon, tuple((lo, hi) for lo, hi in merged))

    @classmethod
    def parse(cls, text: str) -> AlertCursor | None:
        """The cursor a Last-Event-ID names; None for anything else (the stream then resumes nothing)."""
        if len(text) > MAX_ENCODED:
            return None
        if LEGACY_ID.fullmatch(text):
            last_id = int(text)
            return cls(0, ((1, last_id),) if last_id else ()) if last_id <= MAX_ID else None
        if (match := CURSOR.fullmatch(text)) is None or int(match[1]) > MAX_XID8:
            return None
        ranges = []
        for part in (match[2] or "").split(",") if match[2] else ():
            lo, _, hi = part.partition("-")
            ranges.append((int(lo), int(hi or lo)))
        if any(not 1 <= lo <= hi <= MAX_ID for lo, hi in ranges):
            return None
        return cls.of(int(match[1]), (), ranges)

    def encode(self) -> str:
        return f"{self.horizon}:" + ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in self.delivered)

    def event_id(self) -> str | None:
        """The event id that names this cursor, None when too long to send (see MAX_ENCODED)."""
        encoded = self.encode()
        return encoded if len(encoded) <= MAX_ENCODED else None

    def covers(self, alert_id: int) -> bool:
        return any(lo <= alert_id <= hi for lo, hi in self.delivered)

    @property
    def floor(self) -> int:
        """Every id up to this is delivered (a legacy cursor's id): lets the query use the id index."""
        return self.delivered[0][1] if self.delivered and self.delivered[0][0] == 1 else 0
