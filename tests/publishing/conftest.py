from __future__ import annotations

import asyncio
import base64
import json
import random
import secrets
import socket
from datetime import UTC, datetime, timedelta

import pytest
import uvicorn
from sqlalchemy import text
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

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


SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Gateway:
    def __init__(self):
        self.received: list[dict] = []
        self.fail_next: list[int] = []  # statuses to answer before succeeding
        self.delay = 0.0
        self.jitter: tuple[float, float] | None = None

    async def publish(self, request: Request):
        raw = await request.body()
        Webhook(SECRET).verify(raw, dict(request.headers))  # raises on a bad signature
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.jitter:
            await asyncio.sleep(random.uniform(*self.jitter))
        self.received.append({"id": request.headers["webhook-id"], "body": json.loads(raw),
                              "at": datetime.now(UTC)})
        if self.fail_next:
            return JSONResponse({"error": "busy"}, status_code=self.fail_next.pop(0))
        return JSONResponse({"id": f"platform-{len(self.received)}"})


@pytest.fixture
async def gateway():
    gw = Gateway()
    app = Starlette(routes=[Route("/publish", gw.publish, methods=["POST"])])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    gw.url = f"http://127.0.0.1:{port}/publish"
    yield gw
    server.should_exit = True
    await task


async def use_webhook(api, account_id, url, **kw):
    r = await api.client.put(f"/v1/accounts/{account_id}/connector", headers=api.h(),
                             json={"kind": "webhook", "url": url, "secret": SECRET, "timeout_seconds": 1, **kw})
    assert r.status_code == 200, r.text
