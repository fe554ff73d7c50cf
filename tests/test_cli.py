"""The operator's commands, run as real processes."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import text as sa_text
import pytest
from tests.support.processes import env, free_port, wait_healthy  # noqa: F401

pytestmark = pytest.mark.committed

ROOT = Path(__file__).resolve().parent.parent


async def test_serve_with_embedded_postgres_bootstraps_and_stops_cleanly(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)], cwd=ROOT,
        env=env(SOCIALGOV_DATA_DIR=str(tmp_path / "data")), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_healthy(base, proc)
        line = proc.stdout.readline().strip()
        assert line.startswith("SOCIALGOV_BOOTSTRAP_ADMIN_TOKEN=sgv_"), line
        token = line.split("=", 1)[1]
        async with httpx.AsyncClient(base_url=base) as c:
            assert (await c.get("/readyz")).json()["status"] == "ready"
            me = await c.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200 and me.json()["admin"] is True
            r = await c.get("/v1/me", headers={"X-Request-ID": "trace-123"})
            assert r.headers["x-request-id"] == "trace-123" and r.status_code == 401
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        # The embedded database was stopped: its postmaster.pid is gone.
        assert not (tmp_path / "data" / "pgdata" / "postmaster.pid").exists()
        logs = proc.stderr.read()
        assert '"request_id": "trace-123"' in logs  # JSON logs carry the request id
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_bootstrap_token_from_env_and_second_start_prints_nothing(committed, tmp_path):
    # An existing database that already has an admin: nothing is printed.
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)], cwd=ROOT,
        env=env(DATABASE_URL=committed.url, SOCIALGOV_DATA_DIR=str(tmp_path)), stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True,
    )
    try:
        await wait_healthy(f"http://127.0.0.1:{port}", proc)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert "sgv_" not in out
        assert not (tmp_path / "pgdata").exists()  # never started an embedded server
    finally:
        if proc.poll() is None:
            proc.kill()


def test_token_create_and_migrate_commands(committed):
    e = env(DATABASE_URL=committed.url)
    r = subprocess.run([sys.executable, "-m", "app.cli", "migrate"], cwd=ROOT, env=e, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "app.cli", "token", "create", "--service", "oncall",
                        "--scope", "crisis:declare"], cwd=ROOT, env=e, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    assert token.startswith("sgv_")
    r = subprocess.run([sys.executable, "-m", "app.cli", "token", "create", "--service", "x",
                        "--scope", "nonsense"], cwd=ROOT, env=e, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0


async def test_bootstrap_token_env(databases, tmp_path):
    name, url = await databases.clone()
    try:
        port = free_port()
        wanted = "sgv_" + "k" * 40
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)], cwd=ROOT,
            env=env(DATABASE_URL=url, SOCIALGOV_BOOTSTRAP_TOKEN=wanted), stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            await wait_healthy(base, proc)
            async with httpx.AsyncClient(base_url=base) as c:
                me = await c.get("/v1/me", headers={"Authorization": f"Bearer {wanted}"})
                assert me.status_code == 200 and me.json()["admin"] is True
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=30)
            assert wanted not in out  # it was the operator's own secret: never echoed
        finally:
            if proc.poll() is None:
                proc.kill()
    finally:
        await databases.drop(name)


async def test_restart_after_a_lockout_attempt_recovers_with_the_configured_token(databases, tmp_path):
    """deploy/ sets SOCIALGOV_BOOTSTRAP_TOKEN. The API refuses to remove the last admin; a lockout
    made behind its back (a careless DBA, expiry) is undone by the next start, with that token."""
    from app.db import create_engine

    name, url = await databases.clone()
    wanted = "sgv_" + "r" * 40
    auth = {"Authorization": f"Bearer {wanted}"}

    async def start() -> tuple[subprocess.Popen, str]:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)], cwd=ROOT,
            env=env(DATABASE_URL=url, SOCIALGOV_BOOTSTRAP_TOKEN=wanted), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        base = f"http://127.0.0.1:{port}"
        await wait_healthy(base, proc)
        return proc, base

    def stop(proc: subprocess.Popen) -> None:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        assert proc.returncode == 0

    try:
        proc, base = await start()
        try:
            async with httpx.AsyncClient(base_url=base, headers=auth) as c:
                me = (await c.get("/v1/me")).json()
                r = await c.patch(f"/v1/users/{me['id']}", json={"status": "offboarded"})
                assert r.status_code == 409 and r.json()["code"] == "last-admin"
                r = await c.delete(f"/v1/tokens/{me['token_id']}")
                assert r.status_code == 409 and r.json()["code"] == "last-admin"
                assert (await c.get("/v1/me")).json()["admin"] is True
        finally:
            stop(proc)
        # Locked out behind the service's back: the token revoked, its owner offboarded.
        engine = create_engine(url, pool_size=1, max_overflow=0)
        async with engine.begin() as conn:
            await conn.execute(sa_text("UPDATE api_tokens SET revoked_at = now()"))
            await conn.execute(sa_text("UPDATE users SET status = 'offboarded'"))
        await engine.dispose()
        for _ in range(2):  # the first start recovers, the second has nothing to do
            proc, base = await start()
            try:
                async with httpx.AsyncClient(base_url=base, headers=auth) as c:
                    me = await c.get("/v1/me")
                    assert me.status_code == 200 and me.json()["admin"] is True
            finally:
                stop(proc)
    finally:
        await databases.drop(name)


async def test_bootstrap_command_is_the_break_glass(committed):
    e = env(DATABASE_URL=committed.url)
    r = subprocess.run([sys.executable, "-m", "app.cli", "bootstrap"], cwd=ROOT, env=e, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and "nothing to do" in r.stderr and "sgv_" not in r.stdout
    async with committed.engine.begin() as conn:
        await conn.execute(sa_text("UPDATE api_tokens SET revoked_at = now()"))
    r = subprocess.run([sys.executable, "-m", "app.cli", "bootstrap"], cwd=ROOT, env=e, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip().split("=", 1)[1]
    me = await committed.client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["admin"] is True
