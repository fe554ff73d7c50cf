"""The GraphQL schema composes one mixin per domain."""
from __future__ import annotations

import strawberry
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter

from app.graphql.errors import AppErrorExtension
from app.graphql.me import MeQuery


@strawberry.type
class Query(MeQuery):
    pass


schema = strawberry.Schema(
    query=Query,
    extensions=[AppErrorExtension, lambda: QueryDepthLimiter(max_depth=10),
                lambda: MaxAliasesLimiter(max_alias_count=30)],
)
