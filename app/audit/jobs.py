"""The audit chain's job, which owns its session: one sealing pass (and a checkpoint when due),
run by every API process and worker (a transaction advisory lock lets one seal at a time)."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit import service, signing
from app.config import Settings, get_settings


async def seal_once(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings | None = None) -> int:
    """One sealing pass and, when due, a checkpoint, in one transaction. A malformed
    checkpoint key raises before anything is sealed (the caller logs it every pass)."""
    settings = settings or get_settings()
    key = signing.private_key(settings.audit_checkpoint_key)
    async with sessionmaker() as session, session.begin():
        sealed = await service.seal_pending(session)
        checkpoint = await service.publish_checkpoint(session, key, settings.audit_checkpoint_interval)
    if checkpoint is not None:
        service.log_checkpoint(checkpoint)  # after the commit: the log never names a checkpoint that is not stored
    return sealed
