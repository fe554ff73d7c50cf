"""One error hierarchy. Services raise AppError subclasses; adapters render them.

REST renders RFC 9457 problem+json with ``type = https://socialgov.dev/problems/<code>``.
"""
from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "https://socialgov.dev/problems/"
PROBLEM_JSON = "application/problem+json"


class AppError(Exception):
    code: ClassVar[str] = "error"
    title: ClassVar[str] = "Error"
    status: ClassVar[int] = 400

    def __init__(self, detail: str | None = None, *, pointer: str | None = None, **extra: Any):
        self.detail = detail or self.title
        self.pointer = pointer
        self.extra = extra
        super().__init__(self.detail)

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance:
            body["instance"] = instance
        if self.pointer:
            body["pointer"] = self.pointer
            body.setdefault("errors", [{"detail": self.detail, "pointer": self.pointer}])
        body.update(self.extra)
        return body

    def headers(self) -> dict[str, str]:
        return {}


class NotFound(AppError):
    code = "not-found"
    title = "Not found"
    status = 404


class RouteNotFound(NotFound):
    code = "route-not-found"
    title = "No such route"


class MethodNotAllowed(AppError):
    code = "method-not-allowed"
    title = "Method not allowed"
    status = 405


class Unauthenticated(AppError):
    code = "unauthenticated"
    title = "Authentication required"
    status = 401

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="socialgov"'}


class Forbidden(AppError):
    code = "forbidden"
    title = "Not allowed"
    status = 403


class InsufficientScope(Forbidden):
    code = "insufficient-scope"
    title = "The token lacks a scope this call needs"


class ValidationFailed(AppError):
    code = "validation-error"
    title = "The request is not valid"
    status = 422


class MalformedJson(AppError):
    code = "malformed-json"
    title = "The request body is not valid JSON"
    status = 422


class InvalidValue(AppError):
    code = "invalid-value"
    title = "A value cannot be stored"
    status = 422


class Conflict(AppError):
    code = "conflict"
    title = "Conflict with the current state"
    status = 409


class IdempotencyKeyInUse(Conflict):
    code = "idempotency-key-in-flight"
    title = "A request with this Idempotency-Key is still being processed"


class IdempotencyKeyReused(AppError):
    code = "idempotency-key-reused"
    title = "This Idempotency-Key was used with a different request"
    status = 422


class InvalidIdempotencyKey(AppError):
    code = "invalid-idempotency-key"
    title = "The Idempotency-Key header is not valid"
    status = 400


class PreconditionFailed(AppError):
    code = "precondition-failed"
    title = "The resource changed since you read it"
    status = 412


class PreconditionRequired(AppError):
    code = "precondition-required"
    title = "This request must name the version it changes"
    status = 428


class ServiceUnavailable(AppError):
    code = "service-unavailable"
    title = "Service unavailable"
    status = 503


class InternalError(AppError):
    code = "internal-error"
    title = "Internal server error"
    status = 500


class ConcurrentUpdate(AppError):
    code = "concurrent-update"
    title = "A concurrent change got there first; retry"
    status = 409


# --- REST renderer ------------------------------------------------------------------------

import logging  # noqa: E402

from fastapi import FastAPI, Request  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402
from sqlalchemy.exc import DBAPIError  # noqa: E402
from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: E402

log = logging.getLogger("socialgov.errors")


def problem_response(request: Request, exc: AppError) -> JSONResponse:
    return JSONResponse(
        exc.problem(instance=request.url.path),
        status_code=exc.status,
        media_type=PROBLEM_JSON,
        headers=exc.headers(),
    )


def _location(loc: tuple) -> tuple[str, str]:
    """FastAPI's ``loc`` -> (member name, value): JSON Pointer for bodies, names otherwise."""
    where, *rest = loc or ("body",)
    if where == "body":
        return "pointer", "#" + "".join(f"/{str(p).replace('~', '~0').replace('/', '~1')}" for p in rest)
    if where == "query":
        return "parameter", str(rest[0]) if rest else ""
    if where == "path":
        return "path_parameter", str(rest[0]) if rest else ""
    if where == "header":
        return "header", str(rest[0]) if rest else ""
    return "pointer", "#/" + "/".join(map(str, loc))


def validation_problem(exc: RequestValidationError) -> AppError:
    errors = []
    for err in exc.errors():
        member, value = _location(tuple(err.get("loc", ())))
        message = str(err.get("msg", "invalid value"))
        if err.get("type") == "json_invalid":
            ctx = err.get("ctx") or {}
            return MalformedJson(
                f"The body is not valid JSON: {ctx.get('error', message)}.",
                errors=[{"detail": message, "pointer": "#"}],
            )
        errors.append({"detail": message, member: value, "type": err.get("type")})
    first = errors[0] if errors else {"detail": "invalid request"}
    where = next((first[k] for k in ("pointer", "parameter", "path_parameter", "header") if k in first), "")
    return ValidationFailed(f"{where or 'request'}: {first['detail']}", errors=errors)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError):
        return problem_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        return problem_response(request, validation_problem(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            err: AppError = RouteNotFound(f"No route {request.method} {request.url.path}.")
        elif exc.status_code == 405:
            err = MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}.")
            resp = problem_response(request, err)
            if exc.headers and "Allow" in exc.headers:
                resp.headers["Allow"] = exc.headers["Allow"]
            return resp
        else:
            err = AppError(str(exc.detail))
            err.status = exc.status_code  # type: ignore[misc]
        return problem_response(request, err)

    @app.exception_handler(DBAPIError)
    async def _db(request: Request, exc: DBAPIError):
        sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None) or ""
        if sqlstate.startswith("22"):  # data exception: a value PostgreSQL cannot take
            return problem_response(request, InvalidValue("A value in the request cannot be stored."))
        if sqlstate in ("40001", "40P01", "55P03"):
            return problem_response(request, ConcurrentUpdate("A concurrent change got there first; retry."))
        log.exception("database error", extra={"sqlstate": sqlstate})
        return problem_response(request, InternalError("An internal error occurred."))

    @app.exception_handler(Exception)
    async def _unknown(request: Request, exc: Exception):
        log.exception("unhandled error")
        return problem_response(request, InternalError("An internal error occurred."))
