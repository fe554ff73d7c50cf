"""The GraphQL schema composes one mixin per domain."""
from __future__ import annotations

import strawberry

from app.approvals import loaders as approvals_loaders
from app.approvals.graphql import ApprovalsMutation, ApprovalsQuery
from app.content.graphql import ContentMutation, ContentQuery
from app.crises.graphql import CrisesMutation, CrisesQuery
from app.graphql.errors import AppErrorExtension, Problem
from app.graphql.limits import PreparedDocument
from app.me.graphql import MeQuery
from app.graphql.mutation import ReplayedExtension
from app.posts import loaders as posts_loaders
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
    # Depth, aliases and root fields are checked (from the settings) before the context is even
    # built, in app/graphql/router.py; PreparedDocument hands Strawberry that parsed document and
    # applies the same limits when the schema runs outside HTTP. (Strawberry's QueryDepthLimiter
    # and MaxAliasesLimiter re-walk a fragment at each spread: exponential in fragment chains.)
    extensions=[AppErrorExtension, ReplayedExtension, PreparedDocument],
)

# Every domain's DataLoaders, built per request by the context (app/graphql/context.py).
LOADERS = (posts_loaders.loaders, approvals_loaders.loaders)
