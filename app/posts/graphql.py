"""GraphQL adapter for posts: the same service calls, scopes and input rules as
app/posts/router.py. Expected failures of mutations are ``Problem`` union members carrying
the REST problem's ``code``; where REST takes If-Match, mutations take ``expectedVersion``."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from app.approvals.graphql import PostApprovalsType
from app.errors import ValidationFailed
from app.graphql import mutation
from app.graphql.errors import Problem
from app.graphql.paging import FIRST, Page, page_params
from app.models import PostRevision
from app.pagination import created_key, make_page
from app.posts import service
from app.posts.graphql_enums import PostAction, PostStatus
from app.posts.schemas import (
    PostRead,
    PostReassign,
    PostRelease,
    RevisionRead,
    Decide, DecideWithReason, PostCreate, PostUpdate, ScheduleIn, StageReassign, TransitionIn,
)
from app.posts.workflow import Action
from app.security import Scopes

if TYPE_CHECKING:
    from app.content.findings_graphql import FindingType

READ = Scopes.POSTS_READ
WRITE = Scopes.POSTS_WRITE

Finding = Annotated["FindingType", strawberry.lazy("app.content.findings_graphql")]


@strawberry.experimental.pydantic.type(model=RevisionRead, name="Revision",
                                       description="One immutable version of a post's content")
class RevisionType:
    """Derived from the REST read model (app/posts/schemas.RevisionRead); ``findings`` is typed
    here (REST answers them as objects, GraphQL as Finding)."""

    number: strawberry.auto
    body: strawberry.auto
    link: strawberry.auto
    media: strawberry.auto
    labels: strawberry.auto
    content_hash: strawberry.auto
    risk: strawberry.auto
    created_by_kind: strawberry.auto
    created_by_id: strawberry.auto
    created_at: strawberry.auto

    @strawberry.field(description="Set by submit: every finding of the content checks")
    def findings(self) -> list[Finding] | None:
        from app.content.findings_graphql import FindingType

        return None if self.raw_findings is None else [FindingType.of(f) for f in self.raw_findings]


def revision_type(row: PostRevision) -> RevisionType:
    read = RevisionRead.model_validate(row)
    revision = RevisionType.from_pydantic(read)
    revision.raw_findings = read.findings  # what ``findings`` types (not a GraphQL field)
    return revision


@strawberry.experimental.pydantic.type(model=PostRead, all_fields=True, name="Post")
class PostType:
    """Derived from the REST read model (app/posts/schemas.PostRead): a field is declared and
    mapped once, there. What only GraphQL has (nested revisions, the review) is added here."""

    status: PostStatus
    allowed_transitions: list[PostAction]

    @strawberry.field
    def current_revision(self) -> RevisionType:
        return revision_type(self.view.revision)

    @strawberry.field(description="Every revision, oldest first")
    async def revisions(self, info: strawberry.Info) -> list[RevisionType]:
        rows = await info.context.loaders.revisions.load((self.id, self.revision))
        return [revision_type(r) for r in rows]

    @strawberry.field(description="Each stage of the current review: required, decided, by whom, pending on whom")
    async def approvals(self, info: strawberry.Info) -> PostApprovalsType:
        return PostApprovalsType.of(await info.context.loaders.approvals.load(self.view))


def post_type(view: service.PostView) -> PostType:
    """A post as GraphQL answers it. Copied now: the ORM row may be refreshed in place by a later
    statement of the request."""
    post = PostType.from_pydantic(PostRead.of(view))
    post.view = view  # what the nested fields load from (not a GraphQL field)
    return post


# --- queries ------------------------------------------------------------------------------

@strawberry.input
class PostFilter:
    account_id: uuid.UUID | None = None
    status: list[PostStatus] | None = strawberry.field(default=None, description="Any of these")
    author_id: uuid.UUID | None = None
    label: str | None = None
    scheduled_from: datetime | None = strawberry.field(default=None, description="scheduledAt >= this")
    scheduled_to: datetime | None = strawberry.field(default=None, description="scheduledAt < this")
    missed_schedule: bool | None = None
    stuck: bool | None = strawberry.field(default=None, description="In review with a stage nobody can decide")


def _label(label: str | None) -> str | None:
    if label is None:
        return None
    label = label.strip()
    if not 1 <= len(label) <= 64:
        raise ValidationFailed("label must be 1 to 64 characters.", parameter="label")
    return label


@strawberry.type
class PostsQuery:
    @strawberry.field
    async def post(self, info: strawberry.Info, id: uuid.UUID) -> PostType | None:
        ctx = info.context
        principal = ctx.require(*READ)
        async with ctx.db() as session:
            return post_type(await service.get_post(session, principal, id))

    @strawberry.field(description="Posts on accounts you can see, oldest first")
    async def posts(self, info: strawberry.Info,
                    where: Annotated[PostFilter | None, strawberry.argument(name="filter")] = None,
                    first: int = FIRST, after: str | None = None) -> Page[PostType]:
        ctx = info.context
        principal = ctx.require(*READ)
        f = where or PostFilter()
        page = page_params(first, after)
        async with ctx.db() as session:
            views = await service.list_posts(
                session, principal, page=page, account_id=f.account_id,
                status=[s.value for s in f.status] if f.status else None, author_id=f.author_id,
                label=_label(f.label), scheduled_from=f.scheduled_from, scheduled_to=f.scheduled_to,
                missed_schedule=f.missed_schedule, stuck=f.stuck)
        items, cursor = make_page(views, page, lambda v: created_key(v.post))
        return Page(items=[post_type(v) for v in items], next_cursor=cursor)


# --- mutations ----------------------------------------------------------------------------

@strawberry.input
class CreatePostInput:
    account_id: uuid.UUID
    body: str
    link: str | None = None
    media: list[str] = strawberry.field(default_factory=list)
    labels: list[str] = strawberry.field(default_factory=list)
    scheduled_at: datetime | None = None


@strawberry.input(description="Content fields make a new revision (back to draft); scheduledAt alone keeps approvals."
                              " Leave out what does not change; null clears link, media, labels and scheduledAt.")
class EditPostInput:
    post_id: uuid.UUID
    expected_version: int | None = None
    body: str | None = strawberry.UNSET
    link: str | None = strawberry.UNSET
    media: list[str] | None = strawberry.UNSET
    labels: list[str] | None = strawberry.UNSET
    scheduled_at: datetime | None = strawberry.UNSET


@strawberry.input
class SubmitPostInput:
    post_id: uuid.UUID
    expected_version: int | None = None


@strawberry.input(description="Name what you decide: revision, expectedVersion, or both")
class ApprovePostInput:
    post_id: uuid.UUID
    revision: int | None = None
    expected_version: int | None = None
    comment: str | None = None


@strawberry.input(description="Name what you decide: revision, expectedVersion, or both; a comment is required")
class RejectPostInput:
    post_id: uuid.UUID
    comment: str
    revision: int | None = None
    expected_version: int | None = None


@strawberry.input(description="Name what you decide: revision, expectedVersion, or both; a comment is required")
class RequestPostChangesInput:
    post_id: uuid.UUID
    comment: str
    revision: int | None = None
    expected_version: int | None = None


@strawberry.input
class SchedulePostInput:
    post_id: uuid.UUID
    scheduled_at: datetime | None = strawberry.field(default=None, description="Defaults to the post's scheduledAt")
    expected_version: int | None = None


@strawberry.input
class UnschedulePostInput:
    post_id: uuid.UUID
    expected_version: int | None = None
    comment: str | None = None


@strawberry.input
class WithdrawPostInput:
    post_id: uuid.UUID
    expected_version: int | None = None
    comment: str | None = None


@strawberry.input(description="New approvers for a stuck named stage (account admins and admins; never yourself "
                              "or the author). Name the revision, expectedVersion, or both")
class ReassignPostStageInput:
    post_id: uuid.UUID
    index: int = strawberry.field(description="The stage's index (ApprovalStage.index)")
    approvers: list[uuid.UUID]
    reason: str
    mode: str | None = strawberry.field(default=None, description="any | all; keeps the stage's mode when null")
    revision: int | None = None
    expected_version: int | None = None


@strawberry.input(description="A leaver's paused post to another author (account admins)")
class ReassignPostInput:
    post_id: uuid.UUID
    author_id: uuid.UUID
    reason: str | None = None
    expected_version: int | None = None


@strawberry.input(description="A leaver's paused post back to review, approvals voided (account admins)")
class ReleasePostInput:
    post_id: uuid.UUID
    reason: str | None = None
    expected_version: int | None = None


@strawberry.type(description="A mutation's success: the post as it is now, in this request's transaction")
class PostPayload:
    post: PostType

    def remember(self) -> dict[str, Any]:
        return {"post_id": str(self.post.id)}

    @classmethod
    async def recall(cls, session, principal, stored: dict[str, Any]) -> PostPayload:
        return cls(post=post_type(await service.get_post(session, principal, uuid.UUID(stored["post_id"]))))


# A payload, not Post itself, in the unions: Post.status (an enum) and Problem.status (the
# HTTP status) could then not be selected side by side without aliases.
def _result(name: str):
    return Annotated[PostPayload | Problem, strawberry.union(name)]


CreatePostResult = _result("CreatePostResult")
EditPostResult = _result("EditPostResult")
SubmitPostResult = _result("SubmitPostResult")
ApprovePostResult = _result("ApprovePostResult")
RejectPostResult = _result("RejectPostResult")
RequestPostChangesResult = _result("RequestPostChangesResult")
SchedulePostResult = _result("SchedulePostResult")
UnschedulePostResult = _result("UnschedulePostResult")
WithdrawPostResult = _result("WithdrawPostResult")
ReassignPostStageResult = _result("ReassignPostStageResult")
ReassignPostResult = _result("ReassignPostResult")
ReleasePostResult = _result("ReleasePostResult")


async def _decide(info: strawberry.Info, action: Action, model: type[Decide], post_id: uuid.UUID, *,
                  revision: int | None, expected_version: int | None, comment: str | None) -> PostPayload | Problem:
    async def work(session, principal):
        body = mutation.validated(model, {k: v for k, v in {"revision": revision, "comment": comment}.items()
                                          if v is not None})
        view = await service.decide(session, principal, post_id, action, revision=body.revision,
                                    expected_version=expected_version, comment=body.comment)
        return PostPayload(post=post_type(view))

    return await mutation.run(info, WRITE, work)


async def _transition(info: strawberry.Info, action: Action, post_id: uuid.UUID, *, expected_version: int | None,
                      comment: str | None) -> PostPayload | Problem:
    async def work(session, principal):
        body = mutation.validated(TransitionIn, {"comment": comment} if comment is not None else {})
        view = await service.simple_transition(session, principal, post_id, action,
                                               expected_version=expected_version, comment=body.comment)
        return PostPayload(post=post_type(view))

    return await mutation.run(info, WRITE, work)


@strawberry.type
class PostsMutation:
    @strawberry.mutation(description="Write a draft. Pass idempotencyKey so that a retry cannot write two")
    async def create_post(self, info: strawberry.Info, input: CreatePostInput,
                          idempotency_key: mutation.KeyArgument = None) -> CreatePostResult | None:
        async def work(session, principal):
            body = mutation.validated(PostCreate, {
                "account_id": input.account_id, "body": input.body, "link": input.link, "media": input.media,
                "labels": input.labels, "scheduled_at": input.scheduled_at})
            return PostPayload(post=post_type(await service.create_post(session, principal, **body.content())))

        return await mutation.run(info, WRITE, work, keyed=mutation.Keyed(idempotency_key, input, PostPayload))

    @strawberry.mutation(description="Edit: content makes a new revision (back to draft); scheduledAt alone keeps "
                                     "approvals")
    async def edit_post(self, info: strawberry.Info, input: EditPostInput) -> EditPostResult | None:
        async def work(session, principal):
            body = mutation.validated(PostUpdate, mutation.given(
                body=input.body, link=input.link, media=input.media, labels=input.labels,
                scheduled_at=input.scheduled_at))
            view = await service.edit_post(session, principal, input.post_id, body.changes(),
                                           expected_version=input.expected_version)
            return PostPayload(post=post_type(view))

        return await mutation.run(info, WRITE, work)

    @strawberry.mutation(description="Run the checks and send for review")
    async def submit_post(self, info: strawberry.Info, input: SubmitPostInput) -> SubmitPostResult | None:
        async def work(session, principal):
            view = await service.submit(session, principal, input.post_id, expected_version=input.expected_version)
            return PostPayload(post=post_type(view))

        return await mutation.run(info, WRITE, work)

    @strawberry.mutation(description="Approve the open stage of the named revision")
    async def approve_post(self, info: strawberry.Info, input: ApprovePostInput) -> ApprovePostResult | None:
        return await _decide(info, Action.approve, Decide, input.post_id, revision=input.revision,
                             expected_version=input.expected_version, comment=input.comment)

    @strawberry.mutation(description="Reject (a comment is required)")
    async def reject_post(self, info: strawberry.Info, input: RejectPostInput) -> RejectPostResult | None:
        return await _decide(info, Action.reject, DecideWithReason, input.post_id, revision=input.revision,
                             expected_version=input.expected_version, comment=input.comment)

    @strawberry.mutation(description="Send back to the author (a comment is required)")
    async def request_post_changes(self, info: strawberry.Info,
                                   input: RequestPostChangesInput) -> RequestPostChangesResult | None:
        return await _decide(info, Action.request_changes, DecideWithReason, input.post_id,
                             revision=input.revision, expected_version=input.expected_version, comment=input.comment)

    @strawberry.mutation(description="Schedule an approved post")
    async def schedule_post(self, info: strawberry.Info, input: SchedulePostInput) -> SchedulePostResult | None:
        async def work(session, principal):
            body = mutation.validated(ScheduleIn, mutation.given(scheduled_at=input.scheduled_at))
            view = await service.schedule(session, principal, input.post_id, scheduled_at=body.scheduled_at,
                                          expected_version=input.expected_version)
            return PostPayload(post=post_type(view))

        return await mutation.run(info, WRITE, work)

    @strawberry.mutation(description="Back to approved; nothing goes out")
    async def unschedule_post(self, info: strawberry.Info, input: UnschedulePostInput) -> UnschedulePostResult | None:
        return await _transition(info, Action.unschedule, input.post_id, expected_version=input.expected_version,
                                 comment=input.comment)

    @strawberry.mutation(description="Withdraw for good")
    async def withdraw_post(self, info: strawberry.Info, input: WithdrawPostInput) -> WithdrawPostResult | None:
        return await _transition(info, Action.withdraw, input.post_id, expected_version=input.expected_version,
                                 comment=input.comment)


    @strawberry.mutation(description="Give a stuck named-approver stage new approvers")
    async def reassign_post_stage(self, info: strawberry.Info,
                                  input: ReassignPostStageInput) -> ReassignPostStageResult | None:
        async def work(session, principal):
            body = mutation.validated(StageReassign, {k: v for k, v in {
                "approvers": input.approvers, "mode": input.mode, "reason": input.reason,
                "revision": input.revision}.items() if v is not None})
            view = await service.reassign_stage(session, principal, input.post_id, input.index,
                                                approvers=body.approvers, mode=body.mode, reason=body.reason,
                                                revision=body.revision, expected_version=input.expected_version)
            return PostPayload(post=post_type(view))

        return await mutation.run(info, WRITE, work)


    @strawberry.mutation(description="A leaver's paused post to another author: their draft")
    async def reassign_post(self, info: strawberry.Info, input: ReassignPostInput) -> ReassignPostResult | None:
        async def work(session, principal):
            body = mutation.validated(PostReassign, mutation.given(author_id=input.author_id,
                                                                  reason=input.reason or strawberry.UNSET))
            view = await service.reassign_post(session, principal, input.post_id, author_id=body.author_id,
                                               reason=body.reason, expected_version=input.expected_version)
            return PostPayload(post=post_type(view))

        return await mutation.run(info, WRITE, work)

    @strawberry.mutation(description="A leaver's paused post back to review, approvals voided")
    async def release_post(self, info: strawberry.Info, input: ReleasePostInput) -> ReleasePostResult | None:
        async def work(session, principal):
            body = mutation.validated(PostRelease, mutation.given(reason=input.reason or strawberry.UNSET))
            view = await service.release_post(session, principal, input.post_id, reason=body.reason,
                                              expected_version=input.expected_version)
            return PostPayload(post=post_type(view))

        return await mutation.run(info, WRITE, work)
