from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.db import create_engine
from app.main import create_app
from tests.support.app import make_client, settings_for


async def test_healthz_and_readyz(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


@pytest.mark.committed
async def test_readyz_503_when_schema_is_not_at_head(databases):
    from app.db import admin_execute, with_database
    import uuid

    name = f"sgv_empty_{uuid.uuid4().hex[:8]}"
    await admin_execute(databases.server, f'CREATE DATABASE "{name}"')
    engine = create_engine(with_database(databases.server, name), pool_size=1, max_overflow=0)
    try:
        app = create_app(settings_for(), sessionmaker=async_sessionmaker(engine))
        async with make_client(app) as c:
            r = await c.get("/readyz")
        assert r.status_code == 503 and r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["database_revision"] is None and r.json()["expected_revision"]
    finally:
        await engine.dispose()
        await databases.drop(name)


@pytest.mark.committed
async def test_readyz_503_when_database_is_unreachable():
    engine = create_engine("postgresql://nobody@127.0.0.1:1/none", pool_size=1, max_overflow=0)
    try:
        app = create_app(settings_for(), sessionmaker=async_sessionmaker(engine))
        async with make_client(app) as c:
            r = await c.get("/readyz")
        assert r.status_code == 503 and r.json()["code"] == "service-unavailable"
    finally:
        await engine.dispose()
