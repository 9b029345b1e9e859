"""Guest registrations per second through HTTP: the service's whole path against bare inserts.

Measured: ``POST /api/v1/public/dwellings/{token}/stays`` at a fixed number of keep-alive
connections (64), driven by wrk (``registrations.lua``) on this same machine, every request
a new guest (valid resident ID number, new Idempotency-Key, dwellings round-robin), against

- bare: ``bench/bare.py``, a minimal Litestar + asyncpg app inserting the same two rows in one
  transaction and nothing else: HTTP + JSON + two inserts (and the schema's triggers on them,
  which keep the counters) + a durable commit;
- bare-nocount: the same app inserting into copies of the two tables without any trigger: no
  counters at all, the floor of HTTP + JSON + two inserts + a durable commit;
- full: the real service (``python -m service serve``), doing all a registration does:
  middleware, validation, encryption, idempotency record, dwelling lock, alerts, and (in the
  counter applier, a moment later) the counters and the statistics rollups;
- full-norollups: the same service with the statistics rollups off, in this benchmark's database
  only: the trigger function that flags each change of a stay for the statistics ledger
  (stays_changed(), 0012_counter_applier.sql) is replaced by one that flags none, so the applier
  books nothing in stats_ledger; restored after the run. The A/B of the two is the CPU the rollups
  add to a registration (issue 12: at most 5%).

All three run with the same number of worker processes on their port (--workers, default the
cores, as VH_WORKERS), on one fresh database (DATABASE_URL's server, or an embedded PostgreSQL in a temp
folder), with the same pool size (VH_DB_POOL_SIZE, default 10), synchronous_commit on, and
tables emptied before each measurement so both start from the same state. Each target gets
a warm-up run, then the measured run, then a row check: the rows in ``stays`` must be at
least the 201 answers (an acknowledged registration exists) and at most that plus the
requests in flight when wrk stopped (one per connection).

How to read it: requests/s are completed 201s per second over the run (a closed loop: 64
clients each waiting for its answer, so throughput and latency trade against each other);
p50/p99 are wrk's latency percentiles of all answers; "errors" counts non-201 answers and
socket errors — any at all and the run says so and exits 1. full/bare is the share of the
bare throughput that the full path keeps (full/bare-nocount: of the floor). "cores busy" tells
where the two cores went during the run: the app's processes (each worker one Python event loop),
PostgreSQL, wrk,
and other (anything else on the machine — above about 0.1 the figures are disturbed), and
CPU microseconds per registration (app and PostgreSQL; their sum is the CPU a registration
costs, wrk's excluded; for the service, counted until the counter applier has applied every
change of the run, so its catching up after wrk stops is in the figure), and how much of each was
spent in the kernel (system time: mostly the loopback TCP of the requests, answers and SQL, and the
commit's WAL writes). "pool connections" samples what the app's PostgreSQL
connections do: mostly idle or "in transaction" (waiting for the app's next statement) means
the app is the limit; lock or commit/IO means the database is. The verdict takes each
target's best round (of --rounds, default 3).

    python -m bench.registrations [--duration 15] [--connections 64] [--dwellings 8000] [--workers N]
                                  [--targets bare,bare-nocount,full,full-norollups] [--rounds 3] [--profile] [--quiet-wait 0]

``--profile`` adds a run of the full path under py-spy and prints where the service's CPU
time goes (the collapsed stacks are kept in var/bench/ for speedscope or flamegraph.pl).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from bench.guests import write_requests
from tests.support import ADMIN_PASSWORD, ADMIN_USERNAME, ROOT, ServiceProcess, with_database

LUA = Path(__file__).with_name("registrations.lua")
STAYS_PATH = "/api/v1/public/dwellings/{token}/stays"
TARGET_RPS, TARGET_P99_MS, TARGET_RATIO, TARGET_CPU_US = 2000, 100.0, 0.5, 900
TARGETS = ("bare", "bare-nocount", "full", "full-norollups")
SERVICE_TARGETS = ("full", "full-norollups")
TARGET_ROLLUP_SHARE = 1.05  # CPU per registration with the rollups, over without
# Copies of the two tables a registration fills, with their columns and indexes but no trigger.
UNCOUNTED_TABLES = ("CREATE TABLE bare_stays (LIKE stays INCLUDING ALL)",
                    "CREATE TABLE bare_stay_guests (LIKE stay_guests INCLUDING ALL)")
AREA = {"code": "331004", "name": "Luqiao", "parent_code": None}
LANDLORD = {"username": "bench-landlord", "password": "bench-landlord-password", "role": "landlord",
            "display_name": "Benchmark landlord", "area_code": None}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# As in production behind a load balancer: the rate limits at their defaults, each guest at its own
# address (X-Forwarded-For from the trusted proxy), enough dwellings that no QR code reaches its limit.
BEHIND_PROXY = {"VH_TRUSTED_PROXIES": '["127.0.0.1"]'}
TOKEN_LIMIT_PER_MINUTE = 30


@dataclass
class BareProcess(ServiceProcess):
    """``python -m bench.bare`` started and awaited the way ServiceProcess starts the service."""

    without_counters: bool = False

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"bare-{self.port}.log"

    def command(self) -> list[str]:
        return ["bench.bare", *(["--without-counters"] if self.without_counters else [])]


def process_tree(pid: int) -> list[int]:
    """A process and its descendants (a server's worker processes)."""
    pids, i = [pid], 0
    while i < len(pids):
        try:
            children = Path(f"/proc/{pids[i]}/task/{pids[i]}/children").read_text().split()
        except OSError:
            children = []
        pids += [int(child) for child in children]
        i += 1
    return pids


@dataclass
class Run:
    """One wrk run against one target, with what the database holds afterwards."""

    target: str
    wrk: dict
    first_error: str = ""
    rows: int = 0
    guest_rows: int = 0
    ledger_rows: int = 0  # statistics rollups booked (the service's targets)
    cpu: dict[str, float] = field(default_factory=dict)
    backends: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.wrk["duration_us"] / 1e6

    @property
    def created(self) -> int:
        return self.wrk["statuses"].get("201", 0)

    @property
    def rps(self) -> float:
        return self.created / self.seconds

    def ms(self, key: str) -> float:
        return self.wrk[key] / 1000

    @property
    def non_201(self) -> int:
        return sum(n for status, n in self.wrk["statuses"].items() if status != "201")

    @property
    def socket_errors(self) -> int:
        return sum(self.wrk[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))

    @property
    def errors(self) -> int:
        return self.non_201 + self.socket_errors

    def rows_problem(self, connections: int) -> str | None:
        """None when every 201 has its row and no more rows exist than 201s plus requests cut off in flight."""
        if self.rows < self.created:
            return f"LOST: {self.rows} rows for {self.created} answers 201"
        if self.guest_rows != self.rows:
            return f"{self.guest_rows} stay_guests rows for {self.rows} stays"
        if self.rows > self.created + connections:
            return f"{self.rows} rows for {self.created} answers 201 (more than {connections} in flight)"
        return None


# --- the database -----------------------------------------------------------------------------

def sql(dsn: str, query: str, *args: object) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def count_rows(dsn: str, prefix: str = "", settle_seconds: float = 10) -> tuple[int, int]:
    """(stays, stay_guests) once requests still in flight after wrk stopped have finished; ``prefix``:
    "bare_" for the tables without triggers."""
    query = f"SELECT (SELECT count(*) FROM {prefix}stays), (SELECT count(*) FROM {prefix}stay_guests)"
    last, deadline = None, time.monotonic() + settle_seconds
    while True:
        now = tuple(sql(dsn, query)[0])
        if now == last or time.monotonic() > deadline:
            return now
        last = now
        time.sleep(0.5)


def empty_tables(dsn: str) -> None:
    """The same start for every measurement: no stays, no idempotency records, no pending changes, an
    empty statistics ledger, a fresh checkpoint."""
    sql(dsn, "TRUNCATE stay_guests, stays, idempotency_keys, stay_changes, stats_ledger, bare_stays, "
             "bare_stay_guests CASCADE")
    sql(dsn, "CHECKPOINT")


def changes_applied(dsn: str, timeout: float = 60) -> None:
    """Wait until the counter applier has applied every change (stay_changes is empty)."""
    async def wait() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            deadline = time.monotonic() + timeout
            while await conn.fetchval("SELECT EXISTS (SELECT 1 FROM stay_changes)"):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the counter applier left changes pending after {timeout:g} s")
                await asyncio.sleep(0.05)
        finally:
            await conn.close()

    asyncio.run(wait())


class RollupsOff:
    """The statistics rollups off in the benchmark's database: stays_changed() as it is, with every change
    flagged ``statistics = false`` (stay_change()'s third argument), so the applier books no ledger rows."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.original = sql(dsn, "SELECT pg_get_functiondef('stays_changed()'::regprocedure) AS body")[0]["body"]

    def __enter__(self) -> None:
        unflagged = self.original.replace(", true)", ", false)")
        if unflagged == self.original:
            raise RuntimeError("stays_changed() no longer flags changes as stay_change(..., true): update bench")
        sql(self.dsn, unflagged)

    def __exit__(self, *exc: object) -> None:
        sql(self.dsn, self.original)


class Database:
    """A fresh database on DATABASE_URL's server or on an embedded PostgreSQL; dropped on close."""

    def __init__(self) -> None:
        self.server, self.folder = None, None
        if os.environ.get("DATABASE_URL"):
            server_dsn = os.environ["DATABASE_URL"]
        else:
            import pgserver

            self.folder = Path(tempfile.mkdtemp(prefix="vh-bench-pg-"))
            self.server = pgserver.get_server(self.folder, cleanup_mode="stop")
            server_dsn = self.server.get_uri()
        self.server_dsn = server_dsn
        self.name = f"vh_bench_{secrets.token_hex(4)}"
        sql(server_dsn, f'CREATE DATABASE "{self.name}"')
        self.dsn = with_database(server_dsn, self.name)

    def close(self) -> None:
        try:
            sql(self.server_dsn, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            if self.server is not None:
                self.server.cleanup()
                shutil.rmtree(self.folder, ignore_errors=True)


# --- the service's set-up, through its API ----------------------------------------------------

def set_up_dwellings(base_url: str, dsn: str, count: int) -> list[str]:
    """Admin → area → landlord → ``count`` dwellings of capacity 4; their QR tokens."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        def login(username: str, password: str) -> None:
            response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
            response.raise_for_status()
            client.cookies.clear()
            client.headers["Authorization"] = f"Bearer {response.json()['token']}"

        login(ADMIN_USERNAME, ADMIN_PASSWORD)
        client.post("/api/v1/areas", json=AREA).raise_for_status()
        client.post("/api/v1/accounts", json=LANDLORD).raise_for_status()
        login(LANDLORD["username"], LANDLORD["password"])
        first = client.post("/api/v1/dwellings", json={
            "name": "Room 1", "address": "1 Guanlin Road", "area_code": AREA["code"], "kind": "rental_room",
            "capacity": 4})
        first.raise_for_status()
    # The rest straight into the table, as the API would have made them: thousands take seconds, not minutes.
    owner = sql(dsn, "SELECT owner_id FROM dwellings")[0]["owner_id"]
    sql(dsn, """INSERT INTO dwellings (owner_id, name, address, area_code, kind, capacity, qr_token)
                SELECT $1, 'Room ' || n, n || ' Guanlin Road', $2, 'rental_room', 4, md5(random()::text || n)
                  FROM generate_series(2, $3) n""", owner, AREA["code"], count)
    rows = sql(dsn, "SELECT qr_token FROM dwellings ORDER BY id")
    return [row["qr_token"] for row in rows]


def has_registration_endpoint(base_url: str) -> bool:
    paths = httpx.get(f"{base_url}/schema/openapi.json", timeout=30).json().get("paths", {})
    return "post" in paths.get(STAYS_PATH, {})


# --- load and measurement ---------------------------------------------------------------------

def cpu_seconds(pids: list[int], kernel_only: bool = False) -> dict[int, float]:
    """User + system CPU time of each process still there (``kernel_only``: system time alone)."""
    times = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        times[pid] = ((0 if kernel_only else int(fields[11])) + int(fields[12])) / CLOCK_TICKS
    return times


def postgres_pids(dsn: str) -> list[int]:
    """The server's processes this machine can see: backends and the background workers."""
    pids = [row["pid"] for row in sql(dsn, "SELECT pid FROM pg_stat_activity")]
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()]


def run_wrk(base_url: str, requests: Path, seconds: float, args: argparse.Namespace, log: Path,
            watch: dict[str, Callable[[], list[int]]],
            settle: Callable[[], None] | None = None) -> tuple[dict, str, dict[str, float]]:
    """wrk's BENCH_RESULT, its first non-201 answer, and the cores busy per group of processes in
    ``watch`` (each asked for its pids before and after: processes started meanwhile count whole),
    over wrk's run; ``settle`` runs after wrk, before the CPU is read (work the run left to finish)."""
    command = ["wrk", f"--threads={args.threads}", f"--connections={args.connections}",
               f"--duration={max(1, round(seconds))}s", "--timeout=10s", "--latency", f"--script={LUA}",
               base_url, "--", str(requests), str(args.threads)]
    groups = {name: pids() for name, pids in watch.items()}
    before = {name: cpu_seconds(pids) for name, pids in groups.items()}
    before_kernel = {name: cpu_seconds(pids, kernel_only=True) for name, pids in groups.items()}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        wrk = subprocess.run(command, stdout=subprocess.PIPE, stderr=out, text=True, timeout=seconds + 120)
        out.write(wrk.stdout)
    if wrk.returncode != 0:
        raise RuntimeError(f"wrk failed ({wrk.returncode}); see {log}")
    if settle is not None:
        settle()
    lines = wrk.stdout.splitlines()
    result = json.loads(next(line for line in lines if line.startswith("BENCH_RESULT "))[13:])
    run_seconds = result["duration_us"] / 1e6  # wrk's load phase, not its start-up reading the requests
    first_error = next((line[18:] for line in lines if line.startswith("BENCH_FIRST_ERROR ")), "")
    cores = {}
    for name, pids in watch.items():
        group = pids()
        after, after_kernel = cpu_seconds(group), cpu_seconds(group, kernel_only=True)
        cores[name] = sum(t - before[name].get(pid, 0.0) for pid, t in after.items()) / run_seconds
        cores[f"{name} kernel"] = sum(t - before_kernel[name].get(pid, 0.0) for pid, t in after_kernel.items()) / run_seconds
    done = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the only child reaped meanwhile
    cores["wrk"] = (done.ru_utime + done.ru_stime - children.ru_utime - children.ru_stime) / run_seconds
    return result, first_error, cores


class BackendSampler(threading.Thread):
    """What the app's PostgreSQL connections are doing, sampled every 50 ms while wrk runs.

    idle: no transaction (waiting in the pool or for the app to start one); in transaction:
    waiting for the app's next statement inside a transaction (the app is slow to send it);
    running: executing; lock: waiting for a row or transaction lock; commit/IO: waiting for
    WAL flush or other I/O; other: any other wait.
    """

    QUERY = """SELECT state, wait_event_type, wait_event FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid()
                  AND backend_type = 'client backend' AND query NOT ILIKE 'LISTEN%'"""

    def __init__(self, dsn: str) -> None:
        super().__init__(daemon=True)
        self.dsn, self.counts, self.stopping = dsn, Counter(), threading.Event()

    @staticmethod
    def classify(state: str | None, wait_type: str | None, wait_event: str | None) -> str:
        if state == "idle":
            return "idle"
        if state and state.startswith("idle in transaction"):
            return "in transaction"
        if wait_type is None:
            return "running"
        if wait_type == "Lock":
            return "lock"
        if wait_type == "IO" or (wait_event or "").startswith("WAL"):
            return "commit/IO"
        return "other"

    def run(self) -> None:
        async def sample() -> None:
            conn = await asyncpg.connect(self.dsn)
            try:
                while not self.stopping.is_set():
                    for row in await conn.fetch(self.QUERY):
                        self.counts[self.classify(*row)] += 1
                    await asyncio.sleep(0.05)
            finally:
                await conn.close()

        asyncio.run(sample())

    def shares(self) -> dict[str, float]:
        self.stopping.set()
        self.join(timeout=10)
        total = sum(self.counts.values()) or 1
        return {name: n / total for name, n in self.counts.items()}


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores; /proc/stat counts in clock ticks)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    return (sum(fields) - fields[3] - fields[4]) / CLOCK_TICKS


def wait_for_quiet(max_seconds: float, limit: float = 0.2, quiet_seconds: int = 5) -> float:
    """Wait (up to ``max_seconds``) for ``quiet_seconds`` in a row in which the machine uses less than
    ``limit`` cores; the cores last used."""
    deadline, quiet = time.monotonic() + max_seconds, 0
    while True:
        busy, started = machine_busy(), time.monotonic()
        time.sleep(1)
        cores = (machine_busy() - busy) / (time.monotonic() - started)
        quiet = quiet + 1 if cores < limit else 0
        if quiet >= quiet_seconds or time.monotonic() > deadline:
            return cores


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path, db: Database, tokens: list[str]) -> None:
        self.args, self.work, self.db, self.tokens = args, work, db, tokens
        self.next_guest = 0
        self.wrk_log = work / "wrk.log"
        self.problems: list[str] = []

    def requests_file(self, seconds: float, tag: str) -> Path:
        """Enough new guests for ``seconds`` at up to --max-rate requests/s."""
        count = math.ceil(seconds * self.args.max_rate) + self.args.connections
        path = self.work / f"requests-{tag}.tsv"
        write_requests(path, self.tokens, self.next_guest, count, tag)
        self.next_guest += count
        return path

    def load(self, server: ServiceProcess, target: str, seconds: float, tag: str, *,
             profile: Path | None = None) -> Run:
        """Empty tables, one wrk run, then the rows it left."""
        empty_tables(self.db.dsn)
        requests = self.requests_file(seconds, tag)
        watch = {"app": lambda: process_tree(server.process.pid), "postgres": lambda: postgres_pids(self.db.dsn)}
        if self.args.quiet_wait:
            busy = wait_for_quiet(self.args.quiet_wait)
            if busy >= 0.2:
                print(f"  (the machine is still busy, {busy:.1f} cores, after {self.args.quiet_wait:g} s: going on)")
        spy = None
        if profile is not None:
            spy = subprocess.Popen(
                [str(Path(sys.executable).with_name("py-spy")), "record", "--format", "raw", "--rate", "200",
                 "--function", "--duration", str(max(1, round(seconds)) - 1), "--output", str(profile),
                 "--subprocesses", "--gil", "--pid", str(server.process.pid)],
                stdout=subprocess.DEVNULL, stderr=(self.work / "py-spy.log").open("w"))
        busy, sampler = machine_busy(), BackendSampler(self.db.dsn)
        sampler.start()
        settle = (lambda: changes_applied(self.db.dsn)) if target.startswith(SERVICE_TARGETS) else None
        result, first_error, cores = run_wrk(server.base_url, requests, seconds, self.args, self.wrk_log, watch, settle)
        machine = (machine_busy() - busy) / (result["duration_us"] / 1e6)
        backends = sampler.shares()
        if spy is not None:
            spy.wait(timeout=60)
        cores["other"] = max(0.0, machine - cores["app"] - cores["postgres"] - cores["wrk"])
        requests.unlink()
        run = Run(target, result, first_error, cpu=cores, backends=backends)
        run.rows, run.guest_rows = count_rows(self.db.dsn, "bare_" if target == "bare-nocount" else "")
        run.ledger_rows = sql(self.db.dsn, "SELECT count(*) FROM stats_ledger")[0][0]
        return run

    def measure(self, target: str, server: ServiceProcess, profile: Path | None = None) -> Run:
        server.start()
        try:
            warm = self.load(server, target, self.args.warmup, f"{target}-warm")
            self.problems += report_problems(warm, self.args.connections, "warm-up")
            run = self.load(server, target if profile is None else f"{target} (profiled)", self.args.duration,
                            f"{target}-run", profile=profile)
        finally:
            server.stop()
        empty_tables(self.db.dsn)
        self.problems += report_problems(run, self.args.connections)
        return run


# --- the report -------------------------------------------------------------------------------

def report_problems(run: Run, connections: int, what: str = "run") -> list[str]:
    problems = []
    if run.errors:
        statuses = ", ".join(f"{n} x {s}" for s, n in sorted(run.wrk["statuses"].items()) if s != "201")
        problems.append(f"{run.target} {what}: {run.non_201} non-201 answers ({statuses or 'none'}), "
                        f"{run.socket_errors} socket errors/timeouts; first: {run.first_error[:300]}")
    if run.wrk["wraps"]:
        problems.append(f"{run.target} {what}: wrk ran out of new guests and repeated requests "
                        f"(raise --max-rate)")
    rows = run.rows_problem(connections)
    if rows:
        problems.append(f"{run.target} {what}: rows: {rows}")
    if run.target == "full" and run.created and not run.ledger_rows:
        problems.append(f"full {what}: the rollups booked nothing in stats_ledger")
    if run.target == "full-norollups" and run.ledger_rows:
        problems.append(f"full-norollups {what}: {run.ledger_rows} stats_ledger rows with the rollups off")
    for problem in problems:
        print(f"!!! ERROR {problem}", flush=True)
    return problems


def print_table(runs: list[Run], connections: int) -> None:
    print()
    print(f"{'target':<16}{'req/s':>8}{'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}{'max ms':>8}{'errors':>8}"
          f"{'201s':>8}{'rows':>8}  rows check")
    for run in runs:
        check = run.rows_problem(connections) or f"ok (+{run.rows - run.created} in flight)"
        print(f"{run.target:<16}{run.rps:>8.0f}{run.ms('p50_us'):>8.1f}{run.ms('p90_us'):>8.1f}"
              f"{run.ms('p99_us'):>8.1f}{run.ms('max_us'):>8.1f}{run.errors:>8}{run.created:>8}{run.rows:>8}  {check}")
    print(f"\n{'CPU':<16}{'cores busy: app':>16}{'postgres':>10}{'wrk':>6}{'other':>7}"
          f"{'µs/registration: app':>23}{'postgres':>10}{'both':>7}{'in the kernel: app':>20}{'postgres':>10}")
    for run in runs:
        cpu = run.cpu
        per = {k: f"{cpu_us(run, k):.0f}" if run.rps else "-" for k in ("app", "postgres")}
        both = f"{cpu_us(run):.0f}" if run.rps else "-"
        disturbed = "  <- other work on the machine: figures disturbed" if cpu.get("other", 0) > 0.15 else ""
        kernel = {k: f"{cpu_us(run, f'{k} kernel'):.0f}" if run.rps else "-" for k in ("app", "postgres")}
        print(f"{run.target:<16}{cpu.get('app', 0):>16.2f}{cpu.get('postgres', 0):>10.2f}{cpu.get('wrk', 0):>6.2f}"
              f"{cpu.get('other', 0):>7.2f}{per['app']:>23}{per['postgres']:>10}{both:>7}"
              f"{kernel['app']:>20}{kernel['postgres']:>10}{disturbed}")
    states = ("idle", "in transaction", "running", "lock", "commit/IO", "other")
    print(f"\n{'pool connections':<16}" + "".join(f"{name:>16}" for name in states) + "   (share of samples)")
    for run in runs:
        print(f"{run.target:<16}" + "".join(f"{100 * run.backends.get(name, 0):>15.0f}%" for name in states))


def cpu_us(run: Run, *groups: str) -> float:
    """CPU µs per registration of these process groups (default: the app and PostgreSQL)."""
    return sum(run.cpu.get(group, 0) for group in groups or ("app", "postgres")) / run.rps * 1e6


def print_verdict(runs: list[Run]) -> None:
    """Each target's best round (by registrations/s), the ratios, and the targets met or missed."""
    best = {target: max((r for r in runs if r.target == target), key=lambda r: r.rps)
            for target in TARGETS if any(r.target == target for r in runs)}
    rounds = max(sum(r.target == target for r in runs) for target in best)
    print(f"\nbest of {rounds} round{'s' * (rounds > 1)}:")
    for target, run in best.items():
        print(f"  {target:<14}{run.rps:>7.0f} registrations/s, p99 {run.ms('p99_us'):6.1f} ms, "
              f"CPU {cpu_us(run):5.0f} µs per registration (app {cpu_us(run, 'app'):.0f} + "
              f"PostgreSQL {cpu_us(run, 'postgres'):.0f})")
    full = best.get("full")
    if full is None:
        return
    verdicts = [(f"full >= {TARGET_RPS} registrations/s", full.rps >= TARGET_RPS, f"{full.rps:.0f}"),
                (f"full p99 < {TARGET_P99_MS:.0f} ms", full.ms("p99_us") < TARGET_P99_MS, f"{full.ms('p99_us'):.1f} ms"),
                (f"full CPU <= {TARGET_CPU_US} µs/registration", cpu_us(full) <= TARGET_CPU_US,
                 f"{cpu_us(full):.0f} µs")]
    if "bare-nocount" in best:
        ratio = full.rps / best["bare-nocount"].rps
        print(f"full/bare-nocount: {ratio:.2f}")
        verdicts.append((f"full/bare-nocount >= {TARGET_RATIO}", ratio >= TARGET_RATIO, f"{ratio:.2f}"))
    if "bare" in best:
        print(f"full/bare: {full.rps / best['bare'].rps:.2f}")
    if "full-norollups" in best:
        verdicts.append(rollups_verdict(runs))
    for name, met, value in verdicts:
        print(f"  target {name:<36} {'met' if met else 'MISSED':<7} ({value})")


def rollups_verdict(runs: list[Run]) -> tuple[str, bool, str]:
    """The A/B of the statistics rollups: CPU per registration (app and PostgreSQL, the applier's share
    included) with and without, round by round (each pair measured a minute apart), and the ratio of each
    side's least disturbed round (the lowest CPU: other work on the machine only ever adds to it)."""
    pairs = list(zip((r for r in runs if r.target == "full"), (r for r in runs if r.target == "full-norollups")))
    print("\nstatistics rollups, CPU per registration (app + PostgreSQL, counter applier included):")
    for n, (on, off) in enumerate(pairs, 1):
        print(f"  round {n}: with {cpu_us(on):5.0f} µs (app {cpu_us(on, 'app'):.0f} + PostgreSQL "
              f"{cpu_us(on, 'postgres'):.0f}), without {cpu_us(off):5.0f} µs (app {cpu_us(off, 'app'):.0f} + "
              f"PostgreSQL {cpu_us(off, 'postgres'):.0f}): {cpu_us(on) / cpu_us(off):.3f}; "
              f"other work on the machine {on.cpu.get('other', 0):.2f} / {off.cpu.get('other', 0):.2f} cores")
    with_rollups = min(cpu_us(on) for on, _ in pairs)
    without = min(cpu_us(off) for _, off in pairs)
    ratio = with_rollups / without
    print(f"  least disturbed: with {with_rollups:.0f} µs, without {without:.0f} µs: with/without {ratio:.3f} "
          f"(median of the rounds' ratios {statistics.median(cpu_us(on) / cpu_us(off) for on, off in pairs):.3f})")
    return (f"rollups add <= {100 * (TARGET_ROLLUP_SHARE - 1):.0f}% CPU/registration", ratio <= TARGET_ROLLUP_SHARE,
            f"{100 * (ratio - 1):+.1f}%")


def print_profile(path: Path, top: int = 20) -> None:
    """Where the samples were (py-spy raw: 'frame;frame;... count', a frame 'function (file:line)').

    Self time only: py-spy sees a coroutine resumed by uvloop without the coroutines awaiting
    it, so an inclusive share per handler would be too low. "event loop" is time in C under
    the loop (uvloop, httptools, socket calls, asyncpg's protocol).
    """
    by_function, by_package, total = Counter(), Counter(), 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        leaf, n = stack.rsplit(";", 1)[-1], int(count)
        total += n
        by_function[leaf] += n
        where = leaf.rpartition(" (")[2].rstrip(")")
        package = where.split("/", 1)[0] if "/" in where else "python stdlib"
        by_package["event loop (C)" if leaf.startswith("Runner.run ") else package] += n
    if not total:
        print("py-spy recorded no samples")
        return
    print(f"\nprofile of the service under load: {total} samples of its busy CPU (self time); "
          f"stacks in {path}")
    print("  by package: " + ", ".join(f"{name} {100 * n / total:.0f}%" for name, n in by_package.most_common(12)))
    print(f"  top {top} functions:")
    for frame, n in by_function.most_common(top):
        print(f"    {100 * n / total:5.1f}%  {frame[:150]}")


# --- main -------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.registrations", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15, help="seconds measured per target")
    parser.add_argument("--warmup", type=float, default=4, help="seconds of warm-up per target")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (one leaves the most CPU to the servers)")
    parser.add_argument("--dwellings", type=int, default=8000,
                        help=f"QR codes the load is spread over (each takes {TOKEN_LIMIT_PER_MINUTE} a minute)")
    parser.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated: {', '.join(TARGETS)}")
    parser.add_argument("--rounds", type=int, default=3, help="measure each target this many times")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                        help="worker processes of each server (VH_WORKERS; default: the cores)")
    parser.add_argument("--max-rate", type=int, default=12_000,
                        help="requests/s the request files are sized for (more would repeat requests)")
    parser.add_argument("--profile", action="store_true", help="also profile the full path with py-spy")
    parser.add_argument("--quiet-wait", type=float, default=0, metavar="SECONDS",
                        help="before each run, wait up to this long for the machine to be idle")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) in var/bench/")
    args = parser.parse_args(argv)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if not set(args.targets) <= set(TARGETS):
        parser.error(f"--targets takes {', '.join(TARGETS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not shutil.which("wrk"):
        print("wrk is not installed: `make bench` installs it (apt-get install wrk)", file=sys.stderr)
        return 2
    out = ROOT / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    load1 = os.getloadavg()[0]
    print(f"registrations benchmark: {args.connections} connections, {args.warmup:g} s warm-up + "
          f"{args.duration:g} s per target, wrk --threads {args.threads}, {args.dwellings} dwellings, "
          f"{args.workers} worker processes per server, {os.cpu_count()} cores (load average {load1:.1f})",
          flush=True)
    work = Path(tempfile.mkdtemp(prefix="vh-bench-"))
    runs: list[Run] = []
    bench = None
    db = Database()
    try:
        settings = {row["name"]: row["setting"] for row in sql(db.dsn, """
            SELECT name, setting FROM pg_settings WHERE name IN
            ('server_version', 'fsync', 'synchronous_commit', 'wal_sync_method', 'shared_buffers')""")}
        print(f"database {db.name} on {'DATABASE_URL' if db.server is None else 'embedded PostgreSQL'}: "
              + ", ".join(f"{k} {v}" for k, v in sorted(settings.items())), flush=True)
        service = ServiceProcess(dsn=db.dsn, data_dir=work / "service", extra_env=BEHIND_PROXY).start()
        try:
            tokens = set_up_dwellings(service.base_url, db.dsn, args.dwellings)
            full_exists = has_registration_endpoint(service.base_url)
        finally:
            service.stop()
        for table in UNCOUNTED_TABLES:
            sql(db.dsn, table)
        print(f"set up through the API: area {AREA['code']}, a landlord, {len(tokens)} dwellings", flush=True)
        if set(SERVICE_TARGETS) & set(args.targets) and not full_exists:
            print(f"!!! the service has no POST {STAYS_PATH} yet: measuring bare only", flush=True)
            args.targets = [t for t in args.targets if t not in SERVICE_TARGETS]
            args.profile = False
        bench = Bench(args, work, db, tokens)
        rollups_off = RollupsOff(db.dsn)
        for round_number in range(args.rounds):
            for target in args.targets:
                server = (ServiceProcess(dsn=db.dsn, data_dir=work / target, extra_env=BEHIND_PROXY,
                                         workers=args.workers) if target in SERVICE_TARGETS else
                          BareProcess(dsn=db.dsn, data_dir=work / target, extra_env=BEHIND_PROXY,
                                      workers=args.workers, without_counters=target == "bare-nocount"))
                with rollups_off if target == "full-norollups" else contextlib.nullcontext():
                    run = bench.measure(target, server)
                runs.append(run)
                print(f"  {target} round {round_number + 1}: {run.rps:.0f} req/s, p50 {run.ms('p50_us'):.1f} ms, "
                      f"p99 {run.ms('p99_us'):.1f} ms, {run.errors} errors", flush=True)
        print_table(runs, args.connections)
        print_verdict(runs)
        if args.profile:
            profile = out / "profile-full.txt"
            service = ServiceProcess(dsn=db.dsn, data_dir=work / "profiled", extra_env=BEHIND_PROXY,
                                     workers=args.workers)
            run = bench.measure("full", service, profile=profile)
            print(f"\nprofiled run (py-spy slows it; not counted): {run.rps:.0f} req/s, "
                  f"p99 {run.ms('p99_us'):.1f} ms")
            print_profile(profile)
    finally:
        db.close()
        problems = bench.problems if bench else ["the benchmark stopped before measuring"]
        if args.keep or problems:
            kept = out / work.name
            shutil.move(str(work), kept)
            print(f"logs kept in {kept}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if problems:
        print(f"\n!!! {len(problems)} PROBLEM(S): the figures above are not a clean run", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
