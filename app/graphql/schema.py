"""The GraphQL schema composes one mixin per domain."""
from __future__ import annotations

import strawberry
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter

from app.approvals.graphql import ApprovalsMutation, ApprovalsQuery
from app.content.graphql import ContentMutation, ContentQuery
from app.crises.graphql import CrisesMutation, CrisesQuery
from app.graphql.errors import AppErrorExtension, Problem
from app.graphql.me import MeQuery
from app.graphql.mutation import ReplayedExtension
from app.posts.graphql import PostsMutation, PostsQuery
from app.publishing.graphql import PublishingMutation


@strawberry.type
class Query(MeQuery, PostsQuery, ApprovalsQuery, ContentQuery, CrisesQuery):
    pass


@strawberry.type
class Mutation(PostsMutation, PublishingMutation, ApprovalsMutation, ContentMutation, CrisesMutation):
    pass


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    types=[Problem],
    extensions=[AppErrorExtension, ReplayedExtension, lambda: QueryDepthLimiter(max_depth=10),
                lambda: MaxAliasesLimiter(max_alias_count=30)],
)
