"""A crisis declaration while abusive GraphQL documents are in flight.

    .venv/bin/python bench/graphql_abuse.py [--runs 15] [--abusers 3] [--size 750000]

Starts the real service (``python -m app.cli serve``) on a fresh database — DATABASE_URL's
server when set (its database is only used to CREATE/DROP the bench database), else an
embedded PostgreSQL. Over HTTP it makes a brand, an account and a ``posts:read`` token, then
times ``POST /v1/crises`` (a crisis over that one account) followed by its resolve:

1. alone, ``--runs`` times;
2. while ``--abusers`` clients each send a ~750 KB GraphQL document in a loop with the
   ``posts:read`` token (40,000-odd aliases of ``__typename``, or ``me { id id id ... }``),
   as many in flight at once as there are abusers.

It prints both medians, their ratio, ``/healthz`` under abuse, what the abusive requests were
answered (status and problem code, with their own median latency) and the service's CPU time
while they ran. Before the GraphQL limits each such document held the event loop for 1–6 s.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import json
import multiprocessing
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# bench/http.py is named like the standard library's ``http``: this folder goes last on the path
# (not first, where running a script puts it), so ``import http`` finds the standard library and
# ``import _common`` still finds ours.
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH] + [str(_BENCH)]

import httpx  # noqa: E402

import _common as c  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def aliases_document(size: int) -> str:
    parts, n, i = [], 2, 0
    while n < size:
        part = f"a{i}:__typename"
        parts.append(part)
        n += len(part) + 1
        i += 1
    return "{" + " ".join(parts) + "}"


def duplicates_document(size: int) -> str:
    return "{ me { " + "id " * ((size - 12) // 3) + "} }"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _wait_healthy(base: str, proc: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"socialgov serve exited with {proc.returncode}")
            try:
                if (await client.get(base + "/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("socialgov serve did not become healthy")


class Service:
    """``socialgov serve`` as a process on its own database, with a known admin token."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.admin = "sgv_" + secrets.token_hex(20)
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.name = self.proc = self.log = None

    async def __aenter__(self) -> Service:
        self.name, url = await c.fresh_database(self.server_url, "sgv_bench_gql")
        self.log = tempfile.NamedTemporaryFile("w+", prefix="sgv-bench-gql-", suffix=".log", delete=False)
        env = {**os.environ, "DATABASE_URL": url, "SOCIALGOV_BOOTSTRAP_TOKEN": self.admin,
               "SOCIALGOV_LOG_LEVEL": "WARNING"}
        self.proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)], cwd=ROOT,
                                     env=env, stdout=subprocess.DEVNULL, stderr=self.log)
        try:
            await _wait_healthy(self.base, self.proc)
        except BaseException:
            await self.__aexit__()
            raise RuntimeError(f"socialgov serve did not start; its log: {self.log.name}") from None
        return self

    async def __aexit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        await c.drop_database(self.server_url, self.name)


async def _ok(client: httpx.AsyncClient, method: str, path: str, token: str, body: dict | None = None) -> dict:
    r = await client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
    if r.status_code >= 300:
        raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:300]}")
    return r.json()


async def declare_and_resolve(client: httpx.AsyncClient, token: str, account_id: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    crisis = await _ok(client, "POST", "/v1/crises", token,
                       {"severity": 2, "scope": {"account_ids": [account_id]}, "reason": "bench: account hijacked"})
    t1 = time.perf_counter()
    await _ok(client, "POST", f"/v1/crises/{crisis['id']}/resolve",
              token, {"resolution": "review", "note": "bench"})
    return t1 - t0, time.perf_counter() - t1


def _abuse(base: str, token: str, body: bytes, stop, started) -> tuple[collections.Counter, list[float]]:
    """One abusive client, in its own process (so that sending 750 KB bodies never delays the
    measuring client's event loop): sends ``body`` in a loop until ``stop`` is set."""
    answers: collections.Counter[tuple[int, str]] = collections.Counter()
    latencies: list[float] = []

    async def loop() -> None:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            while not stop.is_set():
                t = time.perf_counter()
                try:
                    r = await client.post("/graphql", content=body, headers=headers)
                except httpx.TransportError as e:
                    answers[(0, type(e).__name__)] += 1
                    continue
                latencies.append(time.perf_counter() - t)
                started.set()
                try:
                    payload = r.json()
                except ValueError:
                    payload = {}
                code = payload.get("code") or next(
                    (str(e.get("extensions", {}).get("code") or e.get("message", ""))[:50]
                     for e in payload.get("errors") or []), "") or r.headers.get("content-type", "")
                answers[(r.status_code, code)] += 1

    asyncio.run(loop())
    return answers, latencies


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), or nan elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ms(x: float) -> str:
    return f"{x * 1000:.0f} ms"


async def main(args) -> int:
    with c.server() as (server_url, where):
        async with Service(server_url) as svc, httpx.AsyncClient(base_url=svc.base, timeout=120) as client:
            print(f"server: {where}; socialgov serve pid {svc.proc.pid} on {svc.base}; {c.load()};"
                  f" code {c.code_version()}", flush=True)
            brand = await _ok(client, "POST", "/v1/brands", svc.admin, {"name": "Bench brand"})
            account = await _ok(client, "POST", "/v1/accounts", svc.admin,
                                {"platform": "weibo", "handle": "bench_gql", "brand_id": brand["id"], "region": "CN"})
            reader = (await _ok(client, "POST", "/v1/tokens", svc.admin,
                                {"service_name": "bench-reader", "scopes": ["posts:read"]}))["token"]
            for _ in range(2):  # warm-up: connections, statement caches
                await declare_and_resolve(client, svc.admin, account["id"])

            alone = [await declare_and_resolve(client, svc.admin, account["id"]) for _ in range(args.runs)]
            if args.verbose:
                print(f"  alone: declare median {_ms(c.median([x[0] for x in alone]))}", flush=True)

            documents = [aliases_document(args.size), duplicates_document(args.size)]
            bodies = [json.dumps({"query": documents[i % len(documents)]}).encode() for i in range(args.abusers)]
            manager = multiprocessing.Manager()
            stop, started = manager.Event(), [manager.Event() for _ in bodies]
            pool = concurrent.futures.ProcessPoolExecutor(len(bodies))
            loop = asyncio.get_running_loop()
            futures = [loop.run_in_executor(pool, _abuse, svc.base, reader, body, stop, started[i])
                       for i, body in enumerate(bodies)]
            for event in started:  # every abuser has had an answer: the loop is under way
                await asyncio.to_thread(event.wait, 120)
            cpu0, wall0 = _cpu_seconds(svc.proc.pid), time.perf_counter()
            abused, health = [], []
            for i in range(args.runs):
                abused.append(await declare_and_resolve(client, svc.admin, account["id"]))
                t = time.perf_counter()
                (await client.get("/healthz")).raise_for_status()
                health.append(time.perf_counter() - t)
                if args.verbose:
                    print(f"  under abuse {i + 1}: declare {_ms(abused[-1][0])}, resolve {_ms(abused[-1][1])},"
                          f" /healthz {_ms(health[-1])}", flush=True)
            cpu, wall = _cpu_seconds(svc.proc.pid) - cpu0, time.perf_counter() - wall0
            stop.set()
            results = await asyncio.gather(*futures)
            pool.shutdown()
            manager.shutdown()

            d_alone, d_abused = [x[0] for x in alone], [x[0] for x in abused]
            r_alone, r_abused = [x[1] for x in alone], [x[1] for x in abused]
            print(f"POST /v1/crises (one account), {args.runs} runs each:")
            print(f"  alone:        median {_ms(c.median(d_alone))} ({c.spread([x * 1000 for x in d_alone])} ms);"
                  f" resolve {_ms(c.median(r_alone))}")
            print(f"  under abuse:  median {_ms(c.median(d_abused))} ({c.spread([x * 1000 for x in d_abused])} ms);"
                  f" resolve {_ms(c.median(r_abused))}; /healthz median {_ms(c.median(health))}"
                  f" (max {_ms(max(health))})")
            print(f"  ratio under abuse / alone: {c.median(d_abused) / c.median(d_alone):.2f}x")
            answers: collections.Counter[tuple[int, str]] = collections.Counter()
            for counted, _ in results:
                answers.update(counted)
            latencies = [x for _, lat in results for x in lat]
            sizes = sorted({len(b) for b in bodies})
            print(f"abusive documents ({args.abusers} clients in their own processes, bodies"
                  f" {', '.join(f'{s:,}' for s in sizes)} bytes):"
                  f" {sum(answers.values())} sent, each answered in median {_ms(c.median(latencies))}")
            for (status, code), n in answers.most_common():
                print(f"  {n:6d} x {status} {code}")
            print(f"  the service's CPU while they ran: {cpu:.2f} s in {wall:.2f} s"
                  f" ({cpu / wall:.0%} of one core; the declarations' share included)")
            print(f"  {c.load()}", flush=True)
            return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=15, help="declarations measured alone and under abuse (default 15)")
    p.add_argument("--abusers", type=int, default=3, help="abusive documents in flight at once (default 3)")
    p.add_argument("--size", type=int, default=750_000, help="bytes of each abusive document (default 750,000)")
    p.add_argument("--verbose", action="store_true", help="print each run under abuse as it ends")
    sys.exit(asyncio.run(main(p.parse_args())))
