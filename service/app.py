"""Build the Litestar application: plugins, middleware, routes and the lifespan."""

from __future__ import annotations

import logging
import traceback
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from litestar import Litestar
from litestar.config.allowed_hosts import AllowedHostsConfig
from litestar.config.csrf import CSRFConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.logging.config import LoggingConfig, StructLoggingConfig, default_structlog_standard_lib_processors
from litestar.middleware import DefineMiddleware
from litestar.middleware.logging import LoggingMiddleware, LoggingMiddlewareConfig
from litestar.openapi import OpenAPIConfig
from litestar.plugins.problem_details import ProblemDetailsPlugin
from litestar.plugins.prometheus import PrometheusConfig
from litestar.plugins.structlog import StructlogConfig, StructlogPlugin
from litestar.template import TemplateConfig
from litestar.types import Message, Scope, Send

from service.areas.routes import AreaController
from service.auth import domain as auth_domain
from service.auth.guards import SessionAuthMiddleware, provide_staff
from service.auth.routes import AccountController, AuthController
from service.db.migrate import apply_migrations
from service.db.pool import create_pool, provide_db
from service.dwellings.routes import DwellingController, PublicDwellingController
from service.events import PgChannelsBackend, channels_plugin
from service.health import MetricsController, healthz, readyz
from service.pages import pages, static_files
from service.police.live import LiveViewPlugin
from service.police.routes import PoliceController
from service.privacy.crypto import Keyring, load_master_key
from service.privacy.routes import AuditController
from service.inputs import InputRequest, NulFreeUrlMiddleware, read_forms_first
from service.openapi import complete_openapi
from service.problems import PROBLEM_DETAILS
from service.settings import Settings
from service.stays.routes import DwellingStayController, PublicStayController, StayController
from service.verification.routes import (
    CertificateController,
    PublicVerificationController,
    RegistryController,
    VerificationReviewController,
    jwks,
)
from service.web import SecurityHeadersMiddleware, SessionCSRFMiddleware, rate_limits, swept_rate_limits

log = logging.getLogger(__name__)

ROUTES = [
    AuthController,
    AccountController,
    AreaController,
    DwellingController,
    PublicDwellingController,
    PublicStayController,
    DwellingStayController,
    StayController,
    PoliceController,
    AuditController,
    PublicVerificationController,
    VerificationReviewController,
    RegistryController,
    CertificateController,
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


class OneLinePerResponseLoggingMiddleware(LoggingMiddleware):
    """Litestar's request and response log, with one response line however many chunks a body has.

    Litestar logs a line per body chunk: a live stream would log every event it sends, a thousand
    lines per change with a thousand police views open.
    """

    def create_send_wrapper(self, scope: Scope, send: Send) -> Send:
        logging_send = super().create_send_wrapper(scope, send)
        logged = False

        async def send_wrapper(message: Message) -> None:
            nonlocal logged
            if logged:
                await send(message)
                return
            logged = message["type"] == "http.response.body"
            await logging_send(message)

        return send_wrapper


async def log_server_error(exc: Exception, scope: Scope) -> None:
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        return
    log.error("request failed", extra={"path": scope.get("path"), "exception": "".join(traceback.format_exception(exc))})


def create_app(settings: Settings, dsn: str) -> Litestar:
    """The application for one database; ``dsn`` is the external or the embedded server."""
    keyring = Keyring(load_master_key(settings.master_key, settings.data_dir))
    events_backend = PgChannelsBackend(dsn)
    channels = channels_plugin(events_backend)

    @asynccontextmanager
    async def database(app: Litestar) -> AsyncGenerator[None, None]:
        pool = await create_pool(dsn, settings.db_pool_size, settings.timezone)
        async with pool.acquire() as conn:
            await apply_migrations(conn)
            if settings.admin_username and settings.admin_password:
                if await auth_domain.ensure_admin(conn, settings.admin_username, settings.admin_password):
                    log.info("admin account created", extra={"username": settings.admin_username})
        app.state.pool = pool
        events_backend.pool = pool
        try:
            yield
        finally:
            await pool.close()

    # Only method, path and status are logged: bodies and queries may carry personal numbers.
    # Exceptions are logged by log_server_error, for 5xx only: a 4xx is the caller's, and its
    # message may echo what the caller sent.
    structlog_config = StructLoggingConfig(log_exceptions="never")
    structlog_config.standard_lib_logging_config = stdlib_logging_config(structlog_config.as_json())
    logging_config = StructlogConfig(
        structlog_logging_config=structlog_config,
        middleware_logging_config=LoggingMiddlewareConfig(
            middleware_class=OneLinePerResponseLoggingMiddleware,
            request_log_fields=("method", "path"),
            response_log_fields=("status_code",),
        ),
    )
    csrf = CSRFConfig(secret=keyring.derive("csrf").hex(), cookie_name="csrftoken", header_name="x-csrftoken",
                      cookie_secure=settings.public_base_url.startswith("https://"),
                      exclude=["/api/v1/public", "/api/v1/auth/login"])
    return Litestar(
        route_handlers=ROUTES,
        lifespan=[database, swept_rate_limits],
        # The channels plugin is reached through the state: as an injected dependency it would
        # cost every request a task group (a twentieth of a registration's CPU).
        state=State({"settings": settings, "keyring": keyring, "channels": channels}),
        dependencies={"db": Provide(provide_db), "staff": Provide(provide_staff, sync_to_thread=False)},
        middleware=[
            PrometheusConfig(app_name="vhotel", prefix="vhotel", group_path=True, exclude=["/metrics", "/static"]).middleware,
            NulFreeUrlMiddleware,  # a NUL in a path or query never reaches a route (PostgreSQL text cannot hold it)
            DefineMiddleware(SessionAuthMiddleware, exclude=["/static", "/healthz", "/metrics"]),
            DefineMiddleware(SessionCSRFMiddleware, config=csrf),
            SecurityHeadersMiddleware,
            *[limit.middleware for limit in rate_limits(settings)],
        ],
        after_exception=[log_server_error],
        # The live view's plugin after the channels plugin: it starts after and stops before the channels.
        plugins=[ProblemDetailsPlugin(PROBLEM_DETAILS), StructlogPlugin(logging_config), channels,
                 LiveViewPlugin(channels, events_backend, settings.overdue_grace_hours,
                                settings.live_heartbeat_seconds)],
        openapi_config=OpenAPIConfig(title="Virtual hotel", version="1.0.0", path="/schema"),
        on_startup=[complete_openapi],  # errors documented as the problem details they are
        template_config=TemplateConfig(directory=Path(__file__).parent / "templates", engine=JinjaTemplateEngine),
        # Health checks and scrapers call by address, not by the public host name.
        allowed_hosts=None if "*" in settings.allowed_hosts else AllowedHostsConfig(
            allowed_hosts=settings.allowed_hosts, exclude=["/healthz", "/readyz", "/metrics"]),
        request_max_body_size=settings.max_body_bytes,
        # JSON bodies must be JSON; undecodable bodies and forms, and NULs, are 4xx (service/inputs.py).
        request_class=InputRequest,
        before_request=read_forms_first,
    )

