"""`socialgov worker`: the background loops. Any number may run side by side."""
from __future__ import annotations

import asyncio
import contextlib
import signal

import structlog

from app import idempotency
from app.audit import jobs as audit_jobs
from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.crises import service as crises_service
from app.posts import service as posts_service
from app.publishing import jobs as publishing_jobs
from app.publishing import service as publishing_service
from app.uow import job

log = structlog.get_logger("socialgov.worker")


async def _loop(name: str, interval: float, step, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await step()
        except Exception:
            log.exception("worker step failed", loop=name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


async def run_worker(url: str, settings: Settings) -> None:
    engine = create_engine(url, pool_size=12, max_overflow=4)
    maker = create_sessionmaker(engine)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def purge():
        async with job(maker, "idempotency-expiry") as uow:
            await idempotency.purge_expired(uow.session)

    async def missed():
        async with job(maker, "missed-schedules") as uow:
            await posts_service.flag_missed_schedules(uow.session, uow.principal)

    async def windows():
        async with job(maker, "blackout-windows") as uow:
            await crises_service.run_windows(uow.session, uow.principal)

    async def abandoned():
        async with job(maker, "abandoned-sends") as uow:
            await publishing_service.sweep_abandoned(uow.session, uow.principal)

    async def scheduler():
        # Keep claiming while there is work; the loop's short sleep bounds the latency.
        while await publishing_jobs.run_due(maker) and not stop.is_set():
            pass

    log.info("worker started")
    try:
        await asyncio.gather(
            _loop("audit-sealer", 1.0, lambda: audit_jobs.seal_once(maker, settings), stop),
            _loop("idempotency-expiry", 300.0, purge, stop),
            _loop("missed-schedules", 15.0, missed, stop),
            _loop("scheduler", settings.scheduler_poll_seconds, scheduler, stop),
            _loop("blackout-windows", 1.0, windows, stop),
            _loop("abandoned-sends", 15.0, abandoned, stop),
        )
    finally:
        await engine.dispose()
        log.info("worker stopped")
