"""The real queries use the indexes of migration 0010, on plans PostgreSQL chooses from real
statistics (no ``enable_seqscan`` games): the posts list of a brand-wide caller and its label
filter, a grant holder lookup (every arm of its OR: organisation, brand, account) and the
access-review subqueries.

A database of its own (cloned from the migrated template), seeded set-based and ANALYZEd:
ANALYZE writes a table's page and row counts (pg_class) in place, not rolled back, so in the
suite's shared rollback-tier database it would leave later tests planning for 20,000 posts
that are gone. tests/posts/test_list_indexes.py holds the few-accounts and admin
cases; tests/crises/test_freeze_shape.py that none of these indexes costs the freeze its HOT
updates.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import repository as access
from app.db import create_engine
from app.posts import service as posts

BRANDS, ACCOUNTS_PER_BRAND, POSTS_PER_ACCOUNT = 10, 20, 100  # 20,000 posts

_SEED = [
    """INSERT INTO users (id, email, display_name, kind, status, training_valid_until, version)
       SELECT md5('ix-u' || u)::uuid, 'ix' || u || '@example.com', 'u', 'employee', 'active', current_date + 30, 1
         FROM generate_series(1, 300) u""",
    """INSERT INTO brands (id, name, description, version)
       SELECT md5('ix-b' || b)::uuid, 'ix brand ' || b, '', 1 FROM generate_series(1, {BRANDS}) b""",
    """INSERT INTO accounts (id, brand_id, platform, handle, display_name, region, status, two_factor_enabled,
                            needs_owner, credentials_rotation_required, version)
       SELECT md5('ix-a' || a)::uuid, md5('ix-b' || (1 + a % {BRANDS}))::uuid, 'weibo', 'ix' || a, 'a', 'cn',
              'active', true, false, false, 1
         FROM generate_series(1, {ACCOUNTS}) a""",
    # Accounts take turns over time (each account's posts spread over the whole period); one
    # post in 1,000 carries the rare label, a third the common one.
    """INSERT INTO posts (id, account_id, author_kind, author_id, source, status, revision, labels, review_round,
                         missed_schedule, version, publish_attempts, created_at)
       SELECT gen_random_uuid(), md5('ix-a' || (1 + g % ({ACCOUNTS})))::uuid, 'user',
              md5('ix-u' || (1 + g % 50))::uuid, 'api', 'draft', 1,
              CASE WHEN g % 1000 = 7 THEN ARRAY['rare'] WHEN g % 3 = 0 THEN ARRAY['common'] ELSE '{{}}' END::varchar[],
              0, false, 1, 0, now() - g * interval '1 minute'
         FROM generate_series(1, {POSTS}) g""",
    # Grants as offboarding leaves them: account grants by the hundred, a third revoked; brand
    # and organisation grants; granted by user 1, an organisation admin (the review subquery).
    """INSERT INTO access_grants (id, user_id, role, scope_kind, account_id, reason, granted_by_kind, granted_by_id,
                                  revoked_at)
       SELECT gen_random_uuid(), md5('ix-u' || (100 + i))::uuid,
              (ARRAY['viewer','contributor','approver'])[1 + (i + a) % 3], 'account', md5('ix-a' || a)::uuid,
              'seed', 'user', md5('ix-u1')::uuid, CASE WHEN i % 3 = 0 THEN now() END
         FROM generate_series(0, 149) i, generate_series(1, {ACCOUNTS}, 5) a""",
    """INSERT INTO access_grants (id, user_id, role, scope_kind, brand_id, reason, granted_by_kind, granted_by_id)
       SELECT gen_random_uuid(), md5('ix-u' || (260 + i))::uuid, (ARRAY['viewer','approver'])[1 + i % 2], 'brand',
              md5('ix-b' || b)::uuid, 'seed', 'user', md5('ix-u1')::uuid
         FROM generate_series(0, 19) i, generate_series(1, {BRANDS}) b""",
    """INSERT INTO access_grants (id, user_id, role, scope_kind, reason, granted_by_kind)
       SELECT gen_random_uuid(), md5('ix-u' || (1 + i))::uuid, (ARRAY['admin','approver','compliance'])[1 + i % 3],
              'organization', 'seed', 'system'
         FROM generate_series(0, 11) i""",
]


def _id(name: str) -> uuid.UUID:
    return uuid.UUID(hashlib.md5(name.encode()).hexdigest())


@pytest.fixture(scope="module")
async def seeded(databases) -> AsyncIterator:
    name, url = await databases.clone()
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            for sql in _SEED:
                await conn.execute(text(sql.format(BRANDS=BRANDS, ACCOUNTS=BRANDS * ACCOUNTS_PER_BRAND,
                                                   POSTS=BRANDS * ACCOUNTS_PER_BRAND * POSTS_PER_ACCOUNT)))
        async with engine.connect() as conn:
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(
                text("ANALYZE posts, accounts, access_grants, users, post_revisions"))
        yield engine
    finally:
        await engine.dispose()
        await databases.drop(name)


def _json(doc):
    return json.loads(doc) if isinstance(doc, str) else doc  # the app's connections decode json


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _reads(nodes: list[dict], table: str) -> set[str]:
    """The indexes of ``table`` the plan reads, and "Seq Scan" if it reads the table whole."""
    return ({n["Index Name"] for n in nodes if n.get("Index Name", "").startswith(("ix_" + table, "pk_" + table,
                                                                                      "uq_" + table))}
            | {"Seq Scan" for n in nodes if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == table})


async def _list_plan(engine, *, restricted: bool, brands: bool, **params) -> list[dict]:
    statement = posts._list_statement(restricted, brands, tuple(k for k in ("label",) if k in params),
                                      None, None, False)
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        doc = await raw.fetchval("EXPLAIN (FORMAT JSON) " + statement.sql,
                                 *[{**params, "limit": 51}[n] for n in statement.names])
    return list(_nodes(_json(doc)[0]["Plan"]))


async def _explain_what(engine, call) -> list[list[dict]]:
    """Run ``call(session)`` and EXPLAIN each statement it sent, with the same parameters."""
    sent: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not statement.startswith("EXPLAIN"):
            sent.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with AsyncSession(engine) as session:
            await call(session)
            plans = []
            for statement, parameters in sent:
                doc = (await (await session.connection()).exec_driver_sql(
                    "EXPLAIN (FORMAT JSON) " + statement, parameters)).scalar()
                plans.append(list(_nodes(_json(doc)[0]["Plan"])))
            await session.rollback()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    return plans


class TestPostsList:
    async def test_a_brand_wide_caller_reads_an_index_not_every_post(self, seeded):
        # A tenth of the posts: before 0010 a sequential scan of all of them and a sort.
        nodes = await _list_plan(seeded, restricted=True, brands=True, account_ids=[], brand_ids=[_id("ix-b1")])
        reads = _reads(nodes, "posts")
        assert "Seq Scan" not in reads and reads & {"ix_posts_created", "ix_posts_account_created"}, reads

    async def test_a_rare_label_is_found_through_the_gin_index(self, seeded):
        nodes = await _list_plan(seeded, restricted=True, brands=True, account_ids=[], brand_ids=[_id("ix-b1")],
                                 label="rare")
        assert "ix_posts_labels" in _reads(nodes, "posts"), _reads(nodes, "posts")

    async def test_a_common_label_walks_the_list_order(self, seeded):
        """A third of the posts carry it: the first page is found within the first rows in order."""
        nodes = await _list_plan(seeded, restricted=False, brands=False, label="common")
        assert _reads(nodes, "posts") == {"ix_posts_created"}, _reads(nodes, "posts")


class TestGrantHolders:
    async def test_each_arm_of_the_holder_lookup_has_its_live_grant_index(self, seeded):
        account = _id("ix-a6")  # has account grants (every fifth account from 1)
        plans = await _explain_what(seeded, lambda s: access.holders(
            s, ["approver"], ["approver", "publisher", "account_admin"], True, _id("ix-b7"), account))
        assert len(plans) == 1
        reads = _reads(plans[0], "access_grants")
        # Without 0010 the organisation arm (scope_kind = 'organization') matched no index: PG 18
        # skip-scanned uq_access_grants_live by role, PG 15-17 scanned every grant.
        assert reads == {"ix_access_grants_org_live", "ix_access_grants_brand_live",
                         "ix_access_grants_account_live"}, reads

    async def test_the_review_subqueries_read_indexes(self, seeded):
        """needs_review asks, per grant, whether its granter still holds authority over it."""
        plans = await _explain_what(seeded, lambda s: access.list_grants(
            s, user_id=None, account_id=_id("ix-a6"), brand_id=None, active=None, review=None, visible=None,
            require_training=True, after=None, limit=51))
        assert len(plans) == 1
        reads = _reads(plans[0], "access_grants")
        assert "Seq Scan" not in reads and "uq_access_grants_live" in reads, reads


async def test_a_caller_who_sees_a_few_accounts_reads_their_ranges(seeded):
    # account_id = ANY(:account_ids): each account's range of ix_posts_account_created; the
    # earlier shape (an IN (subquery) inside an OR) walked every post in created order.
    nodes = await _list_plan(seeded, restricted=True, brands=False, account_ids=[_id("ix-a1"), _id("ix-a2")])
    assert _reads(nodes, "posts") <= {"ix_posts_account_created"}, _reads(nodes, "posts")
