"""GraphQL adapter for approval policies and decisions (same service calls as
app/approvals/router.py)."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import strawberry

from app.approvals import review, service
from app.approvals.schemas import DecisionRead, PolicyIn
from app.approvals.stages import BUILTIN_STAGES
from app.graphql import mutation
from app.graphql.errors import Problem
from app.graphql.paging import FIRST, Page, page_params
from app.models import Approval, ApprovalPolicy
from app.posts.graphql_enums import PostStatus
from app.pagination import created_key, make_page
from app.security import Scopes


POLICY_READ = Scopes.POLICY_READ
POLICY_WRITE = Scopes.POLICY_WRITE


@strawberry.experimental.pydantic.type(model=DecisionRead, all_fields=True, name="Decision",
                                       description="One approve / reject / request-changes on a revision")
class DecisionType:
    """Derived from the REST read model (app/approvals/schemas.DecisionRead)."""

    @strawberry.field(deprecation_reason="Use createdAt (the REST name).")
    def decided_at(self) -> datetime:
        return self.created_at


def decision_type(a: Approval) -> DecisionType:
    return DecisionType.from_pydantic(DecisionRead.of(a))


@strawberry.type(name="ApprovalStage", description="One stage of the current review: required, decided, pending on")
class ApprovalStageType:
    index: int
    name: str
    when: str
    role: str | None
    min_approvals: int | None
    approvers: list[uuid.UUID] | None
    mode: str | None
    required: int
    approved: int = strawberry.field(description="How many approvals it has")
    complete: bool
    open: bool = strawberry.field(description="The stage deciding now (stages are decided in order)")
    approved_by: list[DecisionType]
    pending_on: list[uuid.UUID] = strawberry.field(description="Users who could decide it now (admins aside)")
    stuck: bool = strawberry.field(description="A named stage nobody can decide any more: reassign it")

    @classmethod
    def of(cls, s: review.StageView) -> ApprovalStageType:
        st = s.progress.stage
        named = not st.role
        return cls(index=st.index, name=st.name, when=st.when, role=st.role,
                   min_approvals=None if named else st.min_approvals, approvers=list(st.approvers) if named else None,
                   mode=st.mode if named else None, required=st.required, approved=len(s.progress.approvals),
                   complete=s.progress.complete, open=s.open, approved_by=[decision_type(a) for a in s.decisions],
                   pending_on=list(s.pending_on), stuck=s.stuck)


@strawberry.type(name="PostApprovals", description="The review of the post's current revision")
class PostApprovalsType:
    post_id: uuid.UUID
    status: PostStatus
    revision: int
    review_round: int
    submitted: bool
    risk: str | None
    policy_id: uuid.UUID | None
    stages: list[ApprovalStageType]
    decisions: list[DecisionType] = strawberry.field(description="Every decision of this revision and round")

    @classmethod
    def of(cls, v: review.ReviewView) -> PostApprovalsType:
        return cls(post_id=v.post.id, status=PostStatus(v.post.status), revision=v.revision.number,
                   review_round=v.post.review_round, submitted=v.revision.stages is not None, risk=v.revision.risk,
                   policy_id=v.revision.policy_id, stages=[ApprovalStageType.of(s) for s in v.stages],
                   decisions=[decision_type(a) for a in v.decisions])


@strawberry.type(name="PolicyStage", description="Decided by N holders of a role, or by named approvers (any/all)")
class PolicyStageType:
    name: str
    when: str = strawberry.field(description="always | risk>=medium | risk>=high | label:<name> | during_crisis")
    role: str | None
    min_approvals: int | None
    approvers: list[uuid.UUID] | None
    mode: str | None

    @classmethod
    def of(cls, raw: dict[str, Any]) -> PolicyStageType:
        approvers = raw.get("approvers")
        return cls(name=raw["name"], when=raw.get("when", "always"), role=raw.get("role"),
                   min_approvals=raw.get("min_approvals"),
                   approvers=[uuid.UUID(str(a)) for a in approvers] if approvers is not None else None,
                   mode=raw.get("mode"))


@strawberry.type(name="ApprovalPolicy")
class ApprovalPolicyType:
    row: strawberry.Private[ApprovalPolicy]

    @strawberry.field
    def id(self) -> uuid.UUID:
        return self.row.id

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def description(self) -> str | None:
        return self.row.description

    @strawberry.field
    def stages(self) -> list[PolicyStageType]:
        return [PolicyStageType.of(s) for s in self.row.stages]

    @strawberry.field
    def version(self) -> int:
        return self.row.version

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.row.updated_at

    @strawberry.field(description="The organisation's default policy")
    async def is_default(self, info: strawberry.Info) -> bool:
        return await info.context.loaders.default_policy_id.load("default") == self.row.id


@strawberry.type(name="DefaultApprovalPolicy")
class DefaultApprovalPolicyType:
    policy_id: uuid.UUID | None
    policy: ApprovalPolicyType | None
    builtin_stages: list[PolicyStageType] = strawberry.field(
        description="What applies when no policy is attached anywhere (or none of its stages applies)")


@strawberry.input
class PolicyStageInput:
    name: str
    when: str = "always"
    role: str | None = None
    min_approvals: int | None = None
    approvers: list[uuid.UUID] | None = None
    mode: str | None = strawberry.field(default=None, description="any | all (with approvers)")


@strawberry.input
class CreateApprovalPolicyInput:
    name: str
    stages: list[PolicyStageInput]
    description: str | None = None


@strawberry.type
class ApprovalPolicyPayload:
    policy: ApprovalPolicyType


CreateApprovalPolicyResult = Annotated[ApprovalPolicyPayload | Problem, strawberry.union("CreateApprovalPolicyResult")]


@strawberry.type
class ApprovalsQuery:
    @strawberry.field
    async def approval_policies(self, info: strawberry.Info, first: int = FIRST,
                                after: str | None = None) -> Page[ApprovalPolicyType]:
        ctx = info.context
        ctx.require(*POLICY_READ)
        page = page_params(first, after)
        async with ctx.db() as session:
            rows = await service.list_policies(session, page)
        items, cursor = make_page(rows, page, created_key)
        return Page(items=[ApprovalPolicyType(row=p) for p in items], next_cursor=cursor)

    @strawberry.field
    async def approval_policy(self, info: strawberry.Info, id: uuid.UUID) -> ApprovalPolicyType | None:
        ctx = info.context
        ctx.require(*POLICY_READ)
        async with ctx.db() as session:
            return ApprovalPolicyType(row=await service.get_policy(session, id))

    @strawberry.field(description="The organisation's default policy")
    async def default_approval_policy(self, info: strawberry.Info) -> DefaultApprovalPolicyType:
        ctx = info.context
        ctx.require(*POLICY_READ)
        async with ctx.db() as session:
            default_id = await service.default_policy_id(session)
            policy = await service.get_policy(session, default_id) if default_id else None
        return DefaultApprovalPolicyType(policy_id=default_id,
                                         policy=ApprovalPolicyType(row=policy) if policy else None,
                                         builtin_stages=[PolicyStageType.of(s) for s in BUILTIN_STAGES])


@strawberry.type
class ApprovalsMutation:
    @strawberry.mutation(description="A named, ordered set of stages to attach to accounts or brands")
    async def create_approval_policy(self, info: strawberry.Info,
                                     input: CreateApprovalPolicyInput) -> CreateApprovalPolicyResult | None:
        async def work(session, principal):
            body = mutation.validated(PolicyIn, {
                "name": input.name, "description": input.description,
                "stages": [{k: v for k, v in vars(s).items() if v is not None} for s in input.stages]})
            policy = await service.create_policy(session, principal, name=body.name, description=body.description,
                                                 stages=[s.stored() for s in body.stages])
            return ApprovalPolicyPayload(policy=ApprovalPolicyType(row=policy))

        return await mutation.run(info, POLICY_WRITE, work)
