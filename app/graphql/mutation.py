"""One unit of work per mutation, inside the request's.

``UnitOfWorkRoute`` commits the request's session when the HTTP answer is < 400, and GraphQL
answers 200 even when a resolver failed. So each mutation runs its use case inside a
SAVEPOINT (``session.begin_nested()``): on any exception the savepoint is rolled back
*before* the error becomes data (a ``Problem``) or a masked top-level error, and the
request's commit then keeps only what succeeded — earlier mutations of the same document
included. Mutations run one after another (GraphQL executes mutation fields serially), and
each one's result is read back inside the same, still uncommitted transaction.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pydantic
import strawberry
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import AppError, db_problem, validation_problem
from app.graphql.errors import Problem, camel
from app.security import Principal, Scope

T = TypeVar("T")
M = TypeVar("M", bound=pydantic.BaseModel)


async def run(info: strawberry.Info, scopes: tuple[Scope, ...],
              work: Callable[[AsyncSession, Principal], Awaitable[T]]) -> T | Problem:
    """Run ``work`` (validate the input, call the service, wrap the result) as this
    mutation's unit of work. Expected failures (any AppError, and database refusals REST
    maps to a problem) come back as a ``Problem``; anything else propagates and is masked."""
    ctx = info.context
    principal = ctx.principal  # no token at all: a top-level 'unauthenticated', as for queries
    try:
        async with ctx.db() as session:
            try:
                ctx.require(*scopes)
                async with session.begin_nested():
                    return await work(session, principal)
            except AppError as exc:
                return Problem.of(exc)
            except DBAPIError as exc:
                mapped = db_problem(exc)
                if mapped is None:
                    raise
                return Problem.of(mapped)
    finally:
        ctx.reset_loaders()


def validated(model: type[M], data: dict[str, Any]) -> M:
    """Check an input with the REST body model: one set of rules for both adapters. Field
    names in the resulting validation Problem are the GraphQL ones."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        errors = [{**e, "loc": ("body", *(camel(p) if isinstance(p, str) else p for p in e["loc"]))}
                  for e in exc.errors(include_url=False)]
        raise validation_problem(RequestValidationError(errors)) from None


def given(**fields: Any) -> dict[str, Any]:
    """The fields the caller gave (UNSET left out), so 'absent' and 'null' stay apart."""
    return {k: v for k, v in fields.items() if v is not strawberry.UNSET}
