"""`make image-check`, after `deploy/image.sh` built the image: start it, /readyz, a registration, stop.

The image runs against a fresh database on DATABASE_URL's server (dropped afterwards), with the
image's own USER, ENV, WORKDIR and CMD; only ``--host 127.0.0.1 --port N`` is appended to the CMD
(the last one wins), so the check binds a free loopback port on a shared machine.

It is started as a container (host network) where the engine can start one. Where it cannot (Podman
in a sandbox that refuses setrlimit), the built image's file system is mounted (``podman mount`` of
a created container) and run with chroot as the image's user (setpriv from the image's util-linux):
the same files, user, environment and command, without the container's namespaces and limits.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

START_SECONDS = 90  # a bound on "it comes up", not a measure of speed
STOP_SECONDS = 30
ADMIN = ("image-admin", "image-admin-password")
COUNTY = "331082"
GUEST_DOCUMENT = "331082198805120172"  # a valid GB 11643 number (check character included)


def step(message: str) -> None:
    print(f"image-check: {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


class Container:
    """The image as a container on the host's network."""

    how = "container"

    def __init__(self, engine: str, tag: str, env: dict[str, str], cmd: list[str]) -> None:
        self.engine, self.tag, self.env, self.cmd = engine, tag, env, cmd
        self.name = f"vh-image-check-{secrets.token_hex(4)}"

    def start(self) -> None:
        env_args = [a for k, v in self.env.items() for a in ("-e", f"{k}={v}")]
        subprocess.run([self.engine, "run", "-d", "--name", self.name, "--network", "host", *env_args,
                        self.tag, *self.cmd], check=True, capture_output=True, text=True)

    def running(self) -> bool:
        return run(self.engine, "inspect", "-f", "{{.State.Running}}", self.name) == "true"

    def stop(self) -> int:
        subprocess.run([self.engine, "stop", "-t", str(STOP_SECONDS), self.name], check=True, capture_output=True)
        return int(run(self.engine, "inspect", "-f", "{{.State.ExitCode}}", self.name))

    def log(self) -> str:
        return subprocess.run([self.engine, "logs", self.name], capture_output=True, text=True).stdout

    def remove(self) -> None:
        subprocess.run([self.engine, "rm", "-f", self.name], capture_output=True)


class ChrootRun:
    """The image's file system (a created container's, mounted) run with chroot as the image's user."""

    how = "chroot"

    def __init__(self, engine: str, tag: str, env: dict[str, str], cmd: list[str]) -> None:
        self.engine, self.tag, self.cmd = engine, tag, cmd
        config = json.loads(run(engine, "image", "inspect", "--format", "{{json .Config}}", tag))
        self.user = config.get("User") or "root"
        self.workdir = config.get("WorkingDir") or "/"
        self.image_cmd = config["Cmd"]
        self.env = {**dict(e.split("=", 1) for e in config.get("Env") or []), **env}
        self.container = run(engine, "create", tag)
        self.root = Path(run(engine, "mount", self.container))
        self.binds: list[Path] = []
        self.process: subprocess.Popen | None = None
        self.log_path = Path(os.environ.get("IMAGE_WORK_DIR", "var/image")) / "image-check-service.log"

    def _ids(self) -> tuple[int, int]:
        """The image's USER as uid and gid, from the image's own /etc/passwd."""
        name, _, group = self.user.partition(":")
        for line in (self.root / "etc/passwd").read_text().splitlines():
            fields = line.split(":")
            if name in (fields[0], fields[2]):
                return int(fields[2]), int(group or fields[3])
        raise SystemExit(f"image-check: the image's user {self.user!r} is not in its /etc/passwd")

    def start(self) -> None:
        for system in ("proc", "dev"):
            target = self.root / system
            target.mkdir(exist_ok=True)
            subprocess.run(["mount", "--rbind", f"/{system}", str(target)], check=True)
            self.binds.append(target)
        uid, gid = self._ids()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            ["chroot", str(self.root), "setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--",
             "sh", "-c", 'cd "$0" && exec "$@"', self.workdir, *self.cmd],
            env=self.env, stdout=log, stderr=subprocess.STDOUT)
        step(f"running {self.tag}'s file system ({self.root}) with chroot as {self.user} (uid {uid}, gid {gid}), "
             f"WORKDIR {self.workdir}, the image's ENV, CMD {' '.join(self.cmd)}")

    def check_user(self) -> None:
        """The serving process is the image's user, not root (chroot, setpriv, sh and python exec in turn)."""
        assert self.process is not None
        uid, gid = self._ids()
        status = dict(line.split(":", 1) for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines())
        assert status["Uid"].split()[:2] == [str(uid)] * 2 and status["Gid"].split()[:2] == [str(gid)] * 2, status
        step(f"the service (pid {self.process.pid}, {status['Name'].strip()}) runs as uid {uid}, gid {gid}")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(STOP_SECONDS)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def remove(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for target in reversed(self.binds):
            subprocess.run(["umount", "--recursive", "--lazy", str(target)], capture_output=True)
        subprocess.run([self.engine, "umount", self.container], capture_output=True)
        subprocess.run([self.engine, "rm", "-f", self.container], capture_output=True)


def with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


async def smoke(base_url: str, dsn: str) -> None:
    """/readyz, then one guest registered through the API the way a phone does it, and found stored."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}, ready.text
        step("GET /readyz -> 200 {\"status\": \"ready\"}")
        login = await client.post("/api/v1/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]})
        assert login.status_code == 200, login.text
        admin = {"Authorization": f"Bearer {login.json()['token']}"}
        client.cookies.clear()
        area = await client.post("/api/v1/areas", headers=admin,
                                 json={"code": COUNTY, "name": "临海市", "parent_code": None})
        assert area.status_code == 201, area.text
        account = await client.post("/api/v1/accounts", headers=admin, json={
            "username": "image-landlord", "password": "image-landlord-password", "role": "landlord",
            "display_name": "image landlord", "area_code": None})
        assert account.status_code == 201, account.text
        login = await client.post("/api/v1/auth/login",
                                  json={"username": "image-landlord", "password": "image-landlord-password"})
        client.cookies.clear()
        landlord = {"Authorization": f"Bearer {login.json()['token']}"}
        dwelling = await client.post("/api/v1/dwellings", headers=landlord, json={
            "name": "Image room", "address": "1 Image Lane", "area_code": COUNTY, "kind": "rental_room", "capacity": 2})
        assert dwelling.status_code == 201, dwelling.text
        token = dwelling.json()["registration_url"].rsplit("/", 1)[1]
        body = {"full_name": "张三", "document_type": "resident_id", "document_number": GUEST_DOCUMENT,
                "phone": "13800138000", "check_out": (date.today() + timedelta(days=2)).isoformat()}
        path, key = f"/api/v1/public/dwellings/{token}/stays", {"Idempotency-Key": secrets.token_urlsafe(16)}
        stay = await client.post(path, json=body, headers=key)
        assert stay.status_code == 201, stay.text
        again = await client.post(path, json=body, headers=key)
        assert again.status_code == 201 and again.json() == stay.json(), again.text
    conn = await asyncpg.connect(dsn)
    try:
        stored = await conn.fetchval("SELECT count(*) FROM stays WHERE id = $1::uuid", stay.json()["id"])
        total = await conn.fetchval("SELECT count(*) FROM stays")
    finally:
        await conn.close()
    assert stored == total == 1, (stored, total)
    step(f"registration POST /api/v1/public/dwellings/…/stays -> 201 (stay {stay.json()['id']}), "
         "the same key again -> the same answer, 1 stay stored")


async def create_database(server: str, name: str, drop: bool = False) -> None:
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' if drop else f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def wait_ready(runner: Container | ChrootRun, base_url: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        assert runner.running(), f"the image's service exited:\n{runner.log()}"
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"not ready within {START_SECONDS} s:\n{runner.log()}"
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", required=True)
    parser.add_argument("--tag", required=True)
    args = parser.parse_args()
    server = os.environ.get("DATABASE_URL")
    if not server:
        sys.exit("image-check: set DATABASE_URL to a PostgreSQL server (a fresh database is made on it)")
    name = f"vh_image_check_{secrets.token_hex(4)}"
    asyncio.run(create_database(server, name))
    dsn = with_database(server, name)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {"DATABASE_URL": dsn, "VH_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
           "VH_ADMIN_USERNAME": ADMIN[0], "VH_ADMIN_PASSWORD": ADMIN[1], "VH_PUBLIC_BASE_URL": base_url}
    cmd = json.loads(run(args.engine, "image", "inspect", "--format", "{{json .Config.Cmd}}", args.tag))
    cmd += ["--host", "127.0.0.1", "--port", str(port)]
    step(f"database {name} on {urlsplit(server).hostname}:{urlsplit(server).port or 5432}")
    runner: Container | ChrootRun = Container(args.engine, args.tag, env, cmd)
    try:
        try:
            runner.start()
            step(f"started {args.tag} as a {args.engine} container on the host network")
        except subprocess.CalledProcessError as exc:
            refusal = (exc.stderr or "").strip().splitlines()[-1:] or ["(no message)"]
            step(f"{args.engine} cannot start a container here: {refusal[0]}")
            runner.remove()
            runner = ChrootRun(args.engine, args.tag, env, cmd)
            runner.start()
        started = time.monotonic()
        wait_ready(runner, base_url)
        step(f"ready after {time.monotonic() - started:.1f} s")
        if isinstance(runner, ChrootRun):
            runner.check_user()
        asyncio.run(smoke(base_url, dsn))
        code = runner.stop()
        assert code == 0, f"the service exited with {code} on SIGTERM:\n{runner.log()}"
        step("SIGTERM -> the service stopped, exit status 0")
        step(f"PASSED: {args.tag} built with {args.engine}, run as {runner.how}")
    finally:
        runner.remove()
        asyncio.run(create_database(server, name, drop=True))


if __name__ == "__main__":
    main()
