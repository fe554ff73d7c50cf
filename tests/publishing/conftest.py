from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.posts.conftest import SCOPES, Flow, Newsroom, Person, newsroom  # noqa: F401 - fixture reuse


def later(**kw) -> str:
    return (datetime.now(UTC) + timedelta(**kw)).isoformat()


@pytest.fixture
def flow(api, newsroom) -> Flow:  # noqa: F811
    return Flow(api, newsroom)


async def approved(flow: Flow, body: str = "Happy Friday from Acme!") -> dict:
    post = await flow.submitted(body)
    return await flow.act(post, "approve", flow.room.editor)


async def scheduled(flow: Flow, body: str = "Happy Friday from Acme!", **kw) -> dict:
    post = await approved(flow, body)
    return await flow.act(post, "schedule", flow.room.publisher, {"scheduled_at": later(**(kw or {"hours": 1}))})


async def make_due(session, post_id: str) -> None:
    await session.execute(text("UPDATE posts SET scheduled_at = now() - interval '1 second' WHERE id = :i"),
                          {"i": post_id})
    await session.commit()


async def crisis_lead(api) -> Person:
    u = await api.user()
    await api.grant(u["id"], "crisis_lead")
    return Person(u["id"], await api.token_for(u["id"], scopes=(*SCOPES, "crisis:declare", "crisis:resolve")))
