"""Shared field types for request bodies."""
from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, StringConstraints


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def Text(max_length: int, min_length: int = 0):  # noqa: N802 - a type factory
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
                     AfterValidator(_no_nul)]


# Times are RFC 3339 with an offset; naive times are refused rather than guessed.
Timestamp = AwareDatetime
