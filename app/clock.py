"""The database's clock: the only one socialgov trusts (replicas' local clocks drift).

Two readings, chosen on purpose at each call site:
- ``transaction_time`` (``now()``): fixed for the whole transaction. Stamps and checks inside
  one change agree with each other (a grant's expiry judged against the same instant as the
  rows it writes).
- ``wall_clock`` (``clock_timestamp()``): advances within the transaction. A crisis declaration
  waits for publishes in flight (the fence) before it takes hold; its times are measured from
  when it really did, not from when its transaction began.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

_NOW = select(func.now())
_WALL = select(func.clock_timestamp())


async def transaction_time(session: AsyncSession) -> datetime:
    return (await session.execute(_NOW)).scalar_one()


async def wall_clock(session: AsyncSession) -> datetime:
    return (await session.execute(_WALL)).scalar_one()
