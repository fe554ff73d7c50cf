"""create_app(settings) -> FastAPI. Wiring only; no logic."""
from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

import structlog
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.access.router import router as grants_router
from app.accounts.router import router as accounts_router
from app.approvals.router import router as approvals_router
from app.audit import jobs as audit_jobs
from app.audit.router import router as audit_router
from app.brands.router import router as brands_router
from app.config import Settings, get_settings
from app.content.router import router as content_router
from app.crises.router import router as crises_router
from app.db import create_engine, create_sessionmaker, head_revision
from app.errors import BodyLimitMiddleware, install_error_handlers
from app.graphql.router import graphql_router
from app.health.router import router as health_router
from app.me.router import router as me_router
from app.metrics import MetricsMiddleware
from app.metrics import router as metrics_router
from app.observability import RequestContextMiddleware
from app.posts.router import router as posts_router
from app.publishing.router import router as publishing_router
from app.tokens.router import router as tokens_router
from app.users.router import router as users_router

log = structlog.get_logger("socialgov")


async def _sealer(maker: async_sessionmaker[AsyncSession], interval: float, settings: Settings | None = None) -> None:
    """Seal the audit chain off the request path, in the background, and publish its checkpoints."""
    while True:
        try:
            await audit_jobs.seal_once(maker, settings)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("audit sealing failed; will retry")
        await asyncio.sleep(interval)


def create_app(settings: Settings | None = None,
               sessionmaker: async_sessionmaker[AsyncSession] | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = None
        if app.state.sessionmaker is None:
            if not settings.database_url:
                raise RuntimeError("DATABASE_URL is not set; start through `socialgov serve`")
            engine = create_engine(settings.database_url, pool_size=settings.db_pool_size,
                                   max_overflow=settings.db_max_overflow)
            app.state.sessionmaker = create_sessionmaker(engine)
        sealer = None
        if settings.audit_seal_interval > 0:
            sealer = asyncio.create_task(_sealer(app.state.sessionmaker, settings.audit_seal_interval, settings))
        # Everything imported and built at start-up lives as long as the process: out of the
        # collector's sight, or every full collection walks ~200k long-lived objects (~115 ms
        # measured, the list's p99). Requests' garbage is collected as before.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            if sealer is not None:
                sealer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sealer
            if engine is not None:
                await engine.dispose()

    app = FastAPI(
        title="socialgov",
        version="1.0.0",
        summary="Who may say what, on which account, when — and who can stop it.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.sessionmaker = sessionmaker
    app.state.head_revision = head_revision()
    install_error_handlers(app)
    # 1 MiB: nothing the API takes is bigger; larger is a 413 problem (not FastAPI's max_body_size,
    # whose 413 is text/plain).
    app.add_middleware(BodyLimitMiddleware, max_bytes=1_048_576)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestContextMiddleware)
    for router in (health_router, metrics_router, me_router, tokens_router, users_router, brands_router, accounts_router,
                   grants_router, approvals_router, content_router, posts_router, publishing_router, crises_router, audit_router):
        app.include_router(router)
    app.include_router(graphql_router())
    return app
