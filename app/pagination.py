"""Cursor pagination: every list takes ``limit`` and ``cursor`` and answers ``next_cursor``."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

from app.errors import ValidationFailed

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class PageParams:
    limit: int
    after: tuple[Any, ...] | None


def encode_cursor(values: tuple[Any, ...]) -> str:
    raw = json.dumps([str(v) if not isinstance(v, int | float) else v for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, ...]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or not values:
            raise ValueError
        return tuple(values)
    except ValueError as exc:  # binascii.Error and JSONDecodeError are ValueErrors
        raise ValidationFailed("cursor: not a cursor this service issued.", parameter="cursor",
                               errors=[{"detail": "invalid cursor", "parameter": "cursor"}]) from exc


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")] = None,
) -> PageParams:
    return PageParams(limit=limit, after=decode_cursor(cursor) if cursor else None)


Pagination = Annotated[PageParams, Depends(page_params)]


def make_page(rows: list[Any], params: PageParams, key) -> tuple[list[Any], str | None]:
    """``rows`` were fetched with ``limit + 1``; ``key(row)`` gives the sort tuple."""
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        return rows, encode_cursor(key(rows[-1]))
    return rows, None


def cursor_after(params: PageParams) -> tuple[Any, ...] | None:
    """Decode a (created_at, id) cursor into typed values."""
    import uuid
    from datetime import datetime

    if not params.after:
        return None
    try:
        return (datetime.fromisoformat(params.after[0]), uuid.UUID(params.after[1]))
    except (ValueError, IndexError, TypeError):
        raise ValidationFailed("cursor: not a cursor this service issued.", parameter="cursor") from None


def created_key(row: Any) -> tuple[Any, ...]:
    return (row.created_at.isoformat(), row.id)
