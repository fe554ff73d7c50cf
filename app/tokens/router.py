from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from app.db import request_session
from app.uow import UnitOfWorkRoute
from app import idempotency
from app.idempotency import idempotent
from app.pagination import Page, Pagination, created_key, make_page
from app.security import CurrentPrincipal
from app.tokens import service
from app.tokens.schemas import TokenCreate, TokenCreated, TokenRead
from app.types import Text

router = APIRouter(prefix="/v1/tokens", tags=["tokens"], route_class=UnitOfWorkRoute)


def _read(t, names: dict) -> dict:
    return {
        "id": t.id, "prefix": t.prefix, "name": t.name, "principal_kind": "user" if t.user_id else "service",
        "user_id": t.user_id, "service_id": t.service_id, "service_name": names.get(t.service_id),
        "scopes": list(t.scopes), "created_at": t.created_at, "expires_at": t.expires_at,
        "revoked_at": t.revoked_at,
    }


async def _token_now(session, principal, stored: dict) -> TokenCreated:
    """The token as it is now (revoked since?); the secret is never kept, so it answers null."""
    row = await service.get_token(session, principal, uuid.UUID(stored["id"]))
    return TokenCreated(token=None, **_read(row, await service.service_names(session, [row])))


@router.post("", status_code=201, response_model=TokenCreated, dependencies=[idempotent(_token_now)],
             summary="Create a token; the secret is in this response only")
async def create_token(request: Request, principal: CurrentPrincipal, body: TokenCreate):
    idempotency.redact(request, "token")
    made = await service.create_token(
        request_session(request), principal, user_id=body.user_id, service_name=body.service_name,
        scopes=body.scopes, name=body.name, expires_at=body.expires_at,
    )
    names = {made.row.service_id: made.service_name} if made.service_name else {}
    return TokenCreated(token=made.secret, **_read(made.row, names))


@router.get("", response_model=Page[TokenRead], summary="Your tokens (admins: everyone's)")
async def list_tokens(request: Request, principal: CurrentPrincipal, page: Pagination,
                      user_id: uuid.UUID | None = None, service_name: Text(100, 1) | None = None,
                      include_revoked: bool = False):
    session = request_session(request)
    rows = await service.list_tokens(session, principal, user_id=user_id, service_name=service_name,
                                     include_revoked=include_revoked, page=page)
    items, cursor = make_page(rows, page, created_key)
    names = await service.service_names(session, items)
    return Page[TokenRead](items=[TokenRead(**_read(t, names)) for t in items], next_cursor=cursor)


@router.delete("/{token_id}", status_code=204, summary="Revoke a token (idempotent)")
async def revoke_token(request: Request, principal: CurrentPrincipal, token_id: uuid.UUID):
    await service.revoke_token(request_session(request), principal, token_id)
    return Response(status_code=204)
