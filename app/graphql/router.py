from __future__ import annotations

from strawberry.fastapi import GraphQLRouter

from app.db import UnitOfWorkRoute
from app.graphql.context import get_context
from app.graphql.schema import schema


def graphql_router() -> GraphQLRouter:
    # The same unit of work as REST: one transaction per GraphQL request, committed before
    # the response leaves.
    return GraphQLRouter(schema, path="/graphql", context_getter=get_context, route_class=UnitOfWorkRoute,
                         include_in_schema=False)
