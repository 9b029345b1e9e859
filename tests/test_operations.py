"""Operating the service: settings, migrations, health, metrics, OpenAPI, start and stop, backups, commands."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx

from service.cli import PAGES
from service.db.migrate import migration_files
from service.demo import REGISTRY
from tests.support import (ADMIN_PASSWORD, ADMIN_USERNAME, ROOT, TEST_MASTER_KEY, ServiceProcess, StaffClient,
                           counters_applied, idempotency_key, pgdata_folder, resident_id, unique)


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
    """A command with the settings in ``env`` only (without DATABASE_URL it runs on the embedded server)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("VH_") and k != "DATABASE_URL"}
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


def worker_pids(process: ServiceProcess) -> set[int]:
    """The worker processes a service started, as their start-up lines name them."""
    return {int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", process.log())}


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def test_worker_processes_serve_one_port_count_together_and_stop_with_serve(create_database, tmp_path):
    dsn = await create_database()
    process = ServiceProcess(dsn=dsn, data_dir=tmp_path, workers=3).start()
    workers = worker_pids(process)
    assert len(workers) == 3 and process.process.pid not in workers
    # Migrations ran once, in `serve`, before the workers started.
    assert process.log().count("migration applied: 0001_foundation") == 1
    async with httpx.AsyncClient(base_url=process.base_url) as client:
        for _ in range(30):  # a new connection each, handed to whichever worker accepts it
            async with httpx.AsyncClient(base_url=process.base_url) as once:
                assert (await once.get("/api/v1/areas")).status_code == 401
        metrics = (await client.get("/metrics")).text
    # The metrics of all the workers, whichever answers.
    assert re.search(r'vhotel_requests_total\{[^}]*path="/api/v1/areas"[^}]*status_code="401"[^}]*\} 30\.0', metrics)
    assert process.stop() == 0
    assert not any(alive(pid) for pid in workers)
    # Killed outright, `serve` takes its workers with it: none is left holding the port.
    process.start()
    workers = worker_pids(process) - workers
    assert len(workers) == 3
    process.process.kill()
    process.process.wait()
    deadline = asyncio.get_running_loop().time() + 30
    while any(alive(pid) for pid in workers) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
    assert not any(alive(pid) for pid in workers)


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
            # The registry's people are named for trying the review, their ID numbers never written to the log.
            assert all(name in process.log() and seed[:17] not in process.log() for name, seed in REGISTRY)
    finally:
        process.stop()
    process.start()
    try:
        assert "demo data present" in process.log()
        async with httpx.AsyncClient(base_url=process.base_url) as client:
            login = await client.post("/api/v1/auth/login", json={"username": "wang", "password": "guanlin-landlord"})
            landlord = {"Authorization": f"Bearer {login.json()['token']}"}
            dwellings = await client.get("/api/v1/dwellings", headers=landlord)
            assert len(dwellings.json()) == 44
            # The demo's guests, its year of history among them, are masked by type as any guest is: a
            # Taiwan permit's 8 digits were shown as "553*3605" (masked "first 3, last 4").
            masked = [g["document_masked"] for d in dwellings.json()
                      for s in (await client.get(f"/api/v1/dwellings/{d['id']}/stays", headers=landlord)).json()
                      for g in s["guests"] if g["document_masked"]]
            assert len(masked) > 100 and [m for m in masked if 2 * m.count("*") < len(m)] == []
    finally:
        process.stop()


async def test_capabilities_in_paths_never_reach_the_request_log(service, anonymous, make_staff, make_area,
                                                                 make_dwelling):
    """QR tokens, receipt codes, verification ids and certificate numbers open something: the log keeps templates."""
    from tests.test_stays import stay_body
    from tests.test_verification import form, jpeg

    area = await make_area()
    police = await make_staff("police", area)
    dwelling = await make_dwelling(await make_staff("landlord"), area)
    token = dwelling["registration_url"].rsplit("/", 1)[1]
    assert (await anonymous.get(f"/r/{token}")).status_code == 200
    stay = await anonymous.post(f"/api/v1/public/dwellings/{token}/stays", json=stay_body(),
                                headers={"Idempotency-Key": idempotency_key()})
    receipt = stay.json()["receipt_code"]
    assert (await anonymous.get(f"/api/v1/public/receipts/{receipt}")).status_code == 200
    applied = (await anonymous.post(f"/api/v1/public/dwellings/{token}/verifications", data=form("路一", resident_id()),
                                    files={"photo": ("face.jpg", jpeg(), "image/jpeg")},
                                    headers={"Idempotency-Key": idempotency_key()})).json()
    status = await anonymous.get(f"/api/v1/public/verifications/{applied['id']}", params={"secret": applied["secret"]})
    assert status.status_code == 200
    certificate = (await police.post(f"/api/v1/verifications/{applied['id']}/approve")).json()["certificate_number"]
    assert (await anonymous.get(f"/api/v1/public/certificates/{certificate}",
                                params={"secret": applied["secret"]})).status_code == 200
    assert (await anonymous.get(f"/api/v1/public/certificates/{certificate}/qr.svg",
                                params={"secret": applied["secret"]})).status_code == 200

    log = service.log()
    for capability in (token, receipt, applied["id"], applied["secret"], certificate):
        assert capability not in log, capability
    for template in ("/r/{token}", "/api/v1/public/receipts/{code}", "/api/v1/public/verifications/{verification_id}",
                     "/api/v1/public/certificates/{number}/qr.svg"):
        assert f'"path":"{template}"' in log, template


async def table_counts(dsn: str) -> dict[str, int]:
    """Rows in every table of the service's schema (a partitioned one as a whole: stays, stay_guests)."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = [r["relname"] for r in await conn.fetch(
            """SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') AND NOT relispartition
                 AND relnamespace = 'public'::regnamespace ORDER BY 1""")]
        return {table: await conn.fetchval(f'SELECT count(*) FROM "{table}"') for table in tables}
    finally:
        await conn.close()


async def embedded_table_counts(data_dir) -> dict[str, int]:
    import pgserver

    server = pgserver.get_server(data_dir / "postgres", cleanup_mode="stop")
    try:
        return await table_counts(server.get_uri())
    finally:
        server.cleanup()


def assert_progress_without_warnings(result: subprocess.CompletedProcess, command: str) -> None:
    """What a person or a cron mail sees of a long command that is not on a terminal: dated progress lines, and
    no warnings of libraries (nothing to act on)."""
    assert re.search(rf"^\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d {command}: .+: 0 of ", result.stderr, re.M), result.stderr
    assert re.search(rf"^\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d {command}: .+: done, ", result.stderr, re.M), result.stderr
    assert "warning" not in (result.stdout + result.stderr).lower(), result.stderr


async def test_restore_drill_certificates_verify_search_finds_people_and_counts_are_equal(create_database, tmp_path):
    from tests.test_police import missed_alerts, next_event, police_stream
    from tests.test_stays import stay_body
    from tests.test_verification import approved_by, form

    dsn = await create_database()
    source = ServiceProcess(dsn=dsn, data_dir=tmp_path / "source").start()
    try:
        async with httpx.AsyncClient(base_url=source.base_url) as anonymous, \
                contextlib.aclosing(await StaffClient.log_in(source.base_url, ADMIN_USERNAME, ADMIN_PASSWORD)) as admin:
            area = "9" + unique("")[-5:]
            assert (await admin.post("/api/v1/areas", json={"code": area, "name": "Drill"})).status_code == 201
            for role in ("landlord", "police"):
                assert (await admin.post("/api/v1/accounts", json={
                    "username": f"drill-{role}", "password": f"drill-{role}-password", "role": role,
                    "area_code": area})).status_code == 201
            landlord = await StaffClient.log_in(source.base_url, "drill-landlord", "drill-landlord-password")
            police = await StaffClient.log_in(source.base_url, "drill-police", "drill-police-password")
            async with contextlib.aclosing(landlord), contextlib.aclosing(police):
                dwelling = (await landlord.post("/api/v1/dwellings", json={
                    "name": "Drill room", "address": "1 Drill Lane", "area_code": area, "kind": "homestay",
                    "capacity": 4})).json()
                dwelling["token"] = dwelling["registration_url"].rsplit("/", 1)[1]
                guest = resident_id(division="330104")
                wanted = [resident_id(division="330104") for _ in range(2)]
                for number in wanted:
                    assert (await police.post("/api/v1/police/watchlist", json={
                        "document_number": number, "note": "drill"})).status_code == 201
                async with police_stream(police, area) as events:
                    await next_event(events, "counts")
                    for number, name in ((guest, "钱七"), (wanted[0], "李九")):
                        assert (await anonymous.post(f"/api/v1/public/dwellings/{dwelling['token']}/stays",
                                                     json=stay_body(document_number=number, full_name=name),
                                                     headers={"Idempotency-Key": idempotency_key()})).status_code == 201
                    alert_before_backup = await next_event(events, "alert")
                approved = await approved_by(police, anonymous, dwelling, form("孙八", resident_id(division="330104")))
                certificate = (await anonymous.get(f"/api/v1/public/certificates/{approved['certificate_number']}",
                                                   params={"secret": approved["secret"]})).json()["token"]
                conn = await asyncpg.connect(dsn)
                try:
                    await counters_applied(conn)  # the counts as the restored service will show them
                finally:
                    await conn.close()
                occupancy = (await police.get("/api/v1/police/occupancy")).json()
    finally:
        source.stop()
    counts = await table_counts(dsn)
    assert counts["stays"] >= 2 and counts["certificates"] == 1

    keys = {"VH_MASTER_KEY": TEST_MASTER_KEY}
    backup_file = tmp_path / "drill.dump"
    made = run_cli("backup", str(backup_file), env={**keys, "DATABASE_URL": dsn, "VH_DATA_DIR": str(tmp_path / "source")})
    assert made.returncode == 0, made.stderr
    assert "backed up the database" in made.stdout and oct(backup_file.stat().st_mode & 0o777) == "0o600"
    assert_progress_without_warnings(made, "backup")

    # Into a database that is not empty: refused, nothing changed.
    refused = run_cli("restore", str(backup_file), env={**keys, "DATABASE_URL": dsn})
    assert refused.returncode == 1 and "not empty" in refused.stderr
    assert await table_counts(dsn) == counts

    with pgdata_folder("restored") as restored, pgdata_folder("restored-again") as again:
        loaded = run_cli("restore", str(backup_file), env={**keys, "VH_DATA_DIR": str(restored)})
        assert loaded.returncode == 0, loaded.stderr
        assert_progress_without_warnings(loaded, "restore")
        assert await embedded_table_counts(restored) == counts

        # No DATABASE_URL: the embedded server. The public origin is the service's, as the certificates' issuer.
        service = ServiceProcess(dsn="", data_dir=restored, extra_env={"VH_PUBLIC_BASE_URL": source.base_url}).start()
        try:
            async with httpx.AsyncClient(base_url=service.base_url) as anonymous, contextlib.aclosing(
                    await StaffClient.log_in(service.base_url, "drill-police", "drill-police-password")) as police:
                verdict = (await anonymous.post("/api/v1/certificates/verify", json={"token": certificate})).json()
                assert verdict["status"] == "valid"
                found = await police.get("/api/v1/police/search", params={"document_number": guest,
                                                                          "reason": "restore drill"})
                assert [(r["document_number"], r["full_name"]) for r in found.json()] == [(guest, "钱七")]
                assert (await police.get("/api/v1/police/occupancy")).json() == occupancy

                # A police screen of the backed-up service resumes here: the restored alert is not sent again
                # (its transaction id is another database's), the one raised since is.
                raised = await anonymous.post(f"/api/v1/public/dwellings/{dwelling['token']}/stays",
                                              json=stay_body(document_number=wanted[1], full_name="周十"),
                                              headers={"Idempotency-Key": idempotency_key()})
                assert raised.status_code == 201
                async with police_stream(police, area, **{"Last-Event-ID": alert_before_backup["id"]}) as events:
                    assert [a["stay_id"] for a in await missed_alerts(events)] == [raised.json()["id"]]
        finally:
            service.stop()

        # The embedded server's own pg_dump and pg_restore, once more.
        second = tmp_path / "again.dump"
        assert run_cli("backup", str(second), env={**keys, "VH_DATA_DIR": str(restored)}).returncode == 0
        assert run_cli("restore", str(second), env={**keys, "VH_DATA_DIR": str(again)}).returncode == 0
        assert await embedded_table_counts(again) == await embedded_table_counts(restored)


def test_long_commands_report_progress_and_no_command_prints_library_warnings(tmp_path):
    """As a cron job or a pipe runs them (no terminal), on the embedded server."""
    with pgdata_folder("commands") as data_dir:
        env = {"VH_DATA_DIR": str(data_dir)}
        people = tmp_path / "people.csv"
        people.write_text("full_name,document_number\n" + "".join(f"周{n},{resident_id()}\n" for n in range(3)))
        runs = {
            "migrate": run_cli("migrate", env=env),
            "registry import": run_cli("registry", "import", str(people), env=env),
            "purge": run_cli("purge", env=env),
            "rekey": run_cli("rekey", env={**env, "VH_NEW_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode()}),
            "audit verify": run_cli("audit", "verify", env=env),
            "keys rotate": run_cli("keys", "rotate", env=env),
        }
    assert {name: result.returncode for name, result in runs.items()} == dict.fromkeys(runs, 0), runs
    assert "imported 3 persons" in runs["registry import"].stdout
    assert "re-encrypted 3 registry_persons.document_cipher" in runs["rekey"].stdout
    for command in ("registry import", "purge", "rekey"):
        assert_progress_without_warnings(runs[command], command)
    for command in ("migrate", "audit verify", "keys rotate"):
        assert "warning" not in (runs[command].stdout + runs[command].stderr).lower(), runs[command].stderr


def test_serve_prints_each_page_apart_from_what_it_is(service):
    """The page list ``serve`` prints: each address whole, a space, then its description."""
    printed = service.log_path.read_text()
    for path, what in PAGES:
        assert f"{service.base_url}{path} " in printed and what in printed, path
