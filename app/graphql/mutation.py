"""One unit of work per mutation, inside the request's.

``UnitOfWorkRoute`` commits the request's session when the HTTP answer is < 400, and GraphQL
answers 200 even when a resolver failed. So each mutation runs its use case inside a
SAVEPOINT (``session.begin_nested()``): on any exception the savepoint is rolled back
*before* the error becomes data (a ``Problem``) or a masked top-level error, and the
request's commit then keeps only what succeeded — earlier mutations of the same document
included. Mutations run one after another (GraphQL executes mutation fields serially), and
each one's result is read back inside the same, still uncommitted transaction.

Creating mutations take an ``idempotencyKey`` argument (``Keyed``): REST's Idempotency-Key
mechanism (app/idempotency.py) with the same rules, taken at the same point. The key is
claimed before the savepoint (its transaction lock must survive the savepoint's rollback),
and the answer is saved in the request's transaction: a success inside the savepoint with
the change, an expected failure after rolling the savepoint back. As over REST, an input the
body model rejects (``validated``), a database refusal and any 5xx are not stored.
"""
from __future__ import annotations

import dataclasses
import enum
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated, Any, Protocol, Self, TypeVar

import pydantic
import strawberry
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.extensions import SchemaExtension

from app import context, idempotency
from app.errors import AppError, ValidationFailed, db_problem, validation_problem
from app.graphql.errors import Problem, camel
from app.models import IdempotencyKey
from app.security import Principal, Scope
from app.uow import UnitOfWork

T = TypeVar("T")
M = TypeVar("M", bound=pydantic.BaseModel)

ARGUMENT = {"parameter": "idempotencyKey"}  # where the key's Problems point: #/idempotencyKey

KeyArgument = Annotated[str | None, strawberry.argument(description=(
    "Makes a retry safe, as REST's Idempotency-Key header: 1-255 visible ASCII characters, scoped to "
    "you (the token's user or service), kept for the idempotency TTL (24 h by default). The same key "
    "with the same input answers the first call's result again without redoing it (the same object, "
    "read as it is now; a stored Problem as it was), and the response's extensions.idempotentReplayed "
    "lists the field. With another input or mutation, or a key first used over REST: Problem "
    "idempotency-key-reused (422); while the first call still runs: idempotency-key-in-flight (409, "
    "retry); a malformed key: invalid-idempotency-key (400). /graphql refuses the HTTP header."))]


class Replayable(Protocol):
    """A keyed mutation's success: what of it is stored, and how a replay answers it again."""

    def remember(self) -> dict[str, Any]:
        """Ids and what only the first call could know; never a secret (a replay answers those null)."""

    @classmethod
    async def recall(cls, session: AsyncSession, principal: Principal, stored: dict[str, Any]) -> Self:
        """The success again, without doing the work again."""


@dataclasses.dataclass(frozen=True)
class Keyed:
    """A mutation's ``idempotencyKey`` (None: not keyed), the input that makes "the same
    request" (with the mutation's name), and its success type."""
    key: str | None
    input: Any
    result: type[Replayable]


class InputRejected(ValidationFailed):
    """The input broke the REST body model. REST rejects such a body before its handler runs,
    so a keyed call stores nothing for it: the caller fixes the input and keeps the key."""


async def run(info: strawberry.Info, scopes: tuple[Scope, ...],
              work: Callable[[AsyncSession, Principal], Awaitable[T]], *, keyed: Keyed | None = None) -> T | Problem:
    """Run ``work`` (validate the input, call the service, wrap the result) as this
    mutation's unit of work. Expected failures (any AppError, and database refusals REST
    maps to a problem) come back as a ``Problem``; anything else propagates and is masked."""
    ctx = info.context
    principal = ctx.principal  # no token at all: a top-level 'unauthenticated', as for queries
    try:
        async with ctx.db() as session:
            claimed = None
            try:
                if keyed is not None and keyed.key is not None:
                    # As REST: after authentication, before the scope check and the input rules.
                    key = _key_context(info, principal, keyed)
                    stored = await idempotency.claim(session, key, **ARGUMENT)
                    if stored is not None:
                        answer = await _replay(session, principal, keyed.result, stored)
                        ctx.replayed.append(info.path.key)
                        return answer
                    claimed = key
                ctx.require(*scopes)
                # This mutation's unit of work (app/uow.py): a savepoint of the request's.
                uow = UnitOfWork(session, principal, context.request_id.get(), context.correlation_id.get(),
                                 idempotency=claimed)
                async with session.begin_nested():
                    answer = await work(uow.session, uow.principal)
                    if claimed is not None:
                        await idempotency.save(session, claimed, 200, _stored({"result": answer.remember()}))
                    return answer
            except AppError as exc:
                if claimed is not None and idempotency.stored_status(exc.status) \
                        and not isinstance(exc, InputRejected):
                    await idempotency.save(session, claimed, exc.status, _stored({"problem": _error_state(exc)}))
                return Problem.of(exc)
            except DBAPIError as exc:
                mapped = db_problem(exc)  # a refusal to retry: never stored (REST stores none either)
                if mapped is None:
                    raise
                return Problem.of(mapped)
    finally:
        ctx.reset_loaders()


def _key_context(info: strawberry.Info, principal: Principal, keyed: Keyed) -> idempotency.KeyContext:
    return idempotency.KeyContext(
        principal=principal.key, key=idempotency.check_key(keyed.key, **ARGUMENT), method="POST",
        path=info.context.path,
        request_hash=idempotency.operation_fingerprint("graphql", info.field_name, plain(keyed.input)),
        ttl=idempotency.ttl_of(info.context.settings))


def _stored(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def _error_state(exc: AppError) -> dict[str, Any]:
    return {"code": exc.code, "title": exc.title, "status": exc.status, "detail": exc.detail,
            "pointer": exc.pointer, "extra": exc.extra}


class _StoredError(AppError):
    """An expected failure as it was first answered."""

    def __init__(self, state: dict[str, Any]):
        super().__init__(state["detail"], pointer=state["pointer"], **state["extra"])
        self.code, self.title, self.status = state["code"], state["title"], state["status"]


async def _replay(session: AsyncSession, principal: Principal, result: type[Replayable],
                  stored: IdempotencyKey) -> Any:
    doc = json.loads(stored.body)
    if "problem" in doc:
        return Problem.of(_StoredError(doc["problem"]))
    return await result.recall(session, principal, doc["result"])


def plain(value: Any) -> Any:
    """An input as a JSON value, for "the same request": inline literals and variables, and
    defaults given or left out, come out the same."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if getattr(value, f.name) is not strawberry.UNSET}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


class ReplayedExtension(SchemaExtension):
    """Marks replays as REST's ``Idempotent-Replayed: true`` header does: the response's
    ``extensions.idempotentReplayed`` lists the response keys (aliases) of the mutations
    answered from a stored result."""

    def get_results(self) -> dict[str, Any]:
        replayed = getattr(self.execution_context.context, "replayed", None)
        return {"idempotentReplayed": list(replayed)} if replayed else {}


def validated(model: type[M], data: dict[str, Any]) -> M:
    """Check an input with the REST body model: one set of rules for both adapters. Field
    names in the resulting validation Problem are the GraphQL ones."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        errors = [{**e, "loc": ("body", *(camel(p) if isinstance(p, str) else p for p in e["loc"]))}
                  for e in exc.errors(include_url=False)]
        problem = validation_problem(RequestValidationError(errors))
        if type(problem) is ValidationFailed:
            raise InputRejected(problem.detail, **problem.extra) from None
        raise problem from None


def given(**fields: Any) -> dict[str, Any]:
    """The fields the caller gave (UNSET left out), so 'absent' and 'null' stay apart."""
    return {k: v for k, v in fields.items() if v is not strawberry.UNSET}
