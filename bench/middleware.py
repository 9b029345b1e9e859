"""What each layer of the service's middleware costs a registration, in the service's CPU time.

The service's own application (``service.app.create_app``) is built several times: as it is,
then without each layer in turn, then with no middleware at all. Each build is driven through
its ASGI interface, in this process, with requests as bench.registrations sends them
(``POST /api/v1/public/dwellings/{token}/stays``: a new person, key and client address each,
behind a trusted proxy, accepting brotli and gzip). No HTTP server, no load generator: the
process's CPU time is the application's own.

1. The layers: the builds answer the registration's route with a stub (a receipt-sized JSON
   answer, no database work), one request at a time, so what differs between builds is the
   middleware alone. A layer's cost is the CPU per request it adds: the whole stack's, less
   that of the build without it.
2. In context: the whole registration (validation, encryption, the database call) through the
   whole stack and through none, with a few requests in flight.

Builds alternate over the rounds in a shuffled order and each keeps its best (least disturbed)
round, as the machine may be shared.

    python -m bench.middleware [--requests 4000] [--registrations 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import litestar
from litestar.plugins.structlog import StructlogPlugin

import service.app
from bench.guests import body
from bench.registrations import BEHIND_PROXY, Database, set_up_dwellings
from service.settings import load_settings
from tests.support import TEST_MASTER_KEY, ServiceProcess

Variant = Callable[[dict[str, Any]], None]


def _name(middleware: Any) -> str:
    return getattr(getattr(middleware, "middleware", middleware), "__name__", type(middleware).__name__)


def without(name: str) -> Variant:
    """Drop the middleware class ``name`` from the application's list (every instance of it)."""
    def drop(kwargs: dict[str, Any]) -> None:
        kwargs["middleware"] = [m for m in kwargs["middleware"] if _name(m) != name]
    return drop


STUB_ANSWER = {"id": "3f1e0c9a-5b7d-4c2e-9a61-0d2f8b7c4e11", "receipt_code": "7KQ2M-X9PDA",
               "dwelling": {"name": "Room 1", "address": "1 Guanlin Road"}, "check_in": "2026-11-29",
               "check_out": "2026-12-01", "guests": [{"full_name": "王伟芳", "document_masked": "110************123"}],
               "capacity_anomaly": False, "checked_out_at": None, "notices": []}


@litestar.post("/api/v1/public/dwellings/{token:str}/stays", status_code=201)
async def stub_registration(token: str) -> dict[str, Any]:
    """The registration's route, answering without any work."""
    return STUB_ANSWER


def stubbed(variant: Variant | None) -> Variant:
    def change(kwargs: dict[str, Any]) -> None:
        kwargs["route_handlers"] = [stub_registration]
        kwargs["on_startup"] = []  # they complete the OpenAPI document of the real routes
        if variant:
            variant(kwargs)
    return change


def without_compression(kwargs: dict[str, Any]) -> None:
    kwargs["compression_config"] = None


def without_request_log(kwargs: dict[str, Any]) -> None:
    """Litestar's request logging middleware, which its structlog plugin adds (innermost)."""
    for plugin in kwargs["plugins"]:
        if isinstance(plugin, StructlogPlugin):
            plugin._config.enable_middleware_logging = False


def no_middleware(kwargs: dict[str, Any]) -> None:
    without_request_log(kwargs)
    kwargs.update(middleware=[], compression_config=None)


def layers(kwargs: dict[str, Any]) -> list[str]:
    return [_name(m) for m in kwargs["middleware"]]


class Build:
    """``create_app`` with one change to the Litestar arguments it assembles."""

    def __init__(self, variant: Variant | None) -> None:
        self.variant = variant
        self.kwargs: dict[str, Any] = {}

    def create(self, settings: Any, dsn: str) -> litestar.Litestar:
        original = service.app.Litestar

        def patched(**kwargs: Any) -> litestar.Litestar:
            if self.variant:
                self.variant(kwargs)
            self.kwargs = kwargs
            return original(**kwargs)

        service.app.Litestar = patched
        try:
            return service.app.create_app(settings, dsn)
        finally:
            service.app.Litestar = original


async def drive(app: litestar.Litestar, tokens: list[str], first: int, count: int, concurrency: int) -> dict[int, int]:
    """``count`` registrations through the ASGI interface; the statuses answered."""
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    statuses: dict[int, int] = {}
    queue = list(range(first, first + count))

    async def one(n: int) -> None:
        payload = json.dumps(body(n, today), ensure_ascii=False).encode()
        path = f"/api/v1/public/dwellings/{tokens[n % len(tokens)]}/stays"
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
            "root_path": "", "client": ("127.0.0.1", 40000 + n % 20000), "server": ("127.0.0.1", 8000),
            "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
                        (b"content-length", str(len(payload)).encode()), (b"accept-encoding", b"gzip, br"),
                        (b"idempotency-key", f"mw-{first}-{n:09d}".encode()),
                        (b"x-forwarded-for", f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}".encode())],
            "state": {},
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses[message["status"]] = statuses.get(message["status"], 0) + 1

        await app(scope, receive, send)

    async def worker() -> None:
        while queue:
            await one(queue.pop())

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


async def measure(build: Build, settings: Any, dsn: str, tokens: list[str], first: int, count: int,
                  concurrency: int) -> tuple[float, dict[int, int]]:
    """CPU µs per registration of one build (after a warm-up of a tenth), and the statuses."""
    app = build.create(settings, dsn)
    async with app.lifespan():
        gc.collect()
        warm = max(50, count // 10)
        await drive(app, tokens, first, warm, concurrency)
        started = time.process_time()
        statuses = await drive(app, tokens, first + warm, count, concurrency)
        spent = time.process_time() - started
    return spent / count * 1e6, statuses


def best_of(builds: dict[str, Build], rounds: int, settings: Any, dsn: str, tokens: list[str], count: int,
            concurrency: int, first: int) -> dict[str, float]:
    """Each build's least CPU per request over the rounds, in a shuffled order each round."""
    best: dict[str, float] = {}
    order = list(builds)
    shuffle = random.Random(14)
    for _ in range(rounds):
        shuffle.shuffle(order)
        for label in order:
            first += 10 * count
            cpu, statuses = asyncio.run(measure(builds[label], settings, dsn, tokens, first, count, concurrency))
            if set(statuses) != {201}:
                raise SystemExit(f"!!! {label}: statuses {statuses}")
            best[label] = min(cpu, best.get(label, cpu))
    return {label: best[label] for label in builds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.middleware", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000, help="stub requests per build and round")
    parser.add_argument("--registrations", type=int, default=1000, help="registrations per build and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dwellings", type=int, default=2000)
    args = parser.parse_args(argv)
    db = Database()
    work = Path(tempfile.mkdtemp(prefix="vh-bench-mw-"))
    try:
        setup = ServiceProcess(dsn=db.dsn, data_dir=work / "setup", extra_env=BEHIND_PROXY).start()
        try:
            tokens = set_up_dwellings(setup.base_url, db.dsn, args.dwellings)
        finally:
            setup.stop()
        env = {k: v for k, v in ServiceProcess(dsn=db.dsn, data_dir=work / "app", extra_env=BEHIND_PROXY).env().items()
               if k.startswith("VH_") or k == "DATABASE_URL"}
        os.environ.update(env)
        settings = load_settings()
        assert settings.master_key == TEST_MASTER_KEY
        probe = Build(None)
        probe.create(settings, db.dsn)
        names = list(dict.fromkeys(layers(probe.kwargs)))
        variants: dict[str, Variant | None] = {"whole stack": None}
        variants |= {f"without {name}": without(name) for name in names}
        variants["without compression"] = without_compression
        if any(isinstance(p, StructlogPlugin) and p._config.enable_middleware_logging for p in probe.kwargs["plugins"]):
            variants["without Litestar's request log"] = without_request_log
        variants["no middleware at all"] = no_middleware
        print(f"middleware, outermost first: {', '.join(names)}; then compression; Litestar's own (exceptions, "
              f"routing) always. {args.rounds} rounds, load average {os.getloadavg()[0]:.1f}", flush=True)
        stub = best_of({label: Build(stubbed(v)) for label, v in variants.items()}, args.rounds, settings, db.dsn,
                       tokens, args.requests, 1, 0)
        whole = stub["whole stack"]
        print(f"\n1. the layers, on a stub of the registration's route ({args.requests} requests a build and round, "
              f"one at a time)\n{'build':<40}{'µs CPU/request':>16}{'the layer costs':>18}")
        for label, cpu in stub.items():
            cost = "" if label == "whole stack" else f"{whole - cpu:>+12.0f} µs"
            print(f"{label:<40}{cpu:>16.0f}{cost:>18}")
        context = best_of({"whole stack": Build(None), "no middleware at all": Build(no_middleware)}, args.rounds,
                          settings, db.dsn, tokens, args.registrations, 8, 10 ** 8)
        full, bare = context["whole stack"], context["no middleware at all"]
        print(f"\n2. in context: whole registrations ({args.registrations} a build and round, 8 in flight)\n"
              f"  through the whole stack {full:.0f} µs CPU each, through none {bare:.0f} µs: "
              f"the middleware is {full - bare:.0f} µs, {100 * (full - bare) / full:.0f}% of a registration "
              f"(stub: {whole - stub['no middleware at all']:.0f} µs)")
    finally:
        db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
