"""GraphQL context: built from the same ``authenticate`` dependency as REST.

One request, one ``AsyncSession`` (the unit of work that ``UnitOfWorkRoute`` commits when
the answer is < 400), guarded by one ``asyncio.Lock``.

Why a lock and not a short session per loader batch (what STYLE.md suggests): a mutation's
result is read back inside its own, still uncommitted transaction — a second session would
not see it — and in the rollback test tier every session is bound to one connection anyway.
Strawberry resolves sibling fields concurrently, and one ``AsyncSession`` must never be used
by two coroutines at once, so every resolver and every DataLoader batch that touches the
session holds ``ctx.lock`` for exactly as long as it uses it (``async with ctx.db() as s``).
Loaders still batch: the lock only serialises the batches' statements, whose number stays
bounded by the query's depth. Never await a loader while holding the lock: its batch waits
for the same lock.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.fastapi import BaseContext

from app.config import Settings
from app.db import request_session
from app.errors import InsufficientScope, InvalidIdempotencyKey, Unauthenticated
from app.security import Principal, Scope, optional_principal

if TYPE_CHECKING:
    from app.graphql.limits import PreparedRequest


# Each domain's ``loaders(ctx) -> {name: DataLoader}`` (app/<domain>/loaders.py); the schema
# root (app/graphql/schema.py) lists them, so this infrastructure imports no domain.
LoaderFactory = Callable[["Context"], dict[str, Any]]


class Context(BaseContext):
    def __init__(self, request: Request, principal: Principal | None, loader_factories: tuple[LoaderFactory, ...] = ()):
        super().__init__()
        self._request = request
        self._principal = principal
        self._loader_factories = loader_factories
        self.lock = asyncio.Lock()
        self.loaders = self._new_loaders()
        self.replayed: list[str] = []  # response keys of mutations answered from a stored result

    @property
    def principal(self) -> Principal:
        if self._principal is None:
            raise Unauthenticated("This query needs a bearer token.")
        return self._principal

    def require(self, *scopes: Scope) -> Principal:
        """The same scope rule as REST's ``require(...)``: the token carries one of ``scopes``."""
        principal = self.principal
        if not principal.has_scope(*scopes):
            raise InsufficientScope(f"This call needs one of the scopes: {', '.join(s.value for s in scopes)}.",
                                    required_scopes=[s.value for s in scopes])
        return principal

    @property
    def session(self) -> AsyncSession:
        """The request's session. Use it only under ``self.lock`` — prefer ``db()``."""
        return request_session(self._request)

    @contextlib.asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncSession]:
        async with self.lock:
            yield self.session

    @property
    def settings(self) -> Settings:
        return self._request.app.state.settings

    @property
    def path(self) -> str:
        return self._request.url.path

    @property
    def prepared(self) -> PreparedRequest | None:
        """The request as app/graphql/router.py read, parsed and measured it (None if it did not)."""
        return getattr(self._request.state, "graphql", None)

    def _new_loaders(self) -> SimpleNamespace:
        merged: dict[str, Any] = {}
        for factory in self._loader_factories:
            merged.update(factory(self))
        return SimpleNamespace(**merged)

    def reset_loaders(self) -> None:
        """After a mutation: nothing cached before it may describe the world after it."""
        self.loaders = self._new_loaders()


def context_getter(loader_factories: tuple[LoaderFactory, ...]):
    """The router's context dependency: the same ``authenticate`` as REST, these loaders."""
    async def get(request: Request, principal: Annotated[Principal | None, Depends(optional_principal)]) -> Context:
        return await get_context(request, principal, loader_factories)

    return get


async def get_context(request: Request, principal: Principal | None,
                      loader_factories: tuple[LoaderFactory, ...] = ()) -> Context:
    if "idempotency-key" in request.headers:
        # One document can hold several mutations, so a key belongs to a mutation: its
        # idempotencyKey argument. Refused rather than ignored: a caller who believes the
        # header protects a retry must learn that it does not.
        raise InvalidIdempotencyKey(
            "The Idempotency-Key header is not read on /graphql: pass idempotencyKey to the mutation "
            "(declareCrisis, createPost).", header="Idempotency-Key")
    return Context(request, principal, loader_factories)
