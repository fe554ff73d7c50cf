"""Per-request facts that the audit and the logs carry (request id, client IP, correlation)."""
from __future__ import annotations

from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
client_ip: ContextVar[str | None] = ContextVar("client_ip", default=None)
correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
