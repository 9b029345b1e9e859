"""The command line: serve, migrate, accounts (``python -m service`` or ``vhotel``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import signal
import sys
import tempfile
import warnings
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, get_args

import asyncpg

from service.auth.schemas import Role
from service.progress import LoggedProgress, Progress, shown
from service.settings import Settings, SettingsError, load_settings


@contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The DSN of DATABASE_URL, or of the embedded server, started here and stopped on exit."""
    if settings.database_url:
        yield settings.database_url
        return
    from service.db.embedded import EmbeddedPostgres

    embedded = EmbeddedPostgres(settings.data_dir)
    try:
        yield embedded.dsn
    finally:
        embedded.stop()


def run_with_connection(settings: Settings, dsn: str,
                        work: Callable[[asyncpg.Connection], Coroutine[Any, Any, Any]],
                        migrating: Progress | None = None) -> Any:
    """Run one piece of database work after the migrations, for the commands that are not the server.
    A long migration shows how far it is on ``migrating``; by default in plain lines on standard error,
    which a command's own progress display shows above itself."""
    from service.db.migrate import apply_migrations
    from service.db.pool import _init_connection

    async def main(dsn: str) -> Any:
        # The display zone, as in the server's pool: "today" is the same day for both.
        conn = await asyncpg.connect(dsn, server_settings={"timezone": settings.timezone})
        try:
            await _init_connection(conn)
            for version in await apply_migrations(conn, migrating or LoggedProgress("migrate", sys.stderr)):
                print(f"migration applied: {version}", flush=True)
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(main(dsn))


PAGES = [
    ("/", "start page"),
    ("/login", "staff login (landlords and desks go on to /landlord, police to /police, administrators to /admin)"),
    ("/admin", "administration: areas, accounts, dwellings and their import, registry, keys, audit log"),
    ("/landlord", "dwellings, guests, QR posters, walk-in registration"),
    ("/landlord/import", "a landlord's or desk's own dwellings from a CSV file"),
    ("/police", "live counts, map, search, watchlist"),
    ("/police/review", "remote verification queue"),
    ("/verify", "check an e-certificate"),
    ("/privacy", "the guests' privacy notice"),
    ("/schema", "the API (OpenAPI)"),
]
PAGE_COLUMN = max(len(path) for path, _ in PAGES) + 2  # each address stays one a terminal can open


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from service.app import SERVE_PID, create_app, prepare_database
    from service.server import bounded_protocol

    with database(settings) as dsn, contextlib.ExitStack() as cleanup:
        # Once, before any worker starts: the key file (made on first start), migrations, the first admin.
        keyring = _keyring(settings)
        for line in run_with_connection(settings, dsn, lambda conn: prepare_database(conn, settings)):
            print(line, flush=True)
        if args.demo:
            from service.demo import seed_demo

            print(run_with_connection(settings, dsn, lambda conn: seed_demo(conn, keyring, settings)), flush=True)
        workers = settings.workers
        print(f"Serving on http://{args.host}:{args.port} with {workers} worker process{'es' * (workers > 1)}  "
              f"(public base URL {settings.public_base_url})\n"
              + "\n".join(f"  {settings.public_base_url}{path:<{PAGE_COLUMN}}{what}" for path, what in PAGES), flush=True)
        # uvicorn re-raises the signal that stopped it once it has shut down; these handlers absorb
        # it, so the embedded PostgreSQL below is still stopped cleanly and the exit status is 0.
        # With workers, uvicorn's supervisor takes the signals, stops the workers and returns.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: None)
        if workers == 1:
            app: Any = create_app(settings, dsn, prepared=True)
        else:
            # Each worker builds its own application (service.app:worker_app) from the environment,
            # on the server this process started; metrics are gathered across them in a folder.
            app = "service.app:worker_app"
            os.environ.update({"DATABASE_URL": dsn, SERVE_PID: str(os.getpid())})
            if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
                metrics = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="vh-metrics-"))
                os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics
        # uvicorn finishes requests in flight on SIGINT/SIGTERM before the lifespan closes the pool.
        uvicorn.run(app, factory=workers > 1, workers=workers, host=args.host, port=args.port, log_config=None,
                    timeout_graceful_shutdown=20, proxy_headers=False, server_header=False,
                    http=bounded_protocol(settings.max_request_head_bytes, settings.request_head_timeout_seconds),
                    # uvicorn's access log prints query strings, which may hold personal numbers.
                    access_log=False)


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> None:
    from service.db.migrate import migration_files

    with database(settings) as dsn, shown("migrate") as progress:
        run_with_connection(settings, dsn, lambda conn: asyncio.sleep(0), progress)
    print(f"migrations up to date ({len(migration_files())} files)")


def cmd_account_create(settings: Settings, args: argparse.Namespace) -> None:
    from service.auth import domain
    from service.auth.schemas import AccountIn

    # A script may pipe the password in; a person is prompted without echo.
    password = getpass.getpass(f"password for {args.username}: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    account = AccountIn(username=args.username, password=password, role=args.role,
                        display_name=args.display_name or args.username, area_code=args.area)
    with database(settings) as dsn:
        row = run_with_connection(settings, dsn, lambda conn: domain.create_account(conn, account))
    print(f"created {row['role']} account {row['username']} (id {row['id']})")


def cmd_audit_verify(settings: Settings, _: argparse.Namespace) -> None:
    from service.privacy.audit import verify_chain

    with database(settings) as dsn:
        checked, broken_at = run_with_connection(settings, dsn, verify_chain)
    if broken_at is not None:
        print(f"audit log BROKEN at entry {broken_at}: it was edited, or an entry before it was removed "
              f"({checked} entries verified before it)", file=sys.stderr)
        raise SystemExit(1)
    print(f"audit log intact: {checked} entries verified")


def _keyring(settings: Settings):
    from service.privacy.crypto import Keyring, load_master_key

    return Keyring(load_master_key(settings.master_key, settings.data_dir))


def cmd_keys_rotate(settings: Settings, _: argparse.Namespace) -> None:
    from service.verification.certificates import rotate_key

    keyring = _keyring(settings)
    with database(settings) as dsn:
        kid = run_with_connection(settings, dsn, lambda conn: rotate_key(conn, keyring))
    print(f"new active signing key {kid}; retired keys stay published until their last certificate expires")


def cmd_registry_import(settings: Settings, args: argparse.Namespace) -> None:
    from datetime import datetime

    from service.csvfile import decode
    from service.i18n import translate
    from service.problems import Problem
    from service.verification.registry import check_csv, enter_lines

    if not args.file.is_file():
        print(f"error: no such file {args.file}", file=sys.stderr)
        raise SystemExit(2)
    keyring = _keyring(settings)
    today = datetime.now(settings.zone).date()

    async def load(conn: asyncpg.Connection) -> tuple[int, list]:
        rows, errors = check_csv(keyring, decode(args.file.read_bytes()), today, progress)
        await enter_lines(conn, rows, progress)  # the good lines go in; the refused ones are listed to fix and send again
        return len(rows), errors

    with database(settings) as dsn, shown("registry import") as progress:
        try:
            imported, refused = run_with_connection(settings, dsn, load)
        except Problem as problem:  # the file as a whole: encoding, header
            for error in problem.errors:
                print(f"error: line {error.line}: {translate(error.code, 'en', **(error.params or {}))}",
                      file=sys.stderr)
            raise SystemExit(2) from None
    for error in refused:
        print(f"line {error.line} refused: {error.code} ({error.field})", file=sys.stderr)
    print(f"imported {imported} persons into the identity registry, refused {len(refused)} lines")
    if refused:
        raise SystemExit(1)


def cmd_purge(settings: Settings, args: argparse.Namespace) -> None:
    from service.privacy.retention import purge

    with database(settings) as dsn, shown("purge") as progress:
        done = run_with_connection(settings, dsn,
                                   lambda conn: purge(conn, settings.retention_days, args.dry_run, progress))
    verb = "would remove" if args.dry_run else "removed"
    print(f"retention {settings.retention_days} days; audit log kept")
    for what, count in done:
        print(f"{verb} {count} {what}")


def cmd_rekey(settings: Settings, _: argparse.Namespace) -> None:
    import base64

    from service.privacy.crypto import Keyring, replace_key_file
    from service.privacy.rekey import rekey

    if not settings.new_master_key:
        print("error: set VH_NEW_MASTER_KEY to the new key (32 random bytes in base64)", file=sys.stderr)
        raise SystemExit(2)
    old, new_key = _keyring(settings), base64.b64decode(settings.new_master_key)
    with database(settings) as dsn, shown("rekey") as progress:
        done = run_with_connection(settings, dsn, lambda conn: rekey(conn, old, Keyring(new_key), progress))
    for what, count in done:
        print(f"re-encrypted {count} {what}")
    if settings.master_key:
        print("done: start every instance with VH_MASTER_KEY set to the new key (the old one opens nothing now)")
    else:
        replace_key_file(settings.data_dir, new_key)
        print(f"done: the key file in {settings.data_dir} now holds the new key")


def cmd_backup(settings: Settings, args: argparse.Namespace) -> None:
    from service.db.backup import BackupError, backup
    from service.privacy.crypto import MASTER_KEY_FILE

    with database(settings) as dsn, shown("backup") as progress:
        try:
            size = backup(dsn, args.file.resolve(), progress)
        except BackupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
    key = "VH_MASTER_KEY" if settings.master_key else f"the key file {settings.data_dir / MASTER_KEY_FILE}"
    print(f"backed up the database to {args.file} ({size:,} bytes). Keep the master key ({key}) safe and apart "
          f"from it: without the key its numbers, photos and signing keys cannot be opened")


def cmd_restore(settings: Settings, args: argparse.Namespace) -> None:
    from service.db.backup import BackupError, restore
    from service.db.migrate import migration_files

    with database(settings) as dsn:
        with shown("restore") as progress:
            try:
                restore(dsn, args.file.resolve(), progress)
            except BackupError as exc:
                print(f"error: {exc}", file=sys.stderr)
                raise SystemExit(1) from None
        # A backup made by an older release gets this release's migrations now.
        run_with_connection(settings, dsn, lambda conn: asyncio.sleep(0))
    print(f"restored {args.file}; migrations up to date ({len(migration_files())} files). Start the service with "
          "the backed-up service's master key and VH_PUBLIC_BASE_URL (its certificates name that origin)")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="vhotel", description="Virtual hotel guest registration service")
    commands = top.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="start the web service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="seed the Guanlin village demo data first")
    serve.set_defaults(run=cmd_serve)

    migrate = commands.add_parser("migrate", help="apply database migrations and exit")
    migrate.set_defaults(run=cmd_migrate)

    account = commands.add_parser("account", help="staff accounts").add_subparsers(dest="action", required=True)
    create = account.add_parser("create", help="create a staff account (password prompted)")
    create.add_argument("username")
    create.add_argument("--role", required=True, choices=get_args(Role))
    create.add_argument("--area", help="jurisdiction (police, analyst) or home area code")
    create.add_argument("--display-name")
    create.set_defaults(run=cmd_account_create)

    purge = commands.add_parser("purge", help="remove registrations past the retention period (VH_RETENTION_DAYS)")
    purge.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    purge.set_defaults(run=cmd_purge)

    rekey = commands.add_parser("rekey", help="re-encrypt everything under VH_NEW_MASTER_KEY (all instances stopped)")
    rekey.set_defaults(run=cmd_rekey)

    dump = commands.add_parser("backup", help="the whole database into FILE (pg_dump's custom format)")
    dump.add_argument("file", type=Path)
    dump.set_defaults(run=cmd_backup)

    load_dump = commands.add_parser("restore", help="a backup FILE into an empty database (a new VH_DATA_DIR, "
                                                    "or a new DATABASE_URL)")
    load_dump.add_argument("file", type=Path)
    load_dump.set_defaults(run=cmd_restore)

    audit = commands.add_parser("audit", help="the audit log").add_subparsers(dest="action", required=True)
    verify = audit.add_parser("verify", help="check the hash chain of the audit log; exit 1 if it is broken")
    verify.set_defaults(run=cmd_audit_verify)

    keys = commands.add_parser("keys", help="certificate signing keys").add_subparsers(dest="action", required=True)
    rotate = keys.add_parser("rotate", help="make a new active signing key; old ones stay published while needed")
    rotate.set_defaults(run=cmd_keys_rotate)

    registry = commands.add_parser("registry", help="the default identity registry").add_subparsers(
        dest="action", required=True)
    load = registry.add_parser("import", help="enter persons from a CSV file: full_name, document_number "
                                              "[, document_type, nationality]; exit 1 if a line is refused")
    load.add_argument("file", type=Path)
    load.set_defaults(run=cmd_registry_import)
    return top


def quiet_runtime_dir_warning() -> None:
    """pgserver asks platformdirs, on import, for the user's runtime directory (for its lock file and
    socket); a service or a cron job has no login session, so XDG_RUNTIME_DIR is unset and platformdirs
    warns that it falls back to /tmp/runtime-<uid>, which serves pgserver as well. Nothing to act on."""
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


def main(argv: list[str] | None = None) -> None:
    quiet_runtime_dir_warning()
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    args.run(settings, args)
