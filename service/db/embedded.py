"""The embedded PostgreSQL (from the pgserver package) used when DATABASE_URL is unset."""

from __future__ import annotations

import logging
from pathlib import Path

import pgserver

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """One PostgreSQL server kept in ``data_dir/postgres`` between runs.

    pgserver shares one server between all processes that open the same folder
    and stops it when the last of them closes it, so several instances of the
    service (or a test and the service) can use it at once.
    """

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "postgres").resolve()
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(self.pgdata, cleanup_mode="stop")

    @property
    def dsn(self) -> str:
        return self._server.get_uri()

    def stop(self) -> None:
        """Stop the server cleanly (a shutdown checkpoint, no stale postmaster.pid)."""
        self._server.cleanup()
