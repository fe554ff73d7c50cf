"""The publish fence: a reader–writer lock the database enforces.

Every publish holds the SHARED side (a session-level advisory lock on its own connection)
from its final status check until the outcome is committed — across the connector call.
Declaring a crisis takes the EXCLUSIVE side in its transaction: it waits for publishes in
flight to finish, and publishes that start later wait for the declaration to commit, then
see their post paused. PostgreSQL queues new shared requests behind a waiting exclusive
one, so a declaration is never starved by a stream of publishes.

Scheduling a post takes the shared side too, for its transaction (``share_until_commit``):
a schedule either commits before a declaration freezes (and is frozen with the rest) or
waits for it and then sees the crisis (409). Resolving takes the exclusive side, so posts it
puts back on schedule never slip past a declaration running beside it.

Order: the fence before any row lock (declare, resolve, schedule, send alike), or a
declaration waiting on a post's row while that post's transaction waits on the fence would
deadlock.
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

PUBLISH_FENCE = 7235190417235100

_SHARED = text(f"SELECT pg_advisory_lock_shared({PUBLISH_FENCE})")
_UNSHARE = text(f"SELECT pg_advisory_unlock_shared({PUBLISH_FENCE})")
_EXCLUSIVE = text(f"SELECT pg_advisory_xact_lock({PUBLISH_FENCE})")
_SHARED_XACT = text(f"SELECT pg_advisory_xact_lock_shared({PUBLISH_FENCE})")


async def hold_shared(session: AsyncSession) -> None:
    """Session-level: survives the commits of the publish; released by ``release_shared``
    or when the connection closes (a crashed worker never blocks a freeze for long). Never
    commits: the caller ends the transaction it ran in (app/publishing/jobs.py)."""
    await session.execute(_SHARED)


async def release_shared(session: AsyncSession) -> None:
    await session.execute(_UNSHARE)


async def take_exclusive(session: AsyncSession) -> None:
    """Transaction-level: held until the declaring transaction ends."""
    await session.execute(_EXCLUSIVE)


async def share_until_commit(session: AsyncSession) -> None:
    """Transaction-level shared side: for a change that must not interleave with a freeze
    (scheduling a post). Take it before locking any row."""
    await session.execute(_SHARED_XACT)
