from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import secrets
import socket
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import uvicorn
from sqlalchemy import text
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.config import get_settings
from tests.support.posts import SCOPES, Flow, Newsroom, Person, newsroom  # noqa: F401 - fixture reuse


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
        self.respond_next: list[Response] = []  # canned answers (redirects, error pages) before succeeding
        self.landed: list[str] = []  # requests that reached /landing (where redirects point)
        self.hosts: list[str | None] = []  # the Host header of each delivery

    async def landing(self, request: Request):
        self.landed.append(request.method)
        return JSONResponse({"id": "landed"})

    async def publish(self, request: Request):
        raw = await request.body()
        Webhook(SECRET).verify(raw, dict(request.headers))  # raises on a bad signature
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.jitter:
            await asyncio.sleep(random.uniform(*self.jitter))
        self.received.append({"id": request.headers["webhook-id"], "body": json.loads(raw),
                              "at": datetime.now(UTC)})
        self.hosts.append(request.headers.get("host"))
        if self.respond_next:
            return self.respond_next.pop(0)
        if self.fail_next:
            return JSONResponse({"error": "busy"}, status_code=self.fail_next.pop(0))
        return JSONResponse({"id": f"platform-{len(self.received)}"})


@contextmanager

def connector_private(allowed: bool):
    """SOCIALGOV_CONNECTOR_ALLOW_PRIVATE for the duration; the service reads it via get_settings()."""
    name = "SOCIALGOV_CONNECTOR_ALLOW_PRIVATE"
    old = os.environ.get(name)
    os.environ[name] = "true" if allowed else "false"
    get_settings.cache_clear()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old
        get_settings.cache_clear()


@pytest.fixture
def allow_private():
    """A gateway on this host (127.0.0.1) is a private destination: allow it explicitly."""
    with connector_private(True):
        yield


@pytest.fixture
def refuse_private():
    """The production default, set explicitly so the environment cannot change it."""
    with connector_private(False):
        yield


@pytest.fixture
async def gateway(allow_private, local_gateway):
    return local_gateway


@pytest.fixture
async def local_gateway():
    """The gateway on 127.0.0.1, without allowing private destinations (see ``gateway``)."""
    gw = Gateway()
    app = Starlette(routes=[Route("/publish", gw.publish, methods=["POST"]),
                            Route("/landing", gw.landing, methods=["GET", "POST"])])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    gw.port = port
    gw.url = f"http://127.0.0.1:{port}/publish"
    yield gw
    server.should_exit = True
    await task


async def use_webhook(api, account_id, url, **kw):
    r = await api.client.put(f"/v1/accounts/{account_id}/connector", headers=api.h(),
                             json={"kind": "webhook", "url": url, "secret": SECRET, "timeout_seconds": 1, **kw})
    assert r.status_code == 200, r.text
