"""Test helpers: a real service process on a real PostgreSQL, and HTTP clients for each role."""

from __future__ import annotations

import itertools
import secrets
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
TEST_MASTER_KEY = "dGVzdC1tYXN0ZXIta2V5LW9mLTMyLWJ5dGVzLWxvbmc="  # 32 bytes, base64
ADMIN_USERNAME = "root-admin"
ADMIN_PASSWORD = "root-admin-password"

_counter = itertools.count(1)


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
        self.process = subprocess.Popen(
            [sys.executable, "-m", *self.command(), "--port", str(self.port), *self.extra_args],
            cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"service exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"service did not become ready:\n{self.log_path.read_text()}")

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
    """A valid GB 11643 number (ISO 7064 MOD 11-2 check character), computed independently of the service."""
    first17 = division + birth + (sequence or f"{next(_counter) % 1000:03d}")
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS)) % 11]


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
