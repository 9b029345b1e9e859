"""Test helpers: a real service process on a real PostgreSQL, and HTTP clients for each role."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
import secrets
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
TEST_MASTER_KEY = "dGVzdC1tYXN0ZXIta2V5LW9mLTMyLWJ5dGVzLWxvbmc="  # 32 bytes, base64
ADMIN_USERNAME = "root-admin"
ADMIN_PASSWORD = "root-admin-password"

_counter = itertools.count(1)
_resident_ids = itertools.count(1)


def unique(prefix: str) -> str:
    """A name no other test of this run uses (tests share one database)."""
    return f"{prefix}{os.getpid() % 1000:03d}{next(_counter):04d}"


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServiceProcess:
    """``python -m service serve`` in a child process, with its log in a file."""

    dsn: str
    data_dir: Path
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)
    # One worker process unless a test is about several: each costs a second of start-up and its
    # own memory, and the suite starts many services on a machine of two cores.
    workers: int = 1
    process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"service-{self.port}.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VH_")}
        env.update(
            DATABASE_URL=self.dsn,
            VH_DATA_DIR=str(self.data_dir),
            VH_PUBLIC_BASE_URL=self.base_url,
            VH_MASTER_KEY=TEST_MASTER_KEY,
            VH_ADMIN_USERNAME=ADMIN_USERNAME,
            VH_ADMIN_PASSWORD=ADMIN_PASSWORD,
            # The whole suite calls from one address: tests of the limits start a service with low ones.
            VH_RATE_LIMIT_LOGIN_PER_MINUTE="100000",
            VH_RATE_LIMIT_PUBLIC_PER_MINUTE="100000",
            VH_RATE_LIMIT_TOKEN_PER_MINUTE="100000",
            # Likewise the caps on open live streams (generated requests open many; tested with low caps).
            VH_MAX_STREAMS_PER_ADDRESS="100000",
            VH_MAX_STREAMS_PER_ACCOUNT="100000",
            VH_WORKERS=str(self.workers),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def command(self) -> list[str]:
        """What runs after ``python -m``."""
        return ["service", "serve"]

    def start(self, timeout: float = 60) -> ServiceProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        started_at = log.tell()
        self.process = subprocess.Popen(
            [sys.executable, "-m", *self.command(), "--port", str(self.port), *self.extra_args],
            cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"service exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=1).status_code == 200 and self.workers_started(started_at):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"service did not become ready:\n{self.log_path.read_text()}")

    def workers_started(self, log_offset: int) -> bool:
        """Every worker process has started its application (each logs it once, past ``log_offset``)."""
        if self.workers == 1:
            return True
        with self.log_path.open("rb") as log:
            log.seek(log_offset)
            return log.read().count(b"Application startup complete") >= self.workers

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class StaffClient(httpx.AsyncClient):
    """An API client logged in with a bearer token, as a landlord's app or a script would be."""

    account: dict
    login: dict

    @classmethod
    async def log_in(cls, base_url: str, username: str, password: str) -> StaffClient:
        client = cls(base_url=base_url, timeout=30)
        response = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
        response.raise_for_status()
        client.login = response.json()
        client.cookies.clear()  # bearer only: an API client is not a browser
        client.headers["Authorization"] = f"Bearer {client.login['token']}"
        return client


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id(division: str = "110105", birth: str = "19900307", sequence: str | None = None) -> str:
    """A valid GB 11643 number (ISO 7064 MOD 11-2 check character), computed independently of the service.

    Without a sequence, every call of the session gives a new number: past 1,000 calls the birth date moves
    on a day, since a repeated number would already be in the registry or present in a stay.
    """
    if sequence is None:
        serial = next(_resident_ids)
        sequence = f"{serial % 1000:03d}"
        birth = _days_later(birth, serial // 1000)
    first17 = division + birth + sequence
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS)) % 11]


def _days_later(birth: str, days: int) -> str:
    """birth (YYYYMMDD) moved on by days; a deliberately impossible date stays as it is."""
    try:
        born = date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))
    except ValueError:
        return birth
    return (born + timedelta(days=days)).strftime("%Y%m%d")


def idempotency_key() -> str:
    return secrets.token_urlsafe(16)


async def sse_events(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    """Server-sent events of a streaming response, as dicts of their fields (event, data, id)."""
    event: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if "data" in event or "event" in event:
                yield event
            event = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            event[name] = value.removeprefix(" ")


@contextmanager
def pgdata_folder(name: str) -> Iterator[Path]:
    """A data folder for an embedded PostgreSQL, outside pytest's temporary folders.

    pgserver runs the server as the user 'pgserver' when run as root, so the folders above the data must
    stay traversable; pytest resets its own root folder to mode 0700 whenever another pytest session
    starts, which would pull the floor from under a running server.
    """
    folder = Path(tempfile.mkdtemp(prefix=f"vh-{name}-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class ReplicatedPostgres:
    """A primary PostgreSQL server and a hot standby streaming from it, each on its own port."""

    folder: Path
    primary_port: int = field(default_factory=free_port)
    replica_port: int = field(default_factory=free_port)

    @property
    def primary_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.primary_port}/postgres"

    @property
    def replica_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.replica_port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        from pgserver._commands import POSTGRES_BIN_PATH

        # As root, as pgserver does: PostgreSQL refuses to run as root.
        user = "pgserver" if os.geteuid() == 0 else None
        done = subprocess.run([str(POSTGRES_BIN_PATH / program), *args], user=user, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        if done.returncode:
            logs = "".join(f"\n{log.name}:\n{log.read_text(errors='replace')}" for log in self.folder.glob("*.log"))
            raise RuntimeError(f"{program} {' '.join(args)} failed:\n{done.stdout}{logs}")

    def _server(self, name: str) -> Path:
        return self.folder / name

    def start(self) -> None:
        primary, replica = self._server("primary"), self._server("replica")
        self._run("initdb", "-D", str(primary), "-U", "postgres", "--auth=trust", "--encoding=utf8", "--no-sync")
        with (primary / "postgresql.conf").open("a") as conf:
            conf.write(f"listen_addresses = '127.0.0.1'\nport = {self.primary_port}\n"
                       f"unix_socket_directories = '{self.folder}'\n"
                       "wal_level = replica\nmax_wal_senders = 4\nfsync = off\nmax_connections = 40\n")
        (primary / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n"
                                             "host replication postgres 127.0.0.1/32 trust\n")
        self._pg_ctl(primary, "start")
        # -R: standby.signal and primary_conninfo; -X stream: the WAL made during the copy comes along.
        self._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "postgres",
                  "-D", str(replica), "-R", "-X", "stream", "-c", "fast", "--no-sync")
        with (replica / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {self.replica_port}\n")
        self._pg_ctl(replica, "start")

    def _pg_ctl(self, data: Path, action: str, *args: str) -> None:
        self._run("pg_ctl", "-D", str(data), "-l", str(self.folder / f"{data.name}.log"), "-w", *args, action)

    def stop_replica(self) -> None:
        self._pg_ctl(self._server("replica"), "stop", "-m", "fast")

    def stop(self) -> None:
        for name in ("replica", "primary"):
            if (self._server(name) / "postmaster.pid").exists():
                self._pg_ctl(self._server(name), "stop", "-m", "immediate")


@contextmanager
def replicated_postgres() -> Iterator[ReplicatedPostgres]:
    """A primary and its streaming replica made with pg_basebackup, stopped and deleted afterwards."""
    with pgdata_folder("replicated") as folder:
        if os.geteuid() == 0:  # the servers run as 'pgserver': it owns the folder and may run the binaries
            import pwd
            import stat

            from pgserver._commands import POSTGRES_BIN_PATH
            from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

            ensure_user_exists("pgserver")
            ensure_prefix_permissions(folder)
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            readable = stat.S_IRGRP | stat.S_IROTH
            ensure_folder_permissions(POSTGRES_BIN_PATH, readable | stat.S_IXGRP | stat.S_IXOTH)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
            account = pwd.getpwnam("pgserver")
            os.chown(folder, account.pw_uid, account.pw_gid)
        servers = ReplicatedPostgres(folder)
        try:
            servers.start()
            yield servers
        finally:
            servers.stop()


async def counters_applied(db: asyncpg.Pool | asyncpg.Connection, within_seconds: float = 30) -> None:
    """Wait for the service's counter applier to have applied every change made so far: counts read after
    this include them. stay_changes empties only as the applier commits (service/police/counters.py)."""
    deadline = time.monotonic() + within_seconds
    while await db.fetchval("SELECT EXISTS (SELECT 1 FROM stay_changes)"):
        if time.monotonic() > deadline:
            raise AssertionError(f"the counter applier left changes pending for {within_seconds} s")
        await asyncio.sleep(0.05)
