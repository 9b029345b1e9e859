"""Backups: the whole database in pg_dump's custom format, and its restore into an empty database.

The tools are PostgreSQL's own, of the server's major version: pgserver ships its server's pg_dump and
pg_restore, Debian's postgresql-client-N packages put theirs in /usr/lib/postgresql/N/bin. A pg_dump older
than the server refuses to dump it; one newer writes an archive an older pg_restore cannot read.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections import deque
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg
from pgserver._commands import POSTGRES_BIN_PATH  # where pgserver keeps its server's binaries

from service.progress import Progress

DEBIAN_CLIENTS = Path("/usr/lib/postgresql")
DUMPING_TABLE = re.compile(r'^pg_dump: dumping contents of table "(.+)"$')
RESTORE_STEP = re.compile(r"^pg_restore: (creating|processing data for|executing) ")


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why, in one line."""


async def _server(dsn: str) -> tuple[int, dict[str, int]]:
    """The server's major version, and each table's size on disk by its qualified name."""
    conn = await asyncpg.connect(dsn)
    try:
        major = await conn.fetchval("SELECT current_setting('server_version_num')::int / 10000")
        tables = await conn.fetch("""
            SELECT n.nspname || '.' || c.relname AS name, pg_table_size(c.oid) AS size
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
               AND n.nspname NOT LIKE 'pg\\_%'""")
    finally:
        await conn.close()
    return major, {row["name"]: row["size"] for row in tables}


def _major(tool: Path) -> int | None:
    try:
        answer = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return None
    found = re.search(r"\) (\d+)", answer)
    return int(found.group(1)) if found else None


def tool_for(name: str, server_major: int) -> Path:
    """``name`` (pg_dump or pg_restore) of the server's major version, else the nearest newer one."""
    candidates = [POSTGRES_BIN_PATH / name, *DEBIAN_CLIENTS.glob(f"*/bin/{name}")]
    if on_path := shutil.which(name):
        candidates.append(Path(on_path))
    usable = [(major, tool) for tool in candidates
              if tool.is_file() and (major := _major(tool)) is not None and major >= server_major]
    if not usable:
        raise BackupError(f"no {name} of PostgreSQL {server_major} or newer here "
                          f"(on Debian: apt-get install postgresql-client-{server_major})")
    return min(usable, key=lambda found: found[0])[1]


def _without_password(dsn: str) -> tuple[str, dict[str, str]]:
    """The DSN for a tool's command line, which anyone on the machine may read, and its password apart."""
    parts = urlsplit(dsn)
    if not parts.password:
        return dsn, {}
    userinfo, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{userinfo.partition(':')[0]}@{host}")), {
        "PGPASSWORD": unquote(parts.password)}


def _run(command: list[str | Path], dsn: str, on_line: Callable[[str], None]) -> None:
    """Run a PostgreSQL tool on ``dsn`` (as --dbname), each line of its standard error to ``on_line``;
    BackupError if it fails."""
    dsn, secret = _without_password(dsn)
    last: deque[str] = deque(maxlen=10)
    with subprocess.Popen([*command, f"--dbname={dsn}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, env={**os.environ, **secret, "LC_MESSAGES": "C"}) as process:
        for line in process.stderr:
            line = line.rstrip("\n")
            on_line(line)
            if "error" in line or "FATAL" in line or "DETAIL" in line:
                last.append(line)
    if process.returncode:
        raise BackupError("; ".join(last) or f"{command[0]} exited with {process.returncode}")


def backup(dsn: str, file: Path, progress: Progress) -> int:
    """The database into ``file`` (written beside it first, so a failed backup leaves no partial file); its size."""
    major, sizes = asyncio.run(_server(dsn))
    progress.phase("dumping tables", sum(sizes.values()), "bytes")
    partial = file.with_name(f".{file.name}.partial")
    dumping: str | None = None  # its size counts as done when the next table starts, or pg_dump ends

    def on_line(line: str) -> None:
        nonlocal dumping
        if table := DUMPING_TABLE.match(line):
            progress.advance(sizes.get(dumping, 0))
            dumping = table.group(1)

    # Names and addresses are in clear in it: readable by its owner only, from the first byte.
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    try:
        _run([tool_for("pg_dump", major), "--format=custom", "--verbose", f"--file={partial}"], dsn, on_line)
        progress.advance(sizes.get(dumping, 0))
        partial.replace(file)
    finally:
        partial.unlink(missing_ok=True)
    return file.stat().st_size


def restore(dsn: str, file: Path, progress: Progress) -> None:
    """``file`` (from ``backup``) into the empty database ``dsn``, in one transaction: all of it or nothing."""
    if not file.is_file():
        raise BackupError(f"no such file {file}")
    major, tables = asyncio.run(_server(dsn))
    if tables:
        raise BackupError("the database is not empty: restore into a new VH_DATA_DIR or a new, empty DATABASE_URL")
    pg_restore = tool_for("pg_restore", major)
    listing = subprocess.run([pg_restore, "--list", file], capture_output=True, text=True, timeout=300)
    if listing.returncode:
        raise BackupError(f"pg_restore {major}, of the server restored into, cannot read {file} (restore into a "
                          f"server of the backed-up one's PostgreSQL version or newer): {listing.stderr.strip()}")
    progress.phase("restoring", sum(1 for line in listing.stdout.splitlines() if line and not line.startswith(";")),
                   "steps")

    def on_line(line: str) -> None:
        if RESTORE_STEP.match(line):
            progress.advance()

    # The roles of the backed-up server need not exist here: what is restored belongs to whoever restores it.
    _run([pg_restore, "--verbose", "--single-transaction", "--no-owner", "--no-privileges", file], dsn, on_line)
