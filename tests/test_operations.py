"""Operating the service: settings, migrations, health, metrics, OpenAPI, start and stop."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys

import asyncpg
import httpx

from service.db.migrate import migration_files
from tests.support import ROOT, ServiceProcess


async def test_health_readiness_metrics_and_openapi(anonymous):
    assert (await anonymous.get("/healthz")).json() == {"status": "ok"}
    assert (await anonymous.get("/readyz")).json() == {"status": "ready"}
    await anonymous.get("/api/v1/areas")
    metrics = await anonymous.get("/metrics")
    assert metrics.status_code == 200 and "vhotel_requests_total" in metrics.text
    schema = (await anonymous.get("/schema/openapi.json")).json()
    assert "/api/v1/public/dwellings/{token}" in schema["paths"]
    assert "/api/v1/auth/login" in schema["paths"]


def run_cli(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("VH_")}
    return subprocess.run([sys.executable, "-m", "service", *args], cwd=ROOT, env={**base, **(env or {})},
                          capture_output=True, text=True, input=input, timeout=120)


def test_a_bad_setting_stops_start_up_with_one_line_naming_it(tmp_path):
    result = run_cli("migrate", env={"VH_PUBLIC_BASE_URL": "ftp://nowhere", "VH_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: setting VH_PUBLIC_BASE_URL: must be an http:// or https:// URL, e.g. https://hotel.example.org"]


async def test_two_instances_starting_together_apply_migrations_once(create_database, tmp_path):
    dsn = await create_database()
    env = {"DATABASE_URL": dsn, "VH_DATA_DIR": str(tmp_path)}
    base = {k: v for k, v in os.environ.items() if not k.startswith("VH_")}
    procs = [await asyncio.create_subprocess_exec(sys.executable, "-m", "service", "migrate", cwd=ROOT,
                                                  env={**base, **env}, stdout=asyncio.subprocess.PIPE,
                                                  stderr=asyncio.subprocess.PIPE) for _ in range(2)]
    results = [await p.communicate() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    conn = await asyncpg.connect(dsn)
    try:
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")]
    finally:
        await conn.close()
    assert versions == [v for v, _ in migration_files()]


async def test_account_create_command(create_database, tmp_path):
    dsn = await create_database()
    env = {"DATABASE_URL": dsn, "VH_DATA_DIR": str(tmp_path)}
    result = run_cli("account", "create", "chief", "--role", "admin", env=env, input="a-long-password\n")
    assert result.returncode == 0, result.stderr
    assert "created admin account chief" in result.stdout
    process = ServiceProcess(dsn=dsn, data_dir=tmp_path, extra_env={"VH_ADMIN_USERNAME": "", "VH_ADMIN_PASSWORD": ""}).start()
    try:
        async with httpx.AsyncClient(base_url=process.base_url) as client:
            login = await client.post("/api/v1/auth/login", json={"username": "chief", "password": "a-long-password"})
            assert login.status_code == 200 and login.json()["role"] == "admin"
    finally:
        process.stop()


async def test_graceful_stop_on_sigterm(create_database, tmp_path):
    process = ServiceProcess(dsn=await create_database(), data_dir=tmp_path).start()
    assert process.stop() == 0
    assert "Application shutdown complete" in process.log()


async def test_the_demo_is_guanlin_village_with_guests_and_a_second_start_keeps_it(create_database, tmp_path):
    process = ServiceProcess(dsn=await create_database(), data_dir=tmp_path, extra_args=["--demo"]).start()
    try:
        assert "police / guanlin-police" in process.log()
        async with httpx.AsyncClient(base_url=process.base_url) as client:
            login = await client.post("/api/v1/auth/login", json={"username": "police", "password": "guanlin-police"})
            headers = {"Authorization": f"Bearer {login.json()['token']}"}
            counts = (await client.get("/api/v1/police/occupancy", headers=headers)).json()
            assert counts["area"] == "331004" and counts["dwellings"] == 52
            assert counts["current_guests"] > 0 and counts["floating_population"] > 0 and counts["foreign_guests"] > 0
            mapped = (await client.get("/api/v1/police/dwellings", headers=headers)).json()
            assert all(d["latitude"] and d["longitude"] for d in mapped)
            # The start-up text names a guest's page to try; it opens that dwelling's registration.
            guest_page = re.search(r"a guest's registration page \((.+)\): (\S+)", process.log())
            assert guest_page and guest_page[2].startswith(process.base_url + "/r/")
            token = guest_page[2].rsplit("/", 1)[1]
            dwelling = (await client.get(f"/api/v1/public/dwellings/{token}")).json()
            assert dwelling["name"] == guest_page[1]
            assert (await client.get(guest_page[2])).status_code == 200
            assert f"{process.base_url}/police/review" in process.log()
    finally:
        process.stop()
    process.start()
    try:
        assert "demo data present" in process.log()
        async with httpx.AsyncClient(base_url=process.base_url) as client:
            login = await client.post("/api/v1/auth/login", json={"username": "wang", "password": "guanlin-landlord"})
            dwellings = await client.get("/api/v1/dwellings", headers={"Authorization": f"Bearer {login.json()['token']}"})
            assert len(dwellings.json()) == 44
    finally:
        process.stop()
