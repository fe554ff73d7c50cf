"""Shared field types for request bodies (and query parameters)."""
from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, StringConstraints
from pydantic_core import PydanticCustomError

# Characters that can change how a line reads in a terminal, a log or a UI without being
# visible text: C0 and C1 controls (a CR or an ESC sequence rewrites the line, a LF forges a
# new one), the Unicode line and paragraph separators, and the bidi overrides and isolates
# (they reorder what follows: "Trojan Source"). Bidi *marks* (U+200E, U+200F, U+061C) and
# zero-width characters (U+200B-U+200D: emoji need the joiner) are ordinary text.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# Multi-line text keeps LF and TAB, and CR only as part of CRLF (stored as LF).
_UNSAFE_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
                               "|\r(?!\n)")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_C0_NAMES = ("NUL SOH STX ETX EOT ENQ ACK BEL BS HT LF VT FF CR SO SI DLE DC1 DC2 DC3 DC4 NAK SYN ETB CAN EM SUB "
             "ESC FS GS RS US").split()


def _describe(char: str) -> str:
    """``U+000A LF``, ``U+202E RIGHT-TO-LEFT OVERRIDE``; C1 controls have no name to give."""
    cp = ord(char)
    name = _C0_NAMES[cp] if cp < 0x20 else "DEL" if cp == 0x7F else unicodedata.name(char, "")
    return f"U+{cp:04X}" + (f" {name}" if name else "")


def _refuse(match: re.Match[str], multiline: bool) -> None:
    char = match.group()
    ctx: dict[str, Any] = {"character": _describe(char), "position": match.start()}
    if _BIDI.match(char):
        raise PydanticCustomError(
            "bidi_control", "must not contain bidirectional formatting characters ({character} at position "
                            "{position})", ctx)
    other = " other than line feed and tab" if multiline else ""
    raise PydanticCustomError(
        "control_character", f"must not contain control characters{other} ({{character}} at position {{position}})",
        ctx)


def _single_line(value: Any) -> Any:
    # Checked as sent, before stripping, so the position points into what the client sent
    # (code points from 0) and a trailing newline is refused, not quietly dropped.
    if isinstance(value, str) and (found := UNSAFE.search(value)):
        _refuse(found, multiline=False)
    return value


def _multiline(value: Any) -> Any:
    if isinstance(value, str):
        if found := _UNSAFE_MULTILINE.search(value):
            _refuse(found, multiline=True)
        value = value.replace("\r\n", "\n")  # one form per text: the same words hash the same
    return value


def Text(max_length: int, min_length: int = 0, *, multiline: bool = False):  # noqa: N802 - a type factory
    """Free text, stripped. Single-line refuses every control character, line separator and
    bidi override/isolate; ``multiline=True`` also keeps LF and TAB (CRLF is stored as LF)."""
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
                     BeforeValidator(_multiline if multiline else _single_line)]


def _representable(value: datetime) -> datetime:
    try:
        value.astimezone(UTC)
    except OverflowError:  # must become a ValueError, or pydantic lets it escape as a 500
        raise ValueError("must be between 0001-01-01 and 9999-12-31 in UTC") from None
    return value


# Times are RFC 3339 with an offset; naive times are refused rather than guessed.
Timestamp = Annotated[AwareDatetime, AfterValidator(_representable)]
