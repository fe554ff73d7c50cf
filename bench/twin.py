"""The bare twin of socialgov's hot paths, for bench/http.py: FastAPI + a raw asyncpg pool.

    DATABASE_URL=... .venv/bin/python bench/twin.py --port 8001

It serves the same requests as socialgov on the same database (same tables, same rows, same
tokens), with the SQL a lean hand-written service would send, so that bench/http.py can say
how far socialgov is from what the same work costs without its layers. Same uvicorn settings
as ``socialgov serve``: one worker, uvloop and httptools (``loop``/``http`` "auto" with
uvicorn[standard]), access log off.

What it does, per request (round trips counted as bench/http.py counts them):

- every authenticated call: one statement finds the token by the sha256 of the bearer
  (not revoked, not expired), its user (must be active, training valid or not) or service,
  and the user's live grants (not revoked, not expired; an account grant with its account's
  brand). Scopes are checked as socialgov's routes check them; lapsed training caps a trained
  role at contributor, as ``app.access.policy.effective_role`` does (training required, the
  service's default).
- ``GET /v1/posts/{id}`` (2 round trips): the post with its current revision, its account's
  brand, the crises in force over it and whether it missed its slot, in one statement; 404
  unless a grant (or admin) covers the account; the same JSON fields as ``PostRead``, an ETag.
- ``GET /v1/posts?limit=n`` (2): the first n visible posts (``created_at, id`` order, the
  visibility filter socialgov builds: brands' accounts and accounts the grants name), each
  with its current revision and crises in force, and a ``next_cursor``.
- ``POST /v1/posts/{id}/approve`` ``{"revision": n}`` (5: auth, BEGIN, lock, write, COMMIT):
  locks the post row (``FOR UPDATE``) reading its current revision's stages, the decisions
  of this revision and round and the crises in force; checks what socialgov checks (visible,
  the named revision is current, in review, not the author, not already decided, the open
  stage is one this principal may decide); then one statement inserts the approval (the
  unique index decides races), updates the post (compare-and-set on version; approved
  revision and content hash when the last stage completes) and inserts the audit record
  (before/after of the fields that changed, request id, client IP); commit; the post's JSON.
- ``POST /v1/crises?dry_run=true`` (2): crisis leads and admins (``crisis:declare``); one
  statement checks the named accounts exist and counts the freezable posts in scope (the
  predicate of ``app.posts.repository.count_freezable``).
- ``PATCH /v1/users/{id}`` ``{"status": "offboarded"}`` (5: auth, BEGIN, lock, write,
  COMMIT): admins only; locks the user (and reads whether they hold a live admin grant: then
  the last-admin check runs, as socialgov's does); one statement sets the status (compare-and-
  set on version), revokes every live grant and token, flags the accounts they owned or held
  the credentials of, withdraws their drafts and posts in review, pauses their scheduled and
  claimed-unsent posts, and writes the same audit rows socialgov writes (one bulk record for
  the grants and one for the tokens, one per account flagged naming the flags it turned on,
  one bulk record per set of posts, and the user's record naming everything revoked); commit;
  the user's JSON.
- ``GET /ping``: no database, ``{"status": "ok"}`` (the twin of ``/healthz``).

What it does not do (and socialgov does): request ids echoed in headers, the access log
line, Prometheus metrics, the 1 MiB body limit middleware, RFC 9457 problem details beyond a
minimal body, Idempotency-Key, If-Match on these routes (the bench sends none), the
unit-of-work route class, response-model validation (it serialises dicts with ``json``), the
audit sealer (socialgov seals its audit chain in the background, in the same process), the
stuck-stage computation of posts in review (no post the bench reads or answers is in
review: socialgov skips it too), pagination cursors in requests, other fields of PATCH
/v1/users, and every other route. Its pool resets a released connection without asyncpg's
reset query (``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``): it keeps
no session state; asyncpg still rolls back a transaction left open.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

# Run as a script, this folder is on the path, and bench/http.py would shadow the standard
# library's ``http`` (uvicorn and starlette import it): the repository's root instead.
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH] + [str(_BENCH.parent)]

import asyncpg  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import Depends, FastAPI, Query, Request  # noqa: E402
from fastapi.responses import JSONResponse, Response  # noqa: E402
from pydantic import BaseModel, ConfigDict, Field  # noqa: E402

from app.posts.workflow import State, allowed  # noqa: E402  (a pure table: which actions each state allows)

APPLICATION_NAME = "sgv-twin"
ALLOWED = {s.value: [a.value for a in allowed(s)] for s in State}
LEVEL = {"viewer": 1, "contributor": 2, "approver": 3, "publisher": 4, "account_admin": 5}
TRAINED_ROLES = frozenset({"approver", "publisher", "account_admin"})
MISSING_STATES = ("in_review", "changes_requested")

# --- SQL --------------------------------------------------------------------------------------

_AUTH = """
SELECT t.id AS token_id, t.scopes, t.user_id, t.service_id, u.status AS user_status,
       coalesce(u.training_valid_until >= current_date, false) AS trained, s.name AS service_name,
       g.roles, g.kinds, g.brands, g.accounts
  FROM api_tokens t
  LEFT JOIN users u ON u.id = t.user_id
  LEFT JOIN service_principals s ON s.id = t.service_id
  LEFT JOIN LATERAL (
        SELECT array_agg(g.role) AS roles, array_agg(g.scope_kind) AS kinds,
               array_agg(coalesce(g.brand_id, ac.brand_id)) AS brands, array_agg(g.account_id) AS accounts
          FROM access_grants g LEFT JOIN accounts ac ON ac.id = g.account_id
         WHERE g.user_id = t.user_id AND g.revoked_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > now())
       ) g ON u.status = 'active'
 WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
"""

_POST_COLS = ("id, account_id, author_kind, author_id, source, external_ref, status, revision, scheduled_at, risk,"
              " missed_schedule, approved_revision, review_round, paused_by_crisis_id, pause_reason,"
              " publish_attempts, last_error, published_at, version, created_at, updated_at")
_P_COLS = ", ".join("p." + c.strip() for c in _POST_COLS.split(","))
_IN_FORCE = ("ARRAY(SELECT c.id FROM crises c WHERE (c.status = 'active' OR (c.status = 'scheduled'"
             " AND c.starts_at <= now())) AND (c.scope_kind = 'organization' OR p.account_id = ANY(c.account_ids)"
             " OR a.brand_id = ANY(c.brand_ids)) ORDER BY c.declared_at) AS active_crises")
_MISSED = ("(p.missed_schedule OR (p.status IN ('in_review', 'changes_requested') AND p.scheduled_at IS NOT NULL"
           " AND p.scheduled_at <= now())) AS missed")
_REV = "r.body, r.link, r.media, r.labels, r.content_hash"

_GET_POST = f"""
SELECT {_P_COLS}, {_REV}, a.brand_id, {_MISSED}, {_IN_FORCE}
  FROM posts p JOIN post_revisions r ON r.post_id = p.id AND r.number = p.revision
  JOIN accounts a ON a.id = p.account_id
 WHERE p.id = $1
"""


def _list_sql(everything: bool, brands: bool, accounts: bool) -> str:
    """The first page: the top rows of posts alone (as socialgov's list does), then their
    revisions, brands and crises (joining every visible post with its revision before the
    sort would read all their revisions). One statement per shape of the visibility filter."""
    clauses = []
    if brands:
        clauses.append("p.account_id IN (SELECT id FROM accounts WHERE brand_id = ANY($2::uuid[]))")
    if accounts:
        clauses.append(f"p.account_id = ANY(${2 + brands}::uuid[])")
    where = "true" if everything else " OR ".join(clauses) or "false"
    return f"""
SELECT {_P_COLS}, {_REV}, a.brand_id, {_MISSED}, {_IN_FORCE}
  FROM (SELECT * FROM posts p WHERE {where} ORDER BY p.created_at, p.id LIMIT $1) p
  JOIN post_revisions r ON r.post_id = p.id AND r.number = p.revision
  JOIN accounts a ON a.id = p.account_id
 ORDER BY p.created_at, p.id
"""


_LIST = {(e, b, a): _list_sql(e, b, a) for e in (True, False) for b in (True, False) for a in (True, False)}

_LOCK_POST = f"""
SELECT {_P_COLS}, {_REV}, r.stages::text AS stages, a.brand_id, {_IN_FORCE},
       (SELECT coalesce(json_agg(json_build_object('stage_index', d.stage_index, 'decision', d.decision,
                                                   'by_kind', d.decided_by_kind, 'by_id', d.decided_by_id)), '[]')
          FROM approvals d WHERE d.post_id = p.id AND d.revision = p.revision AND d.round = p.review_round
       )::text AS decisions
  FROM posts p JOIN post_revisions r ON r.post_id = p.id AND r.number = p.revision
  JOIN accounts a ON a.id = p.account_id
 WHERE p.id = $1
   FOR UPDATE OF p
"""

_APPROVE = f"""
WITH d AS (
    INSERT INTO approvals (id, post_id, revision, round, stage_index, stage_name, decision, decided_by_kind,
                           decided_by_id, content_hash, comment)
    VALUES ($1, $2, $3, $4, $5, $6, 'approve', $7, $8, $9, $10)
    ON CONFLICT DO NOTHING
    RETURNING id
), u AS (
    UPDATE posts SET status = $11,
           approved_revision = CASE WHEN $12 THEN $3 ELSE approved_revision END,
           approved_content_hash = CASE WHEN $12 THEN $9 ELSE approved_content_hash END,
           version = version + 1, updated_at = now()
     WHERE id = $2 AND version = $13 AND EXISTS (SELECT 1 FROM d)
    RETURNING {_POST_COLS}
), audited AS (
    INSERT INTO audit_records (actor_kind, actor_id, action, subject_type, subject_id, before, after, request_id,
                               correlation_id, client_ip)
    SELECT $7, $8, 'post.approve', 'post', $2::text, $14::jsonb, $15::jsonb, $16, NULL, $17::inet FROM u
)
SELECT *, now() AS now FROM u
"""

_DRY_RUN = """
SELECT (SELECT count(*) FROM accounts WHERE id = ANY($1::uuid[])) AS found,
       (SELECT count(*) FROM posts p
         WHERE ((p.due_at IS NOT NULL AND p.status = 'scheduled')
                OR ((p.lease_until IS NOT NULL OR p.next_attempt_at IS NOT NULL) AND p.sending_since IS NULL
                    AND p.status = 'publishing'))
           AND p.account_id = ANY($1::uuid[])) AS would_pause
"""

_USER_COLS = ("id, email, external_id, display_name, kind, status, training_valid_until, status_changed_at, version,"
              " created_at, updated_at")

_LOCK_USER = f"""
SELECT {_USER_COLS},
       EXISTS (SELECT 1 FROM access_grants g WHERE g.user_id = users.id AND g.role = 'admin'
                 AND g.revoked_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > now())) AS was_admin
  FROM users WHERE id = $1 FOR UPDATE
"""

_SCHEDULED_FREEZABLE = "p.due_at IS NOT NULL AND p.status = 'scheduled'"
_CLAIMED_FREEZABLE = ("(p.lease_until IS NOT NULL OR p.next_attempt_at IS NOT NULL) AND p.sending_since IS NULL"
                      " AND p.status = 'publishing'")
_AUTHORED = "p.author_kind = 'user' AND p.author_id = $1 AND EXISTS (SELECT 1 FROM u)"
_A = "INSERT INTO audit_records (actor_kind, actor_id, action, subject_type, subject_id, before, after, request_id," \
     " correlation_id, client_ip)"
_ACTOR = "$3, $4"
_CTX = "$6, $7, $8::inet"


def _bulk(source: str, action: str, status: str, before: str) -> str:
    return (f"SELECT {_ACTOR}, '{action}', 'user', $1::text, {before},"
            f" jsonb_build_object('status', '{status}', 'reason', 'author_offboarded', 'subjects_type', 'post',"
            f" 'count', count(*), 'subject_ids', jsonb_agg(id::text)), {_CTX} FROM {source} HAVING count(*) > 0")


_PAUSED_FROM = {s: f"'{{\"status\": \"{s}\"}}'::jsonb" for s in ("scheduled", "publishing")}

_OFFBOARD = f"""
WITH u AS (
    UPDATE users SET status = 'offboarded', status_changed_at = now(), version = version + 1, updated_at = now()
     WHERE id = $1 AND version = $2
    RETURNING {_USER_COLS}
), g AS (
    UPDATE access_grants SET revoked_at = now(), revoked_by_kind = $3, revoked_by_id = $4, revoke_reason = $5
     WHERE user_id = $1 AND revoked_at IS NULL AND EXISTS (SELECT 1 FROM u)
    RETURNING id
), t AS (
    UPDATE api_tokens SET revoked_at = now()
     WHERE user_id = $1 AND revoked_at IS NULL AND EXISTS (SELECT 1 FROM u)
    RETURNING id, revoked_at
), f AS (
    UPDATE accounts x
       SET needs_owner = x.needs_owner OR coalesce(x.owner_id = $1, false),
           credentials_rotation_required = x.credentials_rotation_required
                                           OR coalesce(x.credential_custodian_id = $1, false),
           version = x.version + 1, updated_at = now()
      FROM accounts o
     WHERE o.id = x.id AND EXISTS (SELECT 1 FROM u)
       AND ((x.owner_id = $1 AND NOT x.needs_owner)
            OR (x.credential_custodian_id = $1 AND NOT x.credentials_rotation_required))
    RETURNING x.id, coalesce(o.owner_id = $1 AND NOT o.needs_owner, false) AS owner_flag,
              coalesce(o.credential_custodian_id = $1 AND NOT o.credentials_rotation_required, false) AS custodian_flag
), withdrawn AS (
    UPDATE posts p SET status = 'withdrawn', version = p.version + 1, updated_at = now()
     WHERE {_AUTHORED} AND p.status IN ('draft', 'in_review', 'changes_requested')
    RETURNING p.id
), paused_s AS (
    UPDATE posts p SET status = 'paused', pause_reason = 'author_offboarded', lease_until = NULL,
           next_attempt_at = NULL, version = p.version + 1, updated_at = now()
     WHERE {_AUTHORED} AND {_SCHEDULED_FREEZABLE}
    RETURNING p.id
), paused_c AS (
    UPDATE posts p SET status = 'paused', pause_reason = 'author_offboarded', lease_until = NULL,
           next_attempt_at = NULL, version = p.version + 1, updated_at = now()
     WHERE {_AUTHORED} AND {_CLAIMED_FREEZABLE}
    RETURNING p.id
), audited AS (
    {_A}
    SELECT {_ACTOR}, 'grants.revoked', 'user', $1::text, '{{"revoked_at": null}}'::jsonb,
           jsonb_build_object('revoked', true, 'reason', $5::text, 'subjects_type', 'grant', 'count', count(*),
                              'subject_ids', jsonb_agg(g.id::text)), {_CTX} FROM g HAVING count(*) > 0
    UNION ALL
    SELECT {_ACTOR}, 'tokens.revoked', 'user', $1::text, '{{"revoked_at": null}}'::jsonb,
           jsonb_build_object('revoked', true, 'reason', $5::text, 'subjects_type', 'token', 'count', count(*),
                              'subject_ids', jsonb_agg(t.id::text)), {_CTX} FROM t HAVING count(*) > 0
    UNION ALL
    SELECT {_ACTOR}, 'account.flagged', 'account', f.id::text,
           jsonb_strip_nulls(jsonb_build_object('needs_owner', CASE WHEN f.owner_flag THEN false END,
                                                'credentials_rotation_required', CASE WHEN f.custodian_flag THEN false END)),
           jsonb_strip_nulls(jsonb_build_object('needs_owner', CASE WHEN f.owner_flag THEN true END,
                                                'credentials_rotation_required', CASE WHEN f.custodian_flag THEN true END)),
           {_CTX} FROM f
    UNION ALL
    {_bulk("withdrawn", "posts.withdrawn", "withdrawn", "NULL")}
    UNION ALL
    {_bulk("paused_s", "posts.paused", "paused", _PAUSED_FROM["scheduled"])}
    UNION ALL
    {_bulk("paused_c", "posts.paused", "paused", _PAUSED_FROM["publishing"])}
    UNION ALL
    SELECT {_ACTOR}, 'user.offboarded', 'user', $1::text,
           '{{"status": "active", "revoked_grant_ids": null, "revoked_token_ids": null, "flagged_account_ids": null,
             "withdrawn_posts": null, "paused_posts": null}}'::jsonb,
           jsonb_build_object('status', 'offboarded',
                              'revoked_grant_ids', coalesce((SELECT jsonb_agg(id) FROM g), '[]'),
                              'revoked_token_ids', coalesce((SELECT jsonb_agg(id) FROM t), '[]'),
                              'flagged_account_ids', coalesce((SELECT jsonb_agg(id) FROM f), '[]'),
                              'withdrawn_posts', (SELECT count(*) FROM withdrawn),
                              'paused_posts', (SELECT count(*) FROM paused_s) + (SELECT count(*) FROM paused_c)),
           {_CTX}
      FROM u
)
SELECT * FROM u
"""

_ADMIN_LOCK = "SELECT pg_advisory_xact_lock(7235190417235002)"
_WORKING_ADMIN = """
SELECT EXISTS (
  SELECT 1 FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id
   WHERE t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now()) AND 'admin' = ANY(t.scopes)
     AND (t.service_id IS NOT NULL OR (u.status = 'active' AND EXISTS (
           SELECT 1 FROM access_grants g WHERE g.user_id = t.user_id AND g.role = 'admin' AND g.revoked_at IS NULL
              AND (g.expires_at IS NULL OR g.expires_at > now())))))
"""

# --- who is calling ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    role: str  # effective (lapsed training caps a trained role at contributor)
    kind: str
    brand_id: uuid.UUID | None
    account_id: uuid.UUID | None

    def covers(self, brand_id, account_id) -> bool:
        if self.kind == "organization":
            return True
        if self.kind == "brand":
            return brand_id is not None and self.brand_id == brand_id
        return account_id is not None and self.account_id == account_id


@dataclass(frozen=True)
class Principal:
    kind: str  # user | service
    id: uuid.UUID
    scopes: frozenset[str]
    grants: tuple[Grant, ...] = ()
    admin: bool = False
    org_ladder: str | None = None  # services: their scopes as an organisation-wide role
    extra: dict = field(default_factory=dict, compare=False)

    def has_scope(self, *scopes: str) -> bool:
        return "admin" in self.scopes or any(s in self.scopes for s in scopes)

    def sees(self, brand_id, account_id) -> bool:
        return self.admin or self.org_ladder is not None or any(g.covers(brand_id, account_id) for g in self.grants)

    def has_role(self, role: str, brand_id=None, account_id=None) -> bool:
        if self.admin:
            return True
        covering = [g for g in self.grants if g.covers(brand_id, account_id)]
        if role in LEVEL:
            levels = [LEVEL[g.role] for g in covering if g.role in LEVEL]
            if self.org_ladder is not None:
                levels.append(LEVEL[self.org_ladder])
            return max(levels, default=0) >= LEVEL[role]
        return any(g.role == role for g in covering)

    @property
    def sees_everything(self) -> bool:
        return self.admin or self.org_ladder is not None or any(g.kind == "organization" for g in self.grants)


class Problem(Exception):
    def __init__(self, status: int, code: str, detail: str):
        self.status, self.code, self.detail = status, code, detail


def _service_ladder(scopes: frozenset[str]) -> str | None:
    if "admin" in scopes or "access:admin" in scopes:
        return "account_admin"
    if "posts:write" in scopes:
        return "contributor"
    if "posts:read" in scopes or "access:read" in scopes:
        return "viewer"
    return None


async def authenticate(request: Request) -> Principal:
    header = request.headers.get("authorization")
    if not header:
        raise Problem(401, "unauthenticated", "This call needs a bearer token.")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith("sgv_") or len(token) > 200:
        raise Problem(401, "unauthenticated", "The bearer token is not valid.")
    row = await request.app.state.pool.fetchrow(_AUTH, hashlib.sha256(token.encode()).hexdigest())
    if row is None:
        raise Problem(401, "unauthenticated", "The bearer token is not valid, expired or revoked.")
    scopes = frozenset(row["scopes"])
    if row["user_id"] is None:
        return Principal("service", row["service_id"], scopes, admin="admin" in scopes,
                         org_ladder=_service_ladder(scopes))
    if row["user_status"] != "active":
        raise Problem(401, "unauthenticated", "The bearer token is not valid, expired or revoked.")
    trained = row["trained"]
    grants = tuple(
        Grant("contributor" if role in TRAINED_ROLES and not trained else role, kind, brand, account)
        for role, kind, brand, account in zip(row["roles"] or (), row["kinds"] or (), row["brands"] or (),
                                              row["accounts"] or (), strict=True))
    return Principal("user", row["user_id"], scopes, grants, admin=any(g.role == "admin" for g in grants))


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require(principal: Principal, *scopes: str) -> None:
    if not principal.has_scope(*scopes):
        raise Problem(403, "insufficient-scope", f"This call needs one of the scopes: {', '.join(scopes)}.")


# --- JSON ------------------------------------------------------------------------------------------

def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _json(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(doc, default=_default, separators=(",", ":")).encode(), status,
                    headers=headers, media_type="application/json")


def post_doc(p, rev, missed: bool, crises) -> dict[str, Any]:
    """The fields of app.posts.schemas.PostRead."""
    status = p["status"]
    return {
        "id": p["id"], "account_id": p["account_id"], "author_kind": p["author_kind"], "author_id": p["author_id"],
        "source": p["source"], "external_ref": p["external_ref"], "status": status, "revision": p["revision"],
        "body": rev["body"], "link": rev["link"], "media": list(rev["media"]), "labels": list(rev["labels"]),
        "content_hash": rev["content_hash"], "scheduled_at": p["scheduled_at"], "risk": p["risk"],
        "missed_schedule": missed, "approved_revision": p["approved_revision"], "review_round": p["review_round"],
        "allowed_transitions": ALLOWED[status], "active_crises": list(crises),
        "paused_by_crisis_id": p["paused_by_crisis_id"],
        "pause_reason": p["pause_reason"] if status == "paused" else None,
        "publish_attempts": p["publish_attempts"], "last_error": p["last_error"], "published_at": p["published_at"],
        "stuck": False, "stuck_stages": [], "version": p["version"], "created_at": p["created_at"],
        "updated_at": p["updated_at"],
    }


def user_doc(u) -> dict[str, Any]:
    return {k: u[k] for k in ("id", "email", "external_id", "display_name", "kind", "status", "training_valid_until",
                              "status_changed_at", "version", "created_at", "updated_at")}


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


# --- request bodies ----------------------------------------------------------------------------------

class Decide(BaseModel):
    model_config = ConfigDict(extra="forbid")
    revision: int | None = Field(default=None, ge=1, le=2_000_000_000)
    comment: str | None = Field(default=None, max_length=2000)


class Scope(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organization: bool | None = None
    brand_ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=500)
    account_ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=5000)


class CrisisCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    severity: int = Field(default=2, ge=1, le=4, strict=True)
    scope: Scope
    reason: str = Field(min_length=1, max_length=2000)
    responders: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    starts_at: datetime | None = None
    ends_at: datetime | None = None


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["active", "suspended", "offboarded"] | None = None


# --- the app -------------------------------------------------------------------------------------------

def create_app(dsn: str, pool_min: int, pool_max: int) -> FastAPI:
    async def no_reset(conn) -> None:
        """asyncpg rolls back an open transaction before calling this; nothing else to undo."""

    import contextlib

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.pool = await asyncpg.create_pool(
            dsn, min_size=pool_min, max_size=pool_max, reset=no_reset,
            server_settings={"application_name": APPLICATION_NAME, "idle_in_transaction_session_timeout": "60000"})
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(title="socialgov twin", lifespan=lifespan)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        return JSONResponse({"type": "https://socialgov.dev/problems/" + exc.code, "status": exc.status,
                             "detail": exc.detail, "code": exc.code}, exc.status,
                            media_type="application/problem+json")

    @app.get("/ping")
    async def ping() -> dict:
        return {"status": "ok"}

    @app.get("/v1/posts/{post_id}")
    async def get_post(request: Request, principal: CurrentPrincipal, post_id: uuid.UUID):
        require(principal, "posts:read", "posts:write")
        row = await request.app.state.pool.fetchrow(_GET_POST, post_id)
        if row is None or not principal.sees(row["brand_id"], row["account_id"]):
            raise Problem(404, "not-found", "No such post.")
        return _json(post_doc(row, row, row["missed"], row["active_crises"]), headers={"ETag": f'"{row["version"]}"'})

    @app.get("/v1/posts")
    async def list_posts(request: Request, principal: CurrentPrincipal,
                         limit: Annotated[int, Query(ge=1, le=200)] = 50):
        require(principal, "posts:read", "posts:write")
        everything = principal.sees_everything
        brands = [] if everything else list({g.brand_id for g in principal.grants if g.kind == "brand" and g.brand_id})
        accounts = [] if everything else list(
            {g.account_id for g in principal.grants if g.kind == "account" and g.account_id})
        rows = await request.app.state.pool.fetch(_LIST[(everything, bool(brands), bool(accounts))], limit + 1,
                                                  *[ids for ids in (brands, accounts) if ids])
        cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            raw = json.dumps([last["created_at"].isoformat(), str(last["id"])], separators=(",", ":"))
            cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        return _json({"items": [post_doc(r, r, r["missed"], r["active_crises"]) for r in rows],
                      "next_cursor": cursor})

    @app.post("/v1/posts/{post_id}/approve")
    async def approve(request: Request, principal: CurrentPrincipal, post_id: uuid.UUID, body: Decide | None = None):
        require(principal, "posts:write")
        if body is None or body.revision is None:
            raise Problem(428, "precondition-required", "Name the revision you decide.")
        async with request.app.state.pool.acquire() as conn, conn.transaction():
            p = await conn.fetchrow(_LOCK_POST, post_id)
            if p is None or not principal.sees(p["brand_id"], p["account_id"]):
                raise Problem(404, "not-found", "No such post.")
            if body.revision != p["revision"]:
                raise Problem(409, "revision-mismatch", f"The post is at revision {p['revision']}.")
            if p["status"] != "in_review":
                raise Problem(409, "invalid-transition", f"Cannot approve a post that is {p['status']}.")
            if principal.kind == p["author_kind"] and principal.id == p["author_id"]:
                raise Problem(403, "self-approval", "Authors never decide on their own posts.")
            taken = json.loads(p["decisions"])
            me = str(principal.id)
            if any(d["by_kind"] == principal.kind and d["by_id"] == me for d in taken):
                raise Problem(409, "already-decided", "You already decided a stage of this revision.")
            stages = json.loads(p["stages"] or "[]")

            def complete(stage, decisions) -> bool:
                approved = [d for d in decisions if d["decision"] == "approve" and d["stage_index"] == stage["index"]]
                if stage.get("role"):
                    return len(approved) >= int(stage.get("min_approvals") or 1)
                who = {d["by_id"] for d in approved}
                named = set(stage.get("approvers") or ())
                return bool(who & named) if (stage.get("mode") or "any") == "any" else named <= who

            open_stage = next((s for s in stages if not complete(s, taken)), None)
            if open_stage is None:
                raise Problem(403, "not-an-approver", "You decide no open stage of this post.")
            eligible = (principal.has_role(open_stage["role"], p["brand_id"], p["account_id"])
                        if open_stage.get("role") else me in (open_stage.get("approvers") or ()))
            if not eligible:
                raise Problem(403, "not-an-approver", "You decide no open stage of this post.")
            mine = {"stage_index": open_stage["index"], "decision": "approve", "by_kind": principal.kind, "by_id": me}
            done = all(complete(s, [*taken, mine]) for s in stages)
            status = "approved" if done else "in_review"
            before = {"status": p["status"]} if status != p["status"] else {}
            after = {"status": status} if status != p["status"] else {}
            after |= {"stage": open_stage["name"], "decided_revision": p["revision"], "content_hash": p["content_hash"]}
            before |= {k: None for k in after if k not in before}
            if body.comment is not None:
                before["comment"], after["comment"] = None, body.comment
            u = await conn.fetchrow(
                _APPROVE, uuid.uuid4(), post_id, p["revision"], p["review_round"], open_stage["index"],
                open_stage["name"], principal.kind, principal.id, p["content_hash"], body.comment, status, done,
                p["version"], json.dumps(before), json.dumps(after), uuid.uuid4().hex, _client_ip(request))
            if u is None:
                raise Problem(409, "concurrent-update", "The post changed while this request ran.")
        missed = u["missed_schedule"] or (status in MISSING_STATES and u["scheduled_at"] is not None
                                          and u["scheduled_at"] <= u["now"])
        return _json(post_doc(u, p, missed, p["active_crises"]), headers={"ETag": f'"{u["version"]}"'})

    @app.post("/v1/crises")
    async def declare(request: Request, principal: CurrentPrincipal, body: CrisisCreate,
                      dry_run: bool = False):
        require(principal, "crisis:declare")
        if not dry_run:
            raise Problem(501, "not-implemented", "The twin only counts (dry_run=true).")
        if principal.kind == "user" and not (principal.admin or principal.has_role("crisis_lead")):
            raise Problem(403, "cannot-declare", "Only crisis leads and admins declare and resolve crises.")
        if body.scope.account_ids is None or body.starts_at or body.ends_at or body.responders:
            raise Problem(501, "not-implemented", "The twin counts account scopes only.")
        ids = list(dict.fromkeys(body.scope.account_ids))
        row = await request.app.state.pool.fetchrow(_DRY_RUN, ids)
        if row["found"] != len(ids):
            raise Problem(404, "not-found", "No such account.")
        return _json({"dry_run": True, "would_pause": row["would_pause"],
                      "scope": {"organization": False, "brand_ids": [], "account_ids": ids},
                      "starts_at": None, "ends_at": None})

    @app.patch("/v1/users/{user_id}")
    async def update_user(request: Request, principal: CurrentPrincipal, user_id: uuid.UUID, body: UserUpdate):
        require(principal, "access:admin")
        if not (principal.admin or principal.org_ladder is not None
                or any(g.role == "account_admin" for g in principal.grants)):
            raise Problem(404, "not-found", "No such user.")
        if not principal.admin:
            raise Problem(403, "forbidden", "Only admins change users.")
        if body.status not in (None, "offboarded"):
            raise Problem(501, "not-implemented", "The twin only offboards.")
        async with request.app.state.pool.acquire() as conn, conn.transaction():
            user = await conn.fetchrow(_LOCK_USER, user_id)
            if user is None:
                raise Problem(404, "not-found", "No such user.")
            if body.status is None or user["status"] == body.status:
                return _json(user_doc(user), headers={"ETag": f'"{user["version"]}"'})
            rid = uuid.uuid4().hex
            updated = await conn.fetchrow(_OFFBOARD, user_id, user["version"], principal.kind, principal.id,
                                          "user offboarded", rid, f"offboarding:{uuid.uuid4()}", _client_ip(request))
            if updated is None:
                raise Problem(409, "concurrent-update", "The user changed while this request ran.")
            if user["was_admin"]:
                await conn.execute(_ADMIN_LOCK)
                if not await conn.fetchval(_WORKING_ADMIN):
                    raise Problem(409, "last-admin", "Offboarding this admin would leave nobody able to administer.")
        return _json(user_doc(updated), headers={"ETag": f'"{updated["version"]}"'})

    return app


def _dsn(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix):]
    return url


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8001)
    p.add_argument("--pool-min", type=int, default=10, help="socialgov's db_pool_size (default 10)")
    p.add_argument("--pool-max", type=int, default=20, help="socialgov's db_pool_size + db_max_overflow (default 20)")
    args = p.parse_args()
    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.exit("DATABASE_URL must name the bench database")
    # As `socialgov serve` configures uvicorn: one worker, loop/http "auto" (uvloop, httptools with
    # uvicorn[standard]), no access log, no log config of uvicorn's own.
    uvicorn.Server(uvicorn.Config(create_app(_dsn(url), args.pool_min, args.pool_max), host=args.host, port=args.port,
                                  log_config=None, access_log=False)).run()
