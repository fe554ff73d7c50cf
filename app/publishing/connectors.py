"""Connectors: how a post leaves socialgov. One interface; ``log`` (default) and ``webhook``.

``log`` publishes by recording the exact content in the ``publications`` table (written by
the service in the same transaction as the post's new status). ``webhook`` POSTs the post to
a company publishing gateway, signed with Standard Webhooks headers; 2xx = published. The
``webhook-id`` is stable per post revision, so a gateway that dedupes on it (as the
standard asks) never publishes a retried delivery twice.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import httpx
from standardwebhooks import Webhook

RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Outgoing:
    post_id: uuid.UUID
    account_id: uuid.UUID
    platform: str
    handle: str
    revision: int
    content_hash: str
    body: str
    link: str | None
    media: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    attempt: int = 1

    @property
    def message_id(self) -> str:
        return f"post_{self.post_id}_r{self.revision}"

    def payload(self, event: str) -> dict:
        data = {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in asdict(self).items()}
        return {"type": event, "data": data}


@dataclass(frozen=True)
class SendResult:
    ok: bool
    retryable: bool = False
    status: int | None = None
    external_id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class ConnectorConfig:
    kind: str = "log"
    url: str | None = None
    secret: str | None = None
    timeout_seconds: float = 10.0
    max_attempts: int = 5


class Connector(Protocol):
    kind: str

    async def send(self, out: Outgoing) -> SendResult: ...

    async def retract(self, out: Outgoing) -> SendResult: ...


class LogConnector:
    kind = "log"

    async def send(self, out: Outgoing) -> SendResult:
        return SendResult(ok=True, external_id=f"log:{out.message_id}")

    async def retract(self, out: Outgoing) -> SendResult:
        return SendResult(ok=True)


class WebhookConnector:
    kind = "webhook"

    def __init__(self, config: ConnectorConfig):
        assert config.url and config.secret
        self.url = config.url
        self.signer = Webhook(config.secret)
        self.timeout = config.timeout_seconds

    async def _post(self, msg_id: str, payload: dict) -> SendResult:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self.signer.sign(msg_id, now, body),
        }
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                r = await client.post(self.url, content=body.encode(), headers=headers)
        except httpx.TimeoutException:
            return SendResult(ok=False, retryable=True, error=f"gateway timed out after {self.timeout}s")
        except httpx.HTTPError as exc:
            return SendResult(ok=False, retryable=True, error=f"gateway unreachable: {type(exc).__name__}")
        if 200 <= r.status_code < 300:
            external = None
            try:
                doc = r.json()
                external = str(doc.get("id")) if isinstance(doc, dict) and doc.get("id") is not None else None
            except ValueError:
                pass
            return SendResult(ok=True, status=r.status_code, external_id=external)
        return SendResult(ok=False, retryable=r.status_code in RETRYABLE_STATUS, status=r.status_code,
                          error=f"gateway answered {r.status_code}: {r.text[:300]}")

    async def send(self, out: Outgoing) -> SendResult:
        return await self._post(out.message_id, out.payload("post.publish"))

    async def retract(self, out: Outgoing) -> SendResult:
        return await self._post(out.message_id + "_retract", out.payload("post.retract"))


def connector_for(config: ConnectorConfig) -> Connector:
    return WebhookConnector(config) if config.kind == "webhook" else LogConnector()


def backoff_seconds(attempt: int) -> float:
    """1, 2, 4, 8 ... seconds, capped at five minutes."""
    return float(min(300, 2 ** max(0, attempt - 1)))
