"""Crisis freeze at scale: declare an organisation-wide crisis over N scheduled posts, then resolve.

    .venv/bin/python bench/freeze.py [--posts 100000] [--accounts 1000] [--runs 3] [--fresh] [--explain]

Uses DATABASE_URL's server when set (creates and drops its own database there), else an
embedded PostgreSQL in a temporary directory. Each run calls the real service functions
(app.crises.service.declare, then resolve with ``resume``) in one transaction each, as the
bootstrap admin, and times the call and the commit separately. Between runs the same posts
are frozen again after a VACUUM ANALYZE (``--fresh``: a new database and a new seed per run).
Target: declare <= 1 s for 100,000 posts.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

# bench/http.py is named like the standard library's ``http``: this folder goes last on the path
# (not first, where running a script puts it), so ``import http`` finds the standard library and
# ``import _common`` still finds ours.
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH] + [str(_BENCH)]

from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession  # noqa: E402

import _common as c  # noqa: E402
from app.crises import service as crises  # noqa: E402
from app.db import create_engine  # noqa: E402

TARGET_DECLARE_S = 1.0


def _declaration() -> crises.Declaration:
    return crises.Declaration(severity=3, scope_kind="organization", brand_ids=[], account_ids=[],
                              reason="bench: organisation-wide freeze", responders=[], starts_at=None, ends_at=None)


async def _count(engine, sql: str, **params) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(sql), params)).scalar())


async def _wal_position(engine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_current_wal_insert_lsn()"))).scalar())


async def _wal_since(engine, lsn: int) -> int:
    """WAL written since ``lsn`` (the bench database is alone on its server, but not the only
    writer: autovacuum and checkpoints count too)."""
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), CAST(:l AS pg_lsn))"),
                                       {"l": lsn})).scalar())


async def _hot_updates(session: AsyncSession) -> tuple[int, int]:
    """This transaction's updates of posts so far: (HOT, all). HOT = in place, no index entries."""
    row = (await session.execute(text(
        "SELECT pg_stat_get_xact_tuples_hot_updated('posts'::regclass),"
        " pg_stat_get_xact_tuples_updated('posts'::regclass)"))).one()
    return int(row[0]), int(row[1])


async def one_run(engine, log: c.StatementLog, principal, n_posts: int) -> dict:
    r: dict = {}
    # --- declare: one transaction, as the route runs it -------------------------------------
    lsn = await _wal_position(engine)
    async with AsyncSession(engine, expire_on_commit=False, autoflush=False) as session:
        with log.recording() as entries:
            t0 = time.perf_counter()
            crisis, in_flight = await crises.declare(session, principal, _declaration())
            t1 = time.perf_counter()
            declare_entries = list(entries)
            r["hot"], r["updated"] = await _hot_updates(session)
            t1b = time.perf_counter()
            await session.commit()
            t2 = time.perf_counter()
        r["declare_s"], r["declare_commit_s"] = t1 - t0, t2 - t1b
        r["declare_statements"] = len(declare_entries)
        r["declare_entries"] = [(" ".join(e[0].split())[:90], e[2]) for e in declare_entries]
        slow = max(declare_entries, key=lambda e: e[2])
        r["freeze_stmt_s"], r["freeze_stmt"] = slow[2], (slow[0], slow[1])
        r["paused_returned"] = crisis.paused_count
        r["in_flight"] = len(in_flight)
    r["declare_wal"] = await _wal_since(engine, lsn)
    cid = str(crisis.id)
    r["paused_counted"] = await _count(
        engine, "SELECT count(*) FROM posts WHERE status = 'paused' AND paused_by_crisis_id = CAST(:c AS uuid)", c=cid)
    r["paused_audit"] = await _count(
        engine, "SELECT coalesce(sum(jsonb_array_length(after->'subject_ids')), 0) FROM audit_records"
        " WHERE action = 'posts.paused' AND correlation_id = :c", c=cid)
    # --- resolve (resume): every slot is still ahead, so every post goes back to scheduled -----
    async with AsyncSession(engine, expire_on_commit=False, autoflush=False) as session:
        with log.recording() as entries:
            t0 = time.perf_counter()
            _, counts = await crises.resolve(session, principal, crisis.id, "resume", "bench: resume")
            t1 = time.perf_counter()
            await session.commit()
            t2 = time.perf_counter()
        r["resolve_s"], r["resolve_commit_s"] = t1 - t0, t2 - t1
        r["resolve_statements"] = len(entries)
        r["release_stmt_s"] = max(e[2] for e in entries)
        r["resumed_returned"] = counts.get("resumed", 0)
        r["unscheduled_returned"] = counts.get("unscheduled", 0)
    r["scheduled_counted"] = await _count(
        engine, "SELECT count(*) FROM posts WHERE status = 'scheduled' AND paused_by_crisis_id IS NULL")
    r["released_audit"] = await _count(
        engine, "SELECT coalesce(sum(jsonb_array_length(after->'subject_ids')), 0) FROM audit_records"
        " WHERE action = 'posts.released' AND correlation_id = :c", c=cid)
    r["ok"] = (r["paused_counted"] == n_posts == r["paused_returned"] == r["paused_audit"]
               and r["scheduled_counted"] == n_posts == r["resumed_returned"] == r["released_audit"])
    return r


def _ms(x: float) -> str:
    return f"{x * 1000:6.0f} ms"


def _print_run(i: int, r: dict, statements: bool = False) -> None:
    if statements:
        for sql, seconds in r["declare_entries"]:
            print(f"    {seconds * 1000:8.1f} ms  {sql}")
    print(f"run {i}: declare {_ms(r['declare_s'])} (freeze statement {_ms(r['freeze_stmt_s']).strip()})"
          f" + commit {_ms(r['declare_commit_s']).strip()}, {r['declare_statements']} statements,"
          f" paused {r['paused_returned']} (counted {r['paused_counted']}), audit rows {r['paused_audit']},"
          f" in flight {r['in_flight']}, HOT updates {r['hot']} of {r['updated']},"
          f" WAL {r['declare_wal'] / 2**20:.0f} MB")
    print(f"       resolve {_ms(r['resolve_s'])} (release statement {_ms(r['release_stmt_s']).strip()})"
          f" + commit {_ms(r['resolve_commit_s']).strip()}, {r['resolve_statements']} statements,"
          f" resumed {r['resumed_returned']} (counted {r['scheduled_counted']}),"
          f" unscheduled {r['unscheduled_returned']}, audit rows {r['released_audit']}"
          f"{'' if r['ok'] else '   <-- COUNTS DO NOT MATCH'}", flush=True)


async def explain(engine, stmt: str, params) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) the freeze statement exactly as the last run sent it; rolled back."""
    async with engine.connect() as conn:
        trans = await conn.begin()
        rows = await conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + stmt, tuple(params))
        print("\nEXPLAIN (ANALYZE, BUFFERS) of the freeze statement (rolled back):")
        for (line,) in rows.all():
            print("  " + line)
        await trans.rollback()


async def _now_plus_hour(engine):
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT now() + interval '1 hour'"))).scalar_one()


class Bench:
    """One bench database: migrated, seeded, with the bootstrap admin as the declaring principal."""

    def __init__(self, server_url: str, args) -> None:
        self.server_url, self.args = server_url, args
        self.name = self.engine = self.principal = None

    async def __aenter__(self) -> Bench:
        a = self.args
        t = time.perf_counter()
        self.name, url = await c.fresh_database(self.server_url, "sgv_bench_freeze")
        self.engine = create_engine(url, pool_size=2, max_overflow=2)
        self.principal = await c.bootstrap_admin_principal(self.engine)
        brands = max(1, a.accounts // 10)
        await c.seed_accounts(self.engine, a.accounts, brands)
        await c.seed_posts(self.engine, a.posts, a.accounts, await _now_plus_hour(self.engine), a.step)
        await c.vacuum_analyze(self.engine)
        print(f"database {self.name}: {a.posts} scheduled posts (slots every {a.step:g} s from now + 1 h) across"
              f" {a.accounts} accounts / {brands} brands / {c.USERS} authors, ready in {time.perf_counter() - t:.1f} s",
              flush=True)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.engine.dispose()
        if self.args.keep:
            print(f"kept database {self.name}")
        else:
            await c.drop_database(self.server_url, self.name)


async def main(args) -> int:
    with c.server() as (server_url, where):
        results: list[dict] = []
        last_stmt = None
        if args.fresh:
            for i in range(1, args.runs + 1):
                async with Bench(server_url, args) as b:
                    if i == 1:
                        await _print_server(b.engine, where)
                    r = await one_run(b.engine, c.StatementLog(b.engine), b.principal, args.posts)
                    _print_run(i, r, args.statements)
                    results.append(r)
                    if args.explain and i == args.runs:
                        await explain(b.engine, *r["freeze_stmt"])
        else:
            async with Bench(server_url, args) as b:
                await _print_server(b.engine, where)
                log = c.StatementLog(b.engine)
                for i in range(1, args.runs + 1):
                    if i > 1:
                        await c.vacuum_analyze(b.engine, "posts", "audit_records", "crises")
                    r = await one_run(b.engine, log, b.principal, args.posts)
                    _print_run(i, r, args.statements)
                    results.append(r)
                last_stmt = results[-1]["freeze_stmt"]
                print()
                _summary(results, args.posts)
                if args.explain:
                    await c.vacuum_analyze(b.engine, "posts", "audit_records", "crises")
                    await explain(b.engine, *last_stmt)
                return 0 if all(r["ok"] for r in results) else 1
        print()
        _summary(results, args.posts)
        return 0 if all(r["ok"] for r in results) else 1


async def _print_server(engine, where: str) -> None:
    print(f"server: {where}, PostgreSQL {await c.server_version(engine)}; calibration: sum over 5M integers"
          f" {await c.calibrate(engine):.0f} ms; {c.load()}; code {c.code_version()}", flush=True)


def _summary(results: list[dict], n: int) -> None:
    def col(k):
        return [r[k] for r in results]

    d = col("declare_s")
    print(f"median of {len(results)} runs, {n} posts:")
    print(f"  declare {_ms(c.median(d))} ({c.spread([x * 1000 for x in d])} ms);"
          f" freeze statement {_ms(c.median(col('freeze_stmt_s'))).strip()};"
          f" commit {_ms(c.median(col('declare_commit_s'))).strip()};"
          f" {int(c.median(col('declare_statements')))} statements")
    rs = col("resolve_s")
    print(f"  resolve {_ms(c.median(rs))} ({c.spread([x * 1000 for x in rs])} ms);"
          f" release statement {_ms(c.median(col('release_stmt_s'))).strip()};"
          f" commit {_ms(c.median(col('resolve_commit_s'))).strip()};"
          f" {int(c.median(col('resolve_statements')))} statements")
    print(f"  paused = counted = audit rows = released = {n} in every run:"
          f" {'yes' if all(r['ok'] for r in results) else 'NO'}")
    verdict = "meets" if c.median(d) <= TARGET_DECLARE_S else "MISSES"
    print(f"  declare {verdict} the {TARGET_DECLARE_S:g} s target: {c.median(d) / TARGET_DECLARE_S:.2f}x the target,"
          f" {c.median(d) / n * 1e6:.1f} us per post; {c.load()}", flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--posts", type=int, default=100_000)
    p.add_argument("--accounts", type=int, default=1_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--step", type=float, default=5.0, help="seconds between scheduled slots (default 5)")
    p.add_argument("--fresh", action="store_true", help="a new database and seed for every run (else re-freeze)")
    p.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the freeze statement at the end")
    p.add_argument("--keep", action="store_true", help="keep the bench database(s)")
    p.add_argument("--statements", action="store_true", help="print every statement of each declare with its time")
    sys.exit(asyncio.run(main(p.parse_args())))
