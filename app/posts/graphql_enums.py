"""The workflow's states and actions as GraphQL enums (app/posts/graphql.py, and the review
types of app/approvals/graphql.py, use them; neither imports the other for them)."""
from __future__ import annotations

from enum import StrEnum

import strawberry

from app.posts.workflow import Action, State

# Own enum classes (same names and values as the workflow's), so the pure state machine
# carries no GraphQL definitions.
PostStatus = strawberry.enum(StrEnum("PostStatus", [(s.name, s.value) for s in State]),
                             description="Where a post is in the workflow")
PostAction = strawberry.enum(StrEnum("PostAction", [(a.name, a.value) for a in Action]),
                             description="A workflow transition")
