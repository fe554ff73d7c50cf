"""Prebuilt statements for the hot paths, run on the session's driver connection.

The ORM builds and compiles a statement on every call (~40% of a read's CPU, measured in
bench/http.py) and an AsyncSession adds ~130 µs per statement over raw asyncpg. The hot paths
(authentication, effective access, the post read and list, every post transition, claim
loops) instead declare a ``Statement`` once at import: SQL with ``:name`` parameters turned into
asyncpg's ``$n`` once, executed on the asyncpg connection the session holds, so asyncpg's
prepared-statement cache makes each one a single round trip. The session stays the one unit of
work: the statement joins its transaction (started first if the session has not sent anything
yet; nothing is started on an autocommit, read-only request), and database errors come out as
the same ``sqlalchemy.exc.DBAPIError`` subclasses the ORM raises, so the error handlers, the
retry of a dropped connection (app/uow.py) and callers catching ``IntegrityError`` see no
difference. Low-rate paths keep the ORM.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

# ``:name`` but not ``::type`` casts, and not inside a word (``a:b``).
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class Statement:
    """One SQL statement with named parameters, compiled to asyncpg's positional form once."""

    __slots__ = ("sql", "names")

    def __init__(self, sql: str) -> None:
        names: list[str] = []

        def positional(m: re.Match[str]) -> str:
            if m.group(1) not in names:
                names.append(m.group(1))
            return f"${names.index(m.group(1)) + 1}"

        self.sql = _PARAM.sub(positional, sql)
        self.names = tuple(names)

    def _args(self, params: dict[str, Any]) -> list[Any]:
        return [params[n] for n in self.names]

    async def fetch(self, session: AsyncSession, **params: Any) -> list[Any]:
        return await _run(session, self, "fetch", params)

    async def fetchrow(self, session: AsyncSession, **params: Any) -> Any:
        return await _run(session, self, "fetchrow", params)

    async def fetchval(self, session: AsyncSession, **params: Any) -> Any:
        return await _run(session, self, "fetchval", params)

    async def execute(self, session: AsyncSession, **params: Any) -> str:
        return await _run(session, self, "execute", params)


_HELD = "sgv_driver_connection"


async def _connection(session: AsyncSession):
    """The session's connection and SQLAlchemy's asyncpg adapter of it (which knows the
    transaction), looked up once per session transaction."""
    sync = session.sync_session
    held = sync.info.get(_HELD)
    if held is not None and held[0] is sync._transaction and sync._transaction is not None \
            and sync._transaction.is_active:
        return held[1], held[2]
    connection = await session.connection()
    adapted = (await connection.get_raw_connection()).dbapi_connection
    sync.info[_HELD] = (sync._transaction, connection, adapted)
    return connection, adapted


async def _run(session: AsyncSession, stmt: Statement, method: str, params: dict[str, Any]) -> Any:
    connection, adapted = await _connection(session)
    args = stmt._args(params)
    async with adapted._execute_mutex:
        try:
            if adapted._transaction is None:
                await adapted._start_transaction()  # no-op in autocommit
            return await getattr(adapted._connection, method)(stmt.sql, *args)
        except DBAPIError:
            raise
        except Exception as error:
            _translate(connection, adapted, stmt, args, error)


def _translate(connection, adapted, stmt: Statement, args: Sequence[Any], error: Exception):
    try:
        adapted._handle_exception(error)  # raises the adapter's DB-API error for it
    except Exception as dbapi_error:  # noqa: BLE001 - re-raised below, wrapped as the ORM would
        dialect = connection.sync_connection.dialect
        if not isinstance(dbapi_error, dialect.loaded_dbapi.Error):
            raise
        disconnect = dialect.is_disconnect(dbapi_error, adapted, None)
        if disconnect:
            connection.sync_connection.invalidate(dbapi_error)
        raise DBAPIError.instance(stmt.sql, list(args), dbapi_error, dialect.loaded_dbapi.Error,
                                  connection_invalidated=disconnect, dialect=dialect) from error
    raise error


class Row:
    """Attribute access to a record's columns (``prefix`` + name): what the read models map from
    (``PostRead.of`` reads ``post.status``), without building ORM objects on a hot read."""

    __slots__ = ("_record", "_prefix")

    def __init__(self, record: Any, prefix: str = "") -> None:
        self._record = record
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        try:
            return self._record[self._prefix + name]
        except KeyError:
            raise AttributeError(name) from None
