"""The landlord's console with many dwellings: how long the list that feeds it takes.

Set-up: a fresh database, the real service as a child process, a landlord with ``--dwellings`` dwellings
(500 by default) of which ``--occupied`` have a guest registered through the public API. Then, in turns,
``--calls`` calls of each:

- baseline: ``GET /api/v1/auth/me``, an authenticated call doing one small query;
- ``GET /api/v1/dwellings``: every dwelling with its current guests, overdue stays and today's arrivals.

Printed: median and 95th percentile in ms, the list's size, and the ratio to the baseline.

    python -m bench.landlord [--dwellings 500] [--occupied 300] [--calls 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import httpx

from bench.guests import body
from bench.registrations import LANDLORD, Database, set_up_dwellings
from tests.support import ServiceProcess, idempotency_key


def timed(client: httpx.Client, path: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.get(path)
    response.raise_for_status()
    return (time.perf_counter() - started) * 1000, len(response.content)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dwellings", type=int, default=500)
    parser.add_argument("--occupied", type=int, default=300)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args(argv)

    database = Database()
    service = ServiceProcess(dsn=database.dsn, data_dir=Path(tempfile.mkdtemp(prefix="vh-bench-landlord-")))
    try:
        service.start()
        tokens = set_up_dwellings(service.base_url, database.dsn, args.dwellings)
        today = date.today()
        with httpx.Client(base_url=service.base_url, timeout=30) as guest:
            for n, token in enumerate(tokens[: args.occupied]):
                stay = {**body(n, today), "check_out": (today + timedelta(days=1 + n % 3)).isoformat()}
                guest.post(f"/api/v1/public/dwellings/{token}/stays", json=stay,
                           headers={"Idempotency-Key": idempotency_key()}).raise_for_status()
        with httpx.Client(base_url=service.base_url, timeout=30) as client:
            login = client.post("/api/v1/auth/login", json={"username": LANDLORD["username"],
                                                            "password": LANDLORD["password"]})
            login.raise_for_status()
            client.cookies.clear()
            client.headers["Authorization"] = f"Bearer {login.json()['token']}"
            listed = client.get("/api/v1/dwellings").json()
            assert len(listed) == args.dwellings and sum(d["current_guests"] for d in listed) == args.occupied
            samples: dict[str, list[float]] = {"baseline": [], "list": []}
            size = 0
            for _ in range(args.calls):  # in turns, so both see the same machine
                samples["baseline"].append(timed(client, "/api/v1/auth/me")[0])
                ms, size = timed(client, "/api/v1/dwellings")
                samples["list"].append(ms)
        median = {k: statistics.median(v) for k, v in samples.items()}
        p95 = {k: statistics.quantiles(v, n=20)[-1] for k, v in samples.items()}
        print(f"{args.dwellings} dwellings, {args.occupied} with a guest, {args.calls} calls each")
        print(f"  baseline GET /api/v1/auth/me      median {median['baseline']:6.1f} ms  p95 {p95['baseline']:6.1f} ms")
        print(f"  GET /api/v1/dwellings ({size / 1000:.0f} kB)  median {median['list']:6.1f} ms  p95 {p95['list']:6.1f} ms"
              f"  = {median['list'] / median['baseline']:.1f}x the baseline")
        return 0
    finally:
        if service.process is not None:
            service.stop()
        database.close()


if __name__ == "__main__":
    sys.exit(main())
