"""Every SQL statement of the tokens domain."""
from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ApiToken, ServicePrincipal, User
from app.sql import Statement


async def user_status(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    return (await session.execute(select(User.status).where(User.id == user_id))).scalar()


async def upsert_service(session: AsyncSession, name: str) -> uuid.UUID:
    stmt = (insert(ServicePrincipal).values(id=uuid.uuid4(), name=name)
            .on_conflict_do_update(index_elements=[ServicePrincipal.name], set_={"name": name})
            .returning(ServicePrincipal.id))
    return (await session.execute(stmt)).scalar_one()


async def insert_token(session: AsyncSession, values: dict[str, Any]) -> ApiToken:
    stmt = insert(ApiToken).values(**values).returning(ApiToken)
    return (await session.execute(stmt)).scalar_one()


async def get_token(session: AsyncSession, token_id: uuid.UUID) -> ApiToken | None:
    return (await session.execute(select(ApiToken).where(ApiToken.id == token_id))).scalar_one_or_none()


async def service_names(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = await session.execute(select(ServicePrincipal.id, ServicePrincipal.name).where(ServicePrincipal.id.in_(ids)))
    return dict(rows.all())


async def list_tokens(session: AsyncSession, *, user_id: uuid.UUID | None, service_name: str | None,
                      include_revoked: bool, after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[ApiToken]:
    stmt = select(ApiToken).order_by(ApiToken.created_at, ApiToken.id).limit(limit)
    if user_id is not None:
        stmt = stmt.where(ApiToken.user_id == user_id)
    if service_name is not None:
        stmt = stmt.join(ServicePrincipal, ServicePrincipal.id == ApiToken.service_id).where(
            ServicePrincipal.name == service_name)
    if not include_revoked:
        stmt = stmt.where(ApiToken.revoked_at.is_(None))
    if after is not None:
        stmt = stmt.where(func.row(ApiToken.created_at, ApiToken.id) > func.row(*after))
    return list((await session.execute(stmt)).scalars())


async def revoke_token(session: AsyncSession, token_id: uuid.UUID) -> ApiToken | None:
    stmt = (update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=func.now()).returning(ApiToken)
            .execution_options(populate_existing=True, synchronize_session=False))
    return (await session.execute(stmt)).scalar_one_or_none()


@functools.cache
def _revoke_user_tokens_statement(audit_sql: str) -> Statement:
    """Prebuilt once per audit SQL (constant per caller)."""
    return Statement("WITH revoked AS (UPDATE api_tokens SET revoked_at = now()"
                     " WHERE user_id = :user_id AND revoked_at IS NULL RETURNING id),"
                     f" audited AS ({audit_sql}) SELECT id FROM revoked")


async def revoke_user_tokens(session: AsyncSession, user_id: uuid.UUID,
                             audit_sql: tuple[str, dict[str, Any]]) -> list[uuid.UUID]:
    """Every live token of a user revoked in one statement, audited in it by ``audit_sql`` (one
    bulk record over the CTE ``revoked``); the ids revoked."""
    sql, params = audit_sql
    return [r["id"] for r in await _revoke_user_tokens_statement(sql).fetch(session, **params, user_id=user_id)]


async def token_by_hash(session: AsyncSession, token_hash: str) -> ApiToken | None:
    stmt = select(ApiToken).where(ApiToken.token_hash == token_hash).execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def restore_token(session: AsyncSession, token_id: uuid.UUID, *, user_id: uuid.UUID,
                        scopes: list[str]) -> ApiToken:
    stmt = (update(ApiToken).where(ApiToken.id == token_id)
            .values(revoked_at=None, expires_at=None, user_id=user_id, service_id=None, scopes=scopes)
            .returning(ApiToken).execution_options(populate_existing=True, synchronize_session=False))
    return (await session.execute(stmt)).scalar_one()
