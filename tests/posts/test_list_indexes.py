"""The list's visibility and label filters, and grant holder lookups, use indexes (migration
0010): asserted on the plans PostgreSQL chooses for the real statements over realistic stats."""
from __future__ import annotations

import json
import uuid

from sqlalchemy import text

from app.posts import service


async def _seed(session) -> list[uuid.UUID]:
    await session.execute(text(
        "INSERT INTO brands (id, name, description, version)"
        " SELECT gen_random_uuid(), 'idx brand ' || b, '', 1 FROM generate_series(1, 20) b"))
    await session.execute(text(
        "INSERT INTO accounts (id, brand_id, platform, handle, display_name, region, status, two_factor_enabled,"
        "                      needs_owner, credentials_rotation_required, version)"
        " SELECT gen_random_uuid(), b.id, 'weibo', 'idx' || replace(b.name, ' ', '') || a, 'a', 'cn', 'active',"
        "        true, false, false, 1"
        "   FROM brands b CROSS JOIN generate_series(1, 10) a WHERE b.name LIKE 'idx brand %'"))
    accounts = list((await session.execute(text("SELECT id FROM accounts WHERE handle LIKE 'idx%'"))).scalars())
    await session.execute(text(
        "INSERT INTO posts (id, account_id, author_kind, author_id, source, status, revision, labels, review_round,"
        "                   missed_schedule, version, publish_attempts, created_at)"
        " SELECT gen_random_uuid(), a.id, 'user', gen_random_uuid(), 'api', 'draft', 1,"
        "        CASE WHEN (a.k * 100 + n) % 500 = 0 THEN ARRAY['rare'] ELSE ARRAY['common'] END, 0, false, 1, 0,"
        "        now() - (a.k * 100 + n) * interval '1 s'"
        "   FROM (SELECT id, row_number() OVER () AS k FROM accounts WHERE handle LIKE 'idx%') a"
        "  CROSS JOIN generate_series(1, 100) n"))
    await session.execute(text(
        "INSERT INTO post_revisions (post_id, number, body, media, labels, content_hash, created_by_kind)"
        " SELECT id, 1, 'x', '{}', labels, repeat('0', 64), 'user' FROM posts"))
    for table in ("posts", "post_revisions", "accounts"):
        await session.execute(text(f"ANALYZE {table}"))
    return accounts


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


async def _plan(session, statement, **params) -> list[dict]:
    raw = (await session.connection()).sync_connection.connection.driver_connection
    args = [params[n] for n in statement.names]
    doc = await raw.fetchval("EXPLAIN (FORMAT JSON) " + statement.sql, *args)
    doc = json.loads(doc) if isinstance(doc, str) else doc
    return list(_nodes(doc[0]["Plan"]))


def _posts_scans(nodes) -> set[str]:
    """The indexes of posts the plan reads (bitmap index scans name no relation), and "Seq Scan"
    if it reads the table whole."""
    return {n["Index Name"] for n in nodes if n.get("Index Name", "").startswith(("ix_posts", "pk_posts"))} | {
        "Seq Scan" for n in nodes if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "posts"}


async def test_a_caller_who_sees_a_few_accounts_reads_their_ranges(session):
    accounts = await _seed(session)
    statement = service._list_statement(True, False, (), None, None, False)
    nodes = await _plan(session, statement, account_ids=accounts[:2], limit=51)
    assert _posts_scans(nodes) <= {"ix_posts_account_created"}, _posts_scans(nodes)


async def test_the_label_filter_uses_the_gin_index(session):
    await _seed(session)
    statement = service._list_statement(False, False, ("label",), None, None, False)
    nodes = await _plan(session, statement, label="rare", limit=51)
    assert "ix_posts_labels" in _posts_scans(nodes), _posts_scans(nodes)


async def test_grant_holder_lookups_use_the_live_grant_indexes(session):
    accounts = await _seed(session)
    await session.execute(text(
        "INSERT INTO users (id, email, display_name, kind, status, training_valid_until, version)"
        " SELECT gen_random_uuid(), 'idx' || n || '@example.com', 'u', 'employee', 'active', current_date + 1, 1"
        "  FROM generate_series(1, 300) n"))
    await session.execute(text(
        "INSERT INTO access_grants (id, user_id, role, scope_kind, account_id, reason, granted_by_kind)"
        " SELECT gen_random_uuid(), u.id, 'approver', 'account', a.id, 'seed', 'system'"
        "   FROM (SELECT id FROM users WHERE email LIKE 'idx%') u"
        "  CROSS JOIN LATERAL (SELECT id FROM accounts WHERE handle LIKE 'idx%' ORDER BY random() LIMIT 20) a"))
    for table in ("access_grants", "users"):
        await session.execute(text(f"ANALYZE {table}"))
    brand = (await session.execute(text("SELECT brand_id FROM accounts WHERE id = :a"), {"a": accounts[0]})).scalar()
    plan = (await session.execute(text(
        "EXPLAIN (FORMAT JSON) SELECT DISTINCT g.user_id FROM access_grants g JOIN users u ON u.id = g.user_id"
        " WHERE g.revoked_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > now()) AND u.status = 'active'"
        "   AND g.role IN ('approver') AND (g.scope_kind = 'organization' OR g.brand_id = :b OR g.account_id = :a)"),
        {"a": accounts[0], "b": brand})).scalar()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    used = {n.get("Index Name") for n in _nodes(plan[0]["Plan"]) if n.get("Index Name")}
    assert used & {"ix_access_grants_account_live", "ix_access_grants_account_id"} and not any(
        n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "access_grants" for n in _nodes(plan[0]["Plan"]))
