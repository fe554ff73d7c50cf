"""Idempotency-Key on creating POSTs (IETF httpapi draft, Stripe's behaviour), and the same
mechanism for GraphQL's ``idempotencyKey`` argument (app/graphql/mutation.py).

The key is scoped per principal. The first request takes a transaction-level advisory lock
on (principal, key), runs inside a savepoint, and its response (errors included) is stored
in the same transaction as the change; a retry with the same key and body replays it, a
different body answers 422, and a retry while the first still runs answers 409.

``claim`` (lock, look up, compare) and ``save`` are the mechanism; REST and GraphQL differ
only in what "the same request" is (``fingerprint`` / ``operation_fingerprint``) and in what
they store and replay. Both interfaces share one key space per principal: a key first used
over one of them answers ``idempotency-key-reused`` over the other.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, Request
from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from app.db import request_session
from app.errors import IdempotencyKeyInUse, IdempotencyKeyReused, InvalidIdempotencyKey
from app.models import IdempotencyKey
from app.security import CurrentPrincipal, Principal

_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
_SF_STRING_RE = re.compile(r'^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"$')
_STORED_HEADERS = ("content-type", "location", "etag")
_LOCK_NAMESPACE = b"socialgov:idempotency:"
HEADER = {"header": "Idempotency-Key"}  # where REST's errors point


class Replay(Exception):  # noqa: N818 - control flow, not an error
    def __init__(self, response: Response):
        self.response = response


@dataclass
class KeyContext:
    """One request's use of a key: who, which key, what "the same request" is, how long to keep it."""
    principal: str
    key: str
    method: str
    path: str
    request_hash: str
    ttl: timedelta
    savepoint: object = None  # REST: the savepoint its failed work is rolled back to


def context(request: Request) -> KeyContext | None:
    return getattr(request.state, "idempotency", None)


def _name(where: dict[str, str]) -> str:
    return next(iter(where.values()))


def check_key(value: str, **where: str) -> str:
    """1-255 visible ASCII characters, as given. ``where`` names the key in the error
    (``header="Idempotency-Key"`` over REST, ``parameter="idempotencyKey"`` over GraphQL)."""
    where = where or HEADER
    if not _KEY_RE.match(value):
        raise InvalidIdempotencyKey(f"{_name(where)} must be 1-255 visible ASCII characters"
                                    + (", bare or as a quoted string." if "header" in where else "."), **where)
    return value


def parse_key(raw: str) -> str:
    """The header's value: bare, or a structured-field string."""
    value = raw.strip()
    if value.startswith('"'):  # structured-field string (RFC 8941 section 3.3.3): "…" with \" and \\ escapes
        match = _SF_STRING_RE.match(value)
        value = re.sub(r"\\(.)", r"\1", match.group(1)) if match else ""
    return check_key(value, **HEADER)


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """What "the same request" means over REST: method, path, query and the body's JSON value,
    so a retry that serialises the same body with other spacing or key order still matches."""
    try:
        canonical = _canonical(json.loads(body))
    except (ValueError, RecursionError):  # not JSON (or unencodable): compare the bytes
        canonical = body
    head = f"{method} {path}?{query}\n".encode()
    return hashlib.sha256(head + canonical).hexdigest()


def operation_fingerprint(interface: str, operation: str, arguments: Any) -> str:
    """What "the same request" means for a named operation (a GraphQL mutation): the
    interface, the operation's name and its arguments as a JSON value. Never equal to a REST
    fingerprint, so a key cannot answer across interfaces."""
    return hashlib.sha256(f"{interface} {operation}\n".encode() + _canonical(arguments)).hexdigest()


def lock_id(principal: str, key: str) -> int:
    digest = hashlib.sha256(_LOCK_NAMESPACE + principal.encode() + b"\x00" + key.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def claim(session: AsyncSession, ctx: KeyContext, **where: str) -> IdempotencyKey | None:
    """Take the key for this transaction: the stored answer to this same request if there is a
    live one (replay it), else None (run the request, then ``save`` its answer).

    Raises IdempotencyKeyInUse while another transaction holds the key (nothing stored: the
    caller retries) and IdempotencyKeyReused when the key answered another request. The lock is
    transaction-level: take it outside any savepoint the work may roll back, or it goes too."""
    where = where or HEADER
    if not (await session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"),
                                  {"k": lock_id(ctx.principal, ctx.key)})).scalar():
        raise IdempotencyKeyInUse(f"A request with this {_name(where)} is still in flight; retry later.", **where)
    stored = (await session.execute(
        select(IdempotencyKey).where(IdempotencyKey.principal == ctx.principal, IdempotencyKey.key == ctx.key)
        # Fresh from the row: an earlier claim in this transaction (a GraphQL document using
        # the key twice) may have left an object the statements since have deleted or replaced.
        .execution_options(populate_existing=True)
    )).scalar_one_or_none()
    if stored is None:
        return None
    expired = (await session.execute(text("SELECT :e <= now()"), {"e": stored.expires_at})).scalar()
    if expired:
        await session.execute(delete(IdempotencyKey).where(
            IdempotencyKey.principal == ctx.principal, IdempotencyKey.key == ctx.key))
        return None
    if stored.request_hash != ctx.request_hash:
        raise IdempotencyKeyReused(f"This {_name(where)} was first used with a different request; "
                                   "a new request needs a new key.", **where)
    return stored


async def save(session: AsyncSession, ctx: KeyContext, status_code: int, body: bytes,
               headers: dict[str, str] | None = None) -> None:
    """Store the answer to a claimed key, in the caller's transaction (that of the change)."""
    await session.execute(
        insert(IdempotencyKey).values(
            principal=ctx.principal, key=ctx.key, method=ctx.method, path=ctx.path[:500],
            request_hash=ctx.request_hash, status_code=status_code, headers=headers or {}, body=body,
            expires_at=text(f"now() + interval '{int(ctx.ttl.total_seconds())} seconds'"),
        )
    )


def ttl_of(settings) -> timedelta:
    return timedelta(hours=settings.idempotency_ttl_hours)


# --- REST: the Idempotency-Key header ------------------------------------------------------

# How a creating route answers a replayed success as the resource is *now*: given the stored
# answer's JSON, read the resource again (with the caller's own access) and return its current
# read model; None keeps the stored answer (nothing to re-read, e.g. a dry run).
Current = Callable[[AsyncSession, Principal, dict[str, Any]], Awaitable[Any]]


async def _replay(session: AsyncSession, principal: Principal, stored: IdempotencyKey,
                  current: Current | None) -> Response:
    """A stored answer, replayed. A success of a route that can re-read its resource answers it
    as it is now (a retried declaration must not say "active" about a crisis resolved since),
    keeping what only the first call knew; the stored answer otherwise (errors: as they were).
    ``Idempotent-Replay-State`` says which."""
    headers = dict(stored.headers)
    headers["idempotent-replayed"] = "true"
    body = stored.body
    fresh = None
    if current is not None and 200 <= stored.status_code < 300:
        try:
            doc = json.loads(stored.body)
        except ValueError:
            doc = None
        fresh = await current(session, principal, doc) if isinstance(doc, dict) else None
    if fresh is None:
        headers["idempotent-replay-state"] = "original"
        return Response(body, status_code=stored.status_code, headers=headers)
    data = fresh.model_dump(mode="json") if hasattr(fresh, "model_dump") else fresh
    if "etag" in headers and isinstance(data.get("version"), int):
        headers["etag"] = f'"{data["version"]}"'
    headers["idempotent-replay-state"] = "current"
    headers.pop("content-length", None)
    return Response(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode(),
                    status_code=stored.status_code, headers=headers)


def idempotent(current: Current | None = None):
    """The Idempotency-Key dependency of a creating route; ``current`` re-reads its resource
    for replays (see ``_replay``)."""

    async def dependency(request: Request, principal: CurrentPrincipal) -> None:
        raw = request.headers.get("idempotency-key")
        if raw is None:
            return
        session = request_session(request)
        ctx = KeyContext(principal.key, parse_key(raw), request.method, request.url.path,
                         fingerprint(request.method, request.url.path, request.url.query, await request.body()),
                         ttl_of(request.app.state.settings))
        stored = await claim(session, ctx)
        if stored is not None:
            raise Replay(await _replay(session, principal, stored, current))
        ctx.savepoint = await session.begin_nested()
        request.state.idempotency = ctx

    return Depends(dependency)


Idempotent = idempotent()


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


def stored_status(status: int) -> bool:
    """Which failures are answers to keep: 4xx, except a refusal of the caller's authority
    (403: a token without the scope, a role it lacks). That is not an answer about the request:
    the caller fixes its token or grant and retries with the same key — in a crisis the
    on-call person must not be handed yesterday's 403 for 24 hours. 5xx are never stored."""
    return status < 500 and status != 403


async def store(session: AsyncSession, ctx: KeyContext, response: Response, redacted: tuple[str, ...] = ()) -> None:
    headers = {k: v for k, v in response.headers.items() if k in _STORED_HEADERS}
    await save(session, ctx, response.status_code, _stored_body(response, redacted), headers)


async def purge_expired(session: AsyncSession) -> int:
    result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at < text("now()")))
    return result.rowcount or 0
