"""Idempotency-Key on creating POSTs (IETF httpapi draft, Stripe's behaviour).

The key is scoped per principal. The first request takes a transaction-level advisory lock
on (principal, key), runs inside a savepoint, and its response (errors included) is stored
in the same transaction as the change; a retry with the same key and body replays it, a
different body answers 422, and a retry while the first still runs answers 409.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from app.db import request_session
from app.errors import IdempotencyKeyInUse, IdempotencyKeyReused, InvalidIdempotencyKey
from app.models import IdempotencyKey
from app.security import CurrentPrincipal

_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
_STORED_HEADERS = ("content-type", "location", "etag")
_LOCK_NAMESPACE = b"socialgov:idempotency:"


class Replay(Exception):  # noqa: N818 - control flow, not an error
    def __init__(self, response: Response):
        self.response = response


@dataclass
class KeyContext:
    principal: str
    key: str
    method: str
    path: str
    request_hash: str
    ttl: timedelta
    savepoint: object


def context(request: Request) -> KeyContext | None:
    return getattr(request.state, "idempotency", None)


def parse_key(raw: str) -> str:
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':  # structured-field string form
        value = value[1:-1]
    if not _KEY_RE.match(value):
        raise InvalidIdempotencyKey(
            "Idempotency-Key must be 1-255 visible ASCII characters.", header="Idempotency-Key"
        )
    return value


def lock_id(principal: str, key: str) -> int:
    digest = hashlib.sha256(_LOCK_NAMESPACE + principal.encode() + b"\x00" + key.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def idempotency(request: Request, principal: CurrentPrincipal) -> None:
    raw = request.headers.get("idempotency-key")
    if raw is None:
        return
    key = parse_key(raw)
    session = request_session(request)
    body = await request.body()
    request_hash = hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"\n" + body
    ).hexdigest()
    if not (await session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"),
                                  {"k": lock_id(principal.key, key)})).scalar():
        raise IdempotencyKeyInUse("A request with this Idempotency-Key is still in flight; retry later.",
                                  header="Idempotency-Key")
    stored = (await session.execute(
        select(IdempotencyKey).where(IdempotencyKey.principal == principal.key, IdempotencyKey.key == key)
    )).scalar_one_or_none()
    if stored is not None:
        expired = (await session.execute(text("SELECT :e <= now()"), {"e": stored.expires_at})).scalar()
        if expired:
            await session.execute(delete(IdempotencyKey).where(
                IdempotencyKey.principal == principal.key, IdempotencyKey.key == key))
        elif stored.request_hash != request_hash:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was first used with a different request body or path.",
                header="Idempotency-Key",
            )
        else:
            headers = dict(stored.headers)
            headers["idempotent-replayed"] = "true"
            raise Replay(Response(stored.body, status_code=stored.status_code, headers=headers))
    ttl = timedelta(hours=request.app.state.settings.idempotency_ttl_hours)
    request.state.idempotency = KeyContext(
        principal.key, key, request.method, request.url.path, request_hash, ttl,
        await session.begin_nested(),
    )


Idempotent = Depends(idempotency)
IdempotencyDep = Annotated[None, Idempotent]


async def store(session: AsyncSession, ctx: KeyContext, response: Response) -> None:
    headers = {k: v for k, v in response.headers.items() if k in _STORED_HEADERS}
    await session.execute(
        insert(IdempotencyKey).values(
            principal=ctx.principal, key=ctx.key, method=ctx.method, path=ctx.path[:500],
            request_hash=ctx.request_hash, status_code=response.status_code, headers=headers,
            body=bytes(response.body), expires_at=text(f"now() + interval '{int(ctx.ttl.total_seconds())} seconds'"),
        )
    )


async def purge_expired(session: AsyncSession) -> int:
    result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at < text("now()")))
    return result.rowcount or 0
