"""Every SQL statement of publishing: the send record and connector configuration. The posts' own
steps (claims, sends, retries) are the posts domain's (app/posts/moves.py)."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Account, AccountConnector, Publication


async def account(session: AsyncSession, account_id: uuid.UUID) -> Account | None:
    return (await session.execute(select(Account).where(Account.id == account_id))).scalar_one_or_none()


async def connector(session: AsyncSession, account_id: uuid.UUID) -> AccountConnector | None:
    stmt = select(AccountConnector).where(AccountConnector.account_id == account_id).execution_options(
        populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def upsert_connector(session: AsyncSession, values: dict[str, Any]) -> AccountConnector:
    stmt = insert(AccountConnector).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[AccountConnector.account_id],
        set_={**{k: stmt.excluded[k] for k in values if k != "account_id"},
              "version": AccountConnector.version + 1, "updated_at": func.now()},
    ).returning(AccountConnector)
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one()


async def record_publication(session: AsyncSession, values: dict[str, Any]) -> bool:
    """False when the post already has a publication: the unique post_id is the last fence."""
    stmt = insert(Publication).values(**values).on_conflict_do_nothing(index_elements=[Publication.post_id])
    return ((await session.execute(stmt.returning(Publication.id))).scalar()) is not None


async def publication(session: AsyncSession, post_id: uuid.UUID) -> Publication | None:
    return (await session.execute(select(Publication).where(Publication.post_id == post_id))).scalar_one_or_none()


async def mark_retracted(session: AsyncSession, post_id: uuid.UUID) -> None:
    await session.execute(update(Publication).where(Publication.post_id == post_id).values(retracted_at=func.now()))


async def publications(session: AsyncSession, post_ids: list[uuid.UUID] | None = None,
                       account_id: uuid.UUID | None = None, limit: int = 1000) -> list[Publication]:
    stmt = select(Publication).order_by(Publication.sent_at).limit(limit)
    if post_ids is not None:
        stmt = stmt.where(Publication.post_id.in_(post_ids))
    if account_id is not None:
        stmt = stmt.where(Publication.account_id == account_id)
    return list((await session.execute(stmt)).scalars())
