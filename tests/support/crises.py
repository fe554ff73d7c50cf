"""Shared test helpers (moved out of test modules: no test module imports another)."""
from __future__ import annotations

from tests.support.publishing import flow, newsroom  # noqa: F401 - fixtures


async def declare(api, lead, scope, status=201, **kw):
    r = await api.post("/v1/crises", {"severity": 3, "scope": scope, "reason": "product recall", **kw},
                       token=lead.token)
    assert r.status_code == status, r.text
    return r.json()
