"""Cursor pages over GraphQL: the same cursors and limits as REST (``first``/``after``)."""
from __future__ import annotations

from typing import Generic, TypeVar

import strawberry

from app.errors import ValidationFailed
from app.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageParams, decode_cursor

T = TypeVar("T")

FIRST = DEFAULT_LIMIT


@strawberry.type(description="One page; pass nextCursor as `after` for the next (null: the last page)")
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def page_params(first: int, after: str | None) -> PageParams:
    if not 1 <= first <= MAX_LIMIT:
        raise ValidationFailed(f"first must be between 1 and {MAX_LIMIT}.", parameter="first")
    return PageParams(limit=first, after=decode_cursor(after) if after else None)
