"""ETag / If-Match over an integer version (RFC 9110; 412 on mismatch)."""
from __future__ import annotations

from app.errors import PreconditionFailed


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(value: str | None) -> int | None:
    if value is None:
        return None
    raw = value.strip()
    if raw.startswith("W/"):
        raw = raw[2:]
    raw = raw.strip('"')
    if raw == "*":
        return None
    try:
        return int(raw)
    except ValueError:
        raise PreconditionFailed(f"If-Match {value!r} names no version of this resource.",
                                 header="If-Match") from None
