"""Signed checkpoints of the audit chain's head: published by the sealer, append-only, checked
by GET /v1/audit/verify against every stored one and by `socialgov audit verify --checkpoint`
against one the verifier saved outside the database — so a chain cut short at its end (its
newest records deleted with triggers off) no longer verifies."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asyncpg
import pytest
from structlog.testing import capture_logs
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from app.audit import jobs, service, signing
from app.config import Settings
from app.main import _sealer, create_app
from app.security import SYSTEM
from tests.support.app import Api, make_client

SOCIALGOV = Path(sys.executable).with_name("socialgov")


def sealer_settings(key: str | None, interval: float = 0.0) -> Settings:
    return Settings(database_url="postgresql://unused", audit_seal_interval=0, audit_checkpoint_key=key,
                    audit_checkpoint_interval=interval)


@pytest.fixture(scope="module")
def key() -> tuple[str, str, str]:
    """(private seed, public key, key id), as `socialgov audit keygen` prints them."""
    return signing.generate()


async def write(maker, n: int, subject: str = "cp") -> None:
    async with maker() as s:
        for i in range(n):
            await service.record(s, SYSTEM, "thing.made", subject, str(i), after={"i": i})
        await s.commit()


def independently_valid(public_b64: str, item: dict) -> bool:
    """Checks a checkpoint as README "Audit" tells an auditor to, with cryptography only."""
    moment = datetime.fromisoformat(item["created_at"]).astimezone(UTC)
    message = (f"socialgov audit checkpoint v1\n{item['seq']}\n{item['hash']}\n"
               f"{moment:%Y-%m-%dT%H:%M:%S.%fZ}\n").encode()
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64)).verify(
            base64.b64decode(item["signature"]), message)
    except Exception:
        return False
    return True


async def is_superuser(session) -> bool:
    return bool((await session.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))).scalar())


@contextlib.asynccontextmanager
async def triggers_off(maker) -> AsyncIterator:
    """What an attacker with a superuser login does: triggers off on their own connection (here the
    test's connection, for this transaction only), then back on."""
    async with maker() as s:
        if not await is_superuser(s):
            pytest.skip("the test database role is not a superuser: cannot bypass triggers")
        await s.execute(text("SET LOCAL session_replication_role = replica"))
        try:
            yield s
        finally:
            await s.execute(text("SET LOCAL session_replication_role = origin"))
            await s.commit()


@pytest.fixture
async def signed_api(maker, admin_token, key) -> AsyncIterator[Api]:
    """The API of a deployment whose sealer signs with ``key``."""
    app = create_app(sealer_settings(key[0]), sessionmaker=maker)
    async with make_client(app) as c:
        yield Api(c, admin_token)


async def checkpoints(api: Api) -> dict:
    return await api.ok("GET", "/v1/audit/checkpoints")


class TestPublishing:
    async def test_a_pass_that_sealed_writes_a_checkpoint_of_the_head_signed_with_the_key(self, signed_api, maker, key):
        _, public, key_id = key
        await write(maker, 3)
        with capture_logs() as logs:
            sealed = await jobs.seal_once(maker, sealer_settings(key[0]))
        head = await signed_api.ok("GET", "/v1/audit/verify")
        page = await checkpoints(signed_api)

        assert page["public_key"] == public and page["key_id"] == key_id
        [item] = page["items"]
        assert item["seq"] == head["head_seq"] == sealed and item["hash"] == head["head_hash"]
        assert item["key_id"] == key_id and item["signature"]
        assert independently_valid(public, item)
        assert service.signature_problem(service.parse_checkpoint(item), signing.public_key(public)) is None
        [line] = [e for e in logs if e["event"] == "audit checkpoint"]
        assert line["log_level"] == "info"
        assert (line["seq"], line["hash"], line["signature"], line["key_id"]) == (
            item["seq"], item["hash"], item["signature"], key_id)
        assert head["checkpoint"]["matches"] is True and head["checkpoint"]["signature_ok"] is True
        assert head["checkpoints_checked"] == 1

    async def test_another_key_does_not_verify_it(self, signed_api, maker, key):
        await write(maker, 1)
        await jobs.seal_once(maker, sealer_settings(key[0]))
        [item] = (await checkpoints(signed_api))["items"]
        _, other_public, _ = signing.generate()
        assert not independently_valid(other_public, item)
        assert "does not verify" in service.signature_problem(service.parse_checkpoint(item),
                                                              signing.public_key(other_public))

    async def test_at_most_one_per_interval_and_none_while_the_head_stands_still(self, signed_api, maker, key):
        await write(maker, 2)
        await jobs.seal_once(maker, sealer_settings(key[0], interval=60))
        await write(maker, 2)
        assert await jobs.seal_once(maker, sealer_settings(key[0], interval=60)) == 2
        assert len((await checkpoints(signed_api))["items"]) == 1  # within the interval

        # Interval 0: after every pass that sealed — and the head left uncovered above is covered now.
        assert await jobs.seal_once(maker, sealer_settings(key[0])) == 0
        assert await jobs.seal_once(maker, sealer_settings(key[0])) == 0  # the head stands still
        page = await checkpoints(signed_api)
        head = await signed_api.ok("GET", "/v1/audit/verify")
        assert [i["seq"] for i in page["items"]] == [head["head_seq"], head["head_seq"] - 2]  # newest first
        await write(maker, 1)
        await jobs.seal_once(maker, sealer_settings(key[0]))
        assert (await checkpoints(signed_api))["items"][0]["seq"] == head["head_seq"] + 1

    async def test_pages_newest_first_with_a_cursor(self, signed_api, maker, key):
        for _ in range(3):
            await write(maker, 1)
            await jobs.seal_once(maker, sealer_settings(key[0]))
        first = await signed_api.ok("GET", "/v1/audit/checkpoints?limit=2")
        assert len(first["items"]) == 2 and first["next_cursor"]
        rest = await signed_api.ok("GET", f"/v1/audit/checkpoints?limit=2&cursor={first['next_cursor']}")
        seqs = [i["seq"] for i in first["items"] + rest["items"]]
        assert seqs == sorted(seqs, reverse=True) and len(seqs) == 3 and rest["next_cursor"] is None

    async def test_without_a_key_checkpoints_are_written_unsigned_and_say_so(self, api, maker):
        await write(maker, 2)
        with capture_logs() as logs:
            await jobs.seal_once(maker, sealer_settings(None))
        page = await checkpoints(api)
        [item] = page["items"]
        assert item["signature"] is None and item["key_id"] is None
        assert page["public_key"] is None and page["key_id"] is None
        [line] = [e for e in logs if e["event"] == "audit checkpoint"]
        assert line["log_level"] == "warning" and line["signature"] is None
        assert "not signed" in line["unsigned"]

    async def test_a_malformed_key_seals_nothing_and_never_echoes_the_key(self, maker):
        await write(maker, 1)
        bad = "not-a-key-" + "x" * 20
        with pytest.raises(ValueError, match="SOCIALGOV_AUDIT_CHECKPOINT_KEY") as info:
            await jobs.seal_once(maker, sealer_settings(bad))
        assert bad not in str(info.value)
        async with maker() as s:
            assert (await service.verify(s)).unsealed >= 1

    async def test_a_malformed_key_leaves_reading_the_audit_working(self, maker, admin_token):
        app = create_app(sealer_settings("not base64!"), sessionmaker=maker)
        async with make_client(app) as c:
            api = Api(c, admin_token)
            assert (await api.ok("GET", "/v1/audit/verify"))["ok"] is True
            assert (await checkpoints(api))["public_key"] is None

    async def test_a_forged_checkpoint_dated_in_the_future_does_not_silence_checkpoints(self, signed_api, maker, key):
        await write(maker, 1)
        await jobs.seal_once(maker, sealer_settings(key[0], interval=60))
        async with maker() as s:
            await s.execute(text(
                "INSERT INTO audit_checkpoints (seq, hash, created_at, signature, key_id)"
                " SELECT seq, hash, now() + interval '10 years', NULL, NULL FROM audit_checkpoints"))
            await s.commit()
        await write(maker, 1)
        await jobs.seal_once(maker, sealer_settings(key[0], interval=60))
        newest = (await checkpoints(signed_api))["items"][0]
        assert newest["key_id"] == key[2] and newest["seq"] == (await signed_api.ok("GET", "/v1/audit/verify"))["head_seq"]


class TestAppendOnly:
    @pytest.fixture
    async def stored(self, maker, key):
        await write(maker, 2)
        await jobs.seal_once(maker, sealer_settings(key[0]))
        async with maker() as s:
            yield s

    @pytest.mark.parametrize("statement", [
        "UPDATE audit_checkpoints SET seq = seq - 1",
        "UPDATE audit_checkpoints SET signature = NULL",
        "DELETE FROM audit_checkpoints",
        "TRUNCATE audit_checkpoints",
    ])
    async def test_refuses_changes_deletes_and_truncate(self, stored, statement):
        with pytest.raises(DBAPIError) as info:
            async with stored.begin_nested():
                await stored.execute(text(statement))
        assert "append-only" in str(info.value)
        assert (await stored.execute(text("SELECT count(*) FROM audit_checkpoints"))).scalar() == 1


class TestVerifyAgainstStoredCheckpoints:
    async def sealed(self, maker, key, n: int = 6) -> int:
        await write(maker, n)
        await jobs.seal_once(maker, sealer_settings(key[0]))
        async with maker() as s:
            result = await service.verify(s)
        assert result.ok and result.checkpoint["seq"] == result.head_seq
        return result.head_seq

    async def test_deleting_the_newest_records_is_broken_against_the_checkpoint(self, signed_api, maker, key):
        head = await self.sealed(maker, key)
        async with triggers_off(maker) as s:
            await s.execute(text("DELETE FROM audit_records WHERE seq > :cut"), {"cut": head - 2})

        result = await signed_api.ok("GET", "/v1/audit/verify")
        assert result["ok"] is False
        assert result["head_seq"] == head - 2  # the links that are left are intact: only the checkpoint knows
        assert result["first_broken"] == {
            "seq": head - 1, "id": None,
            "reason": f"the chain is shorter than checkpoint {head}: it ends at seq {head - 2}"}
        assert result["checkpoint"]["seq"] == head and result["checkpoint"]["matches"] is False
        assert result["checkpoint"]["signature_ok"] is True

    async def test_rehashing_the_tail_after_an_edit_disagrees_with_the_checkpoint(self, signed_api, maker, key):
        head = await self.sealed(maker, key)
        async with triggers_off(maker) as s:  # edit seq 3 and re-chain everything after it
            await s.execute(text("UPDATE audit_records SET after = '{\"i\": 99}' WHERE seq = 3"))
            rows = await service.repository.sealed_after(s, None, 100)
            prev = service.GENESIS
            for rec in rows:
                digest = service.chain_hash(prev, rec, rec.seq)
                await s.execute(text("UPDATE audit_records SET prev_hash = :p, hash = :h WHERE id = :id"),
                                {"p": prev, "h": digest, "id": rec.id})
                prev = digest

        result = await signed_api.ok("GET", "/v1/audit/verify")
        assert result["ok"] is False and result["head_seq"] == head - 1
        assert result["first_broken"]["seq"] == head
        assert result["first_broken"]["reason"] == (
            f"the chain disagrees with checkpoint {head}: record {head} has another hash")

    async def test_a_chain_regrown_past_a_cut_stays_broken(self, signed_api, maker, key):
        head = await self.sealed(maker, key)
        async with triggers_off(maker) as s:
            await s.execute(text("DELETE FROM audit_records WHERE seq > :cut"), {"cut": head - 2})
        await write(maker, 4)
        await jobs.seal_once(maker, sealer_settings(key[0]))  # re-seals seq head-1 … head+2, checkpoints it

        result = await signed_api.ok("GET", "/v1/audit/verify")
        # The newest checkpoint agrees with the regrown head, but an older one does not: all are checked.
        assert result["checkpoint"]["seq"] == head + 2 and result["checkpoint"]["matches"] is None
        assert result["ok"] is False
        assert result["first_broken"]["reason"] == (
            f"the chain disagrees with checkpoint {head}: record {head} has another hash")

    async def test_a_forged_stored_checkpoint_is_reported(self, signed_api, maker, key):
        head = await self.sealed(maker, key)
        async with maker() as s:  # INSERT needs no bypass; the signature cannot be forged
            row = (await s.execute(text("SELECT seq, hash, created_at, key_id FROM audit_checkpoints"))).one()
            await s.execute(text(
                "INSERT INTO audit_checkpoints (seq, hash, created_at, signature, key_id)"
                " VALUES (:seq, :hash, now(), :sig, :kid)"),
                {"seq": row.seq, "hash": row.hash, "sig": base64.b64encode(b"\0" * 64).decode(), "kid": row.key_id})
            await s.commit()

        result = await signed_api.ok("GET", "/v1/audit/verify")
        assert result["ok"] is False and result["head_seq"] == head
        assert result["checkpoint"]["signature_ok"] is False
        assert result["first_broken"]["reason"] == (
            f"the signature of checkpoint {head} does not verify with the configured key {key[2]}")


# --- the verifier's own copy: `socialgov audit verify --checkpoint` ---------------------------

async def socialgov(url: str, *args: str, **env_extra: str) -> tuple[int, dict, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALGOV_")}
    env.update(DATABASE_URL=url, **env_extra)
    proc = await asyncio.create_subprocess_exec(
        str(SOCIALGOV), *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert out, err.decode()
    return proc.returncode, json.loads(out), err.decode()


@contextlib.asynccontextmanager
async def superuser(url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        if not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
            pytest.skip("the test database role is not a superuser: cannot bypass triggers")
        await conn.execute("SET session_replication_role = replica")
        yield conn
    finally:
        await conn.close()


@contextlib.contextmanager
def serving(body: bytes) -> Iterator[tuple[str, list]]:
    """An HTTP server holding a saved checkpoint (object storage, say); records Authorization."""
    seen: list = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/checkpoint.json", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.committed
class TestSavedCheckpoint:
    @pytest.fixture
    async def saved(self, committed, key, tmp_path) -> tuple[Path, dict]:
        """The auditor's daily job: save the latest page of checkpoints outside the database."""
        for _ in range(3):
            await committed.api.brand()
        await jobs.seal_once(committed.maker, sealer_settings(key[0]))
        page = await committed.api.ok("GET", "/v1/audit/checkpoints")
        path = tmp_path / "checkpoint.json"
        path.write_text(json.dumps(page))
        return path, page["items"][0]

    async def test_a_cut_chain_is_broken_even_when_the_stored_checkpoints_are_gone(self, committed, key, saved):
        path, item = saved
        code, report, _ = await socialgov(committed.url, "audit", "verify", "--checkpoint", str(path),
                                          SOCIALGOV_AUDIT_CHECKPOINT_KEY=key[0])  # public key derived from it
        assert code == 0, report
        assert report["saved_checkpoint"]["matches"] is True and report["saved_checkpoint"]["signature_ok"] is True

        head = item["seq"]
        async with superuser(committed.url) as conn:
            await conn.execute("DELETE FROM audit_records WHERE seq > $1", head - 2)
            await conn.execute("DELETE FROM audit_checkpoints")
        async with committed.maker() as s:
            assert (await service.verify(s)).ok  # what the database alone says now

        code, report, err = await socialgov(committed.url, "audit", "verify", "--checkpoint", str(path),
                                            "--public-key", key[1])
        assert code == 1
        assert report["ok"] is False and report["head_seq"] == head - 2 and report["checkpoint"] is None
        assert report["first_broken"]["reason"] == (
            f"the chain is shorter than saved checkpoint {head}: it ends at seq {head - 2}")
        assert f"shorter than saved checkpoint {head}" in err

    async def test_a_rehashed_chain_disagrees_with_the_saved_checkpoint(self, committed, key, saved):
        path, item = saved
        async with superuser(committed.url) as conn:  # edit seq 1, re-chain everything, drop the evidence
            await conn.execute("DELETE FROM audit_checkpoints")
            await conn.execute("UPDATE audit_records SET after = '{}' WHERE seq = 1")
            async with committed.maker() as s:
                rows = await service.repository.sealed_after(s, None, 1000)
            prev = service.GENESIS
            for rec in rows:
                digest = service.chain_hash(prev, rec, rec.seq)
                await conn.execute("UPDATE audit_records SET prev_hash = $1, hash = $2 WHERE id = $3",
                                   prev, digest, rec.id)
                prev = digest

        code, report, err = await socialgov(committed.url, "audit", "verify", "--checkpoint", str(path),
                                            "--public-key", key[1])
        assert code == 1 and report["ok"] is False
        assert report["first_broken"]["reason"] == (
            f"the chain disagrees with saved checkpoint {item['seq']}: record {item['seq']} has another hash")

    async def test_a_forged_checkpoint_file_is_refused(self, committed, key, saved, tmp_path):
        path, item = saved
        forged = tmp_path / "forged.json"
        for change in ({"seq": item["seq"] - 1}, {"hash": "0" * 64}, {"signature": None}):
            forged.write_text(json.dumps({**item, **change}))
            code, report, err = await socialgov(committed.url, "audit", "verify", "--checkpoint", str(forged),
                                                "--public-key", key[1])
            assert code == 1, change
            assert report["ok"] is False and "saved checkpoint" in report["error"], change
            assert err.startswith("refused: "), err

        _, other_public, _ = signing.generate()  # a genuine checkpoint, but not by the key the auditor trusts
        code, report, err = await socialgov(committed.url, "audit", "verify", "--checkpoint", str(path),
                                            "--public-key", other_public)
        assert code == 1 and "does not verify" in report["error"]

    async def test_the_checkpoint_can_be_fetched_from_a_url_with_the_bearer_token(self, committed, key, saved):
        path, item = saved
        with serving(path.read_bytes()) as (url, seen):
            code, report, _ = await socialgov(committed.url, "audit", "verify", "--checkpoint", url,
                                              "--public-key", key[1], SOCIALGOV_TOKEN="sgv_auditor_token")
        assert code == 0, report
        assert report["saved_checkpoint"]["seq"] == item["seq"] and report["saved_checkpoint"]["matches"] is True
        assert seen == ["Bearer sgv_auditor_token"]

    async def test_an_unreadable_checkpoint_is_a_usage_error(self, committed, tmp_path):
        missing = tmp_path / "nope.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALGOV_")}
        proc = await asyncio.create_subprocess_exec(
            str(SOCIALGOV), "audit", "verify", "--checkpoint", str(missing), env={**env, "DATABASE_URL": committed.url},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate()
        assert proc.returncode == 2 and "cannot read" in err.decode()

    async def test_the_api_process_sealer_publishes_signed_checkpoints(self, committed, key):
        await committed.api.brand()
        task = asyncio.create_task(_sealer(committed.maker, 0.01, sealer_settings(key[0])))
        try:
            for _ in range(500):
                page = await committed.api.ok("GET", "/v1/audit/checkpoints")
                if page["items"]:
                    break
                await asyncio.sleep(0.01)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        [item] = page["items"]
        assert item["key_id"] == key[2] and independently_valid(key[1], item)


def test_keygen_prints_a_private_key_and_its_public_key():
    from app.cli import app

    result = CliRunner().invoke(app, ["audit", "keygen"])
    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout)
    private = signing.private_key(made["private_key"])
    assert signing.public_b64(private.public_key()) == made["public_key"]
    assert signing.key_id(private.public_key()) == made["key_id"]
    assert len(base64.b64decode(made["private_key"])) == 32
    moment = datetime.now(UTC)
    assert signing.valid(signing.public_key(made["public_key"]),
                         signing.sign(private, 7, "a" * 64, moment), 7, "a" * 64, moment)
