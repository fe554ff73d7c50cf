"""Idempotency-Key on creating POSTs (IETF httpapi draft, Stripe's behaviour).

The key is scoped per principal. The first request takes a transaction-level advisory lock
on (principal, key), runs inside a savepoint, and its response (errors included) is stored
in the same transaction as the change; a retry with the same key and body replays it, a
different body answers 422, and a retry while the first still runs answers 409.
"""
from __future__ import annotations

import hashlib
import json
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
_SF_STRING_RE = re.compile(r'^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"$')
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
    if value.startswith('"'):  # structured-field string (RFC 8941 section 3.3.3): "…" with \" and \\ escapes
        match = _SF_STRING_RE.match(value)
        value = re.sub(r"\\(.)", r"\1", match.group(1)) if match else ""
    if not _KEY_RE.match(value):
        raise InvalidIdempotencyKey(
            "Idempotency-Key must be 1-255 visible ASCII characters, bare or as a quoted string.",
            header="Idempotency-Key",
        )
    return value


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """What "the same request" means: method, path, query and the body's JSON value, so a
    retry that serialises the same body with other spacing or key order still matches."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False).encode()
    except (ValueError, RecursionError):  # not JSON (or unencodable): compare the bytes
        canonical = body
    head = f"{method} {path}?{query}\n".encode()
    return hashlib.sha256(head + canonical).hexdigest()


def lock_id(principal: str, key: str) -> int:
    digest = hashlib.sha256(_LOCK_NAMESPACE + principal.encode() + b"\x00" + key.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def idempotency(request: Request, principal: CurrentPrincipal) -> None:
    raw = request.headers.get("idempotency-key")
    if raw is None:
        return
    key = parse_key(raw)
    session = request_session(request)
    request_hash = fingerprint(request.method, request.url.path, request.url.query, await request.body())
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


def redact(request: Request, *fields: str) -> None:
    """Keep these top-level fields out of the stored response (a secret shown once): a replay
    answers them as null."""
    request.state.idempotency_redact = fields


def _stored_body(response: Response, fields: tuple[str, ...]) -> bytes:
    body = bytes(response.body)
    if not fields:
        return body
    doc = json.loads(body)
    if isinstance(doc, dict):
        doc.update({f: None for f in fields if f in doc})
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


async def store(session: AsyncSession, ctx: KeyContext, response: Response, redacted: tuple[str, ...] = ()) -> None:
    headers = {k: v for k, v in response.headers.items() if k in _STORED_HEADERS}
    await session.execute(
        insert(IdempotencyKey).values(
            principal=ctx.principal, key=ctx.key, method=ctx.method, path=ctx.path[:500],
            request_hash=ctx.request_hash, status_code=response.status_code, headers=headers,
            body=_stored_body(response, redacted), expires_at=text(f"now() + interval '{int(ctx.ttl.total_seconds())} seconds'"),
        )
    )


async def purge_expired(session: AsyncSession) -> int:
    result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at < text("now()")))
    return result.rowcount or 0
