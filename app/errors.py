"""One error hierarchy. Services raise AppError subclasses; adapters render them.

REST renders RFC 9457 problem+json with ``type = https://socialgov.dev/problems/<code>``.
"""
from __future__ import annotations

from http import HTTPStatus
from typing import Any, ClassVar

PROBLEM_BASE = "https://socialgov.dev/problems/"
PROBLEM_JSON = "application/problem+json"

# Where bad input sits, as RFC 9457 ``errors[]`` members: a JSON Pointer into the body,
# a query/path parameter name, or a header name.
_LOCATIONS = ("pointer", "parameter", "path_parameter", "header")


class AppError(Exception):
    code: ClassVar[str] = "error"
    title: ClassVar[str] = "Error"
    status: ClassVar[int] = 400

    def __init__(self, detail: str | None = None, *, pointer: str | None = None, **extra: Any):
        self.detail = detail or self.title
        self.pointer = pointer
        self.extra = extra
        super().__init__(self.detail)

    def location(self) -> tuple[str, str] | None:
        """The offending field named by ``pointer=``, ``parameter=``, ``path_parameter=`` or ``header=``."""
        if self.pointer:
            return "pointer", self.pointer
        for member in _LOCATIONS[1:]:
            value = self.extra.get(member)
            if isinstance(value, str) and value:
                return member, value
        return None

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
        body.update(self.extra)
        where = self.location()
        if where is not None and "errors" not in body:
            # Clients find the offending field in one place, whatever raised the error.
            body["errors"] = [{"detail": self.detail, where[0]: where[1]}]
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

    def __init__(self, detail: str | None = None, **extra: Any):
        extra.setdefault("header", "Authorization")
        super().__init__(detail, **extra)

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="socialgov"'}


class Forbidden(AppError):
    code = "forbidden"
    title = "Not allowed"
    status = 403


class InsufficientScope(Forbidden):
    code = "insufficient-scope"
    title = "The token lacks a scope this call needs"

    def headers(self) -> dict[str, str]:
        # RFC 6750 section 3.1: the resource server names the scope it wants.
        scopes = self.extra.get("required_scopes") or []
        value = 'Bearer realm="socialgov", error="insufficient_scope"'
        if scopes:
            value += f', scope="{" ".join(scopes)}"'
        return {"WWW-Authenticate": value}


class BadRequest(AppError):
    code = "bad-request"
    title = "The request cannot be understood"
    status = 400


class ValidationFailed(AppError):
    code = "validation-error"
    title = "The request is not valid"
    status = 422


class MalformedJson(AppError):
    code = "malformed-json"
    title = "The request body is not valid JSON"
    status = 422


class UnsupportedMediaType(AppError):
    code = "unsupported-media-type"
    title = "The request body must be JSON"
    status = 415

    def headers(self) -> dict[str, str]:
        return {"Accept-Post": "application/json", "Accept-Patch": "application/json"}


class PayloadTooLarge(AppError):
    code = "payload-too-large"
    title = "The request body is too large"
    status = 413


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

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class IdempotencyKeyReused(AppError):
    code = "idempotency-key-reused"
    title = "This Idempotency-Key was used with a different request"
    status = 422


class InvalidIdempotencyKey(AppError):
    code = "invalid-idempotency-key"
    title = "The idempotency key is not valid"
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


_BY_STATUS: dict[int, type[AppError]] = {
    400: BadRequest, 401: Unauthenticated, 403: Forbidden, 404: NotFound, 405: MethodNotAllowed,
    409: Conflict, 412: PreconditionFailed, 413: PayloadTooLarge, 415: UnsupportedMediaType,
    422: ValidationFailed, 428: PreconditionRequired, 500: InternalError, 503: ServiceUnavailable,
}
_GENERIC: dict[int, type[AppError]] = {}


def error_for_status(status: int, detail: str | None = None) -> AppError:
    """An AppError for a bare HTTP status (framework exceptions): one stable type per status."""
    cls = _BY_STATUS.get(status) or _GENERIC.get(status)
    if cls is None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        slug = "-".join(phrase.lower().replace("'", "").split()) or "error"
        cls = type(f"Http{status}Error", (AppError,), {"code": slug, "title": phrase, "status": status})
        _GENERIC[status] = cls
    return cls(detail)


# --- REST renderer ------------------------------------------------------------------------

import logging  # noqa: E402

from fastapi import FastAPI, Request  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402
from sqlalchemy.exc import DBAPIError  # noqa: E402
from sqlalchemy.exc import TimeoutError as PoolTimeout  # noqa: E402
from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: E402

from app import context  # noqa: E402

log = logging.getLogger("socialgov.errors")


def problem_response(request: Request, exc: AppError) -> JSONResponse:
    body = exc.problem(instance=request.url.path)
    if exc.status >= 500 and context.request_id.get():
        # Internals stay in the log; the request id lets support find them there.
        body.setdefault("request_id", context.request_id.get())
    return JSONResponse(body, status_code=exc.status, media_type=PROBLEM_JSON, headers=exc.headers())


def _escape(part: object) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


def _location(loc: tuple) -> tuple[str, str]:
    """FastAPI's ``loc`` -> (member name, value): JSON Pointer for bodies, names otherwise."""
    where, *rest = loc or ("body",)
    if where == "body":
        return "pointer", "#" + "".join(f"/{_escape(p)}" for p in rest)
    if where == "query":
        return "parameter", str(rest[0]) if rest else ""
    if where == "path":
        return "path_parameter", str(rest[0]) if rest else ""
    if where == "header":
        return "header", str(rest[0]).replace("_", "-") if rest else ""
    return "pointer", "#" + "".join(f"/{_escape(p)}" for p in loc)


_WHOLE_BODY_TYPES = {"model_attributes_type", "model_type", "dict_type"}


def _message(err: dict) -> str:
    loc = tuple(err.get("loc", ()))
    kind = err.get("type")
    if loc == ("body",) and kind in _WHOLE_BODY_TYPES:
        return "The body must be a JSON object."
    if loc == ("body",) and kind == "missing":
        return "The request needs a JSON body."
    msg = str(err.get("msg") or "invalid value")
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return msg


def _unsupported_media_type(exc: RequestValidationError) -> bool:
    """FastAPI hands the raw bytes to validation when the Content-Type is not JSON."""
    return (isinstance(exc.body, bytes | bytearray) and bool(exc.body)
            and any(tuple(e.get("loc", ())) == ("body",) for e in exc.errors()))


def validation_problem(exc: RequestValidationError) -> AppError:
    if _unsupported_media_type(exc):
        return UnsupportedMediaType("Send the body as JSON with the header 'Content-Type: application/json'.",
                                    header="Content-Type")
    errors = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            ctx = err.get("ctx") or {}
            loc = tuple(err.get("loc", ()))
            position = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
            reason = str(ctx.get("error") or "decode error")
            at = f" (at character {position})" if position is not None else ""
            entry: dict = {"detail": f"{reason}{at}", "pointer": "#"}
            if position is not None:
                entry["position"] = position
            return MalformedJson(f"The body is not valid JSON: {reason}{at}.", errors=[entry])
        member, value = _location(tuple(err.get("loc", ())))
        errors.append({"detail": _message(err), member: value, "type": err.get("type")})
    if not errors:
        return ValidationFailed("The request is not valid.", errors=[])
    first = errors[0]
    where = next((first[k] for k in _LOCATIONS if k in first), "")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return ValidationFailed(f"{where or 'request'}: {first['detail']}{more}", errors=errors)


def body_parse_problem(cause: BaseException | None) -> AppError:
    """FastAPI answers 400 'error parsing the body' for JSON it cannot even decode."""
    if isinstance(cause, UnicodeDecodeError):
        reason = "it is not UTF-8 encoded"
    elif isinstance(cause, RecursionError):
        reason = "it nests too deeply"
    elif isinstance(cause, ValueError):
        reason = "a number in it is too long"
    else:
        reason = "it cannot be decoded"
    return MalformedJson(f"The body is not valid JSON: {reason}.", errors=[{"detail": reason, "pointer": "#"}])


_BODY_PARSE_DETAIL = "There was an error parsing the body"
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves on this path (Starlette names only the first route's).
    Asks the router itself, method by method, so nested/included routers are covered too."""
    from starlette.routing import Match

    routes = getattr(request.app, "routes", [])
    methods = {
        method for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    }
    return ", ".join(sorted(methods))


def http_problem(request: Request, exc: StarletteHTTPException) -> tuple[AppError, dict[str, str]]:
    headers = dict(exc.headers or {})
    if exc.status_code == 404 and request.scope.get("route") is None:
        return RouteNotFound(f"No route {request.method} {request.url.path}."), {}
    if exc.status_code == 405:
        allow = _allowed_methods(request) or next((v for k, v in headers.items() if k.lower() == "allow"), "")
        return (MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}; use {allow}.",
                                 allowed_methods=[m.strip() for m in allow.split(",") if m.strip()]),
                {"Allow": allow})
    if exc.status_code == 400 and exc.detail == _BODY_PARSE_DETAIL:
        return body_parse_problem(exc.__cause__), {}
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail else None
    return error_for_status(exc.status_code, detail), headers


def db_problem(exc: DBAPIError) -> AppError | None:
    """A problem for database errors the caller caused or can retry; None for our own bugs."""
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None) or ""
    if sqlstate.startswith("22") or sqlstate == "23514":  # data exception / check violation: bad value
        return InvalidValue("A value in the request cannot be stored.")
    if sqlstate in ("23505", "23503", "23P01"):  # unique / foreign key / exclusion: raced with another change
        return Conflict("The change conflicts with data changed at the same time; read it again and retry.")
    if sqlstate in ("40001", "40P01", "55P03"):
        return ConcurrentUpdate("A concurrent change got there first; retry.")
    if sqlstate.startswith("08") or sqlstate in ("57P01", "57P02", "57P03", "53300") or exc.connection_invalidated:
        return ServiceUnavailable("The database is not reachable; retry.")
    return None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError):
        return problem_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        return problem_response(request, validation_problem(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        err, headers = http_problem(request, exc)
        resp = problem_response(request, err)
        for name, value in headers.items():
            resp.headers[name] = value
        return resp

    @app.exception_handler(DBAPIError)
    async def _db(request: Request, exc: DBAPIError):
        err = db_problem(exc)
        sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
        if err is None:
            log.error("database error", exc_info=exc, extra={"sqlstate": sqlstate})
            err = InternalError("An internal error occurred.")
        else:
            log.warning("database refused the request: %s", err.code, extra={"sqlstate": sqlstate})
        return problem_response(request, err)

    @app.exception_handler(PoolTimeout)
    async def _pool(request: Request, exc: PoolTimeout):
        log.warning("no database connection available in time")
        resp = problem_response(request, ServiceUnavailable("The service is busy; retry shortly."))
        resp.headers["Retry-After"] = "1"
        return resp

    @app.exception_handler(Exception)
    async def _unknown(request: Request, exc: Exception):
        # Normally RequestContextMiddleware answers first (with the request id bound).
        log.error("unhandled error", exc_info=exc)
        return problem_response(request, InternalError("An internal error occurred."))


# --- request bodies over the cap ------------------------------------------------------------

class BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive`` (a Starlette HTTPException, so FastAPI's body reading lets it
    through to the error handlers, which render it as a 413 ``payload-too-large`` problem)."""

    def __init__(self, max_bytes: int):
        super().__init__(413, f"The request body is over the limit of {max_bytes} bytes.")


class BodyLimitMiddleware:
    """Refuses every request body over ``max_bytes`` with a 413 problem, whether its size is
    announced (Content-Length) or counted as the chunks arrive.

    Why not FastAPI's ``max_body_size``: Starlette's limiter under it answers ``text/plain``,
    and replaces any answer to an over-long Content-Length with that text. Here the error is
    raised from ``receive``, so the route that reads the body answers with its own problem (the
    GraphQL route adds GraphQL's ``errors``); a route that answers without reading the body has
    its answer replaced by the problem, as Starlette does. Bodies are never buffered here.
    """

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        announced = _content_length(scope)
        too_long = announced is not None and announced > self.max_bytes
        state = {"received": 0, "refused": False, "replaced": False}

        async def limited_receive():
            if too_long:
                state["refused"] = True
                raise BodyTooLarge(self.max_bytes)
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > self.max_bytes:
                    state["refused"] = True
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def guarded_send(message):
            if state["replaced"]:
                return
            if message["type"] == "http.response.start" and too_long and not state["refused"]:
                # Answered without reading the announced body: refuse it all the same.
                state["replaced"] = True
                response = problem_response(Request(scope), PayloadTooLarge(BodyTooLarge(self.max_bytes).detail))
                await response(scope, _empty_body, send)
                return
            await send(message)

        await self.app(scope, limited_receive, guarded_send)


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _empty_body():
    return {"type": "http.request", "body": b"", "more_body": False}
