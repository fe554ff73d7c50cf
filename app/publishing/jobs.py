"""Publishing's units of work that own their sessions: the scheduler's pass, one send, a
publish by hand. The use cases they run are in app/publishing/service.py and never commit;
here is where each step is committed, and why in that order.

Every send holds the shared side of the publish fence (app/fence.py) on its own connection
from its final check until its outcome is committed — across the connector call — so a crisis
declaration either waits for it (and lists it) or happens first (and the send sees its post
paused). The send is committed as begun before the connector is called: a worker that dies
during the call leaves it ``failed`` (outcome unknown), never sent twice.
"""
from __future__ import annotations

import asyncio
import uuid
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import fence
from app.audit import service as audit
from app.db import dedicated_session
from app.posts import moves as post_moves
from app.publishing import service
from app.security import SYSTEM, Principal

log = structlog.get_logger("socialgov.publishing")

CLAIM_LEASE_SECONDS = 30.0


async def _fenced(session: AsyncSession, work):
    """Run ``work(session)`` holding the shared fence on this session's connection, released
    (and committed) whatever happens: a pooled connection must never keep it."""
    await fence.hold_shared(session)
    await session.commit()
    try:
        return await work(session)
    except BaseException:
        await session.rollback()
        raise
    finally:
        await fence.release_shared(session)
        await session.commit()


async def deliver(maker: async_sessionmaker[AsyncSession], post_id: uuid.UUID, lease: Any,
                  actor: Principal = SYSTEM) -> str:
    """The scheduler's send of one claimed post. Returns the outcome."""
    async def work(session: AsyncSession) -> str:
        prepared = await service.prepare_claimed(session, actor, post_id, lease)
        if isinstance(prepared, str):  # lost, paused or failed: nothing to send
            await session.commit()
            return prepared
        await service.begin_send(session, actor, prepared)
        await session.commit()
        result = await service.send(prepared)
        outcome = await service.finish_send(session, actor, prepared, result, retry=True)
        await session.commit()
        return outcome

    async with dedicated_session(maker) as session:
        return await _fenced(session, work)


async def run_due(maker: async_sessionmaker[AsyncSession], limit: int = 20, concurrency: int = 8) -> int:
    """One scheduler pass: claim due posts (SKIP LOCKED) and send them."""
    async with maker() as session:
        claimed = await post_moves.claim_due(session, limit, CLAIM_LEASE_SECONDS)
        if claimed:
            await audit.record_many(session, SYSTEM, [
                audit.Entry("post.claimed", "post", pid, after={"status": "publishing"}) for pid, _ in claimed])
        await session.commit()
    if not claimed:
        return 0
    gate = asyncio.Semaphore(concurrency)

    async def one(pid, lease):
        async with gate:
            try:
                return await deliver(maker, pid, lease)
            except Exception:
                log.exception("publishing failed", post_id=str(pid))
                return "error"

    await asyncio.gather(*(one(pid, lease) for pid, lease in claimed))
    return len(claimed)


async def publish_now(maker: async_sessionmaker[AsyncSession], principal: Principal, post_id: uuid.UUID, *,
                      expected_version: int | None) -> str:
    """A publish by hand, on its own connection. Raises PublishFailed when the connector
    refused (the failure is recorded and committed first)."""
    async def work(session: AsyncSession):
        prepared = await service.authorise_publish(session, principal, post_id, expected_version=expected_version)
        await service.begin_send(session, principal, prepared)
        await session.commit()
        result = await service.send(prepared)
        outcome = await service.finish_send(session, principal, prepared, result, retry=False)
        await session.commit()
        return prepared, result, outcome

    async with dedicated_session(maker) as session:
        prepared, result, outcome = await _fenced(session, work)
    if outcome != "published":
        raise service.publish_failed(prepared, result)
    return outcome


async def publish_after(session: AsyncSession, maker: async_sessionmaker[AsyncSession], principal: Principal,
                        post_id: uuid.UUID, *, expected_version: int | None) -> str:
    """Publish by hand from inside a request (REST or a GraphQL document): the one place for
    the choreography. The request's transaction is committed first — publish_now reads on its
    own connection, so it must see what the request did (a GraphQL approvePost before
    publishPost), and it must not wait on locks the request holds while the request waits on
    it (an earlier declareCrisis holds the fence exclusively until commit, an earlier mutation
    of the same post holds its row). A failure answered afterwards cannot undo the commit."""
    await session.commit()
    return await publish_now(maker, principal, post_id, expected_version=expected_version)
