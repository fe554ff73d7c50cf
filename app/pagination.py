"""Cursor pagination: every list takes ``limit`` and ``cursor`` and answers ``next_cursor``."""
from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

from app.errors import ValidationFailed

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_INT64 = 2**63


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class PageParams:
    limit: int
    after: tuple[Any, ...] | None


def invalid_cursor(reason: str = "not a cursor this service issued") -> ValidationFailed:
    return ValidationFailed(f"cursor: {reason}.", parameter="cursor",
                            errors=[{"detail": reason, "parameter": "cursor"}])


def encode_cursor(values: tuple[Any, ...]) -> str:
    raw = json.dumps([str(v) if not isinstance(v, int | float) else v for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _cursor_value(value: Any) -> bool:
    """Only what encode_cursor writes: strings and numbers a database column can hold."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -_INT64 <= value < _INT64
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str) and len(value) <= 200


def decode_cursor(cursor: str) -> tuple[Any, ...]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, RecursionError):  # also JSONDecodeError, UnicodeError
        raise invalid_cursor() from None
    if not isinstance(values, list) or not 1 <= len(values) <= 4 or not all(map(_cursor_value, values)):
        raise invalid_cursor()
    return tuple(values)


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


def cursor_after(params: PageParams) -> tuple[datetime, uuid.UUID] | None:
    """Decode a (created_at, id) cursor into typed values."""
    if not params.after:
        return None
    if len(params.after) != 2 or not all(isinstance(v, str) for v in params.after):
        raise invalid_cursor()
    try:
        moment, row_id = datetime.fromisoformat(params.after[0]), uuid.UUID(params.after[1])
        if moment.tzinfo is None:  # created_key writes aware times; a naive one was not issued here
            raise ValueError
        moment.astimezone(UTC)  # the driver sends UTC; a time that overflows it was not issued here
    except (ValueError, OverflowError):
        raise invalid_cursor() from None
    return moment, row_id


def id_after(params: PageParams) -> int | None:
    """Decode an (id,) cursor over a bigint key, e.g. the audit log."""
    if not params.after:
        return None
    if len(params.after) != 1 or isinstance(params.after[0], bool) or not isinstance(params.after[0], int):
        raise invalid_cursor()
    return params.after[0]


def created_key(row: Any) -> tuple[Any, ...]:
    return (row.created_at.isoformat(), row.id)
