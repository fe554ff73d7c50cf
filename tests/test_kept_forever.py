"""Grants are never deleted, users are offboarded, not removed ... and the database agrees."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

TABLES = ("users", "service_principals", "api_tokens", "access_grants", "brands", "accounts", "posts",
          "content_rules", "approval_policies", "crises", "crisis_events", "publications")


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("statement", ["DELETE FROM {t}", "TRUNCATE {t} CASCADE"])
async def test_history_cannot_be_deleted(api, session, table, statement):
    await api.grant((await api.user())["id"], "viewer")  # a user, a grant and tokens exist
    with pytest.raises(DBAPIError, match="never deleted"):
        async with session.begin_nested():
            await session.execute(text(statement.format(t=table)))
