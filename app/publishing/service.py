"""Publishing's use cases: the checks before a send, its steps, retract, connectors. They
never commit: app/publishing/jobs.py owns the sessions and commits each step in order.

At most once: a post is claimed by one worker (SKIP LOCKED), re-checked under the fence, the
send is marked before the connector call (a worker that dies mid-call leaves the post
``failed``, never re-sent), and ``publications.post_id`` is unique.
"""
from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.access import service as access_service
from app.access.policy import Access, Role
from app.audit import service as audit
from app.config import get_settings
from app.crises import service as crises_service
from app.errors import NotFound, PreconditionFailed
from app.models import AccountConnector, Post, PostRevision
from app.posts import moves as post_moves
from app.posts.errors import InvalidTransition, PostActionForbidden, PostNotFound
from app.posts.service import content_hash
from app.posts.workflow import Action, IllegalTransition, State, allowed, transition
from app.publishing import repository
from app.publishing.connectors import (
    ConnectorConfig, DestinationRefused, Outgoing, SendResult, backoff_seconds, connector_for, url_host,
    vet_destination,
)
from app.publishing.errors import ConnectorDestinationRefused, ContentNotApproved, CrisisFreeze, PublishFailed
from app.security import SYSTEM, Principal

log = structlog.get_logger("socialgov.publishing")

# How long configuring a webhook waits for its name to resolve (the send checks again anyway).
CONFIGURE_RESOLVE_SECONDS = 3.0


def _move(post: Post, action: Action) -> State:
    try:
        return transition(State(post.status), action)
    except IllegalTransition:
        raise InvalidTransition(f"Cannot {action.value} a post that is {post.status}.", current_status=post.status,
                                allowed_transitions=[a.value for a in allowed(State(post.status))]) from None


def _config(row: AccountConnector | None) -> ConnectorConfig:
    if row is None:
        return ConnectorConfig()
    return ConnectorConfig(row.kind, row.url, row.secret, row.timeout_seconds, row.max_attempts)


def _connector(config: ConnectorConfig):
    """The connector for a send; the webhook checks its destination again at every send."""
    return connector_for(config, allow_private=get_settings().connector_allow_private)


@dataclass
class Prepared:
    post: Post
    revision: PostRevision
    outgoing: Outgoing
    config: ConnectorConfig


async def _prepare(session: AsyncSession, post: Post) -> Prepared:
    """The approved revision, checked against the approved hash: anything else never leaves."""
    rev = await post_moves.revision(session, post.id, post.approved_revision or post.revision)
    if rev is None or post.approved_content_hash is None or post.approved_revision != post.revision:
        raise ContentNotApproved("The post's content is not the approved content; it will not be published.")
    account = await repository.account(session, post.account_id)
    assert account is not None
    out = Outgoing(post.id, post.account_id, account.platform, account.handle, rev.number, rev.content_hash,
                   rev.body, rev.link, list(rev.media), list(rev.labels), post.publish_attempts + 1)
    # The hash of the exact content about to leave, recomputed: a stored hash proves nothing
    # about a body changed behind the service's back.
    sent = content_hash(post.account_id, out.body, out.link, out.media, out.labels)
    if sent != post.approved_content_hash or rev.content_hash != post.approved_content_hash:
        log.error("content differs from the approved hash", post_id=str(post.id), revision=rev.number)
        raise ContentNotApproved("The content about to be sent does not match the approved content hash; "
                                 "it will not be published.")
    return Prepared(post, rev, out, _config(await repository.connector(session, post.account_id)))


async def _pause_for_crisis(session: AsyncSession, actor: Principal, post: Post, crisis_id: uuid.UUID) -> None:
    old = post.status
    await post_moves.step(session, post, {
        "status": _move(post, Action.freeze).value, "paused_by_crisis_id": crisis_id, "lease_until": None,
        "next_attempt_at": None})
    await audit.record(session, actor, "post.paused", "post", post.id, before={"status": old},
                       after={"status": "paused", "crisis_id": crisis_id}, correlation_id=str(crisis_id))


async def begin_send(session: AsyncSession, actor: Principal, prepared: Prepared) -> None:
    """Mark the send before the connector call (committed by the job before it calls)."""
    post = prepared.post
    old = post.status
    # manual: approved/failed -> publishing; a claim: publishing -> publishing (the send begins)
    target = State.publishing if post.status == State.publishing else _move(post, Action.publish)
    await post_moves.step(session, post, {
        "status": target.value, "publish_attempts": prepared.outgoing.attempt,
        "sending_since": await clock.transaction_time(session), "next_attempt_at": None,
        "lease_until": None})
    # the lease covers the connector call and a margin
    await post_moves.lease(session, post.id, prepared.config.timeout_seconds + 30)
    await audit.record(session, actor, "post.publish_started", "post", post.id, before={"status": old},
                       after={"status": "publishing", "attempt": prepared.outgoing.attempt,
                              "connector": prepared.config.kind, "revision": prepared.revision.number})


async def finish_send(session: AsyncSession, actor: Principal, prepared: Prepared, result: SendResult,
                      *, retry: bool) -> str:
    """Record the connector's outcome: published, retry (with backoff), or failed."""
    post, out = prepared.post, prepared.outgoing
    if result.ok:
        fresh = await repository.record_publication(session, {
            "id": uuid.uuid4(), "post_id": post.id, "account_id": post.account_id, "revision": out.revision,
            "content_hash": out.content_hash, "connector": prepared.config.kind, "body": out.body, "link": out.link,
            "media": out.media, "labels": out.labels, "attempt": out.attempt, "response_status": result.status,
            "external_id": result.external_id, "published_by_kind": str(actor.kind), "published_by_id": actor.id})
        if not fresh:  # cannot happen while the claim works; if it ever does, never publish twice
            log.error("post already has a publication", post_id=str(post.id))
        await post_moves.step(session, post, {
            "status": _move(post, Action.published).value, "published_at": await clock.transaction_time(session),
            "sending_since": None, "lease_until": None, "last_error": None})
        await audit.record(session, actor, "post.published", "post", post.id, before={"status": "publishing"},
                           after={"status": "published", "revision": out.revision, "content_hash": out.content_hash,
                                  "connector": prepared.config.kind, "external_id": result.external_id})
        return "published"
    if retry and result.retryable and out.attempt < prepared.config.max_attempts:
        wait = backoff_seconds(out.attempt)
        await post_moves.step(session, post, {"status": _move(post, Action.retry).value, "sending_since": None,
                                              "lease_until": None, "last_error": result.error})
        await post_moves.retry_in(session, post.id, wait)
        await audit.record(session, actor, "post.publish_retry", "post", post.id, after={
            "attempt": out.attempt, "error": result.error, "retry_in_seconds": wait})
        return "retry"
    await post_moves.step(session, post, {"status": _move(post, Action.fail).value, "sending_since": None,
                                          "lease_until": None, "last_error": result.error})
    await audit.record(session, actor, "post.publish_failed", "post", post.id, before={"status": "publishing"},
                       after={"status": "failed", "attempt": out.attempt, "error": result.error})
    return "failed"


async def send(prepared: Prepared) -> SendResult:
    """The connector call (outside any transaction: the job committed the send's start)."""
    return await _connector(prepared.config).send(prepared.outgoing)


async def prepare_claimed(session: AsyncSession, actor: Principal, post_id: uuid.UUID,
                          lease: Any) -> Prepared | str:
    """The scheduler's last check of a claimed post, under the shared fence: what to send, or
    the outcome when nothing is sent ("lost": frozen or taken over; "paused": a crisis holds
    the account now; "failed": the content is not the approved content)."""
    post = await post_moves.lock(session, post_id)
    if post is None or post.status != State.publishing or post.lease_until != lease \
            or post.sending_since is not None:
        return "lost"
    account = await repository.account(session, post.account_id)
    crises = await crises_service.in_force_for(session, post.account_id, account.brand_id)
    if crises:  # nothing goes out on schedule during a crisis
        await _pause_for_crisis(session, actor, post, crises[0].id)
        return "paused"
    try:
        return await _prepare(session, post)
    except ContentNotApproved as exc:
        await post_moves.step(session, post, {"status": _move(post, Action.fail).value, "lease_until": None,
                                              "last_error": exc.detail})
        await audit.record(session, actor, "post.publish_failed", "post", post.id,
                           before={"status": "publishing"}, after={"status": "failed", "error": exc.detail})
        return "failed"


async def _locked_visible(session: AsyncSession, principal: Principal, post_id: uuid.UUID):
    """The post, locked, with the caller's access and its account: 404 unless the caller sees it."""
    post = await post_moves.lock(session, post_id)
    if post is None:
        raise PostNotFound("No such post.")
    access = await access_service.effective_access(session, principal)
    account = await repository.account(session, post.account_id)
    if not access.sees(account.brand_id, account.id):
        raise PostNotFound("No such post.")
    return post, access, account


async def authorise_publish(session: AsyncSession, principal: Principal, post_id: uuid.UUID, *,
                            expected_version: int | None) -> Prepared:
    """A publish by hand, checked under the shared fence: who may (publishers; under a crisis
    its responders, and only crisis responses), the version, the transition, the content."""
    post, access, account = await _locked_visible(session, principal, post_id)
    crises = await crises_service.in_force_for(session, post.account_id, account.brand_id)
    # In calm times publishers publish; under a crisis its responders do (crisis leads and
    # the people the declaration names), and only crisis responses.
    if not crises and not access.has_role(Role.publisher, brand_id=account.brand_id, account_id=account.id):
        raise PostActionForbidden("Only a publisher of this account publishes.")
    if expected_version is not None and expected_version != post.version:
        raise PreconditionFailed(f"The post is at version {post.version}, not {expected_version}.",
                                 current_version=post.version, header="If-Match")
    _move(post, Action.publish)
    prepared = await _prepare(session, post)
    blocked = _crisis_block(access, principal, crises, prepared.revision)
    if blocked:
        raise CrisisFreeze(blocked, crisis_ids=[str(c.id) for c in crises])
    return prepared


def publish_failed(prepared: Prepared, result: SendResult) -> PublishFailed:
    return PublishFailed(f"The {prepared.config.kind} connector did not publish: {result.error}.",
                         connector_status=result.status)


async def sweep_abandoned(session: AsyncSession, actor: Principal = SYSTEM) -> int:
    failed = await post_moves.fail_abandoned_sends(session)
    await audit.record_many(session, actor, [
        audit.Entry("post.publish_failed", "post", p.id, before={"status": "publishing"},
                    after={"status": "failed", "error": p.last_error}) for p in failed])
    return len(failed)


# --- by hand ------------------------------------------------------------------------------

def _crisis_block(access: Access, principal: Principal, crises, rev: PostRevision) -> str | None:
    """During a crisis only responders publish, and only crisis responses: revisions that
    passed the crisis stages after the crisis took hold."""
    for c in crises:
        if not crises_service.is_responder(access, principal, c):
            return "A crisis is active here: only its responders publish."
        began = c.activated_at or c.declared_at
        if rev.crisis_id is None or rev.submitted_at is None or rev.submitted_at < began:
            return ("A crisis is active here: only crisis responses (submitted and approved under the crisis "
                    "stages after it began) are published.")
    return None


async def retract(session: AsyncSession, principal: Principal, post_id: uuid.UUID, *,
                  expected_version: int | None) -> None:
    post, access, account = await _locked_visible(session, principal, post_id)
    if not access.has_role(Role.publisher, brand_id=account.brand_id, account_id=account.id):
        raise PostActionForbidden("Only a publisher of this account retracts.")
    if expected_version is not None and expected_version != post.version:
        raise PreconditionFailed(f"The post is at version {post.version}, not {expected_version}.",
                                 current_version=post.version, header="If-Match")
    target = _move(post, Action.retract)
    pub = await repository.publication(session, post.id)
    config = _config(await repository.connector(session, post.account_id))
    out = Outgoing(post.id, post.account_id, account.platform, account.handle, pub.revision, pub.content_hash,
                   pub.body, pub.link, list(pub.media), list(pub.labels), pub.attempt)
    result = await _connector(config).retract(out)
    if not result.ok:
        raise PublishFailed(f"The {config.kind} connector did not retract: {result.error}.",
                            connector_status=result.status)
    await repository.mark_retracted(session, post.id)
    await post_moves.step(session, post, {"status": target.value})
    await audit.record(session, principal, "post.retracted", "post", post.id, before={"status": post.status},
                       after={"status": target.value})


# --- connector configuration --------------------------------------------------------------

def connector_view(account_id: uuid.UUID, row: AccountConnector | None, secret: str | None = None, *,
                   full: bool = True) -> dict[str, Any]:
    """``full``: with the gateway URL (account admins, admins). The stored secret never; a
    generated one only in the answer that created it (``secret``)."""
    cfg = _config(row)
    return {"account_id": account_id, "kind": cfg.kind, "url": cfg.url if full else None,
            "url_host": url_host(cfg.url), "timeout_seconds": cfg.timeout_seconds,
            "max_attempts": cfg.max_attempts, "has_secret": bool(cfg.secret), "secret": secret,
            "version": row.version if row else 0}


async def _admin_account(session: AsyncSession, principal: Principal, account_id: uuid.UUID, *, write: bool):
    """The account and whether the principal administers it (publishers may read, not write)."""
    access = await access_service.effective_access(session, principal)
    account = await repository.account(session, account_id)
    if account is None or not access.sees(account.brand_id, account.id):
        raise NotFound("No such account.")
    admin = access.has_role(Role.account_admin, brand_id=account.brand_id, account_id=account.id)
    if not admin and (write or not access.has_role(Role.publisher, brand_id=account.brand_id,
                                                   account_id=account.id)):
        raise PostActionForbidden("Only account admins configure how an account publishes.")
    return account, admin


async def get_connector(session: AsyncSession, principal: Principal, account_id: uuid.UUID) -> dict[str, Any]:
    _, admin = await _admin_account(session, principal, account_id, write=False)
    # Publishers see that a gateway is configured and where (its host), not the URL: its path
    # or query may carry a token, and it is where the account's posts go.
    return connector_view(account_id, await repository.connector(session, account_id), full=admin)


async def _check_destination(url: str) -> None:
    """Refuse internal gateways when they are configured. A name that does not resolve from
    here is accepted: every send resolves it again and checks every address."""
    try:
        await vet_destination(url, allow_private=get_settings().connector_allow_private,
                              timeout=CONFIGURE_RESOLVE_SECONDS)
    except DestinationRefused as exc:
        raise ConnectorDestinationRefused(
            f"The gateway url is refused: {exc}. A webhook gateway must be a public http(s) address "
            "(private ones only where the operator allows them).", pointer="#/url") from None
    except (OSError, TimeoutError, UnicodeError):
        pass


_UNAUDITED = ("secret", "url_host")


async def put_connector(session: AsyncSession, principal: Principal, account_id: uuid.UUID, *, kind: str,
                        url: str | None, secret: str | None, timeout_seconds: float,
                        max_attempts: int) -> dict[str, Any]:
    await _admin_account(session, principal, account_id, write=True)
    if kind == "webhook" and url is not None:
        await _check_destination(url)
    before = await repository.connector(session, account_id)
    shown = None
    if kind == "webhook" and secret is None:
        secret = before.secret if before is not None and before.secret else None
        if secret is None:  # a new signing secret, shown once
            secret = shown = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    row = await repository.upsert_connector(session, {
        "account_id": account_id, "kind": kind, "url": url if kind == "webhook" else None,
        "secret": secret if kind == "webhook" else None, "timeout_seconds": timeout_seconds,
        "max_attempts": max_attempts})
    view = connector_view(account_id, row, shown)
    await audit.record(session, principal, "connector.updated", "account", account_id,
                       before={k: v for k, v in connector_view(account_id, before).items() if k not in _UNAUDITED},
                       after={k: v for k, v in view.items() if k not in _UNAUDITED})
    return view


async def get_publication(session: AsyncSession, principal: Principal, post_id: uuid.UUID):
    post = await post_moves.read(session, post_id)
    access = await access_service.effective_access(session, principal)
    account = await repository.account(session, post.account_id) if post else None
    if post is None or not access.sees(account.brand_id, account.id):
        raise PostNotFound("No such post.")
    pub = await repository.publication(session, post_id)
    if pub is None:
        raise NotFound("This post has not been published.")
    return pub
