"""The GraphQL schema composes one mixin per domain."""
from __future__ import annotations

import strawberry
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter

from app.approvals.graphql import ApprovalsMutation, ApprovalsQuery
from app.content.graphql import ContentMutation, ContentQuery
from app.graphql.errors import AppErrorExtension, Problem
from app.graphql.me import MeQuery
from app.posts.graphql import PostsMutation, PostsQuery


@strawberry.type
class Query(MeQuery, PostsQuery, ApprovalsQuery, ContentQuery):
    pass


@strawberry.type
class Mutation(PostsMutation, ApprovalsMutation, ContentMutation):
    pass


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    types=[Problem],
    extensions=[AppErrorExtension, lambda: QueryDepthLimiter(max_depth=10),
                lambda: MaxAliasesLimiter(max_alias_count=30)],
)
