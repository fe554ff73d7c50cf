"""socialgov over HTTP against its bare twin (bench/twin.py): the yardstick of the hot paths.

    make bench-http
    .venv/bin/python bench/http.py [--rounds 5] [--seconds 2] [--concurrency 8] [--burst 20]

Uses DATABASE_URL's server when set (its database is only used to CREATE/DROP the bench
database), else an embedded PostgreSQL in a temporary directory. It:

1. creates a migrated database and seeds it with set-based SQL: 10 brands, 200 accounts, 50
   authors, 20,000 scheduled posts and 40,000 posts in review (each with the content hash the
   service computes; those in review with the built-in approver stage, on brand 2), a reader
   (viewer of account 10), an approver (approver of brand 2, never the author), a crisis lead,
   one active crisis over account 10, and leavers (200 grants and a token each); then the
   bootstrap admin (``app.bootstrap.bootstrap_admin``) and one token per role
   (``app.tokens.service.create_token`` as SYSTEM);
2. starts ``socialgov serve`` and the twin (FastAPI + raw asyncpg, the same uvicorn
   settings) as processes on that database, each pinned to core 0 with ``taskset`` and the
   load generator (this process) to core 1 (PostgreSQL is not pinned);
3. checks that both answer the same (same fields and values, the same rows and audit records
   written by an approve and an offboarding) and measures the load generator alone against
   the twin's ``/ping``;
4. runs each scenario on socialgov then on the twin, scenario after scenario, ``--rounds``
   times: ``--seconds`` of load (after ``--warmup``) from ``--concurrency`` keep-alive
   HTTP/1.1 connections (raw asyncio, one request in flight per connection); offboarding is
   ``--burst`` requests at once (a fresh user with 200 grants each). After each run that
   wrote audit records it waits until socialgov's in-process sealer has sealed them all
   (the twin's records too: one table), so no run pays for the one before;
5. counts round trips afterwards: a second instance of each server connects through a proxy
   here that counts PostgreSQL protocol messages (each Sync or simple Query is answered by
   one ReadyForQuery: one round trip), for requests sent one at a time;
6. prints the medians over rounds (req/s, p50/p99 latency, server and PostgreSQL CPU per
   request, round trips and statements per request, socialgov/twin ratio) and the RSS of
   both servers; stops them and drops the database, also on Ctrl-C or failure.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import math
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

# This file is named like the standard library's ``http``: its folder must not be on the path,
# or ``import http`` (httpx, starlette, app.errors) would find it. _common is loaded by path.
BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]

import importlib.util  # noqa: E402

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession  # noqa: E402

_spec = importlib.util.spec_from_file_location("_common", BENCH / "_common.py")
c = importlib.util.module_from_spec(_spec)
sys.modules["_common"] = c
_spec.loader.exec_module(c)

from app.db import create_engine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")
BRANDS, ACCOUNTS, SCHEDULED = 10, 200, 20_000
GRANTS_PER_LEAVER = 200  # one viewer grant on each of 200 accounts
# The reader is a viewer of one account (100 scheduled posts): its first page is a range of the
# index (account_id, created_at, id), so the list measures the services, not PostgreSQL sorting
# the posts of a whole brand (a brand-wide viewer's list scans posts: README, bench/README.md).
READ_ACCOUNT = "md5('bench-account-10')::uuid"
B2 = "md5('bench-brand-2')::uuid"  # brand 2 (accounts 1, 11, ... 191): the posts in review
REVIEW_STAGES = json.dumps([{"index": 0, "name": "review", "when": "always", "role": "approver", "min_approvals": 1}])

# --- seeding (set-based; ids derived with md5 like bench/_common.py) ------------------------------

_PEOPLE = text("""
INSERT INTO users (id, email, display_name, kind, status, training_valid_until, version)
SELECT md5('bench-http-' || n)::uuid, 'bench-http-' || n || '@example.com', 'Bench ' || n, 'employee', 'active',
       current_date + 365, 1
  FROM unnest(CAST(:names AS text[])) n
""")

_ROLE_GRANTS = text(f"""
INSERT INTO access_grants (id, user_id, role, scope_kind, brand_id, account_id, reason, granted_by_kind)
VALUES (gen_random_uuid(), md5('bench-http-reader')::uuid, 'viewer', 'account', NULL, {READ_ACCOUNT}, 'bench', 'system'),
       (gen_random_uuid(), md5('bench-http-approver')::uuid, 'approver', 'brand', {B2}, NULL, 'bench', 'system'),
       (gen_random_uuid(), md5('bench-http-lead')::uuid, 'crisis_lead', 'organization', NULL, NULL, 'bench', 'system')
""")

_LEAVER_GRANTS = text("""
INSERT INTO access_grants (id, user_id, role, scope_kind, account_id, reason, granted_by_kind)
SELECT gen_random_uuid(), md5('bench-http-leaver-' || i)::uuid, 'viewer', 'account',
       md5('bench-account-' || a)::uuid, 'bench: a leaver', 'system'
  FROM generate_series(0, :leavers - 1) i, generate_series(1, :grants) a
""")

_LEAVER_TOKENS = text("""
INSERT INTO api_tokens (id, prefix, token_hash, name, user_id, scopes, created_by_kind)
SELECT gen_random_uuid(), 'sgv_leaver', encode(sha256(convert_to(gen_random_uuid()::text, 'UTF8')), 'hex'),
       'bench leaver', md5('bench-http-leaver-' || i)::uuid, ARRAY['posts:read'], 'system'
  FROM generate_series(0, :leavers - 1) i
""")

# Posts in review on brand 2's accounts (a % brands = 1: none is the reader's), by the seeded
# authors, revision 1 with the built-in approver stage and its content hash as
# app/posts/service.content_hash computes it (the expression of bench/_common.py's _POSTS).
_REVIEW_POSTS = text("""
WITH src AS MATERIALIZED (
    SELECT id, g, account_id, body, labels, link,
           {CONTENT_HASH} AS content_hash
      FROM (SELECT gen_random_uuid() AS id, g,
                   md5('bench-account-' || (CAST(:brands AS int) * (g % CAST(:per_brand AS int)) + 1))::uuid AS account_id,
                   'Bench post in review ' || g || ': our quarterly update for followers. #socialgov' AS body,
                   CASE g % 3 WHEN 0 THEN ARRAY[]::varchar[] WHEN 1 THEN ARRAY['campaign']::varchar[]
                              ELSE ARRAY['product', 'launch-' || (g % 50)]::varchar[] END AS labels,
                   'https://example.com/r/' || g AS link
              FROM generate_series(1, :posts) g) made
), p AS (
    INSERT INTO posts (id, account_id, author_kind, author_id, source, status, revision, labels, scheduled_at,
                       review_round, risk, missed_schedule, version, publish_attempts)
    SELECT id, account_id, 'user', md5('bench-user-' || (1 + g % :users))::uuid, 'api', 'in_review', 1, labels,
           NULL, 1, 'none', false, 1, 0
      FROM src
    RETURNING id
)
INSERT INTO post_revisions (post_id, number, body, link, media, labels, content_hash, findings, risk, stages,
                            submitted_at, created_by_kind, created_by_id)
SELECT s.id, 1, s.body, s.link, '{}', s.labels, s.content_hash, '[]'::jsonb, 'none', CAST(:stages AS jsonb), now(),
       'user', md5('bench-user-' || (1 + s.g % :users))::uuid
  FROM src s
""".replace("{CONTENT_HASH}", c.CONTENT_HASH))

_CRISIS = text("""
INSERT INTO crises (id, severity, scope_kind, brand_ids, account_ids, reason, responders, status, declared_by_kind,
                    activated_at, paused_count, version)
VALUES (md5('bench-http-crisis')::uuid, 2, 'accounts', '{}', ARRAY[md5('bench-account-10')::uuid],
        'bench: a crisis over the account the reader sees', '{}', 'active', 'system', now(), 0, 1)
""")


@dataclass
class Seed:
    admin: str = ""
    reader: str = ""
    approver: str = ""
    lead: str = ""
    read_ids: list[str] = field(default_factory=list)
    review_ids: collections.deque = field(default_factory=collections.deque)
    leavers: collections.deque = field(default_factory=collections.deque)
    dry_run_account: str = ""


async def seed(engine, args, leavers: int) -> Seed:
    from app.bootstrap import bootstrap_admin
    from app.security import SYSTEM, Scope
    from app.tokens.service import create_token

    s = Seed()
    await c.seed_accounts(engine, ACCOUNTS, BRANDS)
    async with engine.begin() as conn:
        names = ["reader", "approver", "lead"] + [f"leaver-{i}" for i in range(leavers)]
        await conn.execute(_PEOPLE, {"names": names})
        await conn.execute(_ROLE_GRANTS)
        await conn.execute(_LEAVER_GRANTS, {"leavers": leavers, "grants": GRANTS_PER_LEAVER})
        await conn.execute(_LEAVER_TOKENS, {"leavers": leavers})
        await conn.execute(_CRISIS)
        start = (await conn.execute(text("SELECT now() + interval '1 hour'"))).scalar_one()
    await c.seed_posts(engine, SCHEDULED, ACCOUNTS, start, 5.0)  # 100 per account, slots every 5 s from now + 1 h
    async with engine.begin() as conn:
        await conn.execute(_REVIEW_POSTS, {"posts": args.review_posts, "brands": BRANDS, "per_brand": ACCOUNTS // BRANDS,
                                           "users": c.USERS, "stages": REVIEW_STAGES})
    async with AsyncSession(engine, expire_on_commit=False) as session:
        s.admin = await bootstrap_admin(session)

        async def token(name: str, scopes) -> str:
            user_id = (await session.execute(text(f"SELECT md5('bench-http-{name}')::uuid"))).scalar_one()
            return (await create_token(session, SYSTEM, user_id=user_id, service_name=None, scopes=scopes,
                                       name=f"bench {name}")).secret

        s.reader = await token("reader", [Scope.posts_read])
        s.approver = await token("approver", [Scope.posts_write])
        s.lead = await token("lead", [Scope.crisis_declare])
        await session.commit()
    async with engine.connect() as conn:
        s.read_ids = [str(x) for x in (await conn.execute(text(
            f"SELECT id FROM posts WHERE account_id = {READ_ACCOUNT} AND status = 'scheduled' ORDER BY id"))).scalars()]
        s.review_ids = collections.deque(str(x) for x in (await conn.execute(text(
            "SELECT id FROM posts WHERE status = 'in_review' ORDER BY id"))).scalars())
        s.leavers = collections.deque(str(x) for x in (await conn.execute(text(
            "SELECT md5('bench-http-leaver-' || i)::uuid FROM generate_series(0, :n - 1) i ORDER BY i"),
            {"n": leavers})).scalars())
        s.dry_run_account = str((await conn.execute(text("SELECT md5('bench-account-10')::uuid"))).scalar_one())
    await c.vacuum_analyze(engine)
    return s


# --- the two servers ---------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _proc_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def _rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out.get("VmRSS", math.nan), out.get("VmHWM", math.nan)


class Server:
    """``socialgov serve`` or the twin, as a process on the bench database, pinned to a core."""

    def __init__(self, label: str, kind: str, url: str, core: int | None, logdir: str, env: dict | None = None,
                 log_level: str | None = None) -> None:
        self.label, self.kind, self.url, self.core = label, kind, url, core
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.extra_env = env or {}
        self.log_level = log_level
        self.log_path = Path(logdir) / f"{label.replace(' ', '-')}.log"
        self.proc: subprocess.Popen | None = None
        self.application_name = "socialgov" if kind == "socialgov" else "sgv-twin"
        self.health = "/healthz" if kind == "socialgov" else "/ping"

    def command(self) -> list[str]:
        if self.kind == "socialgov":
            cmd = [str(ROOT / ".venv" / "bin" / "socialgov"), "serve", "--port", str(self.port)]
        else:
            cmd = [sys.executable, str(ROOT / "bench" / "twin.py"), "--port", str(self.port)]
        if self.core is not None:
            cmd = ["taskset", "-c", str(self.core), *cmd]
        return cmd

    async def start(self) -> None:
        env = {**os.environ, "DATABASE_URL": self.url, **self.extra_env}
        if self.log_level:
            env["SOCIALGOV_LOG_LEVEL"] = self.log_level
        self.log = open(self.log_path, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(self.command(), cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.label} exited with {self.proc.returncode}; its log: {self.log_path}")
                try:
                    if (await client.get(self.base + self.health)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.label} did not answer {self.health}; its log: {self.log_path}")

    def cpu(self) -> float:
        cpu = _proc_cpu(self.proc.pid)
        return math.nan if cpu is None else cpu

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after 30 s. Waits without blocking the event loop: the counted
        instances close their database connections through the proxy that runs in it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 30
            while self.proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()


class Backends:
    """CPU of the PostgreSQL backends serving one server (by application_name), from /proc:
    the database is on this machine. A backend that starts during a run counts from zero; one
    that exits before its end (SQLAlchemy's overflow connections in a burst) is not counted."""

    def __init__(self, monitor: asyncpg.Connection) -> None:
        self.monitor = monitor

    async def sample(self, application_name: str) -> dict[int, float]:
        pids = await self.monitor.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
            application_name)
        return {r["pid"]: cpu for r in pids if (cpu := _proc_cpu(r["pid"])) is not None}

    @staticmethod
    def delta(before: dict[int, float], after: dict[int, float]) -> float:
        return sum(v - before.get(pid, 0.0) for pid, v in after.items())


# --- the load generator: raw asyncio HTTP/1.1, one request in flight per keep-alive connection --------

class _Conn(asyncio.Protocol):
    def __init__(self, run: Run) -> None:
        self.run = run
        self.buf = bytearray()
        self.need: int | None = None
        self.body_at = 0
        self.status = 0
        self.t0 = 0.0
        self.busy = False
        self.transport: asyncio.Transport | None = None
        self.lost = run.loop.create_future()

    def connection_made(self, transport) -> None:
        self.transport = transport
        with contextlib.suppress(OSError):
            transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)
        if self.busy:
            self.busy = False
            self.run.failed(self, exc or ConnectionError("connection closed"))

    def fire(self) -> bool:
        request = None if self.run.stopping else self.run.make()
        if request is None:
            self.run.exhausted |= not self.run.stopping
            self.busy = False
            self.run.idle(self)
            return False
        self.busy = True
        self.t0 = time.perf_counter()
        self.transport.write(request)
        return True

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.need is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).lower()
            self.status = int(head[9:12])
            i = head.find(b"\r\ncontent-length:")
            if i < 0:
                self.run.failed(self, ValueError("response without content-length"))
                return
            j = head.find(b"\r\n", i + 17)
            self.body_at = end + 4
            self.need = self.body_at + int(head[i + 17:j if j >= 0 else None])
        if len(self.buf) < self.need:
            return
        body = bytes(self.buf[self.body_at:self.need])
        del self.buf[:self.need]
        self.need = None
        self.busy = False
        self.run.completed(self, self.status, time.perf_counter() - self.t0, body)
        if self.run.repeat:
            self.fire()
        else:
            self.run.idle(self)


class Run:
    """``conns`` connections, each sending ``make()``'s next request as soon as it has the
    answer to its last (``repeat``), until told to stop or ``make()`` returns None."""

    def __init__(self, port: int, make, conns: int, repeat: bool = True) -> None:
        self.port, self.make, self.n, self.repeat = port, make, conns, repeat
        self.loop = asyncio.get_running_loop()
        self.conns: list[_Conn] = []
        self.measuring = self.stopping = self.exhausted = False
        self.latencies: list[float] = []
        self.statuses: collections.Counter[int] = collections.Counter()
        self.first_error: str | None = None
        self.bad = 0  # non-2xx answers and transport failures, measured or not
        self.idle_count = 0
        self.all_idle = self.loop.create_future()

    async def connect(self) -> None:
        for _ in range(self.n):
            _, proto = await self.loop.create_connection(lambda: _Conn(self), "127.0.0.1", self.port)
            self.conns.append(proto)

    def completed(self, conn: _Conn, status: int, seconds: float, body: bytes) -> None:
        if self.measuring:
            self.latencies.append(seconds)
            self.statuses[status] += 1
        if not 200 <= status < 300:
            self.bad += 1
            if self.first_error is None:
                self.first_error = f"{status} {body[:300].decode(errors='replace')}"

    def failed(self, conn: _Conn, exc: BaseException) -> None:
        self.bad += 1
        if self.first_error is None:
            self.first_error = f"transport: {exc!r}"
        self.idle(conn)

    def idle(self, conn: _Conn) -> None:
        self.idle_count += 1
        if self.idle_count >= self.n and not self.all_idle.done():
            self.all_idle.set_result(None)

    def start(self) -> None:
        for conn in self.conns:
            conn.fire()

    async def close(self) -> None:
        for conn in self.conns:
            conn.transport.close()
        await asyncio.gather(*(conn.lost for conn in self.conns))


@dataclass
class Sample:
    """One measured run of one variant of one scenario."""
    requests: int
    seconds: float
    latencies: list[float]
    server_cpu: float
    db_cpu: float
    gen_cpu: float
    errors: int
    first_error: str | None
    exhausted: bool = False
    sessions: int = 0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else math.nan

    def pct(self, q: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, max(0, math.ceil(q * len(xs)) - 1))] if xs else math.nan

    def per_request(self, seconds: float) -> float:
        return seconds / self.requests * 1e6 if self.requests else math.nan


async def drain_audit(monitor: asyncpg.Connection, sealer: Server, timeout: float = 60) -> tuple[int, float]:
    """Wait until socialgov's in-process sealer has sealed every audit record (the twin's too:
    they share the table), so that no run pays for the records of the one before. Returns
    (records sealed, socialgov's CPU seconds meanwhile)."""
    first = n = int(await monitor.fetchval("SELECT count(*) FROM audit_records WHERE seq IS NULL"))
    cpu0 = sealer.cpu()
    deadline = time.monotonic() + timeout
    while n and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        n = int(await monitor.fetchval("SELECT count(*) FROM audit_records WHERE seq IS NULL"))
    if n:
        raise RuntimeError(f"socialgov's sealer left {n} audit records unsealed after {timeout:.0f} s")
    return first, sealer.cpu() - cpu0


def _gen_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def _sessions(monitor: asyncpg.Connection) -> int:
    return int(await monitor.fetchval("SELECT sessions FROM pg_stat_database WHERE datname = current_database()"))


async def measure(server: Server, backends: Backends, make, conns: int, warmup: float, seconds: float) -> Sample:
    """Steady load: connect, warm up, then count the answers that arrive within ``seconds``."""
    run = Run(server.port, make, conns)
    await run.connect()
    try:
        run.start()
        await asyncio.wait([run.all_idle], timeout=warmup)
        db0, cpu0, gen0 = await backends.sample(server.application_name), server.cpu(), _gen_cpu()
        t0 = time.perf_counter()
        run.measuring = True
        await asyncio.wait([run.all_idle], timeout=seconds)
        run.measuring = False
        t1 = time.perf_counter()
        cpu1, gen1 = server.cpu(), _gen_cpu()
        exhausted = run.exhausted
        db1 = await backends.sample(server.application_name)
        run.stopping = True
        await asyncio.wait([run.all_idle], timeout=30)
    finally:
        await run.close()
    n = sum(v for k, v in run.statuses.items() if 200 <= k < 300)
    return Sample(n, t1 - t0, run.latencies, cpu1 - cpu0, Backends.delta(db0, db1), gen1 - gen0, run.bad,
                  run.first_error, exhausted=exhausted)


async def burst(server: Server, backends: Backends, make, n: int, monitor: asyncpg.Connection) -> Sample:
    """``n`` requests at once, one per connection (connected beforehand)."""
    run = Run(server.port, make, n, repeat=False)
    await run.connect()
    try:
        db0, cpu0, gen0, s0 = (await backends.sample(server.application_name), server.cpu(), _gen_cpu(),
                               await _sessions(monitor))
        run.measuring = True
        t0 = time.perf_counter()
        run.start()
        await asyncio.wait([run.all_idle], timeout=120)
        t1 = time.perf_counter()
        run.measuring = False
        cpu1, gen1 = server.cpu(), _gen_cpu()
        db1, s1 = await backends.sample(server.application_name), await _sessions(monitor)
    finally:
        await run.close()
    ok = sum(v for k, v in run.statuses.items() if 200 <= k < 300)
    return Sample(ok, t1 - t0, run.latencies, cpu1 - cpu0, Backends.delta(db0, db1), gen1 - gen0, run.bad,
                  run.first_error, sessions=s1 - s0)


# --- scenarios -----------------------------------------------------------------------------------------

def _request(method: str, path: str, port: int, token: str | None, body: bytes | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


@dataclass
class Scenario:
    key: str
    title: str
    maker: object  # (seed, server) -> make() callable
    kind: str = "steady"  # steady | burst


def _cycle(items: list[bytes]):
    i = 0

    def make() -> bytes:
        nonlocal i
        i += 1
        return items[i % len(items)]
    return make


def _read(s: Seed, srv: Server):
    return _cycle([_request("GET", f"/v1/posts/{pid}", srv.port, s.reader) for pid in s.read_ids])


def _list(s: Seed, srv: Server):
    return _cycle([_request("GET", "/v1/posts?limit=50", srv.port, s.reader)])


def _approve(s: Seed, srv: Server):
    body = json.dumps({"revision": 1}).encode()

    def make() -> bytes | None:
        if not s.review_ids:
            return None
        return _request("POST", f"/v1/posts/{s.review_ids.popleft()}/approve", srv.port, s.approver, body)
    return make


def _dry_run(s: Seed, srv: Server):
    body = json.dumps({"severity": 2, "scope": {"account_ids": [s.dry_run_account]},
                       "reason": "bench: what would pause"}).encode()
    return _cycle([_request("POST", "/v1/crises?dry_run=true", srv.port, s.lead, body)])


def _health(s: Seed, srv: Server):
    return _cycle([_request("GET", srv.health, srv.port, None)])


def _offboard(s: Seed, srv: Server):
    body = json.dumps({"status": "offboarded"}).encode()

    def make() -> bytes | None:
        if not s.leavers:
            return None
        return _request("PATCH", f"/v1/users/{s.leavers.popleft()}", srv.port, s.admin, body)
    return make


WRITERS = ("approve", "offboard")  # scenarios that write audit records: the sealer catches up after each run
SCENARIOS = [
    Scenario("read", "GET /v1/posts/{id}", _read),
    Scenario("list", "GET /v1/posts?limit=50", _list),
    Scenario("approve", "POST /v1/posts/{id}/approve", _approve),
    Scenario("dry-run", "POST /v1/crises?dry_run=true (1 account)", _dry_run),
    Scenario("health", "/healthz vs /ping", _health),
    Scenario("offboard", "PATCH /v1/users/{id} offboarded (200 grants)", _offboard, kind="burst"),
]

# --- round trips: a PostgreSQL protocol proxy that counts messages --------------------------------------

_SSL_REQUEST, _GSSENC_REQUEST, _CANCEL_REQUEST = 80877103, 80877104, 80877102


class CountingProxy:
    """Forwards one server's connections to PostgreSQL and counts the protocol messages:
    from the client Query (simple protocol), Parse, Bind, Execute, Sync; from the server
    ReadyForQuery, which answers each Sync and each Query: one per round trip. It declines
    TLS (``N``), so the client talks in the clear, as it does to these servers anyway."""

    def __init__(self, upstream: tuple) -> None:
        self.upstream = upstream
        self.client: collections.Counter[bytes] = collections.Counter()
        self.server: collections.Counter[bytes] = collections.Counter()
        self.queries: collections.Counter[str] = collections.Counter()
        self.statements: collections.Counter[str] = collections.Counter()

    async def start(self) -> int:
        self.srv = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self.srv.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self.srv.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.srv.wait_closed(), 5)

    def snapshot(self) -> dict[str, int]:
        return {"round_trips": self.server[b"Z"], "execute": self.client[b"E"], "query": self.client[b"Q"],
                "parse": self.client[b"P"], **{f"q:{k}": v for k, v in self.queries.items()},
                **{f"s:{k}": v for k, v in self.statements.items()}}

    async def _open(self):
        if self.upstream[0] == "unix":
            return await asyncio.open_unix_connection(self.upstream[1])
        return await asyncio.open_connection(self.upstream[1], self.upstream[2])

    async def _handle(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await cr.readexactly(8)
                length, code = struct.unpack("!ii", head)
                rest = await cr.readexactly(length - 8)
                if code in (_SSL_REQUEST, _GSSENC_REQUEST):
                    cw.write(b"N")
                    await cw.drain()
                    continue
                break
            ur, uw = await self._open()
            uw.write(head + rest)
            counting = code != _CANCEL_REQUEST
            await asyncio.gather(self._pump(cr, uw, self.client if counting else None, True),
                                 self._pump(ur, cw, self.server if counting else None, False))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            cw.close()

    async def _pump(self, reader, writer, counter, from_client: bool) -> None:
        buf, pos = bytearray(), 0
        prepared: dict[bytes, str] = {}  # this connection's statement names -> their SQL (Parse)
        try:
            while data := await reader.read(65536):
                writer.write(data)
                if counter is not None:
                    buf += data
                    while len(buf) - pos >= 5:
                        n = int.from_bytes(buf[pos + 1:pos + 5], "big")
                        if len(buf) - pos < n + 1:
                            break
                        kind = bytes(buf[pos:pos + 1])
                        counter[kind] += 1
                        if from_client and kind in (b"Q", b"P", b"B"):
                            self._note(kind, bytes(buf[pos + 5:pos + 1 + n]), prepared)
                        pos += n + 1
                    if pos > 1 << 20:
                        del buf[:pos]
                        pos = 0
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def _note(self, kind: bytes, body: bytes, prepared: dict[bytes, str]) -> None:
        """Which statement each simple Query and each Bind (of a Parsed statement) runs."""
        if kind == b"Q":
            sql = " ".join(body.rstrip(b"\0").decode(errors="replace").split()).rstrip(";").strip()
            word = sql.split(None, 1)[0].upper() if sql else ";"
            self.queries[word if word in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE") else "other"] += 1
            self.statements["Q " + sql[:110]] += 1
        elif kind == b"P":
            name, _, rest = body.partition(b"\0")
            prepared[name] = " ".join(rest.split(b"\0", 1)[0].decode(errors="replace").split())
        else:
            _portal, _, rest = body.partition(b"\0")
            sql = prepared.get(rest.split(b"\0", 1)[0], "?")
            self.statements["E " + sql[:110]] += 1
            if sql.strip() == ";":
                self.queries["ping"] += 1


def _upstream_and_dsn(url: str, proxy_port: int | None = None) -> tuple[tuple, str]:
    """Where the bench database listens, and a DSN for it through ``proxy_port``."""
    parts = urlsplit(url.replace("postgresql+asyncpg://", "postgresql://"))
    host = (parse_qs(parts.query).get("host") or [parts.hostname or "127.0.0.1"])[0]
    port = parts.port or 5432
    upstream = ("unix", f"{host}/.s.PGSQL.{port}") if host.startswith("/") else ("tcp", host, port)
    user = parts.username or "postgres"
    auth = f"{user}:{parts.password}" if parts.password else user
    return upstream, f"postgresql://{auth}@127.0.0.1:{proxy_port}{parts.path}"


async def count_round_trips(variants: dict[str, Server], proxies: dict[str, CountingProxy], s: Seed,
                            scenarios: list[Scenario], n_steady: int, n_burst: int) -> dict[tuple[str, str], dict]:
    """Requests one at a time through the counting proxies; per request: round trips, statements."""
    out = {}
    for sc in scenarios:
        for label, srv in variants.items():
            n = n_burst if sc.kind == "burst" else n_steady
            warm = 1 if sc.kind == "burst" else 10
            make = sc.maker(s, srv)
            left = {"n": warm}

            def limited(make=make, left=left):
                if left["n"] <= 0:
                    return None
                left["n"] -= 1
                return make()

            for count in (warm, n):
                left["n"] = count
                before = proxies[label].snapshot()
                run = Run(srv.port, limited, 1)
                await run.connect()
                run.start()
                await asyncio.wait([run.all_idle], timeout=120)
                await run.close()
                if run.first_error:
                    raise RuntimeError(f"{label} {sc.title}: {run.first_error}")
                await asyncio.sleep(0.05)  # the last COMMIT's ReadyForQuery has gone through the proxy
                after = proxies[label].snapshot()
            delta = {k: (after.get(k, 0) - before.get(k, 0)) / n for k in after}
            delta["statements"] = delta["execute"] + delta["query"]
            out[(sc.key, label)] = delta
    return out


# --- checks: both answer the same, write the same rows -------------------------------------------------

def _normalise(doc):
    """Datetimes compared as instants (pydantic writes 'Z', isoformat '+00:00')."""
    if isinstance(doc, dict):
        return {k: _normalise(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_normalise(v) for v in doc]
    if isinstance(doc, str) and len(doc) >= 20 and doc[4:5] == "-" and doc[10:11] == "T":
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(doc)  # 3.11 reads "Z" too
    return doc


def _diff(a: dict, b: dict, ignore=()) -> list[str]:
    a, b = _normalise(a), _normalise(b)
    out = [f"{k}: only in socialgov" for k in a if k not in b] + [f"{k}: only in the twin" for k in b if k not in a]
    out += [f"{k}: {a[k]!r} vs {b[k]!r}" for k in a if k in b and k not in ignore and a[k] != b[k]]
    return out


async def _audit_shape(monitor: asyncpg.Connection, where: str, *params) -> collections.Counter:
    rows = await monitor.fetch(f"SELECT action, before, after FROM audit_records WHERE {where}", *params)
    return collections.Counter(
        (r["action"], tuple(sorted(json.loads(r["before"] or "{}"))), tuple(sorted(json.loads(r["after"] or "{}"))))
        for r in rows)


async def parity(sg: Server, tw: Server, s: Seed, monitor: asyncpg.Connection) -> list[str]:
    """Same answers, same rows: a read, a list, an approve, a dry run and an offboarding on each."""
    problems: list[str] = []
    async with httpx.AsyncClient(timeout=60) as client:
        async def both(method, path, token, body=None, paths=None):
            out = []
            for srv, p in zip((sg, tw), paths or (path, path), strict=True):
                r = await client.request(method, srv.base + p, json=body,
                                         headers={"Authorization": f"Bearer {token}"} if token else {})
                if r.status_code != 200:
                    problems.append(f"{srv.label} {method} {p}: {r.status_code} {r.text[:200]}")
                out.append(r)
            return out

        a, b = await both("GET", f"/v1/posts/{s.read_ids[0]}", s.reader)
        problems += [f"read: {d}" for d in _diff(a.json(), b.json())]
        if a.headers.get("etag") != b.headers.get("etag"):
            problems.append(f"read: ETag {a.headers.get('etag')} vs {b.headers.get('etag')}")
        a, b = await both("GET", "/v1/posts?limit=50", s.reader)
        ia, ib = a.json()["items"], b.json()["items"]
        if [x["id"] for x in ia] != [x["id"] for x in ib]:
            problems.append("list: not the same posts in the same order")
        problems += [f"list item: {d}" for x, y in zip(ia, ib, strict=False) for d in _diff(x, y)][:5]
        if a.json()["next_cursor"] != b.json()["next_cursor"]:
            problems.append(f"list: next_cursor {a.json()['next_cursor']} vs {b.json()['next_cursor']}")
        body = {"severity": 2, "scope": {"account_ids": [s.dry_run_account]}, "reason": "bench: parity"}
        a, b = await both("POST", "/v1/crises?dry_run=true", s.lead, body)
        problems += [f"dry run: {d}" for d in _diff(a.json(), b.json())]
        # approve: a fresh post each; compare the answers and what each wrote
        pa, pb = s.review_ids.popleft(), s.review_ids.popleft()
        a, b = await both("POST", "", s.approver, {"revision": 1},
                          paths=(f"/v1/posts/{pa}/approve", f"/v1/posts/{pb}/approve"))
        problems += [f"approve: {d}" for d in _diff(a.json(), b.json(), ignore=(
            "id", "body", "link", "labels", "content_hash", "account_id", "author_id", "created_at", "updated_at"))]
        shape_a = await _audit_shape(monitor, "subject_type = 'post' AND subject_id = $1", pa)
        shape_b = await _audit_shape(monitor, "subject_type = 'post' AND subject_id = $1", pb)
        if shape_a != shape_b:
            problems.append(f"approve audit: {dict(shape_a)} vs {dict(shape_b)}")
        approvals = [await monitor.fetchval("SELECT count(*) FROM approvals WHERE post_id = $1::uuid", p)
                     for p in (pa, pb)]
        if approvals != [1, 1]:
            problems.append(f"approve: approval rows {approvals}")
        # offboarding: a leaver each
        ua, ub = s.leavers.popleft(), s.leavers.popleft()
        a, b = await both("PATCH", "", s.admin, {"status": "offboarded"}, paths=(f"/v1/users/{ua}", f"/v1/users/{ub}"))
        problems += [f"offboard: {d}" for d in _diff(a.json(), b.json(), ignore=(
            "id", "email", "display_name", "status_changed_at", "created_at", "updated_at"))]
        wrote = []
        for u in (ua, ub):
            grants = await monitor.fetchval(
                "SELECT count(*) FROM access_grants WHERE user_id = $1::uuid AND revoked_at IS NOT NULL", u)
            tokens = await monitor.fetchval(
                "SELECT count(*) FROM api_tokens WHERE user_id = $1::uuid AND revoked_at IS NOT NULL", u)
            shape = await _audit_shape(
                monitor, "(subject_type = 'grant' AND subject_id IN (SELECT id::text FROM access_grants"
                " WHERE user_id = $1::text::uuid)) OR (subject_type = 'token' AND subject_id IN (SELECT id::text"
                " FROM api_tokens WHERE user_id = $1::text::uuid)) OR (subject_type = 'user' AND subject_id = $1::text)",
                u)
            wrote.append((grants, tokens, shape))
        if wrote[0] != wrote[1]:
            problems.append(f"offboard rows: socialgov {wrote[0][:2]} {dict(wrote[0][2])}"
                            f" vs twin {wrote[1][:2]} {dict(wrote[1][2])}")
        if wrote[0][0] != GRANTS_PER_LEAVER or wrote[0][1] != 1:
            problems.append(f"offboard: {wrote[0][0]} grants and {wrote[0][1]} tokens revoked")
        for srv in (sg, tw):
            r = await client.get(srv.base + srv.health)
            if r.status_code != 200:
                problems.append(f"{srv.label} {srv.health}: {r.status_code}")
        s.audit_per_offboarding = sum(wrote[0][2].values())
    return problems


# --- output ---------------------------------------------------------------------------------------------

def _med(xs) -> float:
    xs = [x for x in xs if not math.isnan(x)]
    return c.median(xs) if xs else math.nan


def _f(x: float, digits: int = 0) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:,.{digits}f}"


def _rt(counts: dict | None, key: str) -> str:
    return _f(counts[key], 1).removesuffix(".0") if counts else "–"


def print_table(results: dict, counts: dict, scenarios: list[Scenario], args) -> None:
    print()
    print(f"Medians over {args.rounds} rounds ({args.seconds:g} s each after {args.warmup:g} s warm-up,"
          f" {args.concurrency} connections; offboarding: {args.burst} at once, a fresh user each):")
    print()
    print("| scenario | server | req/s | p50 ms | p99 ms | server CPU µs/req | PG CPU µs/req | round trips/req"
          " | statements/req | socialgov/twin req/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for sc in scenarios:
        rates = {}
        for label in ("socialgov", "twin"):
            samples: list[Sample] = results[(sc.key, label)]
            rates[label] = _med([x.rate for x in samples])
        for label in ("socialgov", "twin"):
            samples = results[(sc.key, label)]
            cnt = counts.get((sc.key, label))
            rate = rates[label]
            spread = f" ({_f(min(x.rate for x in samples))}–{_f(max(x.rate for x in samples))})" if samples else ""
            ratio = f"**{rates['socialgov'] / rates['twin']:.3f}×**" if label == "socialgov" else ""
            title = sc.title if label == "socialgov" else ""
            print(f"| {title} | {label} | {_f(rate)}{spread} | {_f(_med([x.pct(.5) * 1e3 for x in samples]), 2)}"
                  f" | {_f(_med([x.pct(.99) * 1e3 for x in samples]), 2)}"
                  f" | {_f(_med([x.per_request(x.server_cpu) for x in samples]))}"
                  f" | {_f(_med([x.per_request(x.db_cpu) for x in samples]))}"
                  f" | {_rt(cnt, 'round_trips')} | {_rt(cnt, 'statements')} | {ratio} |")
    print()
    print("Round trips = ReadyForQuery messages PostgreSQL sent (one per Sync or simple Query), statements ="
          " Execute + simple Query messages, both per request, counted on a second instance of each server"
          " behind a counting proxy, requests one at a time (socialgov's audit sealer off there). Of them:")
    for sc in scenarios:
        for label in ("socialgov", "twin"):
            cnt = counts.get((sc.key, label))
            if not cnt or not cnt["round_trips"]:
                continue
            q = {k[2:]: v for k, v in cnt.items() if k.startswith("q:") and v}
            tx = ", ".join(f"{k} {_f(q[k], 1).removesuffix('.0')}" for k in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT",
                                                                            "RELEASE", "other") if q.get(k))
            print(f"  {sc.key:8s} {label:9s} {_rt(cnt, 'round_trips'):>3s} round trips: {tx or 'no transaction'};"
                  f" pool pre-ping ';' {_f(q.get('ping', 0), 1).removesuffix('.0')}; Parse {_f(cnt['parse'], 1)},"
                  f" Execute {_f(cnt['execute'], 1).removesuffix('.0')}")
            if args.statements:
                for k, v in sorted(((k[2:], v) for k, v in cnt.items() if k.startswith("s:") and v),
                                   key=lambda kv: -kv[1]):
                    print(f"      {v:6.2f} x {k}")


def _total(samples: list[Sample], attr: str) -> float:
    """CPU per request over all rounds together (a burst is too short for a 10 ms clock tick)."""
    n = sum(x.requests for x in samples)
    return sum(getattr(x, attr) for x in samples) / n * 1e6 if n else math.nan


def print_burst(results: dict, sc: Scenario, args, audit_rows: int | None) -> None:
    sg, tw = results[(sc.key, "socialgov")], results[(sc.key, "twin")]
    print()
    print(f"Offboarding, {args.burst} at once (each a user with {GRANTS_PER_LEAVER} grants and a token;"
          f" {audit_rows or '?'} audit records each), medians over {args.rounds} rounds:")
    for label, samples in (("socialgov", sg), ("twin", tw)):
        print(f"  {label:9s} p50 {_f(_med([x.pct(.5) * 1e3 for x in samples]))} ms,"
              f" p99 {_f(_med([x.pct(.99) * 1e3 for x in samples]))} ms, all {args.burst} in"
              f" {_f(_med([x.seconds * 1e3 for x in samples]))} ms ({_f(_med([x.rate for x in samples]), 1)}/s);"
              f" server CPU {_f(_total(samples, 'server_cpu'))} µs/req,"
              f" PostgreSQL CPU {_f(_total(samples, 'db_cpu'))} µs/req (all rounds);"
              f" new database connections per burst {_f(_med([x.sessions for x in samples]))}")
    p50 = _med([x.pct(.5) for x in sg]) / _med([x.pct(.5) for x in tw])
    print(f"  ratio socialgov/twin: p50 latency {p50:.1f}×, throughput"
          f" {_med([x.rate for x in sg]) / _med([x.rate for x in tw]):.3f}×")


# --- main ------------------------------------------------------------------------------------------------

def _phase(args, what: str, since: float) -> None:
    if args.verbose:
        print(f"  {what} at +{time.perf_counter() - since:.1f} s", flush=True)


def _pin_self(core: int) -> str:
    if shutil.which("taskset") is None:
        return "taskset not found: nothing is pinned (servers and load generator share the cores)"
    subprocess.run(["taskset", "-pc", str(core), str(os.getpid())], check=True, capture_output=True)
    return (f"pinned with taskset: each server to core 0, the load generator (this process, pid {os.getpid()}) to"
            f" core {','.join(map(str, sorted(os.sched_getaffinity(0))))}; PostgreSQL is not pinned")


async def main(args) -> int:
    scenarios = [sc for sc in SCENARIOS if sc.key in args.scenarios]
    bursts = sum(1 for sc in scenarios if sc.kind == "burst")
    # leavers: each round's burst for both servers, the parity check (2), the counting pass
    leavers = (args.burst * args.rounds * 2 + 2 + 2 * (args.count_burst + 1)) if bursts else 2
    pinned = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    with c.server() as (server_url, where):
        name = engine = monitor = None
        servers: list[Server] = []
        logdir = tempfile.mkdtemp(prefix="sgv-bench-http-")
        finished = False
        try:
            t = t_all = time.perf_counter()
            name, url = await c.fresh_database(server_url, "sgv_bench_http")
            engine = create_engine(url, pool_size=2, max_overflow=2)
            s = await seed(engine, args, leavers)
            print(f"database {name}: {SCHEDULED} scheduled posts, {args.review_posts} in review, {ACCOUNTS} accounts /"
                  f" {BRANDS} brands, {leavers} leavers with {GRANTS_PER_LEAVER} grants each, ready in"
                  f" {time.perf_counter() - t:.1f} s", flush=True)
            print(f"server: {where}, PostgreSQL {await c.server_version(engine)}; calibration: sum over 5M integers"
                  f" {await c.calibrate(engine):.0f} ms; {c.load()}; code {c.code_version()}", flush=True)
            monitor = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"),
                                            server_settings={"application_name": "sgv-bench"})
            backends = Backends(monitor)
            core = 0 if pinned else None
            sg = Server("socialgov", "socialgov", url, core, logdir, log_level=args.log_level)
            tw = Server("twin", "twin", url, core, logdir)
            servers += [sg, tw]
            t = time.perf_counter()
            await asyncio.gather(sg.start(), tw.start())
            print(f"socialgov serve (pid {sg.proc.pid}) and the twin (pid {tw.proc.pid}) up in"
                  f" {time.perf_counter() - t:.1f} s; logs in {logdir}", flush=True)
            print(_pin_self(1) if pinned else ("taskset not found: nothing is pinned" if shutil.which("taskset") is None
                                               else "one CPU: nothing is pinned"), flush=True)
            problems = await parity(sg, tw, s, monitor)
            if problems:
                print("PARITY: the two servers differ:")
                for p in problems:
                    print("  " + p)
            else:
                print("parity: the same fields and values for a read, a list of 50 and a dry run; an approve and an"
                      " offboarding write the same rows and audit records on both", flush=True)
            variants = {"socialgov": sg, "twin": tw}

            # the load generator alone, against the cheapest endpoint there is
            gen = await measure(tw, backends, _health(s, tw), args.concurrency * 2, args.warmup, args.seconds)
            gen_us = gen.per_request(gen.gen_cpu)
            print(f"load generator: {gen.rate:,.0f} req/s against the twin's /ping with {args.concurrency * 2}"
                  f" connections, {gen_us:.0f} µs of its own CPU per request ({gen.gen_cpu / gen.seconds:.0%} of its"
                  f" core): it could drive ~{1e6 / gen_us:,.0f} req/s", flush=True)

            results: dict[tuple[str, str], list[Sample]] = collections.defaultdict(list)
            sealing: collections.Counter[str] = collections.Counter()
            await drain_audit(monitor, sg)
            gen_share = []
            t_rounds = time.perf_counter()
            for rnd in range(1, args.rounds + 1):
                for sc in scenarios:
                    for label, srv in variants.items():
                        if sc.kind == "burst":
                            sample = await burst(srv, backends, sc.maker(s, srv), args.burst, monitor)
                        else:
                            sample = await measure(srv, backends, sc.maker(s, srv), args.concurrency, args.warmup,
                                                   args.seconds)
                        results[(sc.key, label)].append(sample)
                        gen_share.append(sample.gen_cpu / sample.seconds)
                        if sc.key in WRITERS:
                            records, cpu = await drain_audit(monitor, sg)
                            sealing["records"] += records
                            sealing["cpu"] += cpu
                        flag = ""
                        if sample.errors:
                            flag += f"  <-- {sample.errors} ERRORS, first: {sample.first_error}"
                        if sample.exhausted:
                            flag += "  <-- ran out of fresh posts/users: a shorter run"
                        if args.verbose or flag:
                            print(f"  round {rnd} {sc.key:8s} {label:9s} {sample.rate:8,.0f} req/s"
                                  f" p50 {sample.pct(.5) * 1e3:7.2f} ms p99 {sample.pct(.99) * 1e3:7.2f} ms"
                                  f" cpu {sample.per_request(sample.server_cpu):7,.0f} µs/req"
                                  f" pg {sample.per_request(sample.db_cpu):6,.0f} µs/req"
                                  f" gen {sample.gen_cpu / sample.seconds:4.0%}{flag}", flush=True)
                if not args.verbose:
                    print(f"round {rnd}/{args.rounds} done; {c.load()}", flush=True)
            rss = {label: _rss_mb(srv.proc.pid) for label, srv in variants.items()}
            t_rounds = time.perf_counter() - t_rounds
            t_count = time.perf_counter()
            await asyncio.gather(sg.stop(), tw.stop())
            _phase(args, "servers stopped", t_count)

            # round trips, on fresh instances behind counting proxies
            proxies, counting = {}, {}
            for label, kind in (("socialgov", "socialgov"), ("twin", "twin")):
                upstream, _ = _upstream_and_dsn(url)
                proxies[label] = CountingProxy(upstream)
                port = await proxies[label].start()
                _, dsn = _upstream_and_dsn(url, port)
                env = {"SOCIALGOV_AUDIT_SEAL_INTERVAL": "0"} if kind == "socialgov" else {}
                counting[label] = Server(f"{label} counted", kind,
                                         dsn.replace("postgresql://", "postgresql+asyncpg://", 1), core, logdir, env,
                                         log_level=args.log_level)
                servers.append(counting[label])
            await asyncio.gather(*(srv.start() for srv in counting.values()))
            _phase(args, "counting servers up", t_count)
            counts = await count_round_trips(counting, proxies, s, scenarios, args.count_requests, args.count_burst)
            _phase(args, "counted", t_count)
            await asyncio.gather(*(srv.stop() for srv in counting.values()))
            _phase(args, "counting servers stopped", t_count)
            for proxy in proxies.values():
                await proxy.close()
            t_count = time.perf_counter() - t_count

            steady = [sc for sc in scenarios if sc.kind == "steady"]
            if steady:
                print_table(results, counts, steady, args)
            for sc in scenarios:
                if sc.kind == "burst":
                    print_burst(results, sc, args, getattr(s, "audit_per_offboarding", None))
                    cnt_sg, cnt_tw = counts.get((sc.key, "socialgov")), counts.get((sc.key, "twin"))
                    print(f"  round trips/req: socialgov {_rt(cnt_sg, 'round_trips')} ({_rt(cnt_sg, 'statements')}"
                          f" statements, {_rt(cnt_sg, 'execute')} Execute), twin {_rt(cnt_tw, 'round_trips')}"
                          f" ({_rt(cnt_tw, 'statements')} statements)")
                    if args.statements:
                        for label, cnt in (("socialgov", cnt_sg), ("twin", cnt_tw)):
                            print(f"    {label}:")
                            for k, v in sorted(((k[2:], v) for k, v in (cnt or {}).items()
                                                if k.startswith("s:") and v), key=lambda kv: -kv[1]):
                                print(f"      {v:7.2f} x {k}")
            if sealing["records"]:
                print()
                print(f"Audit sealing (socialgov's in-process sealer, also for the twin's records: one table): after"
                      f" each writing run the bench waited for it; it sealed {sealing['records']:,} records then,"
                      f" using {sealing['cpu'] * 1e6 / sealing['records']:,.0f} µs of socialgov's CPU per record."
                      f" An approve writes 1 record, an offboarding {getattr(s, 'audit_per_offboarding', '?')}."
                      f" socialgov's approve CPU above includes the sealing done during its own runs; the"
                      f" offboarding CPU above does not (it is sealed after the burst)")
            print()
            print(f"RSS at the end: socialgov serve {rss['socialgov'][0]:.0f} MiB (peak {rss['socialgov'][1]:.0f}),"
                  f" twin {rss['twin'][0]:.0f} MiB (peak {rss['twin'][1]:.0f})")
            worst = max(gen_share) if gen_share else math.nan
            top = max((_med([x.rate for x in v]) for (k, _), v in results.items()), default=math.nan)
            print(f"load generator: at most {worst:.0%} of its core in any run; the highest median rate above is"
                  f" {top:,.0f} req/s, its ceiling alone ~{1e6 / gen_us:,.0f} req/s")
            print(f"{c.load()}; the rounds took {t_rounds:.0f} s, counting round trips {t_count:.0f} s,"
                  f" the whole run {time.perf_counter() - t_all:.0f} s", flush=True)
            errors = sum(x.errors for v in results.values() for x in v)
            finished = not (problems or errors)
            return 1 if problems or errors else 0
        finally:
            for srv in servers:
                try:
                    await srv.stop()
                except BaseException:  # noqa: BLE001 - interrupted again: no more waiting
                    if srv.proc is not None and srv.proc.poll() is None:
                        srv.proc.kill()
            if monitor is not None:
                await monitor.close()
            if engine is not None:
                await engine.dispose()
            if finished and not args.keep:
                shutil.rmtree(logdir, ignore_errors=True)
            else:
                print(f"the servers' logs: {logdir}", file=sys.stderr)
            if name is not None:
                if args.keep:
                    print(f"kept database {name}")
                else:
                    try:
                        await c.drop_database(server_url, name)
                    except Exception as exc:  # noqa: BLE001 - cleanup must go on
                        print(f"could not drop database {name}: {exc}", file=sys.stderr)


def _run(args) -> int:
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:
        runner = asyncio.run

    async def guarded():
        task = asyncio.current_task()
        for sig in (signal.SIGINT, signal.SIGTERM):  # cancelled: the finally blocks stop and drop everything
            asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
        return await main(args)

    try:
        return runner(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: servers stopped, database dropped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5, help="rounds of every scenario on both servers (default 5)")
    p.add_argument("--seconds", type=float, default=2.0, help="measured seconds per run (default 2)")
    p.add_argument("--warmup", type=float, default=0.4, help="unmeasured seconds before each run (default 0.4)")
    p.add_argument("--concurrency", type=int, default=8,
                   help="connections, one request in flight each (default 8: below socialgov's pool of 10)")
    p.add_argument("--burst", type=int, default=20, help="offboardings sent at once (default 20)")
    p.add_argument("--review-posts", type=int, default=40_000, help="fresh posts in review for approve (default 40,000)")
    p.add_argument("--scenarios", nargs="+", default=[sc.key for sc in SCENARIOS],
                   choices=[sc.key for sc in SCENARIOS], metavar="S",
                   help=f"a subset of: {' '.join(sc.key for sc in SCENARIOS)}")
    p.add_argument("--count-requests", type=int, default=50, help="requests counted per scenario (default 50)")
    p.add_argument("--count-burst", type=int, default=3, help="offboardings counted (default 3)")
    p.add_argument("--log-level", default=None, help="SOCIALGOV_LOG_LEVEL for socialgov serve (default: its own, INFO)")
    p.add_argument("--keep", action="store_true", help="keep the bench database and the servers' logs")
    p.add_argument("--verbose", action="store_true", help="print every run")
    p.add_argument("--statements", action="store_true", help="print the statements each request sends")
    sys.exit(_run(p.parse_args()))
