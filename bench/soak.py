"""Soak: minutes of steady mixed traffic against one service process — does it stay steady?

Set-up: one real service (``python -m service serve``, as tests/support.py starts it) on a fresh
database (DATABASE_URL's server, or an embedded PostgreSQL), prepared through its API: the county
331004 with four sub-areas, a landlord with --dwellings dwellings spread over them, a police
account for the county. The rate limits are the service's defaults; X-Forwarded-For is trusted
from 127.0.0.1 and every guest sends its own 10.x.y.z address, so the per-address limit applies
as in production without limiting the test. Registrations go round-robin over the dwellings, and
the per-QR-token limit (default 30 a minute) is checked at start to leave room:
60 x --rate / --dwellings must stay under 3/4 of it.

Load, from an asyncio generator in its own process (httpx), at fixed offered rates (an open
loop: a slow answer does not slow the schedule), for --warmup seconds (not measured), then
--duration seconds (measured). The warm-up's default of 2 minutes lets the service's per-minute
state reach its steady size before the memory baseline: a rate-limit entry per guest address
lives up to 2 minutes (its 60 s window, then until the next sweep, every 60 s).

- register   POST /api/v1/public/dwellings/{token}/stays, --rate a second, each a new guest
             (bench/guests.py) with its own Idempotency-Key and address;
- check-out  POST /api/v1/stays/{id}/checkout by the landlord, of --checkout-share of the
             acknowledged stays, 30 s after their registration;
- dwellings  GET /api/v1/dwellings (the landlord's list), --rate / 50 a second;
- stays      GET /api/v1/dwellings/{id}/stays?current=true, --rate / 20 a second;
- occupancy  GET /api/v1/police/occupancy (the county), --rate / 50 a second;
- --streams police clients on GET /api/v1/police/stream, connected from start to end, counting
  the ``counts`` events they receive (at most 2 a second each by design).

How to read it. Each minute a line: that minute's throughput and p99 per kind, stream events
per client, requests in flight, errors so far; the service's RSS (change since warm-up) and the
cores busy per process group. At the end, per kind: count and throughput of 2xx answers,
p50/p99/max latency (client-side, from the request's start, waiting for one of the generator's
connections included, to its full answer; measured period only) and errors (non-2xx answers,
exceptions, no answer within 30 s; warm-up included). "late" is how far behind schedule the
generator started requests: its own lag, which the latencies do not include. "cores" gives each
group's CPU use and, in parentheses, the cores' worth of time it was ready to run but waited for
a CPU; "other" is the rest of the machine: above ~0.2 the machine was shared, and the latencies
(and a service waiting long for a CPU) tell of it, not only of the service. Memory is the
service's VmRSS after warm-up, every minute and at the end: a leak shows as a rise minute after
minute, and growth beyond 5 MiB fails the run. Last, the checks: every stream's last ``counts``
equals the occupancy read afterwards; the rows in the database equal the 201s and 200s received;
the police counts of the county and each sub-area equal a count from scratch over the stays
(tests/test_police.py's FROM_SCRATCH). Any error, mismatch or memory growth fails the run:
exit 1, with the problems (and the first errors) printed.

    python -m bench.soak [--duration 600] [--warmup 120] [--rate 100] [--dwellings 400]
                         [--streams 20] [--checkout-share 0.75]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import queue
import random
import secrets
import shutil
import statistics
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import uvloop

from bench.guests import body
from bench.registrations import AREA, LANDLORD, Database, cpu_seconds, machine_busy, postgres_pids
from service.settings import Settings
from tests.support import ADMIN_PASSWORD, ADMIN_USERNAME, ROOT, ServiceProcess, StaffClient, counters_applied, sse_events
from tests.test_police import FROM_SCRATCH

ZONE = ZoneInfo("Asia/Shanghai")
VILLAGES = {"331004001": "路桥街道", "331004002": "桐屿街道", "331004003": "峰江街道", "331004004": "金清镇"}
POLICE = {"username": "soak-police", "password": "soak-police-password", "role": "police",
          "display_name": "Luqiao police", "area_code": AREA["code"]}
KINDS = ("register", "check-out", "dwellings", "stays", "occupancy")
READS = {"dwellings": 1 / 50, "stays": 1 / 20, "occupancy": 1 / 50}  # offered reads per registration
CHECKOUT_AFTER = 30.0  # seconds from a stay's 201 to its check-out
MEMORY_NOISE_MIB = 5.0  # RSS growth from after warm-up to the end beyond this fails the run
GIVE_UP_SECONDS = 30.0  # a request not answered this long after its scheduled time is an error, as for a phone
TOKEN_HEADROOM = 0.75  # share of the per-token limit a dwelling may use (room for the generator catching up)
LIMITS = {name: Settings.model_fields[f"rate_limit_{name}_per_minute"].default for name in ("login", "public", "token")}
MIB = 1024 * 1024


@dataclass(frozen=True)
class Plan:
    """What the load generator needs, handed to its process."""

    base_url: str
    tokens: list[str]
    dwelling_ids: list[int]
    landlord: str  # bearer tokens
    police: str
    rate: float
    warmup: float
    duration: float
    streams: int
    checkout_share: float


def guest_address(n: int) -> str:
    n += 1  # not 10.0.0.0
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def percentile(values: list[float], q: float) -> float:
    """Nearest rank, in milliseconds (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return 1000 * ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# --- set-up through the API -------------------------------------------------------------------

async def set_up(base_url: str, args: argparse.Namespace) -> Plan:
    """Admin → county, sub-areas, landlord, police; landlord → dwellings. Three logins in all."""
    admin = await StaffClient.log_in(base_url, ADMIN_USERNAME, ADMIN_PASSWORD)
    try:
        for area in (AREA, *({"code": c, "name": n, "parent_code": AREA["code"]} for c, n in VILLAGES.items())):
            (await admin.post("/api/v1/areas", json=area)).raise_for_status()
        for account in (LANDLORD, POLICE):
            (await admin.post("/api/v1/accounts", json=account)).raise_for_status()
    finally:
        await admin.aclose()
    landlord = await StaffClient.log_in(base_url, LANDLORD["username"], LANDLORD["password"])
    try:
        villages = list(VILLAGES)
        for i in range(args.dwellings):
            (await landlord.post("/api/v1/dwellings", json={
                "name": f"Room {i + 1}", "address": f"{i + 1} Guanlin Road", "area_code": villages[i % len(villages)],
                "kind": "rental_room", "capacity": 4})).raise_for_status()
        listed = (await landlord.get("/api/v1/dwellings")).raise_for_status().json()
    finally:
        await landlord.aclose()
    police = await StaffClient.log_in(base_url, POLICE["username"], POLICE["password"])
    await police.aclose()
    return Plan(base_url, [d["registration_url"].rsplit("/r/", 1)[1] for d in listed], [d["id"] for d in listed],
                landlord.login["token"], police.login["token"], args.rate, args.warmup, args.duration,
                args.streams, args.checkout_share)


# --- the load generator (its own process) -----------------------------------------------------

class Load:
    def __init__(self, plan: Plan, reports: multiprocessing.Queue) -> None:
        self.plan, self.reports = plan, reports
        self.loop = asyncio.get_running_loop()
        self.start = self.loop.time()
        self.measured_from = self.start + plan.warmup
        self.end = self.measured_from + plan.duration
        self.tag = secrets.token_hex(3)
        self.rng = random.Random(20261125)
        self.latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}  # measured period
        self.window: dict[str, list[float]] = {kind: [] for kind in KINDS}  # this minute
        self.answered: Counter[str] = Counter()  # 2xx answers, warm-up included
        self.errors: Counter[str] = Counter()
        self.first_errors: list[str] = []
        self.late: Counter[str] = Counter()  # the most the generator was behind schedule, seconds
        self.events = [0] * plan.streams  # `counts` events per stream client, measured period
        self.last_counts: list[dict | None] = [None] * plan.streams
        self.tasks: set[asyncio.Task] = set()
        self.slots: dict[httpx.AsyncClient, asyncio.Semaphore] = {}
        self.guests = self.client(None, 64)
        self.landlord = self.client(plan.landlord, 16)
        self.police = self.client(plan.police, 16)

    def client(self, bearer: str | None, connections: int) -> httpx.AsyncClient:
        """A pool of ``connections``, with as many slots: requests beyond them wait for a slot (cheap), not in
        httpx's pool (whose cost grows with its queue, so a generator behind would fall further behind).
        Keep-alive shorter than uvicorn's 5 s, so no request goes out on a connection the server is closing."""
        client = httpx.AsyncClient(
            base_url=self.plan.base_url, timeout=10, headers={"Authorization": f"Bearer {bearer}"} if bearer else None,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=4))
        self.slots[client] = asyncio.Semaphore(connections)
        return client

    def error(self, kind: str, what: str) -> None:
        self.errors[kind] += 1
        if len(self.first_errors) < 5:
            self.first_errors.append(f"{time.strftime('%H:%M:%S')} {kind}: {what[:300]}")

    async def call(self, kind: str, client: httpx.AsyncClient, method: str, url: str, **kwargs) -> httpx.Response | None:
        """One request, timed from its scheduled start (waiting for a slot included) to its full answer."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(GIVE_UP_SECONDS), self.slots[client]:
                response = await client.request(method, url, **kwargs)
        except Exception as exc:  # noqa: BLE001 - every failure counts
            self.error(kind, f"{method} {url}: {type(exc).__name__}: {exc}")
            return None
        seconds = time.perf_counter() - started
        if not response.is_success:
            self.error(kind, f"{method} {url}: {response.status_code} {response.text}")
            return None
        self.answered[kind] += 1
        if self.loop.time() >= self.measured_from:
            self.latencies[kind].append(seconds)
            self.window[kind].append(seconds)
        return response

    def spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.done)

    def done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:  # a failure of the generator's own: counted too
            self.error("generator", repr(task.exception()))

    async def paced(self, kind: str, rate: float, request) -> None:
        """``request(i)`` at start + i / rate until the end, whatever the answers take."""
        i = 0
        while (due := self.start + i / rate) < self.end:
            if (wait := due - self.loop.time()) > 0:
                await asyncio.sleep(wait)
            if due >= self.measured_from:
                self.late[kind] = max(self.late[kind], self.loop.time() - due)
            self.spawn(request(i))
            i += 1

    async def register(self, n: int) -> None:
        token = self.plan.tokens[n % len(self.plan.tokens)]
        response = await self.call(
            "register", self.guests, "POST", f"/api/v1/public/dwellings/{token}/stays",
            json=body(n, datetime.now(ZONE).date()),
            headers={"Idempotency-Key": f"soak-{self.tag}-{n:09d}", "X-Forwarded-For": guest_address(n)})
        if response is not None and self.rng.random() < self.plan.checkout_share:
            self.loop.call_later(CHECKOUT_AFTER, self.check_out, response.json()["id"])

    def check_out(self, stay_id: str) -> None:
        if self.loop.time() < self.end:
            self.spawn(self.call("check-out", self.landlord, "POST", f"/api/v1/stays/{stay_id}/checkout"))

    async def stream(self, i: int) -> None:
        """One police client holding the stream open until cancelled; an end or a failure before that is an error."""
        async with httpx.AsyncClient(base_url=self.plan.base_url, timeout=httpx.Timeout(10, read=60),
                                     headers={"Authorization": f"Bearer {self.plan.police}"}) as client:
            try:
                async with client.stream("GET", "/api/v1/police/stream") as response:
                    response.raise_for_status()
                    async for event in sse_events(response):
                        if event.get("event") == "counts":
                            self.last_counts[i] = json.loads(event["data"])
                            self.events[i] += self.loop.time() >= self.measured_from
                self.error("stream", f"client {i}: the server ended the stream")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                self.error("stream", f"client {i}: {type(exc).__name__}: {exc}")

    async def report_minutes(self) -> None:
        """'warm' once warm-up is over, then each minute that minute's figures, to the parent."""
        await asyncio.sleep(self.measured_from - self.loop.time())
        self.window = {kind: [] for kind in KINDS}
        events_before = sum(self.events)
        self.reports.put(("warm", None))
        minute = 1
        while (at := self.measured_from + 60 * minute) <= self.end + 0.5:
            await asyncio.sleep(at - self.loop.time())
            window, self.window = self.window, {kind: [] for kind in KINDS}
            self.reports.put(("minute", {
                "minute": minute, "kinds": {k: (len(v), percentile(v, 0.99)) for k, v in window.items()},
                "events": (sum(self.events) - events_before) / max(1, self.plan.streams), "in_flight": len(self.tasks),
                "errors": sum(self.errors.values())}))
            events_before = sum(self.events)
            minute += 1

    async def streams_agree(self) -> str | None:
        """None once every stream's last counts equal the occupancy read now (they follow within ~1.5 s)."""
        deadline = self.loop.time() + 10
        while True:
            now = (await self.police.get("/api/v1/police/occupancy")).raise_for_status().json()
            behind = [i for i, counts in enumerate(self.last_counts) if counts != now]
            if not behind or self.loop.time() > deadline:
                break
            await asyncio.sleep(0.5)
        if not behind:
            return None
        counts = self.last_counts[behind[0]] or {}
        differ = {k: (counts.get(k), v) for k, v in now.items() if counts.get(k) != v}
        return f"{len(behind)} stream(s) ended with counts other than the occupancy: (stream, now) {differ}"

    async def run(self) -> dict:
        streams = [asyncio.create_task(self.stream(i)) for i in range(self.plan.streams)]
        reporter = asyncio.create_task(self.report_minutes())
        rate = self.plan.rate
        dwellings = self.plan.dwelling_ids
        await asyncio.gather(
            self.paced("register", rate, self.register),
            self.paced("dwellings", rate * READS["dwellings"],
                       lambda i: self.call("dwellings", self.landlord, "GET", "/api/v1/dwellings")),
            self.paced("stays", rate * READS["stays"], lambda i: self.call(
                "stays", self.landlord, "GET", f"/api/v1/dwellings/{dwellings[i % len(dwellings)]}/stays",
                params={"current": "true"})),
            self.paced("occupancy", rate * READS["occupancy"],
                       lambda i: self.call("occupancy", self.police, "GET", "/api/v1/police/occupancy")))
        while self.tasks:  # answers still in flight (check-outs due after the end are not sent)
            await asyncio.wait(set(self.tasks))
        await reporter
        ended = [i for i, task in enumerate(streams) if task.done()]
        disagreement = await self.streams_agree()
        for task in streams:
            task.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
        for client in (self.guests, self.landlord, self.police):
            await client.aclose()
        return {
            "kinds": {kind: {"count": len(v), "p50": percentile(v, 0.5), "p99": percentile(v, 0.99),
                             "max": 1000 * max(v, default=0), "errors": self.errors[kind],
                             "late": 1000 * self.late[kind] if kind in self.late else None}
                      for kind, v in self.latencies.items()},
            "other_errors": self.errors["stream"] + self.errors["generator"], "answered": dict(self.answered),
            "first_errors": self.first_errors, "events": self.events,
            "streams_ended": ended, "streams_disagree": disagreement,
        }


def generate(plan: Plan, reports: multiprocessing.Queue) -> None:
    """The load generator process: runs the load, sends ('done', summary) or ('failed', traceback)."""
    async def main() -> dict:
        return await Load(plan, reports).run()

    try:
        reports.put(("done", uvloop.run(main())))  # the service's loop too (uvicorn's default when installed)
    except BaseException:  # noqa: BLE001 - the parent must hear of it
        reports.put(("failed", traceback.format_exc()))


# --- the parent: watch, check, report ---------------------------------------------------------

def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / MIB
    raise RuntimeError(f"no VmRSS for process {pid}")


def run_queue_seconds(pids: list[int]) -> dict[int, float]:
    """Time each process's threads were ready to run but waited for a CPU (/proc/PID/task/*/schedstat)."""
    waits = {}
    for pid in pids:
        try:
            waits[pid] = sum(int(path.read_text().split()[1]) for path in Path(f"/proc/{pid}/task").glob("*/schedstat")) / 1e9
        except (OSError, IndexError, ValueError):
            continue
    return waits


class Cores:
    """Per group of processes, the cores busy and the cores' worth of time spent waiting for a CPU
    (ready to run, but the machine was busy), between two calls of ``lap`` and since the first;
    "other" is the rest of the machine's busy time: above ~0.2 cores the latencies tell of the
    machine, not only of the service."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups
        self.first = self.last = self.snapshot()

    def snapshot(self) -> tuple[float, float, dict[str, tuple[dict[int, float], dict[int, float]]]]:
        return time.monotonic(), machine_busy(), {
            name: (cpu_seconds(group := pids()), run_queue_seconds(group)) for name, pids in self.groups.items()}

    @staticmethod
    def between(before: tuple, after: tuple) -> dict[str, tuple[float, float]]:
        seconds = after[0] - before[0]

        def per_second(then: dict[int, float], now: dict[int, float]) -> float:
            return sum(t - then.get(pid, 0.0) for pid, t in now.items()) / seconds  # new processes count whole

        cores = {name: (per_second(before[2][name][0], busy), per_second(before[2][name][1], waiting))
                 for name, (busy, waiting) in after[2].items()}
        cores["other"] = (max(0.0, (after[1] - before[1]) / seconds - sum(busy for busy, _ in cores.values())), 0.0)
        return cores

    def lap(self) -> dict[str, tuple[float, float]]:
        now = self.snapshot()
        cores, self.last = self.between(self.last, now), now
        return cores

    def total(self) -> dict[str, tuple[float, float]]:
        return self.between(self.first, self.last)

    @staticmethod
    def text(cores: dict[str, tuple[float, float]]) -> str:
        return ", ".join(f"{name} {busy:.2f}" + (f" (+{waiting:.2f} waiting)" if name != "other" else "")
                         for name, (busy, waiting) in cores.items())

    @staticmethod
    def disturbed(cores: dict[str, tuple[float, float]]) -> bool:
        return cores["other"][0] > 0.2


def watch(generator: multiprocessing.Process, reports: multiprocessing.Queue, service: ServiceProcess,
          args: argparse.Namespace, dsn: str) -> tuple[dict, list[float], dict[str, tuple[float, float]]]:
    """Print the generator's minute lines with the service's RSS and the cores busy; the generator's
    summary, the RSS samples and the cores busy over the measured period."""
    pid, rss, cores = service.process.pid, [], None
    deadline = time.monotonic() + args.warmup + args.duration + 120
    while True:
        try:
            what, payload = reports.get(timeout=5)
        except queue.Empty:
            if not generator.is_alive():
                raise RuntimeError(f"the load generator exited ({generator.exitcode}) without a summary") from None
            if service.process.poll() is not None:
                raise RuntimeError(f"the service exited ({service.process.returncode})") from None
            if time.monotonic() > deadline:
                raise RuntimeError("the load generator did not finish in time") from None
            continue
        if what == "failed":
            raise RuntimeError(f"the load generator failed:\n{payload}")
        rss.append(rss_mib(pid))
        if what == "warm":
            cores = Cores({"service": lambda: [pid], "postgres": lambda: postgres_pids(dsn),
                           "generator": lambda: [generator.pid]})
            print(f"warm-up done; measuring {args.duration:g} s. service RSS {rss[0]:.1f} MiB", flush=True)
        elif what == "minute":
            kinds = " | ".join(f"{kind} {n / 60:.1f}/s p99 {p99:.0f}" for kind, (n, p99) in payload["kinds"].items())
            print(f"[{payload['minute']:>2} min] {kinds} ms | {payload['events']:.0f} counts/stream | "
                  f"{payload['in_flight']} in flight | errors {payload['errors']}\n{'':9}RSS {rss[-1]:.1f} MiB "
                  f"({rss[-1] - rss[0]:+.1f}) | cores: {Cores.text(cores.lap())}", flush=True)
        elif what == "done":
            cores.lap()
            return payload, rss, cores.total()


async def check_database(dsn: str, plan: Plan, answered: dict[str, int]) -> list[str]:
    """Rows equal the answers received; the police counts equal a count from scratch. Problems found."""
    problems = []
    conn = await asyncpg.connect(dsn)
    try:
        stays, guests, out = await conn.fetchrow(
            "SELECT count(*), (SELECT count(*) FROM stay_guests), count(checked_out_at) FROM stays")
        print(f"database: {stays} stays for {answered.get('register', 0)} answers 201, {guests} guests, "
              f"{out} checked out for {answered.get('check-out', 0)} check-outs answered 200")
        if stays != answered.get("register", 0) or guests != stays:
            problems.append(f"{stays} stays and {guests} guests for {answered.get('register', 0)} registrations acknowledged")
        if out != answered.get("check-out", 0):
            problems.append(f"{out} checked out for {answered.get('check-out', 0)} check-outs acknowledged")
        today = datetime.now(ZONE).date()
        await counters_applied(conn, within_seconds=60)  # the counter applier has counted every change
        async with httpx.AsyncClient(base_url=plan.base_url, timeout=30,
                                     headers={"Authorization": f"Bearer {plan.police}"}) as police:
            differ = []
            for code in (AREA["code"], *VILLAGES):
                shown = (await police.get("/api/v1/police/occupancy", params={"area": code})).raise_for_status().json()
                expected = dict(await conn.fetchrow(FROM_SCRATCH, code, today))
                if code == AREA["code"]:
                    county = expected
                if {k: shown[k] for k in expected} != expected:
                    differ.append(f"police counts of {code} {({k: shown[k] for k in expected})} "
                                  f"differ from a count from scratch {expected}")
        problems += differ
        if not differ:
            print(f"police counts of {AREA['code']} and each of its {len(VILLAGES)} sub-areas equal a count from "
                  f"scratch; {AREA['code']}: " + ", ".join(f"{k} {v}" for k, v in county.items()))
    finally:
        await conn.close()
    return problems


def report(summary: dict, rss: list[float], cores: dict[str, tuple[float, float]], args: argparse.Namespace) -> list[str]:
    problems = []
    print(f"\n{'kind':<12}{'count':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}{'late ms':>9}")
    for kind, k in summary["kinds"].items():
        print(f"{kind:<12}{k['count']:>8}{k['count'] / args.duration:>9.1f}{k['p50']:>9.1f}{k['p99']:>9.1f}"
              f"{k['max']:>9.0f}{k['errors']:>8}{'-' if k['late'] is None else format(k['late'], '.0f'):>9}")
    events = summary["events"]
    if events:
        print(f"\nstreams: {len(events)} clients, counts events each (measured period): min {min(events)}, "
              f"median {statistics.median(events):g}, max {max(events)} ({statistics.mean(events) / args.duration:.2f}/s); "
              f"stream errors {summary['other_errors']}")
    if summary["streams_ended"]:
        problems.append(f"streams {summary['streams_ended']} ended before the run did")
    if summary["streams_disagree"]:
        problems.append(summary["streams_disagree"])
    elif events:
        print("every stream's last counts equal the occupancy read after the load")
    growth = rss[-1] - rss[0]
    print(f"\nservice memory (VmRSS): after warm-up {rss[0]:.1f} MiB, per minute "
          f"{' '.join(f'{m:.1f}' for m in rss[1:-1]) or '-'}, at the end {rss[-1]:.1f} MiB: "
          f"growth {growth:+.1f} MiB ({100 * growth / rss[0]:+.1f}%)")
    if growth > MEMORY_NOISE_MIB:
        problems.append(f"the service's memory grew {growth:.1f} MiB, more than the {MEMORY_NOISE_MIB} MiB of noise")
    print(f"cores busy (measured period): {Cores.text(cores)}"
          + ("  <- other work on the machine: latencies disturbed" if Cores.disturbed(cores) else ""))
    errors = sum(k["errors"] for k in summary["kinds"].values()) + summary["other_errors"]
    if errors:
        problems.append(f"{errors} errors; the first:\n    " + "\n    ".join(summary["first_errors"]))
    late = max(k["late"] or 0 for k in summary["kinds"].values())
    if late > 100:
        print(f"(the generator was up to {late:.0f} ms behind its schedule: it, not only the service, was loaded)")
    return problems


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=120, help="seconds of the same load before measuring")
    parser.add_argument("--rate", type=float, default=100, help="registrations offered per second")
    parser.add_argument("--dwellings", type=int, default=400)
    parser.add_argument("--streams", type=int, default=20, help="police stream clients")
    parser.add_argument("--checkout-share", type=float, default=0.75, help="share of stays checked out")
    args = parser.parse_args(argv)
    per_token = 60 * args.rate / args.dwellings
    if per_token > TOKEN_HEADROOM * LIMITS["token"]:
        parser.error(f"{per_token:.1f} registrations a minute per QR code is over {TOKEN_HEADROOM:.0%} of the "
                     f"per-token limit ({LIMITS['token']}/minute): use at least "
                     f"{60 * args.rate / (TOKEN_HEADROOM * LIMITS['token']):.0f} dwellings")
    if args.rate * (args.warmup + args.duration) >= 2**24 - 2:
        parser.error("more guests than 10.x.y.z addresses")
    if args.duration < 1 or args.warmup < 0 or args.rate <= 0 or not 0 <= args.checkout_share <= 1:
        parser.error("--duration >= 1, --warmup >= 0, --rate > 0, 0 <= --checkout-share <= 1")
    args.per_token = per_token
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"soak: {args.warmup:g} s warm-up + {args.duration:g} s, {args.rate:g} registrations/s over "
          f"{args.dwellings} dwellings ({args.per_token:.1f}/minute per QR code, limit {LIMITS['token']}), "
          f"{args.checkout_share:.0%} checked out after {CHECKOUT_AFTER:g} s, "
          + ", ".join(f"{kind} {args.rate * share:g}/s" for kind, share in READS.items())
          + f", {args.streams} police streams", flush=True)
    service = generator = None
    problems = ["the soak stopped before its checks"]
    db = Database()
    work = Path(tempfile.mkdtemp(prefix="vh-soak-"))
    try:
        env = {"VH_TRUSTED_PROXIES": '["127.0.0.1"]',
               **{f"VH_RATE_LIMIT_{name.upper()}_PER_MINUTE": str(n) for name, n in LIMITS.items()}}
        service = ServiceProcess(dsn=db.dsn, data_dir=work / "service", extra_env=env).start()
        started = time.monotonic()
        plan = asyncio.run(set_up(service.base_url, args))
        print(f"service pid {service.process.pid} on {'DATABASE_URL' if db.server is None else 'embedded PostgreSQL'}; "
              f"set up through the API in {time.monotonic() - started:.0f} s: area {AREA['code']} with "
              f"{len(VILLAGES)} sub-areas, a landlord with {len(plan.tokens)} dwellings, a police account", flush=True)
        context = multiprocessing.get_context("spawn")
        reports = context.Queue()
        generator = context.Process(target=generate, args=(plan, reports), name="soak-load")
        generator.start()
        summary, rss, cores = watch(generator, reports, service, args, db.dsn)
        generator.join(30)
        problems = report(summary, rss, cores, args)
        problems += asyncio.run(check_database(db.dsn, plan, summary["answered"]))
    finally:
        if generator is not None and generator.is_alive():
            generator.terminate()
            generator.join(10)
        if service is not None and service.process is not None:
            service.stop()
        db.close()
        if problems:
            kept = ROOT / "var" / "bench" / work.name
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(work), kept)
            print(f"service log kept in {kept}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if problems:
        print(f"\n!!! {len(problems)} PROBLEM(S):\n  " + "\n  ".join(problems), flush=True)
        return 1
    print("\nclean: no errors, memory within noise, every acknowledged request in the database, counts exact")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
