"""The request path's round-trip savings keep their guarantees: no ping on checkout, yet a
dead connection costs the caller nothing; a read sends no BEGIN/COMMIT."""
from __future__ import annotations

import uuid

from sqlalchemy import text

from app.db import create_engine
from app.sql import Statement


async def _kill_app_connections(committed) -> int:
    """What a database restart does to the app's pooled connections (from outside its pool)."""
    killer = create_engine(committed.url, pool_size=1, max_overflow=0)
    try:
        async with killer.connect() as conn:
            return (await conn.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            ))).scalar()
    finally:
        await killer.dispose()


async def test_a_request_on_a_dead_pooled_connection_is_answered(committed):
    api = committed.api
    # Warm the pool with connections, then kill every one the server has open for it.
    for _ in range(3):
        assert (await api.get("/v1/me")).status_code == 200
    assert await _kill_app_connections(committed) >= 1
    # No pre-ping: the request finds the connection dead, the pool is invalidated, run again.
    for _ in range(3):
        r = await api.get("/v1/me")
        assert r.status_code == 200, r.text
    user = await api.post("/v1/users", {"email": f"x{uuid.uuid4().hex[:8]}@example.com",
                                                  "display_name": "After a restart"})
    assert user.status_code == 201, user.text


async def test_a_write_after_a_dead_connection_is_applied_once(committed):
    api = committed.api
    assert (await api.get("/v1/me")).status_code == 200
    await _kill_app_connections(committed)
    email = f"once{uuid.uuid4().hex[:8]}@example.com"
    r = await api.post("/v1/users", {"email": email, "display_name": "Once"})
    assert r.status_code == 201, r.text
    async with committed.engine.connect() as conn:
        n = (await conn.execute(text("SELECT count(*) FROM users WHERE email = :e"), {"e": email})).scalar()
        audited = (await conn.execute(text(
            "SELECT count(*) FROM audit_records WHERE action = 'user.created' AND subject_id = :i"),
            {"i": r.json()["id"]})).scalar()
    assert (n, audited) == (1, 1)


def test_statement_parameters_become_positional_once():
    s = Statement("SELECT :a::text, :b, :a, 'x'::int WHERE y = :b_c")
    assert s.sql == "SELECT $1::text, $2, $1, 'x'::int WHERE y = $3"
    assert s.names == ("a", "b", "b_c")
