"""`socialgov audit verify` as an operator runs it: a subprocess against a committed database."""
from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import asyncpg
import pytest

pytestmark = pytest.mark.committed

SOCIALGOV = Path(sys.executable).with_name("socialgov")


async def socialgov(url: str, *args: str) -> tuple[int, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALGOV_")}
    env["DATABASE_URL"] = url
    proc = await asyncio.create_subprocess_exec(
        str(SOCIALGOV), *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert out, err.decode()
    return proc.returncode, json.loads(out)


async def test_audit_verify_exits_0_on_an_intact_chain_and_1_when_tampered(committed):
    for _ in range(3):
        await committed.api.brand()

    code, report = await socialgov(committed.url, "audit", "verify", "--no-seal")
    assert code == 0 and report["ok"] is True and report["unsealed"] > 0 and report["head_seq"] is None

    code, report = await socialgov(committed.url, "audit", "verify")  # seals first, then walks
    assert code == 0, report
    assert report["ok"] is True and report["unsealed"] == 0 and report["head_seq"] >= 6

    conn = await asyncpg.connect(committed.url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("UPDATE audit_records SET subject_id = 'forged' WHERE seq = 4")
    finally:
        await conn.close()

    code, report = await socialgov(committed.url, "audit", "verify")
    assert code == 1
    assert report["ok"] is False and report["first_broken"]["seq"] == 4
