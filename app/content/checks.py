"""Content checks, pure: rules + content in, findings out. No I/O, no ORM rows.

A finding is ``{"rule_id", "kind", "severity", "message", "span", "field", "match"}``:
``span`` is ``{"start", "end"}`` (character offsets into the body, end exclusive) or
``None`` when the finding is about the link, the labels or the whole post; ``field`` is
``body | link | labels``; ``match`` is the offending text.

Built-in rules, always applied (``rule_id`` ``builtin:<kind>``):

====================  ========  ===========================================================
kind                  severity  what
====================  ========  ===========================================================
max_length            block     the platform's limit, ``PLATFORM_LIMITS`` below
required_disclosure   block     labelled ``sponsored`` -> the body carries one of
                                ``DEFAULT_DISCLOSURES`` (#ad, #sponsored, #advertisement,
                                #广告, 广告, #赞助)
personal_data         high      emails, phone numbers (mainland mobile, international ``+``),
                                mainland resident ID numbers (checksum and birth date valid)
internal_marker       high      ``INTERNAL_MARKERS``: confidential, internal only,
                                do not publish, 内部, 机密, 内部资料
====================  ========  ===========================================================

Configured rules add to these; each reports under its own id and severity (a
``max_length`` rule with a lower limit tightens; a ``required_disclosure`` rule with its own
label or terms is one more requirement; a ``personal_data`` rule may name the categories it
covers in ``terms``: ``email``, ``phone``, ``id_number``). A rule naming ``platforms``
applies only to posts for those platforms.

Term matching (banned, sensitive, internal markers, disclosures) works on a folded copy of
the text: NFKC per character (full-width ``ＡＤ`` is ``ad``), casefold, zero-width
characters dropped, whitespace runs as one space; spans still point into the original.
There are no word boundaries for CJK: a term starting (ending) with an ASCII letter or
digit must not have one right before (after) it, so ``ad`` does not hit ``bad``, while
``内部`` matches inside ``这是内部消息``.
"""
from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

SEVERITIES = ("block", "high", "medium", "info")
KINDS = ("banned_term", "sensitive_term", "required_disclosure", "link_allowlist", "max_length",
         "personal_data", "internal_marker")
TERM_KINDS = ("banned_term", "sensitive_term", "internal_marker")
PERSONAL_DATA_CATEGORIES = ("email", "phone", "id_number")

# Character limits of a post's text per platform. X is counted the way twitter-text v3 does
# (see ``x_length``); every other platform counts Unicode code points.
PLATFORM_LIMITS: dict[str, int] = {
    "x": 280,
    "weibo": 2000,
    "linkedin": 3000,
    "facebook": 63206,
    "instagram": 2200,
    "threads": 500,
    "tiktok": 2200,
    "youtube": 5000,
    "douyin": 1000,
    "xiaohongshu": 1000,
    "wechat": 20000,
    "bilibili": 2000,
}
X_URL_WEIGHT = 23
DEFAULT_DISCLOSURE_LABEL = "sponsored"
DEFAULT_DISCLOSURES = ("#ad", "#sponsored", "#advertisement", "#广告", "广告", "#赞助")
INTERNAL_MARKERS = ("confidential", "internal only", "do not publish", "内部", "机密", "内部资料")

_RISK_ORDER = {"info": 1, "medium": 2, "high": 3}
_SEVERITY_ORDER = {"block": 0, "high": 1, "medium": 2, "info": 3}
_FIELD_ORDER = {"body": 0, "link": 1, "labels": 2}


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    severity: str
    terms: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    max_length: int | None = None
    label: str | None = None
    description: str | None = None

    def applies_to(self, platform: str) -> bool:
        return not self.platforms or platform.casefold() in {p.casefold() for p in self.platforms}


@dataclass(frozen=True)
class Content:
    platform: str
    body: str
    link: str | None = None
    media: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    rule_id: str
    kind: str
    severity: str
    message: str
    field: str
    match: str
    span: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id, "kind": self.kind, "severity": self.severity, "message": self.message,
            "span": {"start": self.span[0], "end": self.span[1]} if self.span else None,
            "field": self.field, "match": self.match,
        }


BUILTIN_RULES: tuple[Rule, ...] = (
    Rule("builtin:max_length", "max_length", "block"),
    Rule("builtin:required_disclosure", "required_disclosure", "block", label=DEFAULT_DISCLOSURE_LABEL),
    Rule("builtin:personal_data", "personal_data", "high"),
    Rule("builtin:internal_marker", "internal_marker", "high", terms=INTERNAL_MARKERS),
)


# --- entry points -------------------------------------------------------------------------

def run(rules: Iterable[Rule], content: Content, *, builtins: bool = True, today: date | None = None) -> list[Finding]:
    """Every finding of the built-in rules (unless ``builtins=False``) and ``rules`` on
    ``content``, block first, then by field and position."""
    out: list[Finding] = []
    for rule in (*BUILTIN_RULES, *rules) if builtins else tuple(rules):
        if rule.applies_to(content.platform):
            out += _CHECKS[rule.kind](rule, content, today or date.today())
    unique = list(dict.fromkeys(out))
    unique.sort(key=lambda f: (_SEVERITY_ORDER[f.severity], _FIELD_ORDER[f.field],
                               f.span[0] if f.span else -1, f.rule_id))
    return unique


def _severity(finding: Finding | dict[str, Any]) -> str:
    return finding["severity"] if isinstance(finding, dict) else finding.severity


def risk(findings: Iterable[Finding | dict[str, Any]]) -> str:
    """The highest non-block severity: ``high | medium | info | none``."""
    best = max((_RISK_ORDER.get(_severity(f), 0) for f in findings), default=0)
    return {3: "high", 2: "medium", 1: "info"}.get(best, "none")


def blocking(findings: Iterable[Finding | dict[str, Any]]) -> list:
    return [f for f in findings if _severity(f) == "block"]


# --- folding and term matching ------------------------------------------------------------

_IGNORABLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad")


def fold(text: str) -> tuple[str, list[int]]:
    """The folded text and, per folded character, the index of the original it came from."""
    out: list[str] = []
    index: list[int] = []
    last_space = False
    for i, ch in enumerate(text):
        if ch in _IGNORABLE:
            continue
        folded = unicodedata.normalize("NFKC", ch).casefold()
        if folded.isspace():
            if last_space:
                continue
            folded = " "
        last_space = folded == " "
        out.append(folded)
        index.extend([i] * len(folded))
    return "".join(out), index


def fold_term(term: str) -> str:
    return fold(term)[0].strip()


def _ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def find_term(text: str, term: str, folded: tuple[str, list[int]] | None = None) -> list[tuple[int, int]]:
    """Non-overlapping occurrences of ``term`` in ``text`` as original (start, end) offsets."""
    needle = fold_term(term)
    if not needle:
        return []
    hay, index = folded or fold(text)
    left, right = _ascii_alnum(needle[0]), _ascii_alnum(needle[-1])
    out, pos = [], 0
    while (p := hay.find(needle, pos)) >= 0:
        e = p + len(needle)
        if (left and p > 0 and _ascii_alnum(hay[p - 1])) or (right and e < len(hay) and _ascii_alnum(hay[e])):
            pos = p + 1
            continue
        out.append((index[p], index[e - 1] + 1))
        pos = e
    return out


def _term_spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    """All terms' occurrences; one inside a longer one (内部 in 内部资料) is reported once."""
    folded = fold(text)
    spans = sorted({s for t in terms for s in find_term(text, t, folded)}, key=lambda s: (s[0], -s[1]))
    kept: list[tuple[int, int]] = []
    reach = -1  # every kept span starts at or before s: s lies inside one iff it ends by the furthest end
    for s in spans:
        if s[1] > reach:
            kept.append(s)
            reach = s[1]
    return kept


_TERM_WORDS = {"banned_term": "Banned term", "sensitive_term": "Sensitive term",
               "internal_marker": "Internal-only marker"}


def _suffix(rule: Rule) -> str:
    return f" ({rule.description})" if rule.description else ""


def _check_terms(rule: Rule, content: Content, today: date) -> list[Finding]:
    what = _TERM_WORDS[rule.kind]
    advice = " Remove it before publishing." if rule.kind == "internal_marker" else ""
    out = []
    for s, e in _term_spans(content.body, rule.terms):
        text = content.body[s:e]
        out.append(Finding(rule.id, rule.kind, rule.severity, f'{what} "{text}" in the body.{advice}{_suffix(rule)}',
                           "body", text, (s, e)))
    if content.link:
        for s, e in _term_spans(content.link, rule.terms):
            text = content.link[s:e]
            out.append(Finding(rule.id, rule.kind, rule.severity,
                               f'{what} "{text}" in the link.{advice}{_suffix(rule)}', "link", text))
    return out


# --- required disclosure ------------------------------------------------------------------

def _check_disclosure(rule: Rule, content: Content, today: date) -> list[Finding]:
    label = rule.label or DEFAULT_DISCLOSURE_LABEL
    wanted = label.casefold()
    labelled = next((lbl for lbl in content.labels if lbl.casefold() == wanted), None)
    if labelled is None:
        return []
    terms = rule.terms or DEFAULT_DISCLOSURES
    if _term_spans(content.body, terms):
        return []
    return [Finding(rule.id, rule.kind, rule.severity,
                    f'Posts labelled "{label}" must say so in the body with one of: {", ".join(terms)}.'
                    f"{_suffix(rule)}", "labels", labelled)]


# --- URLs and the link allow-list ---------------------------------------------------------

# http(s) URLs and www. hosts, ASCII only: a URL ends where CJK text (or a space) starts,
# as it usually does in Chinese posts ("详见https://acme.cn/x了解更多").
_URL_RE = re.compile(r"(?<![A-Za-z0-9@.])(?:[Hh][Tt][Tt][Pp][Ss]?://|[Ww][Ww][Ww]\.(?=[A-Za-z0-9]))"
                     r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%\\]*")
_TRAILING = ".,;:!?'\"*"
# DNS labels; "_" too, which real subdomains use and browsers accept.
_HOST_RE = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*"
                      r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")


def find_urls(text: str) -> list[tuple[int, int]]:
    """(start, end) of each URL in ``text``, trailing punctuation left out."""
    out = []
    for m in _URL_RE.finditer(text):
        s, e = m.span()
        while e > s:
            last = text[e - 1]
            if last in _TRAILING or (last == ")" and text[s:e].count("(") < text[s:e].count(")")) \
                    or (last == "]" and text[s:e].count("[") < text[s:e].count("]")):
                e -= 1
            else:
                break
        out.append((s, e))
    return out


def url_host(url: str) -> str | None:
    """The URL's host (lower case, IDNA-encoded), or None when it is not a well-formed
    http(s) URL."""
    raw = url.strip()
    if not re.match(r"(?i)^[a-z][a-z0-9+.-]*://", raw):
        raw = "http://" + raw
    if "\\" in raw or any(c.isspace() or ord(c) < 0x20 for c in raw):
        return None  # browsers read "\" as "/": https://evil.com\@acme.com goes to evil.com
    try:
        parts = urlsplit(raw)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    host = host.rstrip(".")
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    return host if _HOST_RE.match(host) else None


def normalise_domain(domain: str) -> str | None:
    """An allow-list entry as a bare lower-case IDNA domain, or None if it is not one."""
    d = domain.strip().lower().rstrip(".")
    d = d.removeprefix("*.").removeprefix(".")
    try:
        d = d.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return d if "." in d and _HOST_RE.match(d) and not d.replace(".", "").isdigit() else None


def domain_allowed(host: str, allowed: Iterable[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in allowed)


def _check_allowlist(rule: Rule, content: Content, today: date) -> list[Finding]:
    allowed = [d for d in (normalise_domain(t) for t in rule.terms) if d]
    shown = ", ".join(allowed)
    targets: list[tuple[str, str, tuple[int, int] | None]] = []
    if content.link:
        targets.append(("link", content.link, None))
    targets += [("body", content.body[s:e], (s, e)) for s, e in find_urls(content.body)]
    out = []
    for fld, url, span in targets:
        where = "The link" if fld == "link" else f'The URL "{url}" in the body'
        host = url_host(url)
        if host is None:
            message = f"{where} is not a well-formed http(s) URL."
        elif not domain_allowed(host, allowed):
            message = f"{where} goes to {host}, which is not an allowed domain ({shown})."
        else:
            continue
        out.append(Finding(rule.id, rule.kind, rule.severity, message + _suffix(rule), fld, url, span))
    return out


# --- length -------------------------------------------------------------------------------

def _x_char_weight(cp: int) -> int:
    if cp <= 0x10FF or 0x2000 <= cp <= 0x200D or 0x2010 <= cp <= 0x201F or 0x2032 <= cp <= 0x2037:
        return 1
    return 2


def _is_emoji_modifier(cp: int) -> bool:
    # variation selectors, keycap, skin tones, tag characters
    return cp in (0xFE0E, 0xFE0F, 0x20E3) or 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F


def _emoji_cluster_end(text: str, i: int) -> int | None:
    """End of an emoji sequence starting at ``i`` (flag, keycap, skin tone, ZWJ family ...),
    which twitter-text counts as one emoji of weight 2; None if there is none."""
    n = len(text)
    if 0x1F1E6 <= ord(text[i]) <= 0x1F1FF and i + 1 < n and 0x1F1E6 <= ord(text[i + 1]) <= 0x1F1FF:
        return i + 2
    j, joined = i + 1, False
    while j < n:
        cp = ord(text[j])
        if _is_emoji_modifier(cp):
            j, joined = j + 1, True
        elif cp == 0x200D and j + 1 < n and _x_char_weight(ord(text[j + 1])) == 2:
            j, joined = j + 2, True
        else:
            break
    return j if joined else None


def x_segments(text: str) -> list[tuple[int, int, int]]:
    """``(start, end, weight)`` units as twitter-text v3 weighs them: each URL 23; an emoji
    sequence 2; U+0000–U+10FF, U+2000–U+200D, U+2010–U+201F, U+2032–U+2037 1; anything
    else (CJK, emoji) 2."""
    urls = dict(find_urls(text))
    out = []
    i = 0
    while i < len(text):
        if i in urls and urls[i] > i:
            out.append((i, urls[i], X_URL_WEIGHT))
            i = urls[i]
            continue
        end = _emoji_cluster_end(text, i)
        if end is not None:
            out.append((i, end, 2))
            i = end
            continue
        out.append((i, i + 1, _x_char_weight(ord(text[i]))))
        i += 1
    return out


def x_length(text: str) -> int:
    return sum(w for _, _, w in x_segments(text))


def weighted_length(platform: str, text: str) -> int:
    return x_length(text) if platform.casefold() == "x" else len(text)


def _overflow_start(platform: str, text: str, budget: int) -> int:
    if platform.casefold() != "x":
        return max(budget, 0)
    total = 0
    for s, _, w in x_segments(text):
        total += w
        if total > budget:
            return s
    return len(text)


def _check_length(rule: Rule, content: Content, today: date) -> list[Finding]:
    platform = content.platform.casefold()
    limit = rule.max_length if rule.max_length is not None else PLATFORM_LIMITS.get(platform)
    if limit is None:
        return []
    body = content.body
    # On X the link goes out inside the post's text: it takes a URL's 23 and a space.
    reserve = X_URL_WEIGHT + 1 if platform == "x" and content.link and content.link not in body else 0
    length = weighted_length(platform, body)
    if length + reserve <= limit:
        return []
    start = _overflow_start(platform, body, limit - reserve)
    unit = " (URLs count 23, CJK characters and emoji 2)" if platform == "x" else ""
    reserved = f"; {reserve} of it go to the link" if reserve else ""
    source = "this rule" if rule.max_length is not None else content.platform
    message = (f"The body is {length} characters long{unit}; {source} allows {limit}{reserved}. "
               f"Everything from character {start} on does not fit.{_suffix(rule)}")
    return [Finding(rule.id, rule.kind, rule.severity, message, "body", body[start:], (start, len(body)))]


# --- personal data ------------------------------------------------------------------------

# Not after "/": in https://user@host the user part is not an email address.
_EMAIL_RE = re.compile(r"(?<![A-Za-z0-9._%+/-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
                       r"(?![A-Za-z0-9-])")
# Mainland mobile: 1[3-9] and 9 more digits, also written 138-1234-5678 / 138 1234 5678.
_CN_MOBILE_RE = re.compile(r"(?<![0-9])1[3-9][0-9](?:[0-9]{8}|([ -])[0-9]{4}\1[0-9]{4})(?![0-9])")
# International: + and 7-15 digits, optionally grouped by spaces or dashes.
_INTL_PHONE_RE = re.compile(r"(?<![0-9A-Za-z+])\+[0-9](?:[ -]?[0-9]){6,14}(?![0-9])")
_CN_ID_RE = re.compile(r"(?<![0-9A-Za-z])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def valid_cn_id(number: str, today: date | None = None) -> bool:
    """A mainland resident ID: 17 digits and a digit or X, ISO 7064 MOD 11-2 check
    character, and a birth date (digits 7-14) between 1900-01-01 and today."""
    if len(number) != 18 or not number[:17].isdigit() or not number[:17].isascii():
        return False
    check = _ID_CHECK[sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True)) % 11]
    if number[17].upper() != check:
        return False
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= (today or date.today())


def personal_data(text: str, categories: Iterable[str] = PERSONAL_DATA_CATEGORIES,
                  today: date | None = None) -> list[tuple[str, int, int]]:
    """``(category, start, end)`` of each email, phone number and ID number in ``text``."""
    wanted = set(categories)
    found: list[tuple[str, int, int]] = []
    taken = bytearray(len(text))  # a character belongs to one finding: +86 138... is one phone number

    def add(category: str, s: int, e: int) -> None:
        if not any(taken[s:e]):
            taken[s:e] = b"\x01" * (e - s)
            found.append((category, s, e))

    if "id_number" in wanted:
        for m in _CN_ID_RE.finditer(text):
            if valid_cn_id(m.group(), today):
                add("id_number", *m.span())
    if "email" in wanted:
        for m in _EMAIL_RE.finditer(text):
            add("email", *m.span())
    if "phone" in wanted:
        for m in _INTL_PHONE_RE.finditer(text):
            add("phone", *m.span())
        for m in _CN_MOBILE_RE.finditer(text):
            add("phone", *m.span())
    return sorted(found, key=lambda f: f[1])


_PD_WORDS = {"email": "An email address", "phone": "A phone number", "id_number": "A resident ID number"}


def _check_personal_data(rule: Rule, content: Content, today: date) -> list[Finding]:
    categories = [t.strip().casefold() for t in rule.terms] or PERSONAL_DATA_CATEGORIES
    out = []
    for fld, text in (("body", content.body), ("link", content.link or "")):
        for category, s, e in personal_data(text, categories, today):
            out.append(Finding(rule.id, rule.kind, rule.severity,
                               f"{_PD_WORDS[category]} in the {fld}: personal data is published only with "
                               f"consent.{_suffix(rule)}", fld, text[s:e], (s, e) if fld == "body" else None))
    return out


_CHECKS = {
    "banned_term": _check_terms,
    "sensitive_term": _check_terms,
    "internal_marker": _check_terms,
    "required_disclosure": _check_disclosure,
    "link_allowlist": _check_allowlist,
    "max_length": _check_length,
    "personal_data": _check_personal_data,
}

__all__ = [
    "BUILTIN_RULES", "DEFAULT_DISCLOSURES", "INTERNAL_MARKERS", "KINDS", "PERSONAL_DATA_CATEGORIES",
    "PLATFORM_LIMITS", "SEVERITIES", "Content", "Finding", "Rule", "blocking", "domain_allowed", "find_term",
    "find_urls", "fold", "fold_term", "normalise_domain", "personal_data", "risk", "run", "url_host",
    "valid_cn_id", "weighted_length", "x_length",
]
