"""``/graphql``: Strawberry's router, with the request read, measured and refused as REST would.

Before the context is built — so before the bearer token is looked up, before any SQL — one
dependency reads the request (GET's query string or POST's JSON body), checks the document's
size, parses it under the token cap, picks the operation and checks the limits
(app/graphql/limits.py). Strawberry then runs that parsed document (``limits.PreparedDocument``
hands it over: nothing is parsed twice).

Whatever is refused on the way (transport, limits, authentication) is problem+json with its
HTTP status, and its ``errors`` member is GraphQL's too (app/graphql/errors.py
``as_request_error``): Strawberry's own plain-text 400s never reach a client.
"""
from __future__ import annotations

import json
from typing import Any

from cross_web import HTTPException as StrawberryHTTPException
from cross_web import StarletteRequestAdapter
from fastapi import Depends, Request
from graphql import OperationType
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLRequestData
from strawberry.types.unset import UNSET

from app.uow import UnitOfWorkRoute
from app.errors import (
    AppError,
    MalformedJson,
    UnsupportedMediaType,
    ValidationFailed,
    body_parse_problem,
    error_for_status,
    http_problem,
)
from app.graphql import limits
from app.graphql.context import context_getter
from app.graphql.errors import MutationOverGet, as_request_error
from app.graphql.schema import LOADERS, schema


def _invalid(detail: str, **where: str) -> ValidationFailed:
    member, value = next(iter(where.items()))
    return ValidationFailed(detail, errors=[{"detail": detail, member: value}])


def _json_member(payload: dict[str, Any], name: str, kind: type, what: str) -> Any:
    value = payload.get(name)
    if value is not None and not isinstance(value, kind):
        raise _invalid(f"{name} must be {what}.", pointer=f"#/{name}")
    return value


async def _from_body(request: Request) -> GraphQLRequestData:
    media_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("Send the GraphQL request as JSON with the header 'Content-Type: application/json'.",
                                   header="Content-Type")
    body = await request.body()  # at most 1 MiB: BodyLimitMiddleware
    if not body.strip():
        raise _invalid('The request needs a JSON body: {"query": "…", "variables": {…}}.', pointer="#")
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as e:
        reason = f"{e.msg} (at character {e.pos})"
        raise MalformedJson(f"The body is not valid JSON: {reason}.",
                            errors=[{"detail": reason, "pointer": "#", "position": e.pos}]) from None
    except (UnicodeDecodeError, RecursionError, ValueError) as e:
        raise body_parse_problem(e) from None
    if not isinstance(payload, dict):
        raise _invalid('The body must be a JSON object: {"query": "…", "variables": {…}} (batches are not accepted).',
                       pointer="#")
    query = _json_member(payload, "query", str, "a string: the GraphQL document")
    if not query:
        raise _invalid("The body needs a query: the GraphQL document to run.", pointer="#/query")
    return GraphQLRequestData(query=query, variables=_json_member(payload, "variables", dict, "an object"),
                              operation_name=_json_member(payload, "operationName", str, "a string"),
                              extensions=_json_member(payload, "extensions", dict, "an object"))


def _json_parameter(request: Request, name: str) -> dict[str, Any] | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise _invalid(f"{name} is not valid JSON.", parameter=name) from None
    if not isinstance(value, dict):
        raise _invalid(f"{name} must be a JSON object.", parameter=name)
    return value


def _from_query_string(request: Request, lim: limits.Limits) -> GraphQLRequestData | None:
    limits.check_raw_query_string(request.scope.get("query_string", b""), lim)
    query = request.query_params.get("query")
    if query is None and any(t in request.headers.get("accept", "") for t in ("text/html", "*/*")):
        return None  # a browser: Strawberry serves GraphiQL
    if not query:
        raise _invalid("The query string needs a query: the GraphQL document to run (or POST it as JSON).",
                       parameter="query")
    return GraphQLRequestData(query=query, variables=_json_parameter(request, "variables"),
                              operation_name=request.query_params.get("operationName"),
                              extensions=_json_parameter(request, "extensions"))


def prepare(data: GraphQLRequestData, method: str, lim: limits.Limits) -> limits.PreparedRequest:
    limits.check_size(data.query, lim)
    document = limits.parse(data.query, lim)
    if document is None:
        return limits.PreparedRequest(data, None)
    operation = limits.select_operation(document, data.operation_name)
    if method == "GET" and operation.operation is not OperationType.QUERY:
        raise MutationOverGet(f"A {operation.operation.value} cannot be sent with GET; POST it.")
    limits.check_operation(document, operation, lim)
    return limits.PreparedRequest(data, document)


async def read_request(connection: HTTPConnection) -> None:
    """Runs first (a router dependency): nothing else is done for a request refused here."""
    if connection.scope["type"] != "http" or not isinstance(connection, Request):
        return
    lim = limits.Limits.of(connection.app.state.settings)
    if connection.method == "GET":
        data = _from_query_string(connection, lim)
    else:
        data = await _from_body(connection)
    if data is not None:
        connection.state.graphql = prepare(data, connection.method, lim)


def _prepared(request: Request) -> limits.PreparedRequest | None:
    return getattr(request.state, "graphql", None)


class _RequestAdapter(StarletteRequestAdapter):
    def __init__(self, request: Request) -> None:
        super().__init__(request)
        self.request = request


class _Router(GraphQLRouter):
    request_adapter_class = _RequestAdapter

    async def parse_http_body(self, request_adapter: _RequestAdapter) -> GraphQLRequestData:
        ready = _prepared(request_adapter.request)
        if ready is None:  # read_request always runs first; kept for safety
            return await super().parse_http_body(request_adapter)
        return ready.data

    async def run(self, request, context=UNSET, root_value=UNSET):
        try:
            return await super().run(request, context=context, root_value=root_value)
        except StrawberryHTTPException as e:  # anything Strawberry still refuses, as a problem
            raise error_for_status(e.status_code, e.reason) from None


class GraphQLRoute(UnitOfWorkRoute):
    """The same unit of work as REST; every refusal also speaks GraphQL (``errors``)."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def graphql_handler(request: Request):
            try:
                return await handler(request)
            except AppError as exc:
                as_request_error(exc)
                raise
            except StarletteHTTPException as exc:  # a body over the app-wide cap
                error, _ = http_problem(request, exc)
                raise as_request_error(error) from exc

        return graphql_handler


def graphql_router() -> GraphQLRouter:
    # The same unit of work as REST: one transaction per GraphQL request, committed before
    # the response leaves.
    return _Router(schema, path="/graphql", context_getter=context_getter(LOADERS), route_class=GraphQLRoute,
                   dependencies=[Depends(read_request)], include_in_schema=False)
