"""How GraphQL answers failures.

- Queries (and anything outside a mutation's use case): one schema extension renders
  AppError as ``extensions.code`` (same code as REST); anything else is masked so internals
  never leak.
- Mutations: expected failures are data, a ``Problem`` member of the result union
  (app/graphql/mutation.py).
- The request itself (transport, limits, which operation): refused before anything runs, as
  REST refuses it — problem+json with the HTTP status — whose ``errors`` member is also
  GraphQL's (``message``, ``extensions.code``), so GraphQL clients read it too.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON
from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from app.errors import AppError, MethodNotAllowed, ValidationFailed

if TYPE_CHECKING:
    from app.content.findings_graphql import FindingType


def _unexpected(error: GraphQLError) -> bool:
    """Mask only failures while resolving (they have a path). Errors without a path come from
    reading the request itself — a variable that is not a UUID, an unknown enum value — and
    are the caller's to see."""
    return (error.original_error is not None and not isinstance(error.original_error, AppError)
            and error.path is not None)


class AppErrorExtension(MaskErrors):
    def __init__(self):
        super().__init__(should_mask_error=_unexpected, error_message="Internal server error")

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = super()._process_errors(errors)
        for error in processed:
            original = error.original_error
            if isinstance(original, AppError):
                error.extensions = {**(error.extensions or {}), "code": original.code, "status": original.status,
                                    **({"pointer": original.pointer} if original.pointer else {})}
            elif original is None and error.message == "Internal server error":
                error.extensions = {**(error.extensions or {}), "code": "internal-error", "status": 500}
            elif error.path is None and not (error.extensions or {}).get("code"):
                error.extensions = {**(error.extensions or {}), **_request_error(error.message)}
        return processed


_VARIABLE = re.compile(r"^Variable '\$([_A-Za-z][_0-9A-Za-z]*)'")


def _request_error(message: str) -> dict[str, Any]:
    """A stable code for what was wrong with the request itself (no path: nothing ran): a
    variable that does not fit its type is REST's validation-error, pointing into the body's
    ``variables``; anything else the document got wrong is invalid-query."""
    variable = _VARIABLE.match(message)
    if variable:
        return {"code": ValidationFailed.code, "status": ValidationFailed.status,
                "pointer": f"#/variables/{variable.group(1)}"}
    return {"code": "invalid-query", "status": 400}


# --- the request refused before it runs ---------------------------------------------------

class QueryLimitExceeded(AppError):
    """The document is over one of the limits of app/graphql/limits.py, named in ``limit``
    (the setting) with its ``maximum`` and the document's ``actual`` value."""

    code = "query-limit-exceeded"
    title = "The GraphQL document is over a limit"
    status = 400

    def __init__(self, detail: str, *, limit: str, maximum: int, actual: int | None):
        super().__init__(detail, limit=limit, maximum=maximum, **({} if actual is None else {"actual": actual}))


class QueryTooLarge(QueryLimitExceeded):
    code = "query-too-large"
    title = "The GraphQL document is too large"
    status = 413


class TooManyTokens(QueryLimitExceeded):
    code = "query-too-many-tokens"
    title = "The GraphQL document has too many tokens"


class QueryTooDeep(QueryLimitExceeded):
    code = "query-too-deep"
    title = "The GraphQL operation is nested too deeply"


class TooManyAliases(QueryLimitExceeded):
    code = "query-too-many-aliases"
    title = "The GraphQL operation uses too many aliases"


class TooManyRootFields(QueryLimitExceeded):
    code = "query-too-many-root-fields"
    title = "The GraphQL operation selects too many root fields"


class OperationNameRequired(AppError):
    code = "operation-name-required"
    title = "The document has several operations; operationName must name one"
    status = 400


class UnknownOperation(AppError):
    code = "unknown-operation"
    title = "The document has no such operation"
    status = 400


class MutationOverGet(MethodNotAllowed):
    """GET must not change anything (GraphQL over HTTP): mutations are POSTed."""

    def __init__(self, detail: str):
        super().__init__(detail, allowed_methods=["POST"])

    def headers(self) -> dict[str, str]:
        return {"Allow": "POST"}


_GRAPHQL_EXTENSIONS = ("limit", "maximum", "actual", "allowed_methods", "required_scopes")


def as_request_error(exc: AppError) -> AppError:
    """``exc`` with GraphQL's ``errors`` in its problem document: each entry keeps REST's members
    (``detail`` and where: ``pointer``, ``parameter``, ``header``) and gains ``message`` and
    ``extensions`` (``code``, ``status``, the limit's figures)."""
    entries = exc.extra.get("errors")
    if not (isinstance(entries, list) and entries and all(isinstance(e, dict) for e in entries)):
        where = exc.location()
        entries = [{"detail": exc.detail, **({where[0]: where[1]} if where else {})}]
    extensions = {"code": exc.code, "status": exc.status,
                  **{camel(k): exc.extra[k] for k in _GRAPHQL_EXTENSIONS if k in exc.extra}}
    exc.extra["errors"] = [
        {"message": exc.detail if len(entries) == 1 else str(e.get("detail") or exc.detail), **e,
         "extensions": extensions}
        for e in entries
    ]
    return exc


# --- expected errors of mutations, as union members ---------------------------------------
# A mutation answers ``<Success> | Problem``: every AppError its use case raises becomes a
# Problem with the same ``code`` (and ``status``) that REST puts in its problem+json body.

_LOCATIONS = ("pointer", "parameter", "path_parameter", "header")  # as in AppError.location()


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _to_input(member: str, value: str) -> str | None:
    if member == "header":
        return "#/expectedVersion" if value.lower() == "if-match" else None
    if member == "pointer":
        return re.sub(r"[^/#]+", lambda m: camel(m.group(0)), value)
    return "#/" + camel(value)


def input_pointer(exc: AppError) -> str | None:
    """Where the offending value sits, as a JSON Pointer into the mutation's input
    (``#/scheduledAt``); REST's If-Match header is ``expectedVersion`` here."""
    where = exc.location()
    return None if where is None else _to_input(*where)


@strawberry.interface(name="Error", description="An expected failure: the same code REST answers as problem+json")
class ErrorInterface:
    code: str = strawberry.field(description="Stable, e.g. self-approval (REST: the problem type's last segment)")
    message: str
    status: int = strawberry.field(description="The HTTP status REST answers for the same failure")


@strawberry.type
class FieldError:
    message: str
    pointer: str | None


_GENERIC_MEMBERS = {"errors", "pointer", "parameter", "path_parameter", "header"}


def _details(extra: dict[str, Any]) -> dict[str, Any] | None:
    """REST's problem extension members, camelCased: the one place a domain's own members go."""
    def camelised(value: Any) -> Any:
        if isinstance(value, dict):
            return {camel(str(k)): camelised(v) for k, v in value.items()}
        if isinstance(value, list):
            return [camelised(v) for v in value]
        return value

    out = {camel(k): camelised(v) for k, v in extra.items() if k not in _GENERIC_MEMBERS}
    return out or None


@strawberry.type(description="Any expected failure; fields beyond code/message/status are set where they apply")
class Problem(ErrorInterface):
    title: str
    pointer: str | None = strawberry.field(description="JSON Pointer into the input: the offending field")
    current_version: int | None = None
    required_scopes: list[str] | None = None
    errors: list[FieldError] | None = None
    details: JSON | None = strawberry.field(default=None, description=(
        "Every member REST's problem+json carries beyond type/title/status/detail (camelCased): what a "
        "domain adds to its errors (currentStatus, allowedTransitions, crisisIds, findings ...) arrives here, "
        "with no change to this type"))
    # Domain members typed one by one, from before ``details``: kept for clients that select them.
    current_status: str | None = strawberry.field(default=None, deprecation_reason="Use details.currentStatus.")
    allowed_transitions: list[str] | None = strawberry.field(default=None,
                                                             deprecation_reason="Use details.allowedTransitions.")
    current_revision: int | None = strawberry.field(default=None, deprecation_reason="Use details.currentRevision.")
    open_stage: str | None = strawberry.field(default=None, deprecation_reason="Use details.openStage.")
    crisis_ids: list[str] | None = strawberry.field(default=None, deprecation_reason="Use details.crisisIds.")
    crisis_id: str | None = strawberry.field(default=None, deprecation_reason="Use details.crisisId.")
    resolution: str | None = strawberry.field(default=None, deprecation_reason="Use details.resolution.")
    connector_status: int | None = strawberry.field(default=None, deprecation_reason="Use details.connectorStatus.")
    raw_findings: strawberry.Private[list[dict[str, Any]] | None] = None

    @strawberry.field(description="content-blocked: the blocking findings",
                      deprecation_reason="Use details.findings.")
    def findings(self) -> list[Annotated[FindingType, strawberry.lazy("app.content.findings_graphql")]] | None:
        from app.content.findings_graphql import FindingType

        return None if self.raw_findings is None else [FindingType.of(f) for f in self.raw_findings]

    @classmethod
    def of(cls, exc: AppError) -> Problem:
        x = exc.extra
        errors = None
        if isinstance(x.get("errors"), list):
            errors = [FieldError(message=str(e.get("detail", "")), pointer=_field_pointer(e))
                      for e in x["errors"] if isinstance(e, dict)]
        return cls(code=exc.code, message=exc.detail, status=exc.status, title=exc.title,
                   pointer=input_pointer(exc) or next((e.pointer for e in errors or () if e.pointer), None),
                   current_status=x.get("current_status"),
                   allowed_transitions=x.get("allowed_transitions"), current_version=x.get("current_version"),
                   current_revision=x.get("current_revision"), open_stage=x.get("open_stage"),
                   required_scopes=x.get("required_scopes"), crisis_ids=x.get("crisis_ids"),
                   crisis_id=x.get("crisis_id"), resolution=x.get("resolution"),
                   connector_status=x.get("connector_status"), errors=errors, raw_findings=x.get("findings"),
                   details=_details(x))


def _field_pointer(entry: dict[str, Any]) -> str | None:
    member = next((m for m in _LOCATIONS if entry.get(m)), None)
    return None if member is None else _to_input(member, str(entry[member]))
