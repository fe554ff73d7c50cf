"""Migrations: every revision upgrades and downgrades cleanly, and the models agree with them."""
from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from app.db import MIGRATIONS_DIR, admin_execute, alembic_config, create_engine, downgrade, migrate, with_database
from app.models import Base

# Everything in the public schema that a migration could leave behind.
LEFTOVERS = """
SELECT 'table ' || tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'
UNION ALL SELECT 'sequence ' || sequencename FROM pg_sequences WHERE schemaname = 'public'
UNION ALL SELECT 'view ' || viewname FROM pg_views WHERE schemaname = 'public'
UNION ALL SELECT 'index ' || indexname FROM pg_indexes WHERE schemaname = 'public'
          AND tablename <> 'alembic_version'
UNION ALL SELECT 'function ' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname = 'public'
UNION ALL SELECT 'type ' || t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
          WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'c') AND t.typrelid = 0
UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE NOT tgisinternal
ORDER BY 1
"""


@pytest.fixture
async def empty_database(databases) -> AsyncIterator[str]:
    name = f"sgv_mig_{uuid.uuid4().hex[:12]}"
    await admin_execute(databases.server, f'CREATE DATABASE "{name}"')
    try:
        yield with_database(databases.server, name)
    finally:
        await admin_execute(databases.server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _query(url: str, sql: str) -> list[str]:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            return [row[0] for row in await conn.execute(text(sql))]
    finally:
        await engine.dispose()


async def _schema_diff(url: str) -> list:
    def compare(sync_conn):
        ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(ctx, Base.metadata)

    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


def _revisions() -> list[str]:
    """Oldest first."""
    script = ScriptDirectory.from_config(alembic_config("postgresql://unused"))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


async def test_upgrade_downgrade_upgrade_on_an_empty_database(empty_database):
    url = empty_database
    await asyncio.to_thread(migrate, url)
    tables = set(await _query(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
    assert tables == {*Base.metadata.tables, "alembic_version"}
    assert {"function audit_records_guard", "trigger audit_records_guard"} <= set(await _query(url, LEFTOVERS))

    await asyncio.to_thread(downgrade, url, "base")
    assert await _query(url, LEFTOVERS) == []
    assert await _query(url, "SELECT version_num FROM alembic_version") == []

    await asyncio.to_thread(migrate, url)
    assert await _query(url, "SELECT version_num FROM alembic_version") == [_revisions()[-1]]
    assert await _schema_diff(url) == []


async def test_every_revision_downgrades_to_its_predecessor(empty_database):
    url = empty_database
    revisions = _revisions()
    previous = "base"
    for revision in revisions:
        await asyncio.to_thread(migrate, url, revision)
        before = await _query(url, LEFTOVERS)
        await asyncio.to_thread(downgrade, url, previous)
        await asyncio.to_thread(migrate, url, revision)
        assert await _query(url, LEFTOVERS) == before, revision
        previous = revision


async def test_models_agree_with_the_migrations(template_url):
    diff = await _schema_diff(template_url)
    assert diff == [], "models and migrations disagree; write a migration:\n" + "\n".join(map(repr, diff))


def test_one_head_and_files_named_by_date():
    script = ScriptDirectory.from_config(alembic_config("postgresql://unused"))
    assert len(script.get_heads()) == 1
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}-\d{4}_[a-z0-9_]+\.py", path.name), path.name
