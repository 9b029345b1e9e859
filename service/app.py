"""Build the Litestar application: plugins, middleware, routes and the lifespan."""

from __future__ import annotations

import gc
import logging
import os
import traceback
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import structlog
from litestar import Litestar
from litestar.config.allowed_hosts import AllowedHostsConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotFoundException
from litestar.enums import ScopeType
from litestar.logging.config import LoggingConfig, StructLoggingConfig, default_structlog_standard_lib_processors
from litestar.middleware import ASGIMiddleware, DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.plugins.problem_details import ProblemDetailsPlugin
from litestar.plugins.prometheus import PrometheusConfig
from litestar.plugins.structlog import StructlogConfig, StructlogPlugin
from litestar.template import TemplateConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.areas.routes import AreaController
from service.auth import domain as auth_domain
from service.auth.guards import SessionAuthMiddleware, provide_staff
from service.auth.routes import AccountController, AuthController
from service.db.migrate import apply_migrations
from service.db.pool import create_pool, create_replica_pool, provide_db, read_db_provider
from service.dwellings.routes import AdminDwellingController, DwellingController, PublicDwellingController
from service.events import PgChannelsBackend, channels_plugin
from service.health import MetricsController, healthz, readyz
from service.pages import not_found, pages, static_files
from service.police.live import LiveViewPlugin
from service.police.names import fill_missing_name_keys
from service.police.routes import PoliceController
from service.privacy.crypto import Keyring, load_master_key
from service.privacy.notice import PrivacyController, privacy_page
from service.privacy.routes import AuditController
from service.inputs import InputRequest, NulFreeUrlMiddleware, read_forms_first
from service.openapi import complete_openapi, render_plugins
from service.problems import PROBLEM_DETAILS
from service.settings import Settings
from service.statistics.exports import document_exports
from service.statistics.routes import StatisticsController, ThresholdController
from service.statistics.warnings import statistics_work
from service.stays.partitions import partitions_ahead
from service.stays.routes import DwellingStayController, PublicStayController, StayController
from service.verification.routes import (
    CertificateController,
    KeyController,
    PublicVerificationController,
    RegistryController,
    VerificationReviewController,
    jwks,
)
from service.web import (
    COMPRESSION,
    OpenStreams,
    SecurityHeadersMiddleware,
    SessionCSRFMiddleware,
    csrf_config,
    rate_limit_store,
    rate_limits,
    swept_rate_limits,
)

log = logging.getLogger(__name__)

ROUTES = [
    AuthController,
    AccountController,
    AreaController,
    DwellingController,
    AdminDwellingController,
    PublicDwellingController,
    PublicStayController,
    DwellingStayController,
    StayController,
    PoliceController,
    AuditController,
    StatisticsController,
    ThresholdController,
    PublicVerificationController,
    VerificationReviewController,
    RegistryController,
    CertificateController,
    KeyController,
    PrivacyController,
    privacy_page,
    jwks,
    healthz,
    readyz,
    MetricsController,
    pages,
    static_files,
]


def stdlib_logging_config(as_json: bool) -> LoggingConfig:
    """Litestar's formatter for standard-library loggers (asyncpg, uvicorn), with exceptions rendered as text.

    Without ``format_exc_info`` a record logged with ``exc_info`` (asyncpg's "Failed to restore the
    pool connection floor" while the database is away) reaches the JSON renderer with the exception's
    class in it, fails to serialise, and is lost: "--- Logging error ---" on stderr instead of the line.
    """
    processors = default_structlog_standard_lib_processors(as_json=as_json)
    if as_json:
        processors.insert(len(processors) - 1, structlog.processors.format_exc_info)  # before the renderer
    return LoggingConfig(formatters={"standard": {"()": structlog.stdlib.ProcessorFormatter, "processors": processors}})


class AccessLogMiddleware(ASGIMiddleware):
    """One line per request, when its answer starts: method, the route's template for the path, status.

    Paths hold capabilities (QR tokens, receipt codes, certificate numbers, verification ids): the
    log says "/r/{token}", never the token; bodies and query strings may hold personal numbers and
    are never logged. A live stream is one line however many events it sends (a thousand police
    views would otherwise log a thousand lines per change). A request that ends in an exception
    before answering is logged with the status its problem answer gets.
    """

    scopes = (ScopeType.HTTP,)

    def __init__(self) -> None:
        self._log = structlog.get_logger("service.access")

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        status = 0

        async def logging_send(message: Message) -> None:
            nonlocal status
            if not status and message["type"] == "http.response.start":
                status = message["status"]
                self._log.info("request", method=scope["method"], path=route_template(scope), status_code=status)
            await send(message)

        try:
            await next_app(scope, receive, logging_send)
        except Exception as exc:
            if not status:
                self._log.info("request", method=scope["method"], path=route_template(scope),
                               status_code=exc.status_code if isinstance(exc, HTTPException) else 500)
            raise


def route_template(scope: Scope) -> str:
    """The matched route's path template, never the path itself."""
    return scope.get("path_template") or "(no route)"


async def log_server_error(exc: Exception, scope: Scope) -> None:
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        return
    log.error("request failed", extra={"path": route_template(scope), "exception": "".join(traceback.format_exception(exc))})


def freeze_start_up_heap(_: Litestar) -> None:
    """What start-up built (modules, routes, schemas, the OpenAPI document: some 130,000 objects) lives
    as long as the process: out of the collector's reach, a full collection (one every few hundred
    requests) scans what requests left instead, and stops no request for tens of milliseconds."""
    gc.collect()
    gc.freeze()


async def prepare_database(conn: asyncpg.Connection, settings: Settings) -> list[str]:
    """What a start needs done once: migrations, search keys of older guests, the first admin.
    Returns what was done, as lines to log."""
    done = [f"migration applied: {version}" for version in await apply_migrations(conn)]
    await fill_missing_name_keys(conn)
    if settings.admin_username and settings.admin_password:
        if await auth_domain.ensure_admin(conn, settings.admin_username, settings.admin_password):
            done.append(f"admin account created: {settings.admin_username}")
    return done


def create_app(settings: Settings, dsn: str, prepared: bool = False) -> Litestar:
    """The application for one database; ``dsn`` is the external or the embedded server.

    ``prepared``: prepare_database has been done (by `serve`, once for all its workers).
    """
    keyring = Keyring(load_master_key(settings.master_key, settings.data_dir))
    events_backend = PgChannelsBackend(dsn)
    channels = channels_plugin(events_backend)

    @asynccontextmanager
    async def database(app: Litestar) -> AsyncGenerator[None, None]:
        pool = await create_pool(dsn, settings.db_pool_size, settings.timezone)
        if not prepared:
            async with pool.acquire() as conn:
                for line in await prepare_database(conn, settings):
                    log.info(line)
        app.state.pool = pool
        events_backend.pool = pool
        if settings.read_database_url:
            app.state.read_pool = await create_replica_pool(settings.read_database_url, settings.db_pool_size,
                                                            settings.timezone)
        try:
            yield
        finally:
            if settings.read_database_url:
                await app.state.read_pool.close()
            await pool.close()

    # Requests are logged by AccessLogMiddleware. Exceptions are logged by log_server_error, for
    # 5xx only: a 4xx is the caller's, and its message may echo what the caller sent.
    structlog_config = StructLoggingConfig(log_exceptions="never")
    structlog_config.standard_lib_logging_config = stdlib_logging_config(structlog_config.as_json())
    logging_config = StructlogConfig(structlog_logging_config=structlog_config, enable_middleware_logging=False)
    csrf = csrf_config(keyring.derive("csrf").hex(), secure=settings.public_base_url.startswith("https://"))
    return Litestar(
        route_handlers=ROUTES,
        lifespan=[database, swept_rate_limits, statistics_work, partitions_ahead],
        stores={"rate_limit": rate_limit_store(settings)},
        # The channels plugin is reached through the state: as an injected dependency it would
        # cost every request a task group (a twentieth of a registration's CPU).
        state=State({"settings": settings, "keyring": keyring, "channels": channels,
                     "streams_by_address": OpenStreams(settings.max_streams_per_address),
                     "streams_by_account": OpenStreams(settings.max_streams_per_account)}),
        dependencies={"db": Provide(provide_db), "read_db": read_db_provider(bool(settings.read_database_url)),
                      "staff": Provide(provide_staff, sync_to_thread=False)},
        middleware=[
            AccessLogMiddleware(),
            PrometheusConfig(app_name="vhotel", prefix="vhotel", group_path=True, exclude=["/metrics", "/static"]).middleware,
            NulFreeUrlMiddleware(),  # a NUL in a path or query never reaches a route (PostgreSQL text cannot hold it)
            DefineMiddleware(SessionAuthMiddleware, exclude=["/static", "/healthz", "/metrics"]),
            DefineMiddleware(SessionCSRFMiddleware, config=csrf),
            SecurityHeadersMiddleware(),
            rate_limits(settings),
        ],
        after_exception=[log_server_error],
        exception_handlers={NotFoundException: not_found},  # pages in the person's language; the API keeps problems
        compression_config=COMPRESSION,
        # The live view's plugin after the channels plugin: it starts after and stops before the channels.
        plugins=[ProblemDetailsPlugin(PROBLEM_DETAILS), StructlogPlugin(logging_config), channels,
                 LiveViewPlugin(channels, events_backend, settings.overdue_grace_hours,
                                settings.live_heartbeat_seconds)],
        openapi_config=OpenAPIConfig(title="Virtual hotel", version="1.0.0", path="/schema",
                                     render_plugins=render_plugins()),
        # Errors as problem details; the report's files; then the heap as start-up leaves it.
        on_startup=[complete_openapi, document_exports, freeze_start_up_heap],
        template_config=TemplateConfig(directory=Path(__file__).parent / "templates", engine=JinjaTemplateEngine),
        # Health checks and scrapers call by address, not by the public host name.
        allowed_hosts=None if "*" in settings.allowed_hosts else AllowedHostsConfig(
            allowed_hosts=settings.allowed_hosts, exclude=["/healthz", "/readyz", "/metrics"]),
        request_max_body_size=settings.max_body_bytes,
        # JSON bodies must be JSON; undecodable bodies and forms, and NULs, are 4xx (service/inputs.py).
        request_class=InputRequest,
        before_request=read_forms_first,
    )


def worker_app() -> Litestar:
    """The application of one of `serve`'s worker processes (VH_WORKERS > 1; service/cli.py): settings
    from the environment, the database (DATABASE_URL, the embedded server's too) prepared by `serve`."""
    from service.server import end_with_parent
    from service.settings import load_settings

    end_with_parent(int(os.environ[SERVE_PID]))
    settings = load_settings()
    return create_app(settings, settings.database_url, prepared=True)


SERVE_PID = "VH_SERVE_PID"  # set by `serve` for its workers
