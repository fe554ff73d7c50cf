"""Who is calling: bearer tokens, principals, scopes.

Scopes say which API families a token may call. For a user, grants then decide which
objects (app.access decides effective permission); for a service principal the scopes
are its whole authority, organisation-wide.
"""
from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InsufficientScope, Unauthenticated
from app.sql import Statement

TOKEN_PREFIX = "sgv_"


class Scope(StrEnum):
    admin = "admin"
    posts_read = "posts:read"
    posts_write = "posts:write"
    access_read = "access:read"
    access_admin = "access:admin"
    crisis_declare = "crisis:declare"
    crisis_resolve = "crisis:resolve"
    events_hr = "events:hr"
    events_cms = "events:cms"
    events_monitoring = "events:monitoring"
    audit_read = "audit:read"


class PrincipalKind(StrEnum):
    user = "user"
    service = "service"
    system = "system"


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    id: uuid.UUID | None
    scopes: frozenset[str]
    token_id: uuid.UUID | None = None
    name: str = ""
    email: str | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)
    # What authentication read about a user in its one statement (status, training, live
    # grants): app.access.service.effective_access turns it into an Access, once per request.
    facts: UserFacts | None = field(default=None, compare=False, hash=False, repr=False)

    def has_scope(self, *scopes: Scope | str) -> bool:
        return Scope.admin in self.scopes or any(s in self.scopes for s in scopes)

    @property
    def is_user(self) -> bool:
        return self.kind is PrincipalKind.user

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


SYSTEM = Principal(PrincipalKind.system, None, frozenset({Scope.admin}), name="system")


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_display_prefix(token: str) -> str:
    return token[:12]


@dataclass(frozen=True)
class UserFacts:
    """A user's standing as one statement read it: training, today, and their live grants as
    (id, role, scope_kind, brand_id (an account grant's: its account's), account_id, expires_at)."""

    training_valid_until: date | None
    today: date
    grants: tuple[tuple, ...]


# One prebuilt statement, one round trip, on every request: the token, who holds it, and for a
# user their status, training and live grants (app/access/repository.py's live_grants rule:
# not revoked, not expired; an account grant carries its account's brand).
_LOOKUP = Statement(
    """
    SELECT t.id AS token_id, t.scopes, t.user_id, t.service_id,
           u.status AS user_status, u.display_name, u.email, u.training_valid_until,
           current_date AS today, s.name AS service_name,
           CASE WHEN u.status = 'active' THEN ARRAY(
               SELECT ROW(g.id, g.role, g.scope_kind, coalesce(g.brand_id, a.brand_id), g.account_id, g.expires_at)
                 FROM access_grants g LEFT JOIN accounts a ON a.id = g.account_id
                WHERE g.user_id = t.user_id AND g.revoked_at IS NULL
                  AND (g.expires_at IS NULL OR g.expires_at > now())) END AS grants
      FROM api_tokens t
      LEFT JOIN users u ON u.id = t.user_id
      LEFT JOIN service_principals s ON s.id = t.service_id
     WHERE t.token_hash = :h
       AND t.revoked_at IS NULL
       AND (t.expires_at IS NULL OR t.expires_at > now())
    """
)


async def principal_for_token(session: AsyncSession, token: str) -> Principal | None:
    row = await _LOOKUP.fetchrow(session, h=hash_token(token))
    if row is None:
        return None
    if row["user_id"] is not None:
        # A suspended or offboarded user's tokens stop working at once.
        if row["user_status"] != "active":
            return None
        return Principal(PrincipalKind.user, row["user_id"], frozenset(row["scopes"]), row["token_id"],
                         name=row["display_name"], email=row["email"],
                         facts=UserFacts(row["training_valid_until"], row["today"], tuple(row["grants"])))
    return Principal(PrincipalKind.service, row["service_id"], frozenset(row["scopes"]), row["token_id"],
                     name=row["service_name"])


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("The Authorization header must be 'Bearer <token>'.")
    return value.strip()


async def optional_principal(request: Request) -> Principal | None:
    from app.db import request_session

    token = bearer(request)
    if token is None:
        return None
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise Unauthenticated("The bearer token is not valid.")
    principal = await principal_for_token(request_session(request), token)
    if principal is None:
        raise Unauthenticated("The bearer token is not valid, expired or revoked.")
    request.state.principal = principal
    return principal


async def authenticate(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if principal is None:
        raise Unauthenticated("This call needs a bearer token.")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require(*scopes: Scope):
    """A dependency: the caller's token carries one of ``scopes`` (``admin`` carries all)."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.has_scope(*scopes):
            raise InsufficientScope(
                f"This call needs one of the scopes: {', '.join(s.value for s in scopes)}.",
                required_scopes=[s.value for s in scopes],
            )
        return principal

    return Depends(dependency)


class Scopes:
    """The token scopes each family of calls needs, declared once per domain and used by both
    adapters: REST through the aliases below, GraphQL through ``ctx.require(*Scopes.X)`` and
    ``mutation.run(info, Scopes.X, ...)``. Order is the order the 403 problem names them in."""

    ADMIN = (Scope.admin,)
    ACCESS_READ = (Scope.access_read, Scope.access_admin)
    ACCESS_ADMIN = (Scope.access_admin,)
    DIRECTORY_READ = (Scope.access_read, Scope.access_admin, Scope.posts_read, Scope.posts_write)
    AUDIT_READ = (Scope.audit_read,)
    POSTS_READ = (Scope.posts_read, Scope.posts_write)
    POSTS_WRITE = (Scope.posts_write,)
    RULES_WRITE = (Scope.posts_write, Scope.access_admin)
    POLICY_READ = (Scope.posts_read, Scope.posts_write, Scope.access_read, Scope.access_admin)
    POLICY_WRITE = (Scope.access_admin, Scope.posts_write)
    PUBLISHING_READ = (Scope.posts_read, Scope.posts_write, Scope.access_read, Scope.access_admin)
    CRISIS_READ = (Scope.posts_read, Scope.posts_write, Scope.crisis_declare, Scope.crisis_resolve, Scope.access_read)
    CRISIS_DECLARE = (Scope.crisis_declare,)
    CRISIS_RESOLVE = (Scope.crisis_resolve,)


# REST: one alias per scope set, named <Family><Verb>.
AdminOnly = Annotated[Principal, require(*Scopes.ADMIN)]
AccessRead = Annotated[Principal, require(*Scopes.ACCESS_READ)]
AccessAdmin = Annotated[Principal, require(*Scopes.ACCESS_ADMIN)]
DirectoryRead = Annotated[Principal, require(*Scopes.DIRECTORY_READ)]
AuditRead = Annotated[Principal, require(*Scopes.AUDIT_READ)]
PostsRead = Annotated[Principal, require(*Scopes.POSTS_READ)]
PostsWrite = Annotated[Principal, require(*Scopes.POSTS_WRITE)]
RulesWrite = Annotated[Principal, require(*Scopes.RULES_WRITE)]
PoliciesRead = Annotated[Principal, require(*Scopes.POLICY_READ)]
PoliciesWrite = Annotated[Principal, require(*Scopes.POLICY_WRITE)]
PublishingRead = Annotated[Principal, require(*Scopes.PUBLISHING_READ)]
CrisesRead = Annotated[Principal, require(*Scopes.CRISIS_READ)]
CrisesDeclare = Annotated[Principal, require(*Scopes.CRISIS_DECLARE)]
CrisesResolve = Annotated[Principal, require(*Scopes.CRISIS_RESOLVE)]
