"""GraphQL DataLoaders of approvals, built per request (app/graphql/context.py)."""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from strawberry.dataloader import DataLoader

from app.approvals import service

if TYPE_CHECKING:
    from app.graphql.context import Context


def loaders(ctx: Context) -> dict[str, DataLoader]:
    async def default_policy_id(keys: Sequence[str]) -> list[uuid.UUID | None]:
        async with ctx.db() as session:
            found = await service.default_policy_id(session)
        return [found for _ in keys]

    return {"default_policy_id": DataLoader(default_policy_id)}
