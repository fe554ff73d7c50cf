"""Shared field types for request bodies."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, StringConstraints


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def Text(max_length: int, min_length: int = 0):  # noqa: N802 - a type factory
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
                     AfterValidator(_no_nul)]


def _representable(value: datetime) -> datetime:
    try:
        value.astimezone(UTC)
    except OverflowError:  # must become a ValueError, or pydantic lets it escape as a 500
        raise ValueError("must be between 0001-01-01 and 9999-12-31 in UTC") from None
    return value


# Times are RFC 3339 with an offset; naive times are refused rather than guessed.
Timestamp = Annotated[AwareDatetime, AfterValidator(_representable)]
